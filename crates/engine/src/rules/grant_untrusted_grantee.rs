//! `grant-untrusted-grantee`: a KMS grant whose grantee or retiring principal is outside the
//! owner account, the trusted accounts and the trusted organizations — or names no account
//! that can be judged (a deleted principal's unique id is not safe). A service-principal
//! grantee is judged by its constraints: by the account of the resource its `SourceArn`
//! names, and by the account that issued the grant.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{GrantAnalysis, GrantFindings, Standing};
use crate::key_grant::Grantee;

pub(super) const RULE: Rule = Rule {
    severity: Severity::High,
    default_action: RuleAction::Alert,
    summary: "A KMS grant's grantee or retiring principal is outside the owner account, the trusted accounts and the trusted organizations.",
    remedy: Remedy::RevokeGrant,
    check: Check::Grant(check),
};

fn check(a: &GrantAnalysis<'_>, out: &mut GrantFindings) {
    let grant = a.grant;
    for (role, who) in [
        ("grantee", grant.grantee()),
        ("retiring principal", grant.retiring()),
    ] {
        let Some(who) = who else { continue };
        let (standing, reason) = match who {
            Grantee::Account { account, .. } => {
                (a.account(account), format!("is in account `{account}`"))
            }
            Grantee::Unknown(_) => (
                Standing::Untrusted,
                "names no account that can be judged (a deleted principal's unique id, or a malformed value)"
                    .to_owned(),
            ),
            // A service retires its own grants; a service grantee is judged by constraints.
            Grantee::Service(_) if role != "grantee" => continue,
            Grantee::Service(_) => match (a.source_account(), grant.issuer()) {
                (Some(source), _) if a.account(source) != Standing::Trusted => (
                    a.account(source),
                    format!("acts for a resource of account `{source}` (`SourceArn`)"),
                ),
                (_, Some(issuer)) if a.account(issuer) != Standing::Trusted => (
                    a.account(issuer),
                    format!("was granted by account `{issuer}`"),
                ),
                _ => continue,
            },
        };
        if standing == Standing::Trusted {
            continue;
        }
        out.add(
            RuleId::GrantUntrustedGrantee,
            vec![who.written().to_owned()],
            grant.actions(),
            format!(
                "grant `{}`: its {role} `{}` {reason}, outside the trusted accounts and organizations",
                grant.grant_id,
                who.written()
            ),
            standing,
        );
    }
}
