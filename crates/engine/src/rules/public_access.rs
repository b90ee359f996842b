//! `public-access`: an Allow that reaches any AWS account — a wildcard principal (`"*"`,
//! `{"AWS": "*"}`, a wildcard-account ARN, `NotPrincipal`) with no condition that pins the
//! caller's account, organization or network.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Bounds, Findings, Merged};
use crate::principal::Principal;

pub(super) const RULE: Rule = Rule {
    severity: Severity::Critical,
    default_action: RuleAction::Alert,
    summary: "An Allow statement reaches any AWS account: no condition pins the caller's account, organization or network.",
    remedy: Remedy::AllowPrincipals,
    check: Check::Policy { check, message },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (grant, bounds) in a.grants() {
        if grant.principal == Principal::AnyAccount && *bounds == Bounds::Unbounded {
            out.grant(RuleId::PublicAccess, grant, grant.actions, Vec::new());
        }
    }
}

fn message(m: &Merged) -> String {
    format!(
        "grants {} to any AWS account: principal {} with no condition that pins the caller's account, organization or network",
        m.actions_phrase(),
        m.principals_phrase()
    )
}
