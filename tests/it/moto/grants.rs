//! Grants through the real app and SDK against moto (its `CreateGrant`, `ListGrants` and
//! `RevokeGrant`): a grant to a foreign account is revoked after its `CreateGrant` event and
//! alerted, a grant to the owner's role survives, and a sweep finds a grant made before the
//! guardrail existed.

use super::{
    ACCOUNT, app, config, event_for, fresh, good_policy, new_key, notifications, sdk,
    topic_with_queue,
};
use aws_config::SdkConfig;
use aws_sdk_kms::types::GrantOperation;
use kms_guardrail::config::RulesSource;
use kms_guardrail::guardrail::{Action, Mode, Status};
use kms_guardrail::sweep::{Limits, Request};
use serde_json::Value;

const FOREIGN_ROLE: &str = "arn:aws:iam::999988887777:role/Reader";

/// Rules that revoke grants outside the owner and its partner account (no organization is
/// trusted, so no verdict hangs on membership).
fn grant_rules() -> RulesSource {
    let path = std::env::temp_dir().join(format!(
        "kms-guardrail-grant-rules-{}.yaml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        "version: 1\ntrusted_accounts: [\"444455556666\"]\nrules:\n  grant-untrusted-grantee: revert\n  grant-unconstrained: revert\n",
    )
    .expect("rules file");
    RulesSource::File(path)
}

/// Makes a grant of `operation` on `key` for `grantee`; returns its id.
pub(super) async fn create_grant(
    sdk: &SdkConfig,
    key: &str,
    grantee: &str,
    operation: GrantOperation,
) -> String {
    aws_sdk_kms::Client::new(sdk)
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .operations(operation)
        .send()
        .await
        .expect("create grant")
        .grant_id()
        .expect("grant id")
        .to_owned()
}

async fn grant_ids(sdk: &SdkConfig, key: &str) -> Vec<String> {
    let out = aws_sdk_kms::Client::new(sdk)
        .list_grants()
        .key_id(key)
        .send()
        .await
        .expect("list grants");
    out.grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .map(str::to_owned)
        .collect()
}

/// The `CreateGrant` sample retargeted at `key` in moto's account, naming `grant_id`.
fn create_grant_event(key: &str, grant_id: &str) -> Value {
    let mut event = event_for("create-grant-foreign-account.json", key, "");
    event["detail"]["responseElements"]["grantId"] = grant_id.into();
    event
}

#[tokio::test]
async fn a_foreign_grant_is_revoked_after_its_event_and_an_own_role_grant_survives() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &good_policy()).await;
    let foreign = create_grant(&sdk, &key, FOREIGN_ROLE, GrantOperation::Decrypt).await;
    let own = create_grant(
        &sdk,
        &key,
        &format!("arn:aws:iam::{ACCOUNT}:role/App"),
        GrantOperation::Decrypt,
    )
    .await;
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.rules = grant_rules();
    cfg.topic_arn = Some(topic);
    let app = app(cfg, &sdk).await;

    let out = app
        .invoke(&create_grant_event(&key, &foreign))
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action, out.verified),
        (Status::Violating, Action::Reverted, Some(true)),
        "{}",
        out.message
    );
    assert_eq!(grant_ids(&sdk, &key).await, std::slice::from_ref(&own));
    let alerts = notifications(&sdk, &queue).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["MessageAttributes"]["action"]["Value"], "revoked");
    let body: Value =
        serde_json::from_str(alerts[0]["Message"].as_str().expect("message")).expect("JSON");
    assert_eq!(body["grant"]["GrantId"], foreign.as_str());
    assert_eq!(body["grant"]["GranteePrincipal"], FOREIGN_ROLE);
    assert_eq!(body["grant"]["Operations"], serde_json::json!(["Decrypt"]));
    assert_eq!(body["findings"][0]["rule"], "grant-untrusted-grantee");
    assert_eq!(body["verified"], true);

    // The owner's role's grant, judged on its own event, stays.
    let out = app
        .invoke(&create_grant_event(&key, &own))
        .await
        .expect("handled");
    assert_eq!((out.status, out.action), (Status::Compliant, Action::None));
    assert_eq!(grant_ids(&sdk, &key).await, [own]);
    assert!(notifications(&sdk, &queue).await.is_empty());

    // The event of a grant revoked since is nothing to do.
    let out = app
        .invoke(&create_grant_event(&key, &foreign))
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    assert!(
        out.message.contains("no longer on the key"),
        "{}",
        out.message
    );
}

#[tokio::test]
async fn a_sweep_finds_a_grant_made_before_the_guardrail_existed() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let clean = new_key(&sdk, &good_policy()).await;
    let exposed = new_key(&sdk, &good_policy()).await;
    let own = create_grant(
        &sdk,
        &clean,
        &format!("arn:aws:iam::{ACCOUNT}:role/App"),
        GrantOperation::Decrypt,
    )
    .await;
    let old = create_grant(&sdk, &exposed, FOREIGN_ROLE, GrantOperation::Decrypt).await;
    let partner = create_grant(
        &sdk,
        &exposed,
        "arn:aws:iam::444455556666:role/Partner",
        GrantOperation::Decrypt,
    )
    .await;

    // Monitor first: counted, nothing revoked.
    let mut cfg = config(Mode::Monitor);
    cfg.rules = grant_rules();
    let monitor = app(cfg.clone(), &sdk).await;
    let report = monitor
        .sweep(
            &Request::Start { id: "m".to_owned() },
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    let counts = report.summary.expect("a summary").counts;
    assert_eq!(
        (
            counts.grants_seen,
            counts.grant_violations,
            counts.grants_would_revoke,
            counts.grants_revoked
        ),
        (3, 2, 2, 0),
        "the foreign grant, and the partner's (unconstrained decrypt)"
    );
    assert_eq!(grant_ids(&sdk, &exposed).await.len(), 2);

    cfg.mode = Mode::Enforce;
    let enforce = app(cfg, &sdk).await;
    let report = enforce
        .sweep(
            &Request::Start { id: "e".to_owned() },
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    let counts = report.summary.expect("a summary").counts;
    assert_eq!((counts.grant_violations, counts.grants_revoked), (2, 2));
    assert!(
        grant_ids(&sdk, &exposed).await.is_empty(),
        "{old} {partner}"
    );
    assert_eq!(grant_ids(&sdk, &clean).await, [own]);
}
