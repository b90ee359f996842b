//! The guardrail's decision over in-memory ports: every behaviour of the loop, and the fault
//! paths a real service cannot be made to produce on demand (throttling, internal errors,
//! refused writes, failed alerts), with their classification.

use kms_guardrail::engine::{Policy, RuleSet};
use kms_guardrail::guardrail::memory::{
    Call, InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
};
use kms_guardrail::guardrail::ports::{Adapters, Baselines, Budget, ErrorClass, PortError};
use kms_guardrail::guardrail::{Action, Guardrail, HandlerError, Mode, Settings, Status};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub(crate) const KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub(crate) const GUARDRAIL_ROLE: &str =
    "arn:aws:iam::111122223333:role/kms-guardrail-GuardrailFunctionRole";
pub(crate) const NOW: u64 = 1_795_000_000;

pub(crate) const GOOD: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}]}"#;

pub(crate) const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},
  {"Sid":"backup","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt"],"Resource":"*"}]}"#;

pub(crate) fn event(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

pub(crate) fn rules() -> RuleSet {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.yaml"))
            .expect("example rules");
    RuleSet::from_document(&text).expect("valid rules")
}

type Memory = Guardrail<
    Adapters<InMemoryKeyPolicies, RecordingAlerts, InMemoryBaselines, InMemoryCheckpoints>,
>;

fn guardrail(mode: Mode) -> Memory {
    Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: Default::default(),
            findings: None,
        },
        settings: Settings {
            mode,
            role_arn: Some(GUARDRAIL_ROLE.to_owned()),
            ..Settings::default()
        },
    }
}

fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Policy::parse(a).expect("a"), Policy::parse(b).expect("b"));
    a.statements
        .iter()
        .map(|s| (&s.sid, &s.principal, &s.action))
        .eq(b
            .statements
            .iter()
            .map(|s| (&s.sid, &s.principal, &s.action)))
}

fn transient(code: &str) -> PortError {
    PortError::new(ErrorClass::Transient, code, "try again")
}

#[tokio::test(start_paused = true)]
async fn a_public_policy_is_reverted_to_the_last_known_good() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports
        .baselines
        .record_known_good(KEY, GOOD, "earlier")
        .await
        .expect("record");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Violating, Action::Reverted)
    );
    assert_eq!(g.ports.keys.policy(KEY).as_deref(), Some(GOOD));
    assert_eq!(out.verified, Some(true));
    let alerts = g.ports.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].action, "reverted");
    assert_eq!(alerts[0].severity, "critical");
    assert!(alerts[0].subject.chars().count() <= 100);
    assert_eq!(alerts[0].body["policy_before"], PUBLIC);
    assert_eq!(alerts[0].body["policy_after"], GOOD);
    assert_eq!(
        alerts[0].body["actor"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/Developer/alice"
    );
    assert_eq!(alerts[0].body["findings"][0]["rule"], "public-access");
}

#[tokio::test(start_paused = true)]
async fn without_a_baseline_only_the_offending_grant_is_stripped() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Reverted);
    let now = g.ports.keys.policy(KEY).expect("key");
    assert!(same(&now, GOOD), "{now}");
}

#[tokio::test(start_paused = true)]
async fn monitor_mode_writes_nothing_and_says_what_it_would_do() {
    let g = guardrail(Mode::Monitor);
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::WouldRevert);
    assert!(g.ports.keys.puts().is_empty());
    let alert = &g.ports.alerts.sent()[0];
    assert_eq!(alert.action, "would-revert");
    assert!(same(
        alert.body["policy_after"].as_str().expect("planned policy"),
        GOOD
    ));
}

#[tokio::test(start_paused = true)]
async fn a_compliant_change_becomes_the_baseline() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, GOOD);
    let out = g
        .handle(&event("put-key-policy-compliant.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Compliant, Action::BaselineRecorded)
    );
    assert_eq!(
        g.ports
            .baselines
            .last_known_good(KEY)
            .await
            .expect("read")
            .as_deref(),
        Some(GOOD)
    );
    assert!(g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_guardrails_own_change_is_not_remediated_again() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-by-guardrail.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(out.message.contains("guardrail's own"));
    assert!(g.ports.keys.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_flapping_key_runs_out_of_reverts() {
    let mut g = guardrail(Mode::Enforce);
    g.settings.budget = Budget {
        reverts: 2,
        window_secs: 3600,
    };
    let mut actions = Vec::new();
    for i in 0..3 {
        g.ports.keys.insert(KEY, PUBLIC);
        let out = g
            .handle(&event("put-key-policy-public.json"), &rules(), NOW + i * 60)
            .await
            .expect("handled");
        actions.push(out.action);
    }
    assert_eq!(
        actions,
        [Action::Reverted, Action::Reverted, Action::Alerted]
    );
    assert_eq!(g.ports.keys.puts().len(), 2);
    // A new window gives the key its budget back.
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW + 3600)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Reverted);
}

#[tokio::test(start_paused = true)]
async fn aws_managed_keys_are_left_alone() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert_with(KEY, PUBLIC, true, "Enabled");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!((out.status, out.action), (Status::Skipped, Action::None));
    assert!(g.ports.keys.puts().is_empty() && g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_key_pending_deletion_is_alerted_not_retried() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .insert_with(KEY, PUBLIC, false, "PendingDeletion");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("succeeds");
    assert_eq!(out.status, Status::Skipped);
    assert!(g.ports.keys.puts().is_empty());
    assert_eq!(g.ports.alerts.sent()[0].action, "skipped");
}

#[tokio::test(start_paused = true)]
async fn failed_calls_are_ignored_without_aws_calls() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .fail_next(Call::Describe, transient("ThrottlingException"));
    let out = g
        .handle(&event("put-key-policy-failed.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Ignored);
    assert!(g.ports.alerts.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_non_event_is_rejected_without_aws_calls() {
    let g = guardrail(Mode::Enforce);
    g.ports
        .keys
        .fail_next(Call::Describe, transient("ThrottlingException"));
    let err = g
        .handle(&serde_json::json!({"hello": "world"}), &rules(), NOW)
        .await
        .expect_err("rejected");
    assert_eq!(err.error_type(), "InvalidEvent");
}

#[tokio::test(start_paused = true)]
async fn transient_faults_are_returned_for_retry_and_nothing_is_written() {
    for (call, code) in [
        (Call::Describe, "KMSInternalException"),
        (Call::Get, "ThrottlingException"),
        (Call::Put, "DependencyTimeoutException"),
    ] {
        let g = guardrail(Mode::Enforce);
        g.ports.keys.insert(KEY, PUBLIC);
        g.ports.keys.fail_next(call, transient(code));
        let err = g
            .handle(&event("put-key-policy-public.json"), &rules(), NOW)
            .await
            .expect_err("retry");
        assert_eq!(err.error_type(), "TransientAwsError", "{code}");
        assert!(matches!(&err, HandlerError::Transient { error, .. } if error.code == code));
        assert_eq!(g.ports.keys.policy(KEY).as_deref(), Some(PUBLIC), "{code}");
        assert!(g.ports.alerts.sent().is_empty(), "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_on_read_is_never_a_pass() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, GOOD);
    g.ports.keys.fail_next(
        Call::Get,
        PortError::new(
            ErrorClass::AccessDenied,
            "AccessDeniedException",
            "not allowed",
        ),
    );
    let out = g
        .handle(&event("put-key-policy-compliant.json"), &rules(), NOW)
        .await
        .expect("succeeds");
    assert_eq!(out.status, Status::CouldNotCheck);
    assert!(out.message.contains("never a pass"));
    let alert = &g.ports.alerts.sent()[0];
    assert_eq!(
        (alert.action.as_str(), alert.severity.as_str()),
        ("could-not-check", "high")
    );
    assert!(
        g.ports
            .baselines
            .last_known_good(KEY)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_key_is_alerted_and_succeeds() {
    let g = guardrail(Mode::Enforce);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("succeeds");
    assert_eq!(out.status, Status::CouldNotCheck);
    assert!(out.message.contains("NotFoundException"));
    assert_eq!(g.ports.alerts.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_write_is_alerted() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.keys.fail_next(
        Call::Put,
        PortError::new(
            ErrorClass::Rejected,
            "MalformedPolicyDocumentException",
            "bad principal",
        ),
    );
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("succeeds");
    assert_eq!(out.action, Action::RevertFailed);
    assert_eq!(g.ports.alerts.sent()[0].action, "revert-failed");
}

#[tokio::test(start_paused = true)]
async fn a_stale_compliant_read_is_read_again() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    // The event carries the public policy; the first read still shows the old one.
    g.ports.keys.serve_stale(&[GOOD]);
    let mut input = event("put-key-policy-public.json");
    input["detail"]["requestParameters"]["policy"] = Value::String(PUBLIC.to_owned());
    let out = g.handle(&input, &rules(), NOW).await.expect("handled");
    assert_eq!(
        (out.status, out.action),
        (Status::Violating, Action::Reverted)
    );
}

#[tokio::test(start_paused = true)]
async fn an_alert_that_cannot_go_out_before_any_write_is_retried() {
    let g = guardrail(Mode::Monitor);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.alerts.fail_next(transient("Throttling"));
    let err = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect_err("retry");
    assert!(matches!(
        err,
        HandlerError::Transient {
            step: "Publish",
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn an_alert_that_cannot_go_out_after_a_revert_waits_in_the_outbox_and_goes_out_once() {
    // Regression: returning an error here made Lambda retry, the retry found a compliant
    // key, and the alert about the revert was never sent.
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.alerts.fail_next(transient("Throttling"));
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("succeeds");
    assert_eq!(out.action, Action::Reverted);
    assert!(!out.alerted);
    assert_eq!(out.alerts_deferred, 1);
    assert!(
        out.message.contains("waits in the outbox"),
        "{}",
        out.message
    );
    let kept = g.ports.baselines.outbox();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].action, "reverted");

    // The same event delivered again (a Lambda retry) finds the key compliant: nothing new
    // is kept. The key turns public again; that event's alert goes out, and so does the
    // one that waited — once.
    g.handle(&event("put-key-policy-public.json"), &rules(), NOW + 1)
        .await
        .expect("succeeds");
    g.ports.keys.insert(KEY, PUBLIC);
    let mut again = event("put-key-policy-public.json");
    again["id"] = "another-event".into();
    let out = g
        .handle(&again, &rules(), NOW + 60)
        .await
        .expect("succeeds");
    assert!(out.alerted);
    assert_eq!(out.alerts_delivered, 1);
    assert!(g.ports.baselines.outbox().is_empty());
    let sent: Vec<String> = g
        .ports
        .alerts
        .sent()
        .iter()
        .map(|a| a.action.clone())
        .collect();
    assert_eq!(sent, ["reverted", "reverted"]);
    let third = g
        .handle(&again, &rules(), NOW + 120)
        .await
        .expect("succeeds");
    assert_eq!(third.alerts_delivered, 0, "delivered once");
}

#[tokio::test(start_paused = true)]
async fn an_alert_that_neither_topic_nor_outbox_takes_fails_the_invocation() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.alerts.fail_next(transient("Throttling"));
    // The baseline read and the revert budget succeed; the outbox write after the failed
    // publish does not.
    g.ports.baselines.fail_next_after(
        2,
        PortError::new(
            ErrorClass::Transient,
            "ProvisionedThroughputExceededException",
            "slow",
        ),
    );
    let err = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect_err("Lambda keeps the event");
    assert!(matches!(
        err,
        HandlerError::Transient {
            step: "Publish",
            ..
        }
    ));
    assert_eq!(g.ports.keys.puts().len(), 1, "the revert itself happened");
    assert!(g.ports.baselines.outbox().is_empty());
}

#[tokio::test(start_paused = true)]
async fn alert_rules_and_exemptions_only_alert() {
    let mut alert_only = rules();
    alert_only.set_action(
        kms_guardrail::engine::RuleId::PublicAccess,
        kms_guardrail::engine::RuleAction::Alert,
    );
    alert_only.set_action(
        kms_guardrail::engine::RuleId::UntrustedAccount,
        kms_guardrail::engine::RuleAction::Alert,
    );
    let mut exempt = rules();
    exempt
        .exemptions
        .push("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned());
    for (rules, why) in [(alert_only, "the rules say alert"), (exempt, "exempt")] {
        let g = guardrail(Mode::Enforce);
        g.ports.keys.insert(KEY, PUBLIC);
        let out = g
            .handle(&event("put-key-policy-public.json"), &rules, NOW)
            .await
            .expect("handled");
        assert_eq!(out.action, Action::Alerted, "{why}");
        assert!(out.message.contains(why), "{}", out.message);
        assert!(g.ports.keys.puts().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_safe_policy_nothing_is_written() {
    let g = guardrail(Mode::Enforce);
    let only_public = r#"{"Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
    g.ports.keys.insert(KEY, only_public);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::NotRemediated);
    assert!(g.ports.keys.puts().is_empty());
    assert_eq!(g.ports.alerts.sent()[0].action, "not-remediated");
}

#[tokio::test(start_paused = true)]
async fn a_replica_is_checked_in_its_own_region() {
    let g = guardrail(Mode::Enforce);
    let replica = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
    g.ports.keys.insert(replica, PUBLIC);
    let out = g
        .handle(&event("replicate-key.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.key_arn.as_deref(), Some(replica));
    assert_eq!(out.action, Action::Reverted);
}

#[tokio::test(start_paused = true)]
async fn a_key_exempt_by_alias_is_only_alerted() {
    // examples/rules.yaml exempts `alias/legacy-partner-key`.
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.keys.add_alias(KEY, "alias/legacy-partner-key");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(
        out.message.contains("`alias/legacy-partner-key`"),
        "{}",
        out.message
    );
    assert!(g.ports.keys.puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unreadable_aliases_hold_the_revert_when_aliases_are_exempt() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.ports.keys.fail_next(
        Call::Aliases,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert!(g.ports.keys.puts().is_empty());

    g.ports
        .keys
        .fail_next(Call::Aliases, transient("ThrottlingException"));
    let err = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect_err("retry");
    assert!(matches!(
        err,
        HandlerError::Transient {
            step: "ListAliases",
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_account_is_not_covered_and_alerted_once_an_hour() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let denied = || {
        PortError::new(
            ErrorClass::NotCovered,
            "AccessDenied",
            "the member role could not be assumed",
        )
    };
    let mut alerted = Vec::new();
    for (i, now) in [NOW, NOW + 60, NOW + 3599, NOW + 3601]
        .into_iter()
        .enumerate()
    {
        g.ports.keys.fail_next(Call::Describe, denied());
        let out = g
            .handle(&event("put-key-policy-public.json"), &rules(), now)
            .await
            .expect("not covered is an outcome, not an error to retry");
        assert_eq!(out.status, Status::NotCovered, "{i}");
        assert!(out.failed(), "a blind spot is never a pass");
        assert!(
            out.message.contains("111122223333 is not covered"),
            "{}",
            out.message
        );
        alerted.push(out.alerted);
    }
    assert_eq!(
        alerted,
        [true, false, false, true],
        "one alert per account per hour"
    );
    let alerts = g.ports.alerts.sent();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].action, "not-covered");
    assert_eq!(alerts[0].account.as_deref(), Some("111122223333"));
    assert_eq!(
        g.ports.keys.policy(KEY).as_deref(),
        Some(PUBLIC),
        "nothing written"
    );
}

#[tokio::test(start_paused = true)]
async fn the_member_role_is_the_guardrails_own_in_every_account() {
    let mut g = guardrail(Mode::Enforce);
    g.settings.member_role = Some("KmsGuardrailMember".to_owned());
    g.ports.keys.insert(KEY, PUBLIC);
    let mut e = event("put-key-policy-public.json");
    e["detail"]["userIdentity"]["arn"] = Value::String(
        "arn:aws:sts::111122223333:assumed-role/KmsGuardrailMember/kms-guardrail".to_owned(),
    );
    e["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        Value::String("arn:aws:iam::111122223333:role/KmsGuardrailMember".to_owned());
    let out = g.handle(&e, &rules(), NOW).await.expect("handled");
    assert_eq!(out.action, Action::Alerted);
    assert_eq!(g.ports.keys.policy(KEY).as_deref(), Some(PUBLIC));
    // and without organization mode, the same session is anyone's
    g.settings.member_role = None;
    let out = g.handle(&e, &rules(), NOW).await.expect("handled");
    assert_eq!(out.action, Action::Reverted);
}

#[tokio::test(start_paused = true)]
async fn identical_could_not_check_alerts_for_one_account_are_coalesced_for_an_hour() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let denied = || PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "denied");
    let mut outcomes = Vec::new();
    for (i, at) in [NOW, NOW + 60, NOW + 600].into_iter().enumerate() {
        g.ports.keys.fail_next(Call::Get, denied());
        let mut e = event("put-key-policy-public.json");
        e["id"] = format!("burst-{i}").into();
        outcomes.push(g.handle(&e, &rules(), at).await.expect("handled"));
    }
    assert!(outcomes.iter().all(|o| o.status == Status::CouldNotCheck));
    let withheld: Vec<bool> = outcomes.iter().map(|o| o.alert_withheld).collect();
    assert_eq!(withheld, [false, true, true]);
    assert!(
        outcomes[1].message.contains("within the hour"),
        "{}",
        outcomes[1].message
    );
    // Another failure is another alert; the same one after the hour is alerted again.
    g.ports.keys.fail_next(
        Call::Get,
        PortError::new(
            ErrorClass::InvalidState,
            "KMSInvalidStateException",
            "disabled",
        ),
    );
    let other = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW + 700)
        .await
        .expect("handled");
    assert!(!other.alert_withheld);
    g.ports.keys.fail_next(Call::Get, denied());
    let later = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW + 3_700)
        .await
        .expect("handled");
    assert!(!later.alert_withheld);
    let sent = g
        .ports
        .alerts
        .sent()
        .iter()
        .filter(|a| a.action == "could-not-check")
        .count();
    assert_eq!(sent, 3);
}

/// The exposure window in round trips: with every KMS and table call taking 20 ms (paused
/// clock: virtual time, exact), a violating event's revert is written and verified after 4
/// sequential rounds — DescribeKey with the policy, the aliases and the last known-good
/// policy; the budget; PutKeyPolicy; the read-back — and the invocation ends one round after
/// the alert (the outbox check). A key in a member account reads its policy and aliases after
/// DescribeKey (the assumed role's first call goes alone): one round more.
#[tokio::test(start_paused = true)]
async fn a_revert_is_verified_after_four_sequential_rounds_of_calls() {
    const ROUND: Duration = Duration::from_millis(20);
    for (role, rounds) in [
        (GUARDRAIL_ROLE, 5),
        ("arn:aws:iam::999999999999:role/kms-guardrail-hub", 6),
    ] {
        let mut g = guardrail(Mode::Enforce);
        g.settings.role_arn = Some(role.to_owned());
        g.ports.keys.insert(KEY, PUBLIC);
        g.ports
            .baselines
            .record_known_good(KEY, GOOD, "earlier")
            .await
            .expect("record");
        g.ports.keys.set_latency(ROUND);
        g.ports.baselines.set_latency(ROUND);
        let start = tokio::time::Instant::now();
        let out = g
            .handle(&event("put-key-policy-public.json"), &rules(), NOW)
            .await
            .expect("handled");
        assert_eq!(
            (out.action, out.verified),
            (Action::Reverted, Some(true)),
            "{role}"
        );
        assert_eq!(start.elapsed(), ROUND * rounds, "{role}");
    }
}
