//! Remediation planning: for a policy that violates rules whose action is `revert`, the
//! compliant policy to put back — the key's last known-good policy if it still passes
//! today's rules, else the current policy with the offending principals (or whole
//! statements) removed — and the safety check every write must pass first.
//!
//! Pure like the evaluator: text and values in, a plan or the reason there is none out.
//! Stripping only ever removes Allow grants and Denies that deny nothing, so a stripped plan
//! never grants anyone anything the current policy did not (a property test pins that).

use crate::evaluate::evaluate;
use crate::grants::KeyContext;
use crate::policy::{Effect, MAX_POLICY_CHARS, Policy, is_allowed_char};
use crate::report::{Finding, Report};
use crate::rules::lockout_risk::keeps_management;
use crate::rules::{Remedy, RuleAction, RuleId, RuleSet};

/// Where a plan's policy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The key's last known-good policy, which passes today's rules.
    Baseline,
    /// The current policy with the offending grants removed.
    Stripped,
}

/// A policy that is safe to write, and how it was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The policy text to put back.
    pub policy: String,
    /// Where it comes from.
    pub source: Source,
    /// What stripping removed, one line each (empty for a baseline).
    pub removed: Vec<String>,
}

/// Why a policy must not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeError {
    /// Longer than KMS accepts.
    #[error("it is {0} characters long; KMS accepts at most {MAX_POLICY_CHARS}")]
    TooLong(usize),
    /// Holds a character KMS refuses.
    #[error("it holds character U+{0:04X}, which KMS refuses")]
    Character(u32),
    /// Not a policy KMS would accept.
    #[error("it is not a valid key policy: {0}")]
    Invalid(String),
    /// Still violates a rule whose action is `revert`.
    #[error("it still violates `{0}`, whose action is revert")]
    Violates(RuleId),
    /// Nobody who should could call `PutKeyPolicy` afterwards.
    #[error("neither the owner account nor an admin could call kms:PutKeyPolicy afterwards")]
    LocksOut,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no safe policy to put back: {0}")]
pub struct NoPlanError(pub String);

/// Checks a policy text before it is written: KMS's limits, a valid document, no finding
/// whose action is `revert`, and `PutKeyPolicy` kept for the owner account or an admin.
pub fn check_safe(text: &str, rules: &RuleSet, ctx: &KeyContext) -> Result<(), UnsafeError> {
    let chars = text.chars().count();
    if chars > MAX_POLICY_CHARS {
        return Err(UnsafeError::TooLong(chars));
    }
    if let Some(c) = text.chars().find(|&c| !is_allowed_char(c)) {
        return Err(UnsafeError::Character(c as u32));
    }
    let policy = Policy::parse(text).map_err(|e| UnsafeError::Invalid(e.to_string()))?;
    // Lock-out first: whatever else is wrong, it is the reason an operator must hear.
    if !keeps_management(&policy, rules, ctx) {
        return Err(UnsafeError::LocksOut);
    }
    let report = evaluate(&policy, rules, ctx);
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| f.action == RuleAction::Revert)
    {
        return Err(UnsafeError::Violates(f.rule));
    }
    if let Some(problem) = policy.problems.first() {
        return Err(UnsafeError::Invalid(problem.message.clone()));
    }
    Ok(())
}

/// Plans the remediation of `current`, whose evaluation is `report`; `baseline` is the key's
/// last known-good policy, if the guardrail has one.
pub fn plan(
    current: &Policy<'_>,
    report: &Report,
    rules: &RuleSet,
    ctx: &KeyContext,
    baseline: Option<&str>,
) -> Result<Plan, NoPlanError> {
    if !report
        .findings
        .iter()
        .any(|f| f.action == RuleAction::Revert)
    {
        return Err(NoPlanError(
            "the policy violates no rule whose action is revert".to_owned(),
        ));
    }
    let mut why_not_baseline = None;
    if let Some(text) = baseline {
        match check_safe(text, rules, ctx) {
            Ok(()) => {
                return Ok(Plan {
                    policy: text.to_owned(),
                    source: Source::Baseline,
                    removed: Vec::new(),
                });
            }
            Err(e) => {
                why_not_baseline = Some(format!("the last known-good policy is unusable: {e}"))
            }
        }
    }
    // One round suffices: stripping only removes Allow grants and Denies that deny
    // nothing, so it cannot create a statement-level violation. What it cannot fix
    // (policy-wide findings, a lock-out) the safety check refuses.
    let mut candidate = current.clone();
    let removed = strip(&mut candidate, &report.findings);
    let text = candidate.to_json();
    match check_safe(&text, rules, ctx) {
        Ok(()) => Ok(Plan {
            policy: text,
            source: Source::Stripped,
            removed,
        }),
        Err(e) => Err(no_plan(why_not_baseline, &report.findings, &e)),
    }
}

fn no_plan(why_not_baseline: Option<String>, findings: &[Finding], e: &UnsafeError) -> NoPlanError {
    let stuck: Vec<&str> = findings
        .iter()
        .filter(|f| f.action == RuleAction::Revert && f.statement.is_none())
        .map(|f| f.rule.as_str())
        .collect();
    let mut reason = format!("removing the offending grants is not enough: {e}");
    if !stuck.is_empty() {
        reason.push_str(&format!(" (policy-wide: {})", stuck.join(", ")));
    }
    if let Some(b) = why_not_baseline {
        reason = format!("{b}; {reason}");
    }
    NoPlanError(reason)
}

/// What stripping does about one finding.
enum Cut<'f> {
    /// Remove the whole statement.
    Statement,
    /// Remove these principal entries (the statement goes when none is left).
    Principals(&'f [String]),
    /// Nothing safe to remove.
    Keep,
}

fn cut_for<'f>(finding: &'f Finding, effect: Effect) -> Cut<'f> {
    let allow = effect != Effect::Deny;
    match finding.rule.rule().remedy {
        Remedy::Statement => Cut::Statement,
        Remedy::Principals => Cut::Principals(&finding.principals),
        Remedy::AllowStatement if allow => Cut::Statement,
        Remedy::AllowPrincipals if allow => Cut::Principals(&finding.principals),
        // Denies are kept unless they deny nothing: removing one could widen access.
        Remedy::AllowStatement | Remedy::AllowPrincipals | Remedy::Keep | Remedy::RevokeGrant => {
            Cut::Keep
        }
    }
}

/// Removes what the revert findings point at from `policy`; returns what was removed.
fn strip(policy: &mut Policy<'_>, findings: &[Finding]) -> Vec<String> {
    let mut removed = Vec::new();
    let mut dropped = std::collections::BTreeSet::new();
    for f in findings.iter().filter(|f| f.action == RuleAction::Revert) {
        let Some(index) = f.statement else { continue };
        let Some(statement) = policy.statements.get_mut(index) else {
            continue;
        };
        if dropped.contains(&index) {
            continue;
        }
        let name = describe(index, statement.sid.as_deref());
        match cut_for(f, statement.effect) {
            Cut::Keep => {}
            Cut::Statement => {
                dropped.insert(index);
                removed.push(format!("{name}: removed the statement ({})", f.rule));
            }
            Cut::Principals(principals) => {
                let Some(element) = statement.principal.as_mut() else {
                    continue;
                };
                // A Deny's NotPrincipal lists whom it spares: a stale entry spares nobody,
                // and dropping the last one would drop the Deny.
                if statement.effect == Effect::Deny && element.negated {
                    continue;
                }
                // A bare "*" and NotPrincipal cannot lose one principal: the statement goes.
                if element.star || element.negated {
                    dropped.insert(index);
                    removed.push(format!("{name}: removed the statement ({})", f.rule));
                    continue;
                }
                for p in principals {
                    let before = element.entries.len();
                    element.entries.retain(|e| e.value != p.as_str());
                    if element.entries.len() < before {
                        removed.push(format!("{name}: removed principal `{p}` ({})", f.rule));
                    }
                }
                if element.entries.is_empty() {
                    dropped.insert(index);
                    removed.push(format!("{name}: removed the statement, no principal left"));
                }
            }
        }
    }
    let mut position = 0;
    policy.statements.retain(|_| {
        let keep = !dropped.contains(&position);
        position += 1;
        keep
    });
    for (i, s) in policy.statements.iter_mut().enumerate() {
        s.index = i;
    }
    removed
}

fn describe(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("statement {index} ({sid:?})"),
        None => format!("statement {index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "111122223333";

    fn revert_all() -> RuleSet {
        let mut rules = RuleSet::from_document(
            "version: 1\ntrusted_accounts: [\"444455556666\"]\nadmins: [\"arn:aws:iam::${account}:role/KeyAdmin\"]\n",
        )
        .expect("rules");
        for rule in RuleId::ALL {
            rules.set_action(rule, RuleAction::Revert);
        }
        rules
    }

    fn ctx() -> KeyContext {
        KeyContext::for_account(Some(OWNER))
    }

    const ROOT: &str = r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;

    fn plan_for(text: &str, baseline: Option<&str>) -> Result<Plan, NoPlanError> {
        let rules = revert_all();
        let policy = Policy::parse(text).expect("valid");
        let report = evaluate(&policy, &rules, &ctx());
        plan(&policy, &report, &rules, &ctx(), baseline)
    }

    #[test]
    fn public_statement_is_removed_and_the_rest_kept() {
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{ROOT},{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}]}}"#
        );
        let plan = plan_for(&text, None).expect("plan");
        assert_eq!(plan.source, Source::Stripped);
        assert!(!plan.policy.contains("\"Public\""));
        assert!(plan.policy.contains("\"Root\""));
        assert!(check_safe(&plan.policy, &revert_all(), &ctx()).is_ok());
    }

    #[test]
    fn only_the_offending_principal_leaves_a_shared_statement() {
        let text = format!(
            r#"{{"Statement":[{ROOT},{{"Sid":"Use","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::999988887777:root"]}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
        );
        let plan = plan_for(&text, None).expect("plan");
        assert!(plan.policy.contains("444455556666"));
        assert!(!plan.policy.contains("999988887777"));
        assert_eq!(
            plan.removed,
            [
                "statement 1 (\"Use\"): removed principal `arn:aws:iam::999988887777:root` (untrusted-account)"
            ]
        );
    }

    #[test]
    fn a_passing_baseline_is_preferred() {
        let baseline = format!(r#"{{"Version":"2012-10-17","Statement":[{ROOT}]}}"#);
        let text = r#"{"Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
        let plan = plan_for(text, Some(&baseline)).expect("plan");
        assert_eq!(plan.source, Source::Baseline);
        assert_eq!(plan.policy, baseline);
    }

    #[test]
    fn a_failing_baseline_is_skipped_for_stripping() {
        let baseline =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
        let text = format!(
            r#"{{"Statement":[{ROOT},{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}]}}"#
        );
        let plan = plan_for(&text, Some(baseline)).expect("plan");
        assert_eq!(plan.source, Source::Stripped);
    }

    #[test]
    fn stripping_that_would_lock_out_is_refused() {
        // The only PutKeyPolicy grant is itself the public one.
        let text = r#"{"Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
        let err = plan_for(text, None).expect_err("no safe plan");
        assert!(
            err.0.contains("lockout-risk") || err.0.contains("PutKeyPolicy"),
            "{err}"
        );
    }

    #[test]
    fn effective_denies_are_never_removed() {
        // A Deny with an unknown operator is invalid-policy, but removing it would widen access.
        let text = format!(
            r#"{{"Statement":[{ROOT},{{"Sid":"Fence","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEqualz":{{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}}}}]}}"#
        );
        let err = plan_for(&text, None).expect_err("no safe plan");
        assert!(err.0.contains("still violates `invalid-policy`"), "{err}");
    }

    #[test]
    fn a_deny_sparing_only_a_deleted_principal_stays() {
        // Regression: stripping the invalid entry emptied NotPrincipal and dropped the Deny,
        // which denied everyone.
        let text = format!(
            r#"{{"Statement":[{ROOT},{{"Sid":"Fence","Effect":"Deny","NotPrincipal":{{"AWS":"AROAEXAMPLEID1234567"}},"Action":"kms:Decrypt","Resource":"*"}},{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}}]}}"#
        );
        let rules = revert_all();
        let policy = Policy::parse(&text).expect("valid");
        let report = evaluate(&policy, &rules, &ctx());
        let mut stripped = policy.clone();
        strip(&mut stripped, &report.findings);
        assert!(
            stripped
                .statements
                .iter()
                .any(|s| s.sid.as_deref() == Some("Fence"))
        );
        assert!(
            !stripped
                .statements
                .iter()
                .any(|s| s.sid.as_deref() == Some("Public"))
        );
    }

    #[test]
    fn safety_check_refuses_what_kms_would() {
        let rules = revert_all();
        let long = format!(
            r#"{{"Id":"{}","Statement":[{ROOT}]}}"#,
            "x".repeat(MAX_POLICY_CHARS)
        );
        assert!(matches!(
            check_safe(&long, &rules, &ctx()),
            Err(UnsafeError::TooLong(_))
        ));
        let snowman = format!("{{\"Id\":\"\u{2603}\",\"Statement\":[{ROOT}]}}");
        assert_eq!(
            check_safe(&snowman, &rules, &ctx()),
            Err(UnsafeError::Character(0x2603))
        );
        let locked = r#"{"Statement":[{"Sid":"Use","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
        assert_eq!(
            check_safe(locked, &rules, &ctx()),
            Err(UnsafeError::LocksOut)
        );
        // Refused even when the rules switch lockout-risk off.
        let mut lenient = rules.clone();
        lenient.set_action(RuleId::LockoutRisk, RuleAction::Off);
        assert_eq!(
            check_safe(locked, &lenient, &ctx()),
            Err(UnsafeError::LocksOut)
        );
    }
}
