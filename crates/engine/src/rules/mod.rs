//! The organization's rules: the built-in rules — each one file in this folder, registered
//! once in [`registry!`] below — what each rule's violation triggers (`revert`, `alert`,
//! `off`), and who is trusted, validated once from a rules document into a [`RuleSet`].
//!
//! A rule module holds everything about its rule: a [`Rule`] (severity, default action, one
//! sentence for SARIF and the docs, how remediation removes what it flags, and its [`Check`]:
//! over a key policy's [`Analysis`], or over one KMS grant's [`GrantAnalysis`]) and its unit
//! tests. ARCHITECTURE.md says how to add one.

mod document;

mod allow_not_action;
mod allow_not_principal;
mod grant_redelegation;
mod grant_unconstrained;
mod grant_untrusted_grantee;
mod ineffective_statement;
mod invalid_policy;
mod invalid_principal;
pub(crate) mod lockout_risk;
mod public_access;
mod unconstrained_grant;
mod unscoped_service_principal;
mod untrusted_account;
mod untrusted_admin;

use crate::evaluate::{Analysis, Findings, GrantAnalysis, GrantFindings, Merged};
pub use document::RulesError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A built-in rule: what it flags and how, all in its own module.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// How serious a violation is.
    pub severity: Severity,
    /// The action when the rules document does not name the rule.
    pub default_action: RuleAction,
    /// One sentence on what the rule flags (SARIF rule descriptions, docs).
    pub summary: &'static str,
    /// What stripping removes for one of its findings.
    pub remedy: Remedy,
    /// What the rule judges, and how.
    pub check: Check,
}

/// What a rule judges: a key policy, or one KMS grant.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// A key policy rule.
    Policy {
        /// Adds the rule's findings for one policy.
        check: fn(&Analysis<'_>, &mut Findings<'_>),
        /// The one-line message of a finding merged from grants of one statement.
        message: fn(&Merged) -> String,
    },
    /// A grant rule: adds its findings for one grant.
    Grant(fn(&GrantAnalysis<'_>, &mut GrantFindings)),
}

/// What remediation by stripping removes for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The whole statement, whatever its effect (it grants or denies nothing).
    Statement,
    /// The principals the finding names, whatever the effect (they name nobody).
    Principals,
    /// The whole statement when it is an Allow; a Deny is kept (removing one could widen
    /// access).
    AllowStatement,
    /// The principals the finding names when the statement is an Allow; a Deny is kept.
    AllowPrincipals,
    /// Nothing can be removed to fix it (the planner's safety check covers it instead).
    Keep,
    /// A grant rule: the grant is revoked (`RevokeGrant`); nothing in the policy changes.
    RevokeGrant,
}

/// Declares every built-in rule once: its enum variant, its stable id and its module. The
/// order is the report order.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident = $id:literal => $module:ident,)*) => {
        /// A built-in rule's stable id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum RuleId {
            $($(#[$doc])* #[serde(rename = $id)] $variant,)*
        }

        impl RuleId {
            /// Every rule, in report order.
            pub const ALL: [RuleId; [$($id),*].len()] = [$(RuleId::$variant),*];

            /// The stable id (`public-access`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }

            /// The rule's definition.
            pub fn rule(self) -> &'static Rule {
                match self {
                    $(RuleId::$variant => &$module::RULE,)*
                }
            }
        }
    };
}

registry! {
    /// An Allow that reaches any AWS account.
    PublicAccess = "public-access" => public_access,
    /// An Allow that reaches an untrusted account or organization.
    UntrustedAccount = "untrusted-account" => untrusted_account,
    /// Key administration granted to someone who is not an admin.
    UntrustedAdmin = "untrusted-admin" => untrusted_admin,
    /// Nobody who should be able to can call `PutKeyPolicy`.
    LockoutRisk = "lockout-risk" => lockout_risk,
    /// `NotPrincipal` in an Allow.
    AllowNotPrincipal = "allow-not-principal" => allow_not_principal,
    /// `NotAction` in an Allow.
    AllowNotAction = "allow-not-action" => allow_not_action,
    /// `CreateGrant` that can pass the key on to anyone.
    UnconstrainedGrant = "unconstrained-grant" => unconstrained_grant,
    /// A service principal without confused-deputy scoping.
    UnscopedServicePrincipal = "unscoped-service-principal" => unscoped_service_principal,
    /// Principals KMS would reject or that no longer exist.
    InvalidPrincipal = "invalid-principal" => invalid_principal,
    /// Statements that grant or deny nothing.
    IneffectiveStatement = "ineffective-statement" => ineffective_statement,
    /// A document KMS would reject (duplicate members, unknown `Effect`, too long, …).
    InvalidPolicy = "invalid-policy" => invalid_policy,
    /// A grant whose grantee or retiring principal is outside trust.
    GrantUntrustedGrantee = "grant-untrusted-grantee" => grant_untrusted_grantee,
    /// A grant that lets someone other than the owner or an admin create grants.
    GrantRedelegation = "grant-redelegation" => grant_redelegation,
    /// A grant of decrypt or data-key operations outside the owner with no constraint.
    GrantUnconstrained = "grant-unconstrained" => grant_unconstrained,
}

/// The message of a merged finding for rules whose findings each carry their own.
fn generic_message(m: &Merged) -> String {
    format!("{} for {}", m.actions_phrase(), m.principals_phrase())
}

/// How serious a rule's violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Exposure now.
    Critical,
    /// Exposure or loss of control likely.
    High,
    /// Risky pattern.
    Medium,
    /// Hygiene.
    Low,
}

impl Severity {
    /// The lowercase name (`critical`), as alerts and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RuleId {
    /// The rule's severity.
    pub fn severity(self) -> Severity {
        self.rule().severity
    }

    /// One sentence on what the rule flags (SARIF rule descriptions, `--help`).
    pub fn description(self) -> &'static str {
        self.rule().summary
    }

    /// Whether the rule judges KMS grants rather than key policies.
    pub fn is_grant_rule(self) -> bool {
        matches!(self.rule().check, Check::Grant(_))
    }

    /// Where the rule is documented (`docs/rules.md#public-access`), relative to the
    /// repository root.
    pub fn doc_path(self) -> String {
        format!("docs/rules.md#{}", self.as_str())
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a violation of a rule triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Restore a compliant policy, and alert.
    Revert,
    /// Alert only.
    Alert,
    /// The rule is not evaluated.
    Off,
}

/// A validated rules document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The owner account the document is for, if it names one (used by the CLI).
    pub account: Option<String>,
    /// The organization the keys' owners belong to, if the document names it: what
    /// `${aws:ResourceOrgID}` stands for in a policy.
    pub organization: Option<String>,
    /// Accounts trusted besides the key's owner.
    pub trusted_accounts: Vec<String>,
    /// Trusted organization ids (lowercase).
    pub trusted_organizations: Vec<String>,
    /// Trusted VPC endpoint / VPC ids; empty means network-scoped access is not judged.
    pub trusted_vpc_endpoints: Vec<String>,
    /// Admin principal patterns; `${account}` stands for the key's owner.
    pub admins: Vec<String>,
    /// Key ARNs, key ids or aliases that are evaluated but never remediated.
    pub exemptions: Vec<String>,
    actions: [RuleAction; RuleId::ALL.len()],
}

impl Default for RuleSet {
    /// No document: every rule on with its default action, nothing trusted but the owner.
    fn default() -> Self {
        RuleSet {
            account: None,
            organization: None,
            trusted_accounts: Vec::new(),
            trusted_organizations: Vec::new(),
            trusted_vpc_endpoints: Vec::new(),
            admins: Vec::new(),
            exemptions: Vec::new(),
            actions: RuleId::ALL.map(|r| r.rule().default_action),
        }
    }
}

impl RuleSet {
    /// Parses and validates a rules document (YAML, or JSON, which YAML reads too).
    pub fn from_document(text: &str) -> Result<RuleSet, RulesError> {
        document::parse(text)
    }

    /// The action configured for `rule`.
    pub fn action(&self, rule: RuleId) -> RuleAction {
        // INVARIANT: `actions` has one slot per variant, in declaration order.
        self.actions
            .get(rule as usize)
            .copied()
            .unwrap_or(RuleAction::Alert)
    }

    /// Sets the action for `rule`.
    pub fn set_action(&mut self, rule: RuleId, action: RuleAction) {
        if let Some(slot) = self.actions.get_mut(rule as usize) {
            *slot = action;
        }
    }

    /// Whether `rule` is evaluated.
    pub fn is_on(&self, rule: RuleId) -> bool {
        self.action(rule) != RuleAction::Off
    }

    /// Whether any grant rule is on: grants need reading at all.
    pub fn judges_grants(&self) -> bool {
        RuleId::ALL
            .iter()
            .any(|&r| r.is_grant_rule() && self.is_on(r))
    }

    /// The admin patterns for a key of `owner`: `${account}` expanded, or patterns that need
    /// it dropped when the owner is unknown.
    pub fn admins_for(&self, owner: Option<&str>) -> Vec<String> {
        self.admins
            .iter()
            .filter_map(|a| match owner {
                Some(o) => Some(with_owner(a, o)),
                None => (!has_owner_placeholder(a)).then(|| a.clone()),
            })
            .collect()
    }
}

/// The placeholder for the key's owner account in an admin pattern.
pub(super) const OWNER_PLACEHOLDER: &str = "${account}";

/// `pattern` with every [`OWNER_PLACEHOLDER`] replaced by `owner`. A scan for `$`, not
/// `str::replace`, whose substring searcher cost more to set up than the whole expansion:
/// this runs for every evaluation.
fn with_owner(pattern: &str, owner: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + owner.len());
    let mut rest = pattern;
    while let Some(at) = rest.bytes().position(|b| b == b'$') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some(after) = from.strip_prefix(OWNER_PLACEHOLDER) {
            out.push_str(owner);
            rest = after;
        } else {
            out.push('$');
            rest = from.get(1..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    out
}

/// Whether `pattern` names the key's owner through [`OWNER_PLACEHOLDER`].
fn has_owner_placeholder(pattern: &str) -> bool {
    pattern.bytes().enumerate().any(|(at, b)| {
        b == b'$'
            && pattern
                .get(at..)
                .is_some_and(|from| from.starts_with(OWNER_PLACEHOLDER))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip_through_serde_and_index_their_slot() {
        for (i, rule) in RuleId::ALL.into_iter().enumerate() {
            assert_eq!(rule as usize, i);
            let json = serde_json::to_string(&rule).expect("serializes");
            assert_eq!(json, format!("\"{}\"", rule.as_str()));
            let back: RuleId = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, rule);
        }
    }

    #[test]
    fn defaults_are_each_rules_default_action() {
        let rules = RuleSet::default();
        for r in RuleId::ALL {
            assert_eq!(rules.action(r), r.rule().default_action, "{r}");
        }
        // Without a document nothing is written: every built-in rule only alerts.
        assert!(
            RuleId::ALL
                .iter()
                .all(|&r| rules.action(r) == RuleAction::Alert)
        );
    }

    #[test]
    fn the_owner_placeholder_is_replaced_wherever_it_stands_and_only_it() {
        for pattern in [
            "arn:aws:iam::${account}:role/KeyAdmin",
            "${account}",
            "${account}${account}",
            "$${account}$",
            "arn:aws:iam::${acount}:role/X",
            "${account",
            "$",
            "",
            "arn:aws:iam::111122223333:role/caf\u{e9}$",
        ] {
            assert_eq!(
                with_owner(pattern, "111122223333"),
                pattern.replace("${account}", "111122223333"),
                "{pattern}"
            );
            assert_eq!(
                has_owner_placeholder(pattern),
                pattern.contains("${account}"),
                "{pattern}"
            );
        }
    }

    #[test]
    fn admins_expand_the_owner() {
        let rules = RuleSet {
            admins: vec![
                "arn:aws:iam::${account}:role/KeyAdmin".to_owned(),
                "arn:aws:iam::999988887777:role/Security".to_owned(),
            ],
            ..RuleSet::default()
        };
        assert_eq!(
            rules.admins_for(Some("111122223333")),
            [
                "arn:aws:iam::111122223333:role/KeyAdmin",
                "arn:aws:iam::999988887777:role/Security"
            ]
        );
        assert_eq!(
            rules.admins_for(None),
            ["arn:aws:iam::999988887777:role/Security"]
        );
    }
}
