//! Parse + evaluate throughput on a typical (~2 KB) console-style policy and on a
//! maximum-size (32 KB) policy of many statements. Targets (README, "Performance"): ≤ 5 µs, ≤ 50 µs.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use engine::{KeyContext, Policy, RuleSet, check, evaluate};
use std::hint::black_box;

const OWNER: &str = "111122223333";

fn typical() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policies/real-world/typical-2kb.json"
    );
    std::fs::read_to_string(path).expect("typical policy fixture")
}

/// Statements of varied shapes (accounts, roles, org perimeters, services, Denies) until the
/// policy is as large as KMS allows.
fn maximum() -> String {
    let shapes = [
        r#"{"Sid":"Use{i}","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app-{i}","arn:aws:iam::444455556666:role/reader-{i}"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}"#,
        r#"{"Sid":"Org{i}","Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/team-{i}-*"}}}"#,
        r#"{"Sid":"Grants{i}","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/svc-{i}"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}"#,
        r#"{"Sid":"Logs{i}","Effect":"Allow","Principal":{"Service":"logs.us-east-1.amazonaws.com"},"Action":["kms:Encrypt*","kms:Decrypt*","kms:GenerateDataKey*"],"Resource":"*","Condition":{"ArnLike":{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:us-east-1:111122223333:log-group:g{i}*"}}}"#,
        r#"{"Sid":"Fence{i}","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalAccount":["111122223333","444455556666"]},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}"#,
    ];
    let root = r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
    let mut statements = vec![root.to_owned()];
    let mut i = 0;
    loop {
        let next = shapes[i % shapes.len()].replace("{i}", &i.to_string());
        let candidate = format!(
            r#"{{"Version":"2012-10-17","Statement":[{},{next}]}}"#,
            statements.join(",")
        );
        if candidate.len() > engine::policy::MAX_POLICY_CHARS {
            break;
        }
        statements.push(next);
        i += 1;
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn rules() -> RuleSet {
    RuleSet::from_document(
        "version: 1\ntrusted_accounts: [\"444455556666\"]\ntrusted_organizations: [\"o-a1b2c3d4e5\"]\nadmins: [\"arn:aws:iam::${account}:role/KeyAdmin\"]\n",
    )
    .expect("rules")
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let ctx = KeyContext::for_account(Some(OWNER));
    for (name, text) in [("typical-2kb", typical()), ("maximum-32kb", maximum())] {
        let report = check(&text, &rules, &ctx).expect("valid policy");
        let statements = Policy::parse(&text).expect("valid policy").statements.len();
        eprintln!(
            "{name}: {} bytes, {statements} statements, {} findings",
            text.len(),
            report.findings.len()
        );
        c.bench_function(&format!("check/{name}"), |b| {
            b.iter(|| check(black_box(&text), black_box(&rules), black_box(&ctx)))
        });
        c.bench_function(&format!("parse/{name}"), |b| {
            b.iter(|| Policy::parse(black_box(&text)))
        });
        c.bench_function(&format!("json-validate/{name}"), |b| {
            b.iter(|| engine::policy::json::validate(black_box(&text)))
        });
        // Yardstick for this machine: serde_json reading the same text into a `Value`.
        c.bench_function(&format!("baseline-serde-json-value/{name}"), |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&text)))
        });
        let policy = Policy::parse(&text).expect("valid policy");
        c.bench_function(&format!("evaluate/{name}"), |b| {
            b.iter(|| evaluate(black_box(&policy), black_box(&rules), black_box(&ctx)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
