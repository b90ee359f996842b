//! `allow-not-principal`: `NotPrincipal` in an Allow grants to every principal not listed.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings};
use crate::policy::Effect;

pub(super) const RULE: Rule = Rule {
    severity: Severity::High,
    default_action: RuleAction::Alert,
    summary: "NotPrincipal in an Allow statement grants to every principal not listed.",
    remedy: Remedy::AllowStatement,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for s in &a.policy.statements {
        if s.effect == Effect::Allow && s.principal.as_ref().is_some_and(|p| p.negated) {
            out.single(
                RuleId::AllowNotPrincipal,
                Some(s.index),
                s.span,
                None,
                "`NotPrincipal` in an Allow grants to every principal except those listed"
                    .to_owned(),
            );
        }
    }
}
