//! `grant-unconstrained`: a KMS grant of decrypt or data-key operations to a principal
//! outside the owner account (a service principal included) with no encryption-context and
//! no `SourceArn` constraint: usable for any data, on behalf of anyone.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{GrantAnalysis, GrantFindings, Standing};

pub(super) const RULE: Rule = Rule {
    severity: Severity::Medium,
    default_action: RuleAction::Alert,
    summary: "A KMS grant gives decrypt or data-key operations to a principal outside the owner account with no encryption-context or SourceArn constraint.",
    remedy: Remedy::RevokeGrant,
    check: Check::Grant(check),
};

fn check(a: &GrantAnalysis<'_>, out: &mut GrantFindings) {
    let grant = a.grant;
    let Some(grantee) = grant.grantee() else {
        return;
    };
    let operations = grant.decrypt_or_data_key();
    if operations.is_empty() || a.in_owner_account(grantee) || a.constrained() {
        return;
    }
    out.add(
        RuleId::GrantUnconstrained,
        vec![grantee.written().to_owned()],
        operations.iter().map(|o| format!("kms:{o}")).collect(),
        format!(
            "grant `{}` gives {} to `{}` with no encryption-context or `SourceArn` constraint",
            grant.grant_id,
            operations.join(", "),
            grantee.written()
        ),
        Standing::Untrusted,
    );
}
