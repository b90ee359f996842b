//! `untrusted-admin`: key-administration actions (`PutKeyPolicy`, `ScheduleKeyDeletion`,
//! `DisableKey`, …) granted to a principal that is neither the owner account nor a listed
//! admin.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::actions::ActionSet;
use crate::evaluate::{Analysis, Findings, Merged};

pub(super) const RULE: Rule = Rule {
    severity: Severity::High,
    default_action: RuleAction::Alert,
    summary: "Key-administration actions are granted to a principal that is neither the owner account nor a listed admin.",
    remedy: Remedy::AllowPrincipals,
    check: Check::Policy { check, message },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (grant, _) in a.grants() {
        let admin_actions = grant.actions.intersection(ActionSet::ADMIN);
        if !admin_actions.is_empty() && !a.trust.is_owner_or_admin(grant) {
            out.grant(RuleId::UntrustedAdmin, grant, admin_actions, Vec::new());
        }
    }
}

fn message(m: &Merged) -> String {
    format!(
        "grants key administration ({}) to {}, which is neither the owner account nor a listed admin",
        m.actions_phrase(),
        m.principals_phrase()
    )
}
