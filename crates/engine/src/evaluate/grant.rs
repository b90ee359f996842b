//! The evaluator for one KMS grant: the grant, the rules and the key's context in, a
//! [`Report`] out — the same rules document and the same trust as for policies, judged by
//! the grant rules (`grant-*`, one module each in [`crate::rules`]).
//!
//! Grants that the owner's AWS services create for the owner's own resources (issued by the
//! owner, to a service principal or an own-account principal, scoped by an encryption
//! context or a `SourceArn` in the owner account) are never findings: revoking one breaks
//! the resource. A finding that hangs on organization membership the caller could not
//! confirm only alerts, whatever the rules say: a wrongly revoked grant is an outage.

use super::trust::Trust;
use crate::arn::Arn;
use crate::grants::KeyContext;
use crate::key_grant::{Grantee, KeyGrant};
use crate::report::{Finding, Report};
use crate::rules::{Check, RuleAction, RuleId, RuleSet};

/// Evaluates `grant` against the grant rules of `rules`, for the key `ctx` describes.
pub fn evaluate_grant(grant: &KeyGrant, rules: &RuleSet, ctx: &KeyContext) -> Report {
    let analysis = GrantAnalysis {
        grant,
        trust: Trust::new(rules, ctx),
        ctx,
    };
    let mut out = GrantFindings::default();
    if analysis.for_own_resource() {
        out.notes.push(format!(
            "grant `{}` was made by an AWS service for a resource of the owner account: not judged",
            grant.grant_id
        ));
    } else {
        for rule in RuleId::ALL {
            if let (true, Check::Grant(check)) = (rules.is_on(rule), rule.rule().check) {
                check(&analysis, &mut out);
            }
        }
    }
    if ctx.account.is_none() {
        out.notes.push(
            "the owner account is unknown (pass --account or set `account` in the rules): every named account is treated as external"
                .to_owned(),
        );
    }
    let findings = out
        .found
        .into_iter()
        .map(|f| {
            let configured = rules.action(f.rule);
            let (action, message) = match (f.standing, configured) {
                (Standing::Unconfirmed, RuleAction::Revert) => (
                    RuleAction::Alert,
                    format!(
                        "{}; organization membership could not be confirmed, so it is alerted, not revoked",
                        f.message
                    ),
                ),
                _ => (configured, f.message),
            };
            Finding {
                rule: f.rule,
                severity: f.rule.severity(),
                action,
                statement: None,
                sid: None,
                principals: f.principals,
                actions: f.actions,
                message,
                span: Default::default(),
                grant: Some(grant.grant_id.clone()),
            }
        })
        .collect();
    Report {
        findings,
        notes: out.notes,
    }
}

/// Where an account stands with the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The owner, a trusted account, or a known member of a trusted organization.
    Trusted,
    /// Outside trust unless it belongs to a trusted organization, which could not be
    /// confirmed (membership unknown).
    Unconfirmed,
    /// Outside trust.
    Untrusted,
}

/// What every grant rule reads: the grant and who the rules trust for its key.
#[derive(Debug)]
pub struct GrantAnalysis<'a> {
    /// The grant.
    pub grant: &'a KeyGrant,
    /// Who the rules trust for the key.
    pub trust: Trust<'a>,
    /// The key.
    pub ctx: &'a KeyContext,
}

impl GrantAnalysis<'_> {
    /// Where `account` stands: trusted, outside, or outside unless in a trusted organization
    /// whose membership is not known.
    pub fn account(&self, account: &str) -> Standing {
        if self.trust.account(account) {
            return Standing::Trusted;
        }
        let trusted_orgs = self.trust.trusted_organizations();
        if trusted_orgs.is_empty() {
            return Standing::Untrusted;
        }
        match &self.ctx.organization {
            Some(org) if org.accounts.iter().any(|a| a == account) => {
                if self.trust.organization(&org.id) {
                    Standing::Trusted
                } else {
                    Standing::Untrusted
                }
            }
            // The whole membership of every trusted organization is known.
            Some(org) if trusted_orgs.iter().all(|t| t.eq_ignore_ascii_case(&org.id)) => {
                Standing::Untrusted
            }
            _ => Standing::Unconfirmed,
        }
    }

    /// Whether `who` is the owner account itself (delegation) or an admin.
    pub fn is_owner_or_admin(&self, who: Grantee<'_>) -> bool {
        match who {
            Grantee::Account { account, written } => {
                let root = Arn::parse(written).is_none_or(|a| a.resource == "root");
                (root && self.trust.owner == Some(account)) || self.trust.names_admin(written)
            }
            Grantee::Service(_) | Grantee::Unknown(_) => false,
        }
    }

    /// Whether `who` is a principal of the owner account.
    pub fn in_owner_account(&self, who: Grantee<'_>) -> bool {
        matches!(who, Grantee::Account { account, .. } if self.trust.owner == Some(account))
    }

    /// The account of the `SourceArn` constraint's resource, when the ARN names one.
    pub fn source_account(&self) -> Option<&str> {
        Arn::parse(self.grant.source_arn()?)
            .map(|a| a.account)
            .filter(|a| !a.is_empty())
    }

    /// Whether a constraint limits the grant (an encryption context or a `SourceArn`).
    pub fn constrained(&self) -> bool {
        self.grant.has_context_constraint() || self.grant.source_arn().is_some()
    }

    /// Whether the grant is one an AWS service made for a resource of the owner account.
    pub fn for_own_resource(&self) -> bool {
        let Some(owner) = self.trust.owner else {
            return false;
        };
        let own = |who: Grantee<'_>| match who {
            Grantee::Service(_) => true,
            Grantee::Account { account, .. } => account == owner,
            Grantee::Unknown(_) => false,
        };
        let scoped_to_owner =
            self.grant.has_context_constraint() || self.source_account() == Some(owner);
        self.grant.issuer() == Some(owner)
            && self.grant.grantee().is_some_and(own)
            && self.grant.retiring().is_none_or(own)
            && scoped_to_owner
    }
}

/// A grant rule's finding before the rules' action is applied.
#[derive(Debug)]
struct Found {
    rule: RuleId,
    principals: Vec<String>,
    actions: Vec<String>,
    message: String,
    standing: Standing,
}

/// The findings and notes of one grant's evaluation, as the grant rules add them.
#[derive(Debug, Default)]
pub struct GrantFindings {
    found: Vec<Found>,
    notes: Vec<String>,
}

impl GrantFindings {
    /// A finding of `rule` naming `principals` and `actions`; `standing` is how sure it is
    /// that they are outside trust.
    pub fn add(
        &mut self,
        rule: RuleId,
        principals: Vec<String>,
        actions: Vec<String>,
        message: String,
        standing: Standing,
    ) {
        self.found.push(Found {
            rule,
            principals,
            actions,
            message,
            standing,
        });
    }
}
