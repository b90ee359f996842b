//! The sample events in `events/` (used by `cargo lambda invoke`, the demo and these tests)
//! are read by intake as a real deployment would read them.

use kms_guardrail::event::{self, Intake, KeyEventName};
use serde_json::Value;
use std::path::Path;

fn intake(name: &str) -> Intake {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).expect("sample events are JSON");
    event::read(&value).expect("sample events are EventBridge CloudTrail events")
}

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[test]
fn every_sample_is_read_as_intended() {
    let handled = [
        (
            "put-key-policy-public.json",
            KeyEventName::PutKeyPolicy,
            KEY,
            "us-east-1",
        ),
        (
            "put-key-policy-compliant.json",
            KeyEventName::PutKeyPolicy,
            KEY,
            "us-east-1",
        ),
        (
            "put-key-policy-by-guardrail.json",
            KeyEventName::PutKeyPolicy,
            KEY,
            "us-east-1",
        ),
        (
            "create-key-default-policy.json",
            KeyEventName::CreateKey,
            KEY,
            "us-east-1",
        ),
        (
            "create-key-with-policy.json",
            KeyEventName::CreateKey,
            KEY,
            "us-east-1",
        ),
        (
            "create-grant-foreign-account.json",
            KeyEventName::CreateGrant,
            KEY,
            "us-east-1",
        ),
        (
            "create-grant-service-source-arn.json",
            KeyEventName::CreateGrant,
            KEY,
            "us-east-1",
        ),
        (
            "create-grant-by-rds.json",
            KeyEventName::CreateGrant,
            KEY,
            "us-east-1",
        ),
        (
            "replicate-key.json",
            KeyEventName::ReplicateKey,
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "eu-west-1",
        ),
    ];
    for (file, name, key, region) in handled {
        let Intake::Handle(e) = intake(file) else {
            panic!("{file} should be handled")
        };
        assert_eq!(
            (e.name, e.key_arn.as_str(), e.region.as_str()),
            (name, key, region),
            "{file}"
        );
        assert_eq!(e.account, "111122223333", "{file}");
    }
    let Intake::Ignore(failed) = intake("put-key-policy-failed.json") else {
        panic!("a failed call is ignored")
    };
    assert!(failed.reason.contains("MalformedPolicyDocumentException"));
    let mut files: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("events"))
            .expect("events/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
    files.sort();
    assert_eq!(
        files.len(),
        handled.len() + 1,
        "every sample has an expectation here: {files:?}"
    );
}

#[test]
fn a_create_grant_event_names_the_grant_it_made() {
    let Intake::Handle(e) = intake("create-grant-foreign-account.json") else {
        panic!("handled")
    };
    assert_eq!(
        e.grant_id.as_deref(),
        Some("0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60")
    );
    assert_eq!(e.request_policy, None);
    let Intake::Handle(rds) = intake("create-grant-by-rds.json") else {
        panic!("a grant an AWS service made is handled (and judged) too")
    };
    assert_eq!(rds.actor.kind.as_deref(), Some("AWSService"));
    assert!(rds.grant_id.is_some());
}

#[test]
fn the_guardrails_own_change_is_recognized() {
    let Intake::Handle(e) = intake("put-key-policy-by-guardrail.json") else {
        panic!("handled")
    };
    assert!(
        e.actor
            .is_role("arn:aws:iam::111122223333:role/kms-guardrail-GuardrailFunctionRole")
    );
    let Intake::Handle(other) = intake("put-key-policy-public.json") else {
        panic!("handled")
    };
    assert!(
        !other
            .actor
            .is_role("arn:aws:iam::111122223333:role/kms-guardrail-GuardrailFunctionRole")
    );
}
