//! What an evaluation returns: findings (violations are values, not errors) and notes about
//! anything the evaluator could not judge.

use crate::policy::Span;
use crate::rules::{RuleAction, RuleId, Severity};
use serde::Serialize;

/// One violation of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule violated.
    pub rule: RuleId,
    /// The rule's severity.
    pub severity: Severity,
    /// What the rules document says to do about it.
    pub action: RuleAction,
    /// The statement's index (from 0), or `None` for the policy as a whole.
    pub statement: Option<usize>,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
    /// The principals involved, as written.
    pub principals: Vec<String>,
    /// The key actions involved (`kms:*` for all).
    pub actions: Vec<String>,
    /// One line a security engineer can act on.
    pub message: String,
    /// Where in the policy text it is (the statement, or the offending member).
    #[serde(skip)]
    pub span: Span,
    /// The KMS grant it is about (grant rules), by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

impl Finding {
    /// A finding about the policy as a whole (no statement, no principal): `rule` with the
    /// action `rules` give it.
    pub fn whole_policy(rule: RuleId, rules: &crate::rules::RuleSet, message: String) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            action: rules.action(rule),
            statement: None,
            sid: None,
            principals: Vec::new(),
            actions: Vec::new(),
            message,
            span: Span::default(),
            grant: None,
        }
    }
}

/// The evaluation of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Report {
    /// Violations, ordered by statement (policy-wide ones first) then rule.
    pub findings: Vec<Finding>,
    /// What could not be judged, and assumptions made.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the policy violates no enabled rule.
    pub fn is_compliant(&self) -> bool {
        self.findings.is_empty()
    }
}
