//! Security Hub against moto: a revert imports one finding per violated rule with the key
//! ARN, the rule and the severity; running the same violation again updates those findings
//! rather than adding any; a later compliant evaluation archives them; in organization mode
//! a member key's findings are imported in the member account (through its member role),
//! not in the hub. And the chat-format alert moto's SNS delivers.

use super::org::{MEMBER_A, MEMBER_ROLE, forwarded, sdk_in};
use super::{
    ACCOUNT, REGION, app, baseline_table, config, event_in, fresh, good_policy, good_policy_in,
    new_key, notifications, public_policy, public_policy_in, put_policy, sdk, send,
    topic_with_queue,
};
use aws_config::SdkConfig;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, ComplianceStatus, RecordState, SeverityLabel,
};
use kms_guardrail::config::AlertFormat;
use kms_guardrail::guardrail::{Action, Mode, Status};
use serde_json::Value;

/// Every finding Security Hub holds in the account and region of `sdk`, by id. Read on a
/// thread of its own: in a debug build the SDK's `GetFindings` deserializer (the whole ASFF
/// resource-details model) needs more stack than a test thread has. The guardrail itself
/// never reads findings.
async fn findings(sdk: &SdkConfig) -> Vec<AwsSecurityFinding> {
    let client = aws_sdk_securityhub::Client::new(sdk);
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut all = runtime
                .block_on(client.get_findings().send())
                .expect("get findings")
                .findings()
                .to_vec();
            all.sort_by(|a, b| a.id().cmp(&b.id()));
            all
        })
        .expect("thread")
        .join()
        .expect("read")
}

/// (rule, record state, compliance) of each finding.
fn states(findings: &[AwsSecurityFinding]) -> Vec<(String, RecordState, ComplianceStatus)> {
    findings
        .iter()
        .map(|f| {
            (
                f.generator_id().unwrap_or_default().to_owned(),
                f.record_state().cloned().expect("record state"),
                f.compliance()
                    .and_then(|c| c.status())
                    .cloned()
                    .expect("compliance"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_revert_imports_findings_a_rerun_updates_them_and_a_compliant_evaluation_archives_them() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &good_policy()).await;
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(&sdk).await);
    cfg.security_hub = true;
    cfg.alert_format = AlertFormat::Chat;
    let app = app(cfg, &sdk).await;

    let recorded = send(&app, "put-key-policy-compliant.json", &key, &good_policy()).await;
    assert_eq!(recorded.action, Action::BaselineRecorded);
    assert!(findings(&sdk).await.is_empty(), "a compliant key has none");

    put_policy(&sdk, &key, &public_policy()).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(out.action, Action::Reverted);
    let imported = findings(&sdk).await;
    let active = [
        (
            "kms-guardrail/public-access".to_owned(),
            RecordState::Active,
            ComplianceStatus::Failed,
        ),
        (
            "kms-guardrail/untrusted-account".to_owned(),
            RecordState::Active,
            ComplianceStatus::Failed,
        ),
    ];
    assert_eq!(states(&imported), active);
    let public = &imported[0];
    assert_eq!(
        public.id(),
        Some(format!("{key}/kms-guardrail/public-access").as_str())
    );
    assert_eq!(public.aws_account_id(), Some(ACCOUNT));
    assert_eq!(
        public.product_arn(),
        Some(format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default").as_str())
    );
    assert_eq!(public.resources()[0].id(), Some(key.as_str()));
    assert_eq!(public.resources()[0].r#type(), Some("AwsKmsKey"));
    assert_eq!(
        public.severity().and_then(|s| s.label()),
        Some(&SeverityLabel::Critical)
    );
    assert_eq!(
        public
            .user_defined_fields()
            .and_then(|f| f.get("action"))
            .map(String::as_str),
        Some("reverted")
    );

    // The chat-format alert, with the attributes subscribers filter on.
    let alerts = notifications(&sdk, &queue).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["MessageAttributes"]["action"]["Value"],
        "reverted"
    );
    assert_eq!(
        alerts[0]["MessageAttributes"]["severity"]["Value"],
        "critical"
    );
    let chat: Value =
        serde_json::from_str(alerts[0]["Message"].as_str().expect("message")).expect("JSON");
    assert_eq!(
        (&chat["version"], &chat["source"]),
        (&"1.0".into(), &"custom".into())
    );
    assert!(
        chat["content"]["title"]
            .as_str()
            .expect("title")
            .contains("reverted")
    );
    assert!(
        chat["content"]["description"]
            .as_str()
            .expect("description")
            .contains(key.as_str())
    );
    assert!(
        !chat["content"]["nextSteps"]
            .as_array()
            .expect("next steps")
            .is_empty()
    );

    // The same violation again: the same two findings, updated.
    put_policy(&sdk, &key, &public_policy()).await;
    let again = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(again.action, Action::Reverted);
    let rerun = findings(&sdk).await;
    assert_eq!(states(&rerun), active, "no duplicates");
    assert_eq!(
        rerun[0].created_at(),
        public.created_at(),
        "first seen is kept"
    );

    // The guardrail's own write comes back as an event: the key complies again.
    let own = send(
        &app,
        "put-key-policy-by-guardrail.json",
        &key,
        &good_policy(),
    )
    .await;
    assert_eq!(own.status, Status::Compliant);
    assert_eq!(own.security_hub.map(|r| r.resolved), Some(2));
    let resolved = findings(&sdk).await;
    assert_eq!(
        states(&resolved),
        [
            (
                "kms-guardrail/public-access".to_owned(),
                RecordState::Archived,
                ComplianceStatus::Passed,
            ),
            (
                "kms-guardrail/untrusted-account".to_owned(),
                RecordState::Archived,
                ComplianceStatus::Passed,
            ),
        ]
    );
}

#[tokio::test]
async fn a_member_keys_findings_are_imported_in_the_member_account() {
    let _serial = fresh().await;
    let hub = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let key = new_key(&a, &good_policy_in(MEMBER_A)).await;
    put_policy(&a, &key, &public_policy_in(MEMBER_A)).await;
    let mut cfg = config(Mode::Enforce);
    cfg.baseline_table = Some(baseline_table(&hub).await);
    cfg.member_role = Some(MEMBER_ROLE.to_owned());
    cfg.security_hub = true;
    let app = app(cfg, &hub).await;

    let event = forwarded(event_in(
        "put-key-policy-public.json",
        MEMBER_A,
        &key,
        &public_policy_in(MEMBER_A),
    ));
    let out = app.invoke(&event).await.expect("handled");
    assert_eq!(out.action, Action::Reverted, "{}", out.message);
    assert_eq!(
        out.security_hub.map(|r| (r.imported, r.error)),
        Some((2, None))
    );
    let in_member = findings(&a).await;
    assert_eq!(in_member.len(), 2);
    assert!(in_member.iter().all(|f| {
        f.aws_account_id() == Some(MEMBER_A)
            && f.product_arn()
                .is_some_and(|p| p.ends_with(&format!(":{MEMBER_A}:product/{MEMBER_A}/default")))
    }));
    assert!(findings(&hub).await.is_empty(), "nothing in the hub");
}
