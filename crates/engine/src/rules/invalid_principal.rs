//! `invalid-principal`: principal entries KMS would reject or that no longer exist (unique
//! ids of deleted principals, malformed ARNs, wildcards in names, another partition).

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings};

pub(super) const RULE: Rule = Rule {
    severity: Severity::Low,
    default_action: RuleAction::Alert,
    summary: "A principal KMS would reject or that no longer exists (unique ids, malformed ARNs).",
    remedy: Remedy::Principals,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (s, facts) in a.policy.statements.iter().zip(&a.normalized.statements) {
        for (written, reason) in &facts.invalid_principals {
            out.single(
                RuleId::InvalidPrincipal,
                Some(s.index),
                s.span,
                Some(written),
                reason.clone(),
            );
        }
    }
}
