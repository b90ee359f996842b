//! The alert for one outcome: a subject of at most 100 characters, `severity` and `action`
//! attributes to filter on, and a JSON body with the key, the actor, the findings, what was
//! done and the policy before and after (README, "The guardrail") — or, for a grant, the
//! grant (id, grantee, retiring principal, operations, constraints, issuing account).

use super::grant::GrantVerdict;
use super::ports::Alert;
use super::{Action, Outcome};
use crate::event::KeyEvent;
use engine::report::Finding;
use serde_json::json;

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The policy violates the rules.
    Violation,
    /// The policy could not be read.
    CouldNotCheck,
    /// The key is left alone (pending deletion).
    Skipped,
    /// The key's account cannot be reached (its member role could not be assumed).
    NotCovered,
}

/// SNS's limit for subjects.
pub const MAX_SUBJECT: usize = 100;

fn action_name(kind: Kind, action: Action) -> &'static str {
    match (kind, action) {
        (Kind::CouldNotCheck, _) => "could-not-check",
        (Kind::Skipped, _) => "skipped",
        (Kind::NotCovered, _) => "not-covered",
        (_, Action::Reverted) => "reverted",
        (_, Action::WouldRevert) => "would-revert",
        (_, Action::RevertFailed) => "revert-failed",
        (_, Action::NotRemediated) => "not-remediated",
        _ => "alerted",
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The most severe finding's severity (`info` when there is none).
fn severity_of(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| f.severity)
        .min()
        .map_or_else(|| "info".to_owned(), |s| s.as_str().to_owned())
}

fn key_id(e: &KeyEvent) -> &str {
    e.key_arn.rsplit('/').next().unwrap_or(&e.key_arn)
}

/// An alert about `e`'s key, with `subject` (cut to SNS's limit) and a body of the key, the
/// event (which call, when, from where) and the actor, followed by `details`.
fn about_key(
    e: &KeyEvent,
    subject: &str,
    severity: String,
    action: &str,
    details: serde_json::Value,
) -> Alert {
    let mut body = json!({
        "key_arn": e.key_arn,
        "account": e.account,
        "region": e.region,
        "event": {
            "id": e.event_id,
            "cloudtrail_event_id": e.cloudtrail_event_id,
            "name": e.name.as_str(),
            "time": e.time,
            "source_ip": e.source_ip,
            "user_agent": e.user_agent,
        },
        "actor": e.actor,
    });
    if let (Some(body), serde_json::Value::Object(details)) = (body.as_object_mut(), details) {
        body.extend(details);
    }
    Alert {
        subject: truncate(subject, MAX_SUBJECT),
        severity,
        account: Some(e.account.clone()),
        action: action.to_owned(),
        body,
    }
}

/// The alert for a violating grant of `e`'s key.
pub fn grant(e: &KeyEvent, v: &GrantVerdict) -> Alert {
    let action = match v.action {
        Action::Reverted => "revoked",
        Action::WouldRevert => "would-revoke",
        Action::RevertFailed => "revoke-failed",
        _ => "alerted",
    };
    let rule = v.findings.first().map_or("violation", |f| f.rule.as_str());
    let subject = format!(
        "KMS guardrail: {action}: {rule} grant on key {} in {} {}",
        key_id(e),
        e.account,
        e.region
    );
    let details = json!({
        "grant": v.grant,
        "action": action,
        "outcome": v.message,
        "verified": v.verified,
        "findings": v.findings,
    });
    about_key(e, &subject, severity_of(&v.findings), action, details)
}

/// Builds the alert for `out`, the outcome of `e`.
pub fn build(e: &KeyEvent, out: &Outcome, kind: Kind) -> Alert {
    let action = action_name(kind, out.action);
    let severity = match kind {
        Kind::CouldNotCheck | Kind::NotCovered => "high".to_owned(),
        Kind::Skipped => "info".to_owned(),
        Kind::Violation => severity_of(&out.findings),
    };
    let what = match kind {
        Kind::Violation => out
            .findings
            .first()
            .map_or_else(|| "violation".to_owned(), |f| f.rule.as_str().to_owned()),
        Kind::CouldNotCheck => "could not check".to_owned(),
        Kind::Skipped => "key skipped".to_owned(),
        Kind::NotCovered => String::new(),
    };
    let subject = if kind == Kind::NotCovered {
        format!(
            "KMS guardrail: not-covered: account {} ({}) cannot be reached",
            e.account, e.region
        )
    } else {
        format!(
            "KMS guardrail: {action}: {what} on key {} in {} {}",
            key_id(e),
            e.account,
            e.region
        )
    };
    let details = json!({
        "status": out.status,
        "action": action,
        "outcome": out.message,
        "verified": out.verified,
        "findings": out.findings,
        "policy_before": out.policy_before,
        "policy_after": out.policy_after,
    });
    about_key(e, &subject, severity, action, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_subjects_are_cut_to_the_sns_limit() {
        let cut = truncate(&"x".repeat(250), MAX_SUBJECT);
        assert_eq!(cut.chars().count(), MAX_SUBJECT);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", MAX_SUBJECT), "short");
    }
}
