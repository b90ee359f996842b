//! The kms-guardrail engine: a KMS key policy's text, the organization's rules and what is
//! known of the key go in; a report of findings (and a remediation plan) comes out.
//!
//! Stages, each its own module and type: [`policy`] (text → model) → [`grants`] (model →
//! effective grants after Denies) → [`evaluate`] (grants + [`rules`] → [`report`]) →
//! [`remediate`] (report → the policy to put back, checked safe). The crate depends on no AWS
//! SDK, no async runtime and no environment: it cannot do I/O, so the Lambda guardrail and the
//! `kms-guardrail check` CLI, which both call it, can never disagree.
//!
//! Module layering (no cycles): `words` (byte scans eight at a time), [`arn`] and
//! [`operator`] are leaves; [`glob`] uses `words`; [`policy`] uses [`operator`];
//! [`principal`] and [`condition`] read the model; [`grants`] combines them; [`rules`] and
//! [`evaluate`] judge; [`remediate`] plans.

pub mod actions;
pub mod arn;
pub mod condition;
pub mod evaluate;
pub mod glob;
pub mod grants;
pub mod key_grant;
pub mod operator;
pub mod policy;
pub mod principal;
pub mod remediate;
pub mod report;
pub mod rules;
mod words;

pub use evaluate::{evaluate, evaluate_grant};
pub use grants::{KeyContext, Organization};
pub use key_grant::KeyGrant;
pub use policy::{ParseError, Policy};
pub use report::{Finding, Report};
pub use rules::{RuleAction, RuleId, RuleSet, Severity};

/// Parses `text` and evaluates it: the whole check in one call. `Err` only when the text is
/// not a JSON object (the policy could not be checked at all).
pub fn check(text: &str, rules: &RuleSet, ctx: &KeyContext) -> Result<Report, ParseError> {
    let policy = Policy::parse(text)?;
    Ok(evaluate(&policy, rules, ctx))
}
