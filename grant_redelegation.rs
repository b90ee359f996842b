//! `grant-redelegation`: a KMS grant that includes `CreateGrant` for a grantee that is
//! neither the owner account nor an admin: it can hand the key on to anyone, out of sight
//! of the key policy.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{GrantAnalysis, GrantFindings, Standing};

pub(super) const RULE: Rule = Rule {
    severity: Severity::Medium,
    default_action: RuleAction::Alert,
    summary: "A KMS grant includes CreateGrant for a grantee that is neither the owner account nor an admin.",
    remedy: Remedy::RevokeGrant,
    check: Check::Grant(check),
};

fn check(a: &GrantAnalysis<'_>, out: &mut GrantFindings) {
    let grant = a.grant;
    let Some(grantee) = grant.grantee() else {
        return;
    };
    if !grant.allows("CreateGrant") || a.is_owner_or_admin(grantee) {
        return;
    }
    out.add(
        RuleId::GrantRedelegation,
        vec![grantee.written().to_owned()],
        vec!["kms:CreateGrant".to_owned()],
        format!(
            "grant `{}` lets `{}` create grants: it can pass use of the key on to anyone",
            grant.grant_id,
            grantee.written()
        ),
        Standing::Untrusted,
    );
}
