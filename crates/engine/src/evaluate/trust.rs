//! Who the rules trust for one key, and how far a grant's conditions keep its callers within
//! that trust ([`Bounds`]).

use crate::arn::Arn;
use crate::condition::{Atom, Dimension, Key, is_context_variable};
use crate::glob;
use crate::grants::{Clause, Grant, KeyContext};
use crate::principal::Principal;
use crate::rules::RuleSet;

/// Who the rules trust, for one key.
#[derive(Debug)]
pub struct Trust<'r> {
    /// The owner account, when known.
    pub owner: Option<&'r str>,
    rules: &'r RuleSet,
    admins: Vec<String>,
}

/// How far a grant's conditions keep it within trusted bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounds {
    /// No clause: the conditions do not bound the caller.
    Unbounded,
    /// Some clause keeps every caller trusted.
    Trusted,
    /// Bounded to something the rules do not let us judge.
    Unjudged(Vec<String>),
    /// Bounded, but to untrusted accounts or organizations (named).
    Untrusted(Vec<String>),
}

impl<'r> Trust<'r> {
    /// What `rules` trust for the key `ctx` describes.
    pub fn new(rules: &'r RuleSet, ctx: &'r KeyContext) -> Self {
        let owner = ctx.account.as_deref();
        Trust {
            owner,
            rules,
            admins: rules.admins_for(owner),
        }
    }

    /// Whether `account` is the owner or a trusted account.
    pub fn account(&self, account: &str) -> bool {
        // `${aws:ResourceAccount}` is the owner account, whoever it is.
        is_context_variable(account, Dimension::Account)
            || self.owner == Some(account)
            || self.rules.trusted_accounts.iter().any(|t| t == account)
    }

    /// Whether `org` is a trusted organization.
    pub fn organization(&self, org: &str) -> bool {
        // `${aws:ResourceOrgID}` is the owner's organization: the one the rules name, trusted
        // only when they also list it.
        let org = if is_context_variable(org, Dimension::Organization) {
            match self.rules.organization.as_deref() {
                Some(known) => known,
                None => return false,
            }
        } else {
            org
        };
        self.rules
            .trusted_organizations
            .iter()
            .any(|t| t.eq_ignore_ascii_case(org))
    }

    fn atom(&self, atom: &Atom<'_>) -> Bounds {
        let trusted_networks = &self.rules.trusted_vpc_endpoints;
        let judged = match atom.key.dimension() {
            Dimension::Account => atom.all_subjects(|a| self.account(a)),
            Dimension::Organization => atom.all_subjects(|o| self.organization(o)),
            Dimension::Network if trusted_networks.is_empty() => {
                return Bounds::Unjudged(vec![format!(
                    "access through {} ({}) is network-scoped and not judged: `trusted_vpc_endpoints` is empty",
                    atom.key.name(),
                    patterns(atom)
                )]);
            }
            Dimension::Network => atom.all_subjects(|v| trusted_networks.iter().any(|t| t == v)),
        };
        match judged {
            Some(true) => Bounds::Trusted,
            // Only now, on the way to a finding, spell out who is outside.
            Some(false) => {
                let (kind, outside): (&str, Vec<&str>) = match atom.key.dimension() {
                    Dimension::Account => ("account", self.outside(atom, |a| self.account(a))),
                    Dimension::Organization => {
                        ("organization", self.outside(atom, |o| self.organization(o)))
                    }
                    Dimension::Network => (
                        "network",
                        self.outside(atom, |v| trusted_networks.iter().any(|t| t == v)),
                    ),
                };
                Bounds::Untrusted(
                    outside
                        .into_iter()
                        .map(|x| format!("{kind} `{x}`"))
                        .collect(),
                )
            }
            None if atom.key == Key::UserId => Bounds::Unjudged(vec![format!(
                "`aws:userid` pins callers by unique id ({}); their accounts cannot be read from the policy",
                patterns(atom)
            )]),
            None => {
                let kind = match atom.key.dimension() {
                    Dimension::Account => "accounts",
                    Dimension::Organization => "organizations",
                    Dimension::Network => "networks",
                };
                Bounds::Untrusted(vec![format!("{kind} matching {}", patterns(atom))])
            }
        }
    }

    /// The literal subjects of `atom` that `trusted` rejects.
    fn outside<'a>(&self, atom: &Atom<'a>, trusted: impl Fn(&str) -> bool) -> Vec<&'a str> {
        let mut subjects = atom.literal_subjects().unwrap_or_default();
        subjects.retain(|s| !trusted(s));
        subjects
    }

    /// A clause (OR of atoms) is trusted when every atom is.
    fn clause(&self, clause: &Clause<'_>) -> Bounds {
        let mut unjudged = Vec::new();
        let mut untrusted = Vec::new();
        for atom in clause.iter() {
            match self.atom(atom) {
                Bounds::Trusted | Bounds::Unbounded => {}
                Bounds::Unjudged(n) => unjudged.extend(n),
                Bounds::Untrusted(s) => untrusted.extend(s),
            }
        }
        if !untrusted.is_empty() {
            Bounds::Untrusted(untrusted)
        } else if !unjudged.is_empty() {
            Bounds::Unjudged(unjudged)
        } else {
            Bounds::Trusted
        }
    }

    /// Clauses are ANDed: one trusted clause bounds every caller.
    pub fn conditions(&self, clauses: &[Clause<'_>]) -> Bounds {
        if clauses.is_empty() {
            return Bounds::Unbounded;
        }
        let mut unjudged = None;
        let mut untrusted = None;
        for clause in clauses {
            match self.clause(clause) {
                Bounds::Trusted | Bounds::Unbounded => return Bounds::Trusted,
                Bounds::Unjudged(n) => {
                    unjudged.get_or_insert(n);
                }
                Bounds::Untrusted(s) => {
                    untrusted.get_or_insert(s);
                }
            }
        }
        match (unjudged, untrusted) {
            (Some(n), _) => Bounds::Unjudged(n),
            (None, Some(s)) => Bounds::Untrusted(s),
            (None, None) => Bounds::Trusted,
        }
    }

    /// Whether the `admins` list names the IAM principal `arn` (a role session counts as
    /// its role).
    pub fn names_admin(&self, arn: &str) -> bool {
        let role = Arn::parse(arn).and_then(|a| {
            let name = a
                .resource
                .strip_prefix("assumed-role/")?
                .split('/')
                .next()?;
            (a.service == "sts")
                .then(|| format!("arn:{}:iam::{}:role/{name}", a.partition, a.account))
        });
        self.admins.iter().any(|p| {
            glob::matches_ignore_case(p, arn)
                || role
                    .as_deref()
                    .is_some_and(|r| glob::matches_ignore_case(p, r))
        })
    }

    /// The organization ids the rules trust.
    pub fn trusted_organizations(&self) -> &[String] {
        &self.rules.trusted_organizations
    }

    /// The owner account itself, or a principal the `admins` list names.
    pub fn is_owner_or_admin(&self, grant: &Grant<'_>) -> bool {
        match grant.principal {
            Principal::Account(a) => {
                self.owner == Some(a)
                    || self.admins.iter().any(|p| {
                        p == a
                            || Arn::parse(p)
                                .is_some_and(|arn| arn.account == a && arn.resource == "root")
                    })
            }
            Principal::Identity { arn, .. } => self
                .admins
                .iter()
                .any(|p| glob::matches_ignore_case(p, arn)),
            // `"*"` narrowed by `aws:PrincipalArn` to admins only.
            Principal::AnyAccount => grant.clauses.iter().any(|clause| {
                clause.iter().all(|atom| {
                    atom.key == Key::PrincipalArn
                        && atom.values.iter().all(|v| {
                            v.is_literal()
                                && self
                                    .admins
                                    .iter()
                                    .any(|p| glob::matches_ignore_case(p, v.text))
                        })
                })
            }),
            _ => false,
        }
    }
}

fn patterns(atom: &Atom<'_>) -> String {
    let quoted: Vec<String> = atom
        .values
        .iter()
        .map(|v| format!("`{}`", v.text))
        .collect();
    quoted.join(", ")
}

/// `Some(false)` when the clause certainly excludes callers of `account`.
pub fn clause_admits(clause: &Clause<'_>, account: &str) -> Option<bool> {
    let mut result = Some(false);
    for atom in clause.iter() {
        match atom.admits_account(account) {
            Some(true) => return Some(true),
            None => result = None,
            Some(false) => {}
        }
    }
    result
}

/// Whether some caller can satisfy the grant's conditions at all.
pub fn reachable(grant: &Grant<'_>) -> bool {
    match grant.principal.account() {
        Some(a) => !grant
            .clauses
            .iter()
            .any(|c| clause_admits(c, a) == Some(false)),
        None => true,
    }
}
