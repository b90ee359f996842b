//! `allow-not-action`: `NotAction` in an Allow grants every key action not listed,
//! including actions KMS adds later.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings};
use crate::policy::Effect;

pub(super) const RULE: Rule = Rule {
    severity: Severity::Medium,
    default_action: RuleAction::Alert,
    summary: "NotAction in an Allow statement grants every key action not listed, including ones added later.",
    remedy: Remedy::AllowStatement,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for s in &a.policy.statements {
        if s.effect == Effect::Allow && s.action.as_ref().is_some_and(|n| n.negated) {
            out.single(
                RuleId::AllowNotAction,
                Some(s.index),
                s.span,
                None,
                "`NotAction` in an Allow grants every key action not listed, including actions KMS adds later"
                    .to_owned(),
            );
        }
    }
}
