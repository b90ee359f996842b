//! `invalid-policy`: a document KMS would reject — duplicate members, an unknown `Effect`
//! or operator, a missing `Principal`, too long, characters outside what KMS accepts. The
//! reasons are recorded while the policy is parsed ([`crate::policy::Problem`]).

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings};

pub(super) const RULE: Rule = Rule {
    severity: Severity::High,
    default_action: RuleAction::Alert,
    summary: "The document is one KMS would reject: duplicate members, unknown Effect, missing Principal, too long, disallowed characters.",
    remedy: Remedy::AllowStatement,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for problem in &a.policy.problems {
        out.single(
            RuleId::InvalidPolicy,
            problem.statement,
            problem.span,
            None,
            problem.message.clone(),
        );
    }
}
