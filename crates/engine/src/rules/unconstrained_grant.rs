//! `unconstrained-grant`: `kms:CreateGrant` for a principal other than the owner account
//! and the admins, without a condition that limits grants to AWS services acting for AWS
//! resources (`kms:GrantIsForAWSResource` = true, `kms:ViaService`) or to one source
//! (`kms:GrantConstraintSourceArn` pinned to an account).

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::actions::ActionSet;
use crate::evaluate::{Analysis, Findings, Merged};

pub(super) const RULE: Rule = Rule {
    severity: Severity::Medium,
    default_action: RuleAction::Alert,
    summary: "kms:CreateGrant is granted to a principal other than the owner account and admins without kms:GrantIsForAWSResource = true.",
    remedy: Remedy::AllowPrincipals,
    check: Check::Policy { check, message },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (grant, _) in a.grants() {
        if grant.actions.contains(ActionSet::CREATE_GRANT)
            && !grant.aws_resource_grants_only
            && !a.trust.is_owner_or_admin(grant)
        {
            out.grant(
                RuleId::UnconstrainedGrant,
                grant,
                ActionSet::CREATE_GRANT,
                Vec::new(),
            );
        }
    }
}

fn message(m: &Merged) -> String {
    format!(
        "grants kms:CreateGrant to {} without `kms:GrantIsForAWSResource` = true or `kms:ViaService`: they can pass use of the key on to anyone",
        m.principals_phrase()
    )
}
