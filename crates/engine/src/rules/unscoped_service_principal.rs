//! `unscoped-service-principal`: a service principal granted key actions with no
//! `aws:SourceAccount` / `aws:SourceArn` / encryption-context condition, so resources of any
//! account can use the key through the service (the confused deputy).

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Findings, Merged};
use crate::principal::Principal;

pub(super) const RULE: Rule = Rule {
    severity: Severity::Medium,
    default_action: RuleAction::Alert,
    summary: "A service principal is granted actions without an aws:SourceAccount, aws:SourceArn or encryption-context condition (confused deputy).",
    remedy: Remedy::AllowPrincipals,
    check: Check::Policy { check, message },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (grant, _) in a.grants() {
        if matches!(grant.principal, Principal::Service(_)) && !grant.service_scoped {
            out.grant(
                RuleId::UnscopedServicePrincipal,
                grant,
                grant.actions,
                Vec::new(),
            );
        }
    }
}

fn message(m: &Merged) -> String {
    format!(
        "grants {} to service {} with no aws:SourceAccount, aws:SourceArn or encryption-context condition: resources of any account can use the key through it (confused deputy)",
        m.actions_phrase(),
        m.principals_phrase()
    )
}
