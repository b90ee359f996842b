//! The alert for one outcome: a subject of at most 100 characters, `severity` and `action`
//! attributes to filter on, and a JSON body with the key, the actor, the findings, what was
//! done and the policy before and after (README, "The guardrail") — or, for a grant, the
//! grant (id, grantee, retiring principal, operations, constraints, issuing account) — and
//! any alert as a chat applications' custom notification ([`chat`]).

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
    match kind {
        Kind::CouldNotCheck => "could-not-check",
        Kind::Skipped => "skipped",
        Kind::NotCovered => "not-covered",
        Kind::Violation => policy_action_name(action),
    }
}

/// What was done about a violating policy, as alerts and findings name it.
pub fn policy_action_name(action: Action) -> &'static str {
    match action {
        Action::Reverted => "reverted",
        Action::WouldRevert => "would-revert",
        Action::RevertFailed => "revert-failed",
        Action::NotRemediated => "not-remediated",
        _ => "alerted",
    }
}

/// What was done about a violating grant, as alerts and findings name it.
pub fn grant_action_name(action: Action) -> &'static str {
    match action {
        Action::Reverted => "revoked",
        Action::WouldRevert => "would-revoke",
        Action::RevertFailed => "revoke-failed",
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
    let action = grant_action_name(v.action);
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

/// The most a chat notification's description carries.
pub const MAX_CHAT_DESCRIPTION: usize = 4000;

/// What the reader of an alert should do next, by what the guardrail did.
fn next_steps(action: &str) -> Vec<&'static str> {
    match action {
        "reverted" => vec![
            "The key's policy was restored; nothing is exposed now.",
            "Find out why the actor made the change, and whether their credentials are in use by someone else.",
        ],
        "would-revert" => vec![
            "Monitor mode: the guardrail would have restored a compliant policy.",
            "Fix the key policy, or switch the guardrail to enforce.",
        ],
        "revert-failed" | "not-remediated" => vec![
            "Nothing was written: the violation stands.",
            "Fix the key policy by hand now.",
        ],
        "revoked" => vec!["The grant was revoked.", "Find out who created it and why."],
        "would-revoke" | "revoke-failed" => vec!["Revoke the grant by hand (RevokeGrant)."],
        "could-not-check" | "not-covered" => vec![
            "The key could not be checked: this is a blind spot, not a pass.",
            "Check that the guardrail's role (or the member role) may read the key.",
        ],
        "sweep-summary" => vec!["Look into the keys the summary lists."],
        "skipped" => vec!["No action is needed unless the change was unexpected."],
        _ => vec!["Fix what the findings name, following each rule's documentation."],
    }
}

/// `alert` in the chat applications' custom notification format (Amazon Q Developer in
/// chat applications renders it in Slack and Microsoft Teams): a title, a markdown
/// description of the key, actor, outcome and findings, next steps, and the key as the
/// related resource.
pub fn chat(alert: &Alert) -> serde_json::Value {
    let body = &alert.body;
    let text = |name: &str| body.get(name).and_then(|v| v.as_str());
    let mut lines = Vec::new();
    if let Some(key) = text("key_arn") {
        lines.push(format!("*Key:* `{key}`"));
    }
    if let (Some(account), Some(region)) = (text("account"), text("region")) {
        lines.push(format!("*Account:* {account} ({region})"));
    }
    if let Some(actor) = body.pointer("/actor/arn").and_then(|v| v.as_str()) {
        lines.push(format!("*Actor:* `{actor}`"));
    }
    lines.push(format!(
        "*Action:* {} · *Severity:* {}",
        alert.action, alert.severity
    ));
    if let Some(outcome) = text("outcome") {
        lines.push(format!("*Outcome:* {outcome}"));
    }
    let findings = body
        .get("findings")
        .and_then(|f| f.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for f in findings {
        let field = |name: &str| f.get(name).and_then(|v| v.as_str()).unwrap_or_default();
        lines.push(format!(
            "• [{}] {}: {}",
            field("severity"),
            field("rule"),
            field("message")
        ));
    }
    let related: Vec<&str> = text("key_arn").into_iter().collect();
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": alert.subject,
            "description": truncate(&lines.join("\n"), MAX_CHAT_DESCRIPTION),
            "nextSteps": next_steps(&alert.action),
            "keywords": [alert.severity, alert.action],
        },
        "metadata": {
            "summary": alert.subject,
            "eventType": format!("kms-guardrail:{}", alert.action),
            "relatedResources": related,
            "additionalContext": {
                "severity": alert.severity,
                "action": alert.action,
                "account": alert.account,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reverted() -> Alert {
        Alert {
            subject: "KMS guardrail: reverted: public-access on key 1234 in 111122223333 us-east-1"
                .to_owned(),
            severity: "critical".to_owned(),
            account: Some("111122223333".to_owned()),
            action: "reverted".to_owned(),
            body: json!({
                "key_arn": "arn:aws:kms:us-east-1:111122223333:key/1234",
                "account": "111122223333",
                "region": "us-east-1",
                "actor": {"arn": "arn:aws:sts::111122223333:assumed-role/Developer/alice"},
                "outcome": "the last known-good policy was restored",
                "findings": [
                    {"rule": "public-access", "severity": "critical", "message": "anyone may call kms:Decrypt"},
                    {"rule": "untrusted-account", "severity": "high", "message": "any account may call kms:Decrypt"},
                ],
            }),
        }
    }

    #[test]
    fn a_chat_alert_is_a_custom_notification_with_the_key_actor_findings_and_next_steps() {
        let alert = reverted();
        let chat = chat(&alert);
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        let content = &chat["content"];
        assert_eq!(content["textType"], "client-markdown");
        assert_eq!(content["title"], alert.subject.as_str());
        let description = content["description"].as_str().expect("description");
        let lines: Vec<&str> = description.lines().collect();
        assert_eq!(
            lines,
            [
                "*Key:* `arn:aws:kms:us-east-1:111122223333:key/1234`",
                "*Account:* 111122223333 (us-east-1)",
                "*Actor:* `arn:aws:sts::111122223333:assumed-role/Developer/alice`",
                "*Action:* reverted · *Severity:* critical",
                "*Outcome:* the last known-good policy was restored",
                "• [critical] public-access: anyone may call kms:Decrypt",
                "• [high] untrusted-account: any account may call kms:Decrypt",
            ]
        );
        assert_eq!(content["nextSteps"], json!(next_steps("reverted")));
        assert_eq!(content["keywords"], json!(["critical", "reverted"]));
        assert_eq!(chat["metadata"]["eventType"], "kms-guardrail:reverted");
        assert_eq!(
            chat["metadata"]["relatedResources"],
            json!(["arn:aws:kms:us-east-1:111122223333:key/1234"])
        );
        assert_eq!(
            chat["metadata"]["additionalContext"]["account"],
            "111122223333"
        );
    }

    #[test]
    fn a_chat_alert_without_a_key_or_findings_still_has_a_description_and_next_steps() {
        let summary = Alert {
            subject: "KMS guardrail: sweep of 111122223333 us-east-1: 3 violating".to_owned(),
            severity: "high".to_owned(),
            account: None,
            action: "sweep-summary".to_owned(),
            body: json!({"counts": {"violating": 3}}),
        };
        let note = chat(&summary);
        assert_eq!(
            note["content"]["description"],
            "*Action:* sweep-summary · *Severity:* high"
        );
        assert_eq!(
            note["content"]["nextSteps"],
            json!(next_steps("sweep-summary"))
        );
        assert_eq!(note["metadata"]["relatedResources"], json!([]));
        let long = Alert {
            body: json!({"outcome": "x".repeat(10_000)}),
            ..summary
        };
        let description = chat(&long)["content"]["description"]
            .as_str()
            .expect("description")
            .chars()
            .count();
        assert_eq!(description, MAX_CHAT_DESCRIPTION);
    }

    #[test]
    fn every_action_has_next_steps() {
        for action in [
            "reverted",
            "would-revert",
            "alerted",
            "revert-failed",
            "not-remediated",
            "could-not-check",
            "not-covered",
            "skipped",
            "sweep-summary",
            "revoked",
            "would-revoke",
            "revoke-failed",
        ] {
            assert!(!next_steps(action).is_empty(), "{action}");
        }
    }

    #[test]
    fn long_subjects_are_cut_to_the_sns_limit() {
        let cut = truncate(&"x".repeat(250), MAX_SUBJECT);
        assert_eq!(cut.chars().count(), MAX_SUBJECT);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", MAX_SUBJECT), "short");
    }
}
