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
