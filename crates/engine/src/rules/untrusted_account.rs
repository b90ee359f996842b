//! `untrusted-account`: an Allow that reaches an account other than the owner and the
//! trusted accounts, or an organization outside the trusted ones. A grant that reaches any
//! account is one too (any account includes untrusted ones), so turning `public-access` off
//! never hides a public grant.

use super::{Check, Remedy, Rule, RuleAction, RuleId, Severity};
use crate::evaluate::{Analysis, Bounds, Findings, Merged};
use crate::principal::Principal;

pub(super) const RULE: Rule = Rule {
    severity: Severity::High,
    default_action: RuleAction::Alert,
    summary: "An Allow statement reaches an account other than the key's owner and the trusted accounts, or an organization outside the trusted organizations.",
    remedy: Remedy::AllowPrincipals,
    check: Check::Policy { check, message },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    for (grant, bounds) in a.grants() {
        let trusted_by_conditions = matches!(bounds, Bounds::Trusted);
        let subjects = match (grant.principal, bounds) {
            (Principal::AnyAccount, Bounds::Unbounded) => vec!["any AWS account".to_owned()],
            (Principal::AnyAccount | Principal::Service(_), Bounds::Untrusted(s)) => s.clone(),
            (Principal::AnyAccount | Principal::Service(_) | Principal::Nothing, _) => continue,
            (
                Principal::Federated {
                    provider,
                    account: None,
                },
                _,
            ) if !trusted_by_conditions => {
                vec![format!("identity provider `{provider}`")]
            }
            (p, _) => match p.account() {
                Some(account) if !a.trust.account(account) && !trusted_by_conditions => {
                    vec![format!("account `{account}`")]
                }
                _ => continue,
            },
        };
        out.grant(RuleId::UntrustedAccount, grant, grant.actions, subjects);
    }
}

fn message(m: &Merged) -> String {
    format!(
        "grants {} to {}, outside the owner account and the trusted accounts and organizations",
        m.actions_phrase(),
        m.subjects.join(", ")
    )
}
