//! The policies and rules the evaluator is measured on, shared by the criterion benchmark
//! (`benches/evaluate.rs`) and the instruction counter (`examples/instructions.rs`): a typical
//! console-style policy (a fixture) and a maximum-size one built from varied statement shapes.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmarks fail loudly on a broken fixture"
)]

use engine::RuleSet;

/// The owner account of both policies.
pub const OWNER: &str = "111122223333";

/// The typical console-style policy (2.7 KB, six statements).
pub fn typical() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policies/real-world/typical-2kb.json"
    );
    std::fs::read_to_string(path).expect("typical policy fixture")
}

/// Statements of varied shapes (accounts, roles, org perimeters, services, Denies) until the
/// policy is as large as KMS allows.
pub fn maximum() -> String {
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

/// The rules both are checked against: a trusted account and organization, and admins.
pub fn rules() -> RuleSet {
    RuleSet::from_document(
        "version: 1\ntrusted_accounts: [\"444455556666\"]\ntrusted_organizations: [\"o-a1b2c3d4e5\"]\nadmins: [\"arn:aws:iam::${account}:role/KeyAdmin\"]\n",
    )
    .expect("rules")
}
