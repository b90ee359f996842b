//! Properties of the evaluator over generated policies: it never panics, its JSON reader
//! agrees with serde_json, serialization round-trips, and the verdicts are monotone — a Deny
//! never adds exposure, a restricting condition never adds a statement-level violation.

use engine::grants::normalize;
use engine::policy::json;
use engine::remediate::{self, check_safe};
use engine::{KeyContext, Policy, Report, RuleAction, RuleId, RuleSet, check};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const OWNER: &str = "111122223333";
const TRUSTED: &str = "444455556666";
const EXTERNAL: &str = "999988887777";
const ORG: &str = "o-a1b2c3d4e5";
const BAD_ORG: &str = "o-zzzzzzzzzz";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn rules() -> RuleSet {
    RuleSet::from_document(&format!(
        "version: 1\ntrusted_accounts: [\"{TRUSTED}\"]\ntrusted_organizations: [\"{ORG}\"]\nadmins: [\"arn:aws:iam::${{account}}:role/KeyAdmin\"]\n"
    ))
    .expect("valid rules")
}

fn principal() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just(("Principal", json!("*"))),
        Just(("Principal", json!({"AWS": "*"}))),
        Just((
            "Principal",
            json!({"AWS": format!("arn:aws:iam::{OWNER}:root")})
        )),
        Just(("Principal", json!({"AWS": TRUSTED}))),
        Just(("Principal", json!({"AWS": EXTERNAL}))),
        Just((
            "Principal",
            json!({"AWS": format!("arn:aws:iam::{OWNER}:role/KeyAdmin")})
        )),
        Just((
            "Principal",
            json!({"AWS": [format!("arn:aws:iam::{OWNER}:role/App"), format!("arn:aws:iam::{EXTERNAL}:role/X")]})
        )),
        Just(("Principal", json!({"Service": "logs.amazonaws.com"}))),
        Just(("Principal", json!({"AWS": "AROAEXAMPLEID1234567"}))),
        Just(("Principal", json!({"Federated": "accounts.google.com"}))),
        Just(("NotPrincipal", json!({"AWS": EXTERNAL}))),
        Just(("NotPrincipal", json!({"AWS": "AROAEXAMPLEID1234567"}))),
    ]
}

fn action() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just(("Action", json!("kms:*"))),
        Just(("Action", json!("*"))),
        Just(("Action", json!(["kms:Decrypt"]))),
        Just((
            "Action",
            json!(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"])
        )),
        Just(("Action", json!("kms:PutKeyPolicy"))),
        Just((
            "Action",
            json!(["kms:CreateGrant", "kms:ScheduleKeyDeletion"])
        )),
        Just(("Action", json!("kms:re*"))),
        Just(("NotAction", json!("kms:Decrypt"))),
    ]
}

fn resource() -> impl Strategy<Value = Value> {
    prop_oneof![4 => Just(json!("*")), 1 => Just(json!(KEY_ARN)), 1 => Just(json!("arn:aws:s3:::bucket/*"))]
}

/// A restricting (positive, pinning) condition on a caller-identity key.
fn restricting() -> impl Strategy<Value = (&'static str, &'static str, Value)> {
    prop_oneof![
        Just(("StringEquals", "kms:CallerAccount", json!(OWNER))),
        Just(("StringEquals", "kms:CallerAccount", json!(EXTERNAL))),
        Just((
            "StringEquals",
            "aws:PrincipalAccount",
            json!([TRUSTED, EXTERNAL])
        )),
        Just(("StringEquals", "aws:PrincipalOrgID", json!(ORG))),
        Just(("StringEquals", "aws:PrincipalOrgID", json!(BAD_ORG))),
        Just(("StringLike", "aws:PrincipalAccount", json!("1111*"))),
        Just((
            "ArnLike",
            "aws:PrincipalArn",
            json!(format!("arn:aws:iam::{OWNER}:role/KeyAdmin"))
        )),
        Just((
            "ArnLike",
            "aws:PrincipalArn",
            json!(format!("arn:aws:iam::{EXTERNAL}:role/*"))
        )),
        Just(("StringEquals", "aws:SourceVpce", json!("vpce-1a2b3c4d"))),
        Just((
            "ForAnyValue:StringLike",
            "aws:PrincipalOrgPaths",
            json!(format!("{BAD_ORG}/r-ab12/*"))
        )),
    ]
}

fn any_condition() -> impl Strategy<Value = (&'static str, &'static str, Value)> {
    prop_oneof![
        restricting(),
        Just((
            "StringEquals",
            "kms:ViaService",
            json!("ec2.us-east-1.amazonaws.com")
        )),
        Just(("IpAddress", "aws:SourceIp", json!("203.0.113.0/24"))),
        Just(("Bool", "kms:GrantIsForAWSResource", json!("true"))),
        Just(("StringLike", "aws:PrincipalOrgID", json!("o-*"))),
        Just(("StringEqualsIfExists", "aws:PrincipalOrgID", json!(ORG))),
        Just(("StringNotEquals", "aws:PrincipalOrgID", json!(ORG))),
        Just(("StringNotEquals", "aws:PrincipalAccount", json!(OWNER))),
        Just(("StringNotEquals", "aws:PrincipalOrgID", json!(BAD_ORG))),
        Just((
            "StringNotEqualsIfExists",
            "aws:PrincipalAccount",
            json!(EXTERNAL)
        )),
        Just(("StringEquals", "aws:SourceAccount", json!(OWNER))),
        Just(("BoolIfExists", "aws:PrincipalIsAWSService", json!("false"))),
        Just((
            "ArnLike",
            "kms:EncryptionContext:aws:logs:arn",
            json!("arn:aws:logs:*:111122223333:*")
        )),
    ]
}

fn conditions() -> impl Strategy<Value = Option<Value>> {
    prop::collection::vec(any_condition(), 0..3).prop_map(|cs| {
        if cs.is_empty() {
            return None;
        }
        let mut condition = serde_json::Map::new();
        for (op, key, value) in cs {
            let block = condition.entry(op).or_insert_with(|| json!({}));
            block[key] = value;
        }
        Some(Value::Object(condition))
    })
}

fn statement(effect: &'static str) -> impl Strategy<Value = Value> {
    (
        principal(),
        action(),
        resource(),
        conditions(),
        prop::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(move |((p_key, p), (a_key, a), r, c, sid)| {
            let mut s = json!({"Effect": effect});
            if let Some(sid) = sid {
                s["Sid"] = json!(sid);
            }
            s[p_key] = p;
            s[a_key] = a;
            s["Resource"] = r;
            if let Some(c) = c {
                s["Condition"] = c;
            }
            s
        })
}

/// Deny statements biased towards the shapes that take effect: `"*"` principals and
/// data-perimeter conditions, around trusted and untrusted organizations and accounts.
fn deny() -> impl Strategy<Value = Value> {
    let perimeter = prop_oneof![
        Just(json!(null)),
        Just(json!({"StringNotEquals": {"aws:PrincipalOrgID": ORG}})),
        Just(json!({"StringNotEquals": {"aws:PrincipalOrgID": BAD_ORG}})),
        Just(json!({"StringNotEqualsIfExists": {"aws:PrincipalAccount": [OWNER, EXTERNAL]}})),
        Just(
            json!({"StringNotEquals": {"aws:PrincipalOrgID": BAD_ORG}, "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}})
        ),
        Just(json!({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),
    ];
    let who = prop_oneof![3 => Just(("Principal", json!("*"))), 1 => principal()];
    (who, action(), perimeter).prop_map(|((p_key, p), (a_key, a), c)| {
        let mut s = json!({"Effect": "Deny", "Resource": "*"});
        s[p_key] = p;
        s[a_key] = a;
        if !c.is_null() {
            s["Condition"] = c;
        }
        s
    })
}

fn policy() -> impl Strategy<Value = Value> {
    let any_statement = prop_oneof![3 => statement("Allow"), 1 => statement("Deny")];
    prop::collection::vec(any_statement, 1..6)
        .prop_map(|statements| json!({"Version": "2012-10-17", "Statement": statements}))
}

fn evaluate(policy: &Value) -> Report {
    let text = serde_json::to_string_pretty(policy).expect("serializes");
    check(&text, &rules(), &KeyContext::for_key_arn(KEY_ARN))
        .expect("generated policies are objects")
}

fn verdicts(
    report: &Report,
    keep: impl Fn(RuleId, Option<usize>) -> bool,
) -> BTreeSet<(RuleId, Option<usize>)> {
    report
        .findings
        .iter()
        .filter(|f| keep(f.rule, f.statement))
        .map(|f| (f.rule, f.statement))
        .collect()
}

fn without_spans(mut policy: Policy<'_>) -> Policy<'_> {
    for s in &mut policy.statements {
        s.span = Default::default();
    }
    policy.problems.clear();
    policy
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_and_evaluating_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = check(&text, &rules(), &KeyContext::default());
    }

    #[test]
    fn parsing_never_panics_on_json_like_text(text in r#"[\[\]{}",:0-9a-zA-Z*\\ u\-.eE]{0,80}"#) {
        let _ = check(&text, &rules(), &KeyContext::for_account(Some(OWNER)));
    }

    #[test]
    fn json_reader_accepts_exactly_what_serde_json_accepts(text in r#"[\[\]{}",:0-9a-z\\ \-.eE]{0,40}"#) {
        prop_assert_eq!(json::validate(&text).is_ok(), serde_json::from_str::<Value>(&text).is_ok(), "{:?}", text);
    }

    #[test]
    fn serialization_round_trips_and_keeps_the_verdict(policy in policy()) {
        let text = serde_json::to_string(&policy).expect("serializes");
        let parsed = Policy::parse(&text).expect("parses");
        let written = parsed.to_json();
        let reparsed = Policy::parse(&written).expect("reparses");
        prop_assert_eq!(without_spans(reparsed.clone()), without_spans(parsed.clone()));
        let ctx = KeyContext::for_key_arn(KEY_ARN);
        let before = engine::evaluate(&parsed, &rules(), &ctx);
        let after = engine::evaluate(&reparsed, &rules(), &ctx);
        prop_assert_eq!(verdicts(&before, |_, _| true), verdicts(&after, |_, _| true));
    }

    #[test]
    fn adding_a_deny_never_adds_exposure(policy in policy(), deny in prop_oneof![deny(), statement("Deny")]) {
        let exposure = |rule: RuleId, _| matches!(rule, RuleId::PublicAccess | RuleId::UntrustedAccount);
        let before = verdicts(&evaluate(&policy), exposure);
        let mut denied = policy.clone();
        denied["Statement"].as_array_mut().expect("list").push(deny);
        let after = verdicts(&evaluate(&denied), exposure);
        prop_assert!(after.is_subset(&before), "before {:?}\nafter {:?}", before, after);
    }

    #[test]
    fn a_restricting_condition_never_adds_a_statement_violation(
        policy in policy(),
        pick in any::<prop::sample::Index>(),
        (op, key, value) in restricting(),
    ) {
        let allows: Vec<usize> = policy["Statement"].as_array().expect("list").iter().enumerate()
            .filter(|(_, s)| s["Effect"] == "Allow").map(|(i, _)| i).collect();
        prop_assume!(!allows.is_empty());
        let index = allows[pick.index(allows.len())];
        let mut narrowed = policy.clone();
        let s = &mut narrowed["Statement"][index];
        if s.get("Condition").is_none() {
            s["Condition"] = json!({});
        }
        let block = s["Condition"].as_object_mut().expect("object").entry(op).or_insert_with(|| json!({}));
        prop_assume!(block.get(key).is_none());
        block[key] = value;
        let statement_level = |_: RuleId, at: Option<usize>| at.is_some();
        let before = verdicts(&evaluate(&policy), statement_level);
        let after = verdicts(&evaluate(&narrowed), statement_level);
        prop_assert!(after.is_subset(&before), "statement {}\nbefore {:?}\nafter {:?}", index, before, after);
    }

    #[test]
    fn a_stripped_plan_grants_nothing_new_and_passes_its_rules(policy in policy()) {
        let mut rules = rules();
        for rule in RuleId::ALL {
            rules.set_action(rule, RuleAction::Revert);
        }
        let ctx = KeyContext::for_key_arn(KEY_ARN);
        let text = serde_json::to_string_pretty(&policy).expect("serializes");
        let current = Policy::parse(&text).expect("parses");
        let report = engine::evaluate(&current, &rules, &ctx);
        // No plan is a fine answer (nothing is written); a plan must be safe and narrower.
        if let Ok(plan) = remediate::plan(&current, &report, &rules, &ctx, None) {
            prop_assert_eq!(check_safe(&plan.policy, &rules, &ctx), Ok(()));
            let planned = Policy::parse(&plan.policy).expect("plan parses");
            let before = normalize(&current, &ctx).grants;
            for g in normalize(&planned, &ctx).grants {
                let granted_before = before.iter().any(|h| {
                    h.principal == g.principal && h.clauses == g.clauses && h.actions.contains(g.actions)
                });
                prop_assert!(granted_before, "the plan grants {:?} to `{}` anew:\n{}", g.actions, g.written, plan.policy);
            }
        }
    }
}
