//! `ineffective-statement`: statements that grant or deny nothing — no `Action` or
//! `Resource`, no action a key policy governs, a `Resource` that does not cover the key.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings};

pub(super) const RULE: Rule = Rule {
    severity: Severity::Low,
    default_action: RuleAction::Alert,
    summary: "A statement that grants or denies nothing (missing Action or Resource, a Resource that does not cover the key).",
    remedy: Remedy::Statement,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (s, facts) in a.policy.statements.iter().zip(&a.normalized.statements) {
        if let Some(reason) = &facts.ineffective {
            out.single(
                RuleId::IneffectiveStatement,
                Some(s.index),
                s.span,
                None,
                reason.clone(),
            );
        }
    }
}
