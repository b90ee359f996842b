//! kms-guardrail: keeps AWS KMS key policies safe.
//!
//! The pure core — [`policy`] (text → model), [`grants`] (model → effective grants),
//! [`evaluate`] (grants + [`rules`] → [`report`]) — is shared by the Lambda guardrail and the
//! `kms-guardrail check` CLI, so CI and production can never disagree. Nothing in the core
//! does I/O.

pub mod actions;
pub mod app;
pub mod aws;
pub mod cli;
pub mod condition;
pub mod config;
pub mod evaluate;
pub mod event;
pub mod glob;
pub mod grants;
pub mod guardrail;
pub mod policy;
pub mod principal;
pub mod remediate;
pub mod report;
pub mod rules;
pub mod sweep;

pub use evaluate::evaluate;
pub use grants::KeyContext;
pub use policy::{ParseError, Policy};
pub use report::{Finding, Report};
pub use rules::{RuleAction, RuleId, RuleSet, Severity};

/// Parses `text` and evaluates it: the whole check in one call. `Err` only when the text is
/// not a JSON object (the policy could not be checked at all).
pub fn check(text: &str, rules: &RuleSet, ctx: &KeyContext) -> Result<Report, ParseError> {
    let policy = Policy::parse(text)?;
    Ok(evaluate(&policy, rules, ctx))
}
