//! Findings for Security Hub: after the decision for a key, one [`KeyFinding`] per (key, rule)
//! it violates is imported as active — with what the guardrail did about it — and the key's
//! earlier findings of rules it no longer violates are imported as resolved. Which findings
//! are open is kept in the baseline store ([`Baselines::track_findings`]), so a compliant
//! key costs no Security Hub read. Publishing findings never changes the decision: a failed
//! import is logged, and the revert and the alert stand.

use super::alert::{grant_action_name, policy_action_name, truncate};
use super::ports::{Baselines, Findings, Ports, Tracked};
use super::{Guardrail, Outcome, Skip, Status};
use crate::event::{KeyEvent, KeyEventName};
use engine::report::Finding;
use engine::rules::RuleId;
use serde::Serialize;
use std::collections::BTreeMap;

/// Security Hub's limit for a finding's description.
pub const MAX_DESCRIPTION: usize = 1024;

/// Whether a finding is still a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingState {
    /// The key violates the rule; `action` is what the guardrail did (`reverted`,
    /// `alerted`, `revoked`, …).
    Active {
        /// What the guardrail did.
        action: String,
    },
    /// The key complies with the rule again.
    Resolved,
}

/// One finding: a key and a rule it violates (or violated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFinding {
    /// The key's ARN (its partition is the finding's).
    pub key_arn: String,
    /// The key's account: the finding is imported there.
    pub account: String,
    /// The key's region: the finding is imported there.
    pub region: String,
    /// The rule.
    pub rule: RuleId,
    /// Active or resolved.
    pub state: FindingState,
    /// What was found (the rule's messages), or that the key complies again.
    pub description: String,
    /// When the violation was first seen (seconds since the epoch).
    pub first_seen: u64,
    /// When this evaluation happened (seconds since the epoch).
    pub updated: u64,
    /// The event (or sweep) that evaluated the key.
    pub event_id: String,
}

impl KeyFinding {
    /// The finding's stable id: the same key and rule always update one finding.
    pub fn id(&self) -> String {
        format!("{}/kms-guardrail/{}", self.key_arn, self.rule)
    }
}

/// What publishing the findings of one outcome did (in the outcome, and so in the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubReport {
    /// Active findings imported.
    pub imported: usize,
    /// Findings resolved.
    pub resolved: usize,
    /// Why the import failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The rules an outcome violates (with what was done and the findings), and the rules it
/// shows the key complies with (or no longer can violate: `gone`).
#[derive(Debug, Default)]
struct Changes<'a> {
    open: BTreeMap<RuleId, (Vec<&'static str>, Vec<&'a Finding>)>,
    close: Vec<RuleId>,
    gone: bool,
}

impl<'a> Changes<'a> {
    fn violated(&mut self, finding: &'a Finding, action: &'static str) {
        let (actions, findings) = self.open.entry(finding.rule).or_default();
        if !actions.contains(&action) {
            actions.push(action);
        }
        findings.push(finding);
    }

    /// Closes every rule of the kind `grant` (grant rules, or policy rules) not violated.
    fn complies_otherwise(&mut self, grant: bool) {
        let open = &self.open;
        self.close.extend(
            RuleId::ALL
                .into_iter()
                .filter(|r| r.is_grant_rule() == grant && !open.contains_key(r)),
        );
    }
}

/// What `out` says of the key's rules. The policy's: a violating policy opens its rules'
/// findings and closes the others; a compliant one closes them all; a key that could not be
/// checked (or is AWS-managed) changes nothing. The grants': a violating grant opens its
/// rules' findings; only a sweep, which reads every grant, closes the grant rules none
/// violates. A key pending deletion, or deleted, closes every finding: it cannot be used.
fn changes<'a>(e: &KeyEvent, out: &'a Outcome) -> Changes<'a> {
    let mut changes = Changes::default();
    if matches!(out.skip, Some(Skip::PendingDeletion | Skip::Deleted)) {
        changes.close.extend(RuleId::ALL);
        changes.gone = true;
        return changes;
    }
    let judged = matches!(out.status, Status::Compliant | Status::Violating);
    if judged && e.name != KeyEventName::CreateGrant {
        let action = policy_action_name(out.action);
        for finding in out.findings.iter().filter(|f| !f.rule.is_grant_rule()) {
            changes.violated(finding, action);
        }
        changes.complies_otherwise(false);
    }
    for verdict in &out.grants {
        for finding in &verdict.findings {
            changes.violated(finding, grant_action_name(verdict.action));
        }
    }
    if judged && e.name == KeyEventName::Sweep && out.grants_unchecked.is_none() {
        changes.complies_otherwise(true);
    }
    changes
}

/// One line per finding: where in the policy (or which grant), and the message.
fn describe(findings: &[&Finding]) -> String {
    let lines: Vec<String> = findings
        .iter()
        .map(|f| match (&f.grant, f.statement, &f.sid) {
            (Some(grant), _, _) => format!("Grant {grant}: {}", f.message),
            (None, Some(i), Some(sid)) => format!("Statement {i} ({sid}): {}", f.message),
            (None, Some(i), None) => format!("Statement {i}: {}", f.message),
            (None, None, _) => f.message.clone(),
        })
        .collect();
    truncate(&lines.join("\n"), MAX_DESCRIPTION)
}

impl<P: Ports> Guardrail<P> {
    /// Publishes what `out` found about `e`'s key (the caller checks findings are enabled):
    /// imports its violations as active findings and resolves the earlier ones it no longer
    /// has. A failure is logged and recorded in the outcome; nothing else changes.
    pub(super) async fn report_findings(&self, e: &KeyEvent, out: &mut Outcome, now: u64) {
        let hub = self.ports.findings();
        let changes = changes(e, out);
        if changes.open.is_empty() && changes.close.is_empty() {
            return;
        }
        let open: Vec<(&str, u64)> = changes.open.keys().map(|r| (r.as_str(), now)).collect();
        let close: Vec<&str> = changes.close.iter().map(|r| r.as_str()).collect();
        let baselines = self.ports.baselines();
        let tracked = match baselines.track_findings(&e.key_arn, &open, &close).await {
            Ok(tracked) => tracked,
            // Still import the violations; which earlier ones to resolve is unknown.
            Err(err) => {
                tracing::warn!(key = %e.key_arn, error = %err, "open findings could not be tracked");
                Tracked::untracked(&open)
            }
        };
        let finding = |rule: RuleId, state, description, first_seen| KeyFinding {
            key_arn: e.key_arn.clone(),
            account: e.account.clone(),
            region: e.region.clone(),
            rule,
            state,
            description,
            first_seen,
            updated: now,
            event_id: e.event_id.clone(),
        };
        let seen = |list: &[(String, u64)], rule: RuleId| {
            list.iter()
                .find(|(r, _)| r == rule.as_str())
                .map(|&(_, t)| t)
        };
        let mut findings = Vec::new();
        for (&rule, (actions, violations)) in &changes.open {
            let state = FindingState::Active {
                action: actions.join(", "),
            };
            let first_seen = seen(&tracked.opened, rule).unwrap_or(now);
            findings.push(finding(rule, state, describe(violations), first_seen));
        }
        for &rule in &changes.close {
            if let Some(first_seen) = seen(&tracked.closed, rule) {
                let description = if changes.gone {
                    format!("{} (seen for {}).", out.message, e.event_id)
                } else {
                    format!(
                        "The key complies with {rule} again (evaluated for {}).",
                        e.event_id
                    )
                };
                findings.push(finding(
                    rule,
                    FindingState::Resolved,
                    description,
                    first_seen,
                ));
            }
        }
        if findings.is_empty() {
            return;
        }
        let resolved = tracked.closed.len();
        out.security_hub = Some(Box::new(match hub.import(&findings).await {
            Ok(()) => HubReport {
                imported: findings.len() - resolved,
                resolved,
                error: None,
            },
            Err(err) => {
                tracing::error!(
                    key = %e.key_arn,
                    error = %err,
                    findings = findings.len(),
                    "Security Hub import failed; the decision stands"
                );
                // Still open there: a later compliant evaluation resolves them.
                let reopen: Vec<(&str, u64)> = tracked
                    .closed
                    .iter()
                    .map(|(r, t)| (r.as_str(), *t))
                    .collect();
                if !reopen.is_empty()
                    && let Err(again) = baselines.track_findings(&e.key_arn, &reopen, &[]).await
                {
                    tracing::warn!(key = %e.key_arn, error = %again, "resolved findings could not be kept open");
                }
                HubReport {
                    imported: 0,
                    resolved: 0,
                    error: Some(err.to_string()),
                }
            }
        }));
    }
}
