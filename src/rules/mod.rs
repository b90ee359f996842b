//! The organization's rules: the built-in rule ids with their severities, what each rule's
//! violation triggers (`revert`, `alert`, `off`), and who is trusted — validated once from a
//! rules document into a [`RuleSet`].

mod document;

pub use document::RulesError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A built-in rule's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    /// An Allow that reaches any AWS account.
    PublicAccess,
    /// An Allow that reaches an untrusted account or organization.
    UntrustedAccount,
    /// Key administration granted to someone who is not an admin.
    UntrustedAdmin,
    /// Nobody who should be able to can call `PutKeyPolicy`.
    LockoutRisk,
    /// `NotPrincipal` in an Allow.
    AllowNotPrincipal,
    /// `NotAction` in an Allow.
    AllowNotAction,
    /// `CreateGrant` without `kms:GrantIsForAWSResource`.
    UnconstrainedGrant,
    /// A service principal without confused-deputy scoping.
    UnscopedServicePrincipal,
    /// Principals KMS would reject or that no longer exist.
    InvalidPrincipal,
    /// Statements that grant or deny nothing.
    IneffectiveStatement,
    /// A document KMS would reject (duplicate members, unknown `Effect`, too long, …).
    InvalidPolicy,
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

impl RuleId {
    /// Every rule, in report order.
    pub const ALL: [RuleId; 11] = [
        RuleId::PublicAccess,
        RuleId::UntrustedAccount,
        RuleId::UntrustedAdmin,
        RuleId::LockoutRisk,
        RuleId::AllowNotPrincipal,
        RuleId::AllowNotAction,
        RuleId::UnconstrainedGrant,
        RuleId::UnscopedServicePrincipal,
        RuleId::InvalidPrincipal,
        RuleId::IneffectiveStatement,
        RuleId::InvalidPolicy,
    ];

    /// The stable id (`public-access`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::PublicAccess => "public-access",
            RuleId::UntrustedAccount => "untrusted-account",
            RuleId::UntrustedAdmin => "untrusted-admin",
            RuleId::LockoutRisk => "lockout-risk",
            RuleId::AllowNotPrincipal => "allow-not-principal",
            RuleId::AllowNotAction => "allow-not-action",
            RuleId::UnconstrainedGrant => "unconstrained-grant",
            RuleId::UnscopedServicePrincipal => "unscoped-service-principal",
            RuleId::InvalidPrincipal => "invalid-principal",
            RuleId::IneffectiveStatement => "ineffective-statement",
            RuleId::InvalidPolicy => "invalid-policy",
        }
    }

    /// The rule's severity.
    pub fn severity(self) -> Severity {
        match self {
            RuleId::PublicAccess | RuleId::LockoutRisk => Severity::Critical,
            RuleId::UntrustedAccount
            | RuleId::UntrustedAdmin
            | RuleId::AllowNotPrincipal
            | RuleId::InvalidPolicy => Severity::High,
            RuleId::AllowNotAction
            | RuleId::UnconstrainedGrant
            | RuleId::UnscopedServicePrincipal => Severity::Medium,
            RuleId::InvalidPrincipal | RuleId::IneffectiveStatement => Severity::Low,
        }
    }

    /// One sentence on what the rule flags (SARIF rule descriptions, `--help`).
    pub fn description(self) -> &'static str {
        match self {
            RuleId::PublicAccess => {
                "An Allow statement reaches any AWS account: no condition pins the caller's account, organization or network."
            }
            RuleId::UntrustedAccount => {
                "An Allow statement reaches an account other than the key's owner and the trusted accounts, or an organization outside the trusted organizations."
            }
            RuleId::UntrustedAdmin => {
                "Key-administration actions are granted to a principal that is neither the owner account nor a listed admin."
            }
            RuleId::LockoutRisk => {
                "Neither the owner account nor any listed admin can call kms:PutKeyPolicy: the key is, or is about to be, unmanageable."
            }
            RuleId::AllowNotPrincipal => {
                "NotPrincipal in an Allow statement grants to every principal not listed."
            }
            RuleId::AllowNotAction => {
                "NotAction in an Allow statement grants every key action not listed, including ones added later."
            }
            RuleId::UnconstrainedGrant => {
                "kms:CreateGrant is granted to a principal other than the owner account and admins without kms:GrantIsForAWSResource = true."
            }
            RuleId::UnscopedServicePrincipal => {
                "A service principal is granted actions without an aws:SourceAccount, aws:SourceArn or encryption-context condition (confused deputy)."
            }
            RuleId::InvalidPrincipal => {
                "A principal KMS would reject or that no longer exists (unique ids, malformed ARNs)."
            }
            RuleId::IneffectiveStatement => {
                "A statement that grants or denies nothing (missing Action or Resource, a Resource that does not cover the key)."
            }
            RuleId::InvalidPolicy => {
                "The document is one KMS would reject: duplicate members, unknown Effect, missing Principal, too long, disallowed characters."
            }
        }
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
    /// No document: every rule on with action `alert`, nothing trusted but the owner.
    fn default() -> Self {
        RuleSet {
            account: None,
            trusted_accounts: Vec::new(),
            trusted_organizations: Vec::new(),
            trusted_vpc_endpoints: Vec::new(),
            admins: Vec::new(),
            exemptions: Vec::new(),
            actions: [RuleAction::Alert; RuleId::ALL.len()],
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
        self.actions[rule as usize]
    }

    /// Sets the action for `rule`.
    pub fn set_action(&mut self, rule: RuleId, action: RuleAction) {
        self.actions[rule as usize] = action;
    }

    /// Whether `rule` is evaluated.
    pub fn is_on(&self, rule: RuleId) -> bool {
        self.action(rule) != RuleAction::Off
    }

    /// The admin patterns for a key of `owner`: `${account}` expanded, or patterns that need
    /// it dropped when the owner is unknown.
    pub fn admins_for(&self, owner: Option<&str>) -> Vec<String> {
        self.admins
            .iter()
            .filter_map(|a| match owner {
                Some(o) => Some(a.replace("${account}", o)),
                None => (!a.contains("${account}")).then(|| a.clone()),
            })
            .collect()
    }
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
    fn defaults_alert_on_everything() {
        let rules = RuleSet::default();
        assert!(
            RuleId::ALL
                .iter()
                .all(|&r| rules.action(r) == RuleAction::Alert)
        );
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
