//! Security Hub findings over in-memory ports: one finding per (key, rule) a decision
//! violates, with what was done; resolved when a later evaluation sees the key comply with
//! the rule; tracked in the baseline store, so a compliant key costs no Security Hub read;
//! and a failed import never changes the decision (its resolutions are retried later).

use super::handler::{GUARDRAIL_ROLE, KEY, NOW, PUBLIC, event, rules};
use kms_guardrail::engine::RuleId;
use kms_guardrail::guardrail::findings::{FindingState, KeyFinding};
use kms_guardrail::guardrail::memory::{
    InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts, RecordingFindings,
};
use kms_guardrail::guardrail::ports::{Adapters, Baselines, ErrorClass, PortError};
use kms_guardrail::guardrail::{Action, Guardrail, Mode, Settings, Status};

/// Public, and open to an account the rules do not trust.
const PUBLIC_AND_FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"backup","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Decrypt"],"Resource":"*"},
  {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":["kms:Decrypt"],"Resource":"*"}]}"#;

/// Open only to the untrusted account.
const FOREIGN: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":["kms:Decrypt"],"Resource":"*"}]}"#;

type Memory = Guardrail<
    Adapters<
        InMemoryKeyPolicies,
        RecordingAlerts,
        InMemoryBaselines,
        InMemoryCheckpoints,
        RecordingFindings,
    >,
>;

fn guardrail(mode: Mode) -> Memory {
    Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: InMemoryCheckpoints::default(),
            findings: RecordingFindings::default(),
        },
        settings: Settings {
            mode,
            role_arn: Some(GUARDRAIL_ROLE.to_owned()),
            ..Settings::default()
        },
    }
}

/// The findings imported since the call `from` (by index into everything imported).
fn since(g: &Memory, from: usize) -> Vec<KeyFinding> {
    g.ports.findings.sent().split_off(from)
}

fn summary(findings: &[KeyFinding]) -> Vec<(RuleId, FindingState)> {
    findings.iter().map(|f| (f.rule, f.state.clone())).collect()
}

fn active(action: &str) -> FindingState {
    FindingState::Active {
        action: action.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_revert_imports_its_findings_and_a_later_compliant_evaluation_resolves_them() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Reverted);
    assert_eq!(g.ports.alerts.sent().len(), 1, "the alert went out");
    // An Allow to anyone reaches accounts the rules do not trust, too.
    let imported = since(&g, 0);
    assert_eq!(
        summary(&imported),
        [
            (RuleId::PublicAccess, active("reverted")),
            (RuleId::UntrustedAccount, active("reverted")),
        ]
    );
    let f = &imported[0];
    assert_eq!(
        (f.key_arn.as_str(), f.account.as_str(), f.region.as_str()),
        (KEY, "111122223333", "us-east-1")
    );
    assert_eq!((f.first_seen, f.updated), (NOW, NOW));
    assert!(
        f.description.contains("Statement 2 (backup)"),
        "{}",
        f.description
    );
    assert_eq!(f.id(), format!("{KEY}/kms-guardrail/public-access"));
    let report = out.security_hub.expect("reported");
    assert_eq!(
        (report.imported, report.resolved, report.error),
        (2, 0, None)
    );

    // The guardrail's own write comes back as an event: the key complies again.
    let later = NOW + 60;
    let out = g
        .handle(&event("put-key-policy-by-guardrail.json"), &rules(), later)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    let resolved = since(&g, 2);
    assert_eq!(
        summary(&resolved),
        [
            (RuleId::PublicAccess, FindingState::Resolved),
            (RuleId::UntrustedAccount, FindingState::Resolved),
        ]
    );
    assert_eq!(resolved[0].id(), f.id(), "the same finding, updated");
    assert_eq!((resolved[0].first_seen, resolved[0].updated), (NOW, later));

    // Nothing is open any more: a compliant key imports nothing (and reads nothing).
    let out = g
        .handle(
            &event("put-key-policy-compliant.json"),
            &rules(),
            later + 60,
        )
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    assert_eq!(g.ports.findings.sent().len(), 4);
    assert_eq!(out.security_hub, None);
}

#[tokio::test(start_paused = true)]
async fn a_rule_no_longer_violated_is_resolved_while_the_other_stays_open_since_first_seen() {
    let g = guardrail(Mode::Monitor);
    g.ports.keys.insert(KEY, PUBLIC_AND_FOREIGN);
    g.handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(
        summary(&since(&g, 0)),
        [
            (RuleId::PublicAccess, active("would-revert")),
            (RuleId::UntrustedAccount, active("would-revert")),
        ]
    );

    // The public statement is taken out; the partner stays.
    g.ports.keys.insert(KEY, FOREIGN);
    let later = NOW + 300;
    g.handle(&event("put-key-policy-public.json"), &rules(), later)
        .await
        .expect("handled");
    let now = since(&g, 2);
    assert_eq!(
        summary(&now),
        [
            (RuleId::UntrustedAccount, active("would-revert")),
            (RuleId::PublicAccess, FindingState::Resolved),
        ]
    );
    assert!(
        now.iter()
            .all(|f| f.first_seen == NOW && f.updated == later),
        "{now:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_import_never_blocks_the_revert_or_the_alert_and_its_resolutions_are_retried() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    let refused = PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no");
    g.ports.findings.fail_next(refused.clone());
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("a failed import is not the event's failure");
    assert_eq!((out.action, out.verified), (Action::Reverted, Some(true)));
    assert_eq!(g.ports.alerts.sent().len(), 1);
    let report = out.security_hub.expect("reported");
    assert_eq!((report.imported, report.resolved), (0, 0));
    assert!(
        report
            .error
            .is_some_and(|e| e.contains("AccessDeniedException")),
        "the outcome (and so the log line) says why"
    );
    // The finding is tracked as open all the same: a later compliant evaluation resolves it.
    g.ports.findings.fail_next(refused);
    let out = g
        .handle(
            &event("put-key-policy-by-guardrail.json"),
            &rules(),
            NOW + 60,
        )
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Compliant);
    assert!(out.security_hub.is_some_and(|r| r.error.is_some()));
    assert!(g.ports.findings.sent().is_empty());
    // That resolution failed too: the finding is still open, and the next one resolves it.
    let out = g
        .handle(&event("put-key-policy-compliant.json"), &rules(), NOW + 120)
        .await
        .expect("handled");
    assert_eq!(
        summary(&g.ports.findings.sent()),
        [
            (RuleId::PublicAccess, FindingState::Resolved),
            (RuleId::UntrustedAccount, FindingState::Resolved),
        ]
    );
    assert!(g.ports.findings.sent().iter().all(|f| f.first_seen == NOW));
    assert_eq!(out.security_hub.map(|r| r.resolved), Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_key_that_could_not_be_checked_changes_no_finding() {
    let g = guardrail(Mode::Enforce);
    g.ports.keys.insert(KEY, PUBLIC);
    g.handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    g.ports.keys.fail_next(
        kms_guardrail::guardrail::memory::Call::Get,
        PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"),
    );
    let out = g
        .handle(&event("put-key-policy-compliant.json"), &rules(), NOW + 60)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::CouldNotCheck);
    assert_eq!(g.ports.findings.sent().len(), 2, "nothing resolved blind");
    let tracked = g
        .ports
        .baselines
        .track_findings(KEY, &[], &["public-access"])
        .await
        .expect("tracked");
    assert_eq!(tracked.closed, [("public-access".to_owned(), NOW)]);
}

#[tokio::test(start_paused = true)]
async fn with_findings_off_nothing_is_tracked() {
    let g = Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: InMemoryCheckpoints::default(),
            findings: None::<RecordingFindings>,
        },
        settings: Settings {
            mode: Mode::Enforce,
            ..Settings::default()
        },
    };
    g.ports.keys.insert(KEY, PUBLIC);
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(out.action, Action::Reverted);
    assert_eq!(out.security_hub, None);
    let tracked = g
        .ports
        .baselines
        .track_findings(KEY, &[], &["public-access"])
        .await
        .expect("tracked");
    assert!(tracked.closed.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_key_pending_deletion_has_its_findings_resolved_an_aws_managed_one_is_left_alone() {
    let g = guardrail(Mode::Monitor);
    g.ports.keys.insert(KEY, PUBLIC);
    g.handle(&event("put-key-policy-public.json"), &rules(), NOW)
        .await
        .expect("handled");
    assert_eq!(g.ports.findings.sent().len(), 2);
    // AWS owns an AWS-managed key's policy: nothing is said about it either way.
    g.ports.keys.insert_with(KEY, PUBLIC, true, "Enabled");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW + 60)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Skipped);
    assert_eq!(g.ports.findings.sent().len(), 2);
    // Scheduled for deletion: the key cannot be used, its findings are archived.
    g.ports
        .keys
        .insert_with(KEY, PUBLIC, false, "PendingDeletion");
    let out = g
        .handle(&event("put-key-policy-public.json"), &rules(), NOW + 120)
        .await
        .expect("handled");
    assert_eq!(out.status, Status::Skipped);
    let resolved = since(&g, 2);
    assert_eq!(
        summary(&resolved),
        [
            (RuleId::PublicAccess, FindingState::Resolved),
            (RuleId::UntrustedAccount, FindingState::Resolved),
        ]
    );
    assert!(
        resolved[0].description.contains("PendingDeletion"),
        "{}",
        resolved[0].description
    );
}
