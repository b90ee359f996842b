//! The evaluator: a parsed policy, the rules and the key's context in, a [`Report`] out.
//! The one function the Lambda and the CLI both call; it never does I/O.
//!
//! Stages: policy → [`grants::normalize`] (effective grants after Denies) → an [`Analysis`]
//! (who the rules trust, and how far each grant's conditions keep its callers within that
//! trust, worked out once) → every enabled rule's check over it ([`crate::rules`], one module
//! per rule) → findings merged per statement and rule, in a stable order ([`Findings`]).

mod findings;
mod grant;
mod trust;

pub use findings::{Findings, Merged};
pub use grant::{GrantAnalysis, GrantFindings, Standing, evaluate_grant};
pub use trust::{Bounds, Trust, clause_admits, reachable};

use crate::grants::{self, Clause, Grant, KeyContext, Normalized};
use crate::policy::Policy;
use crate::principal::Principal;
use crate::report::Report;
use crate::rules::{Check, RuleId, RuleSet};

/// Evaluates `policy` against `rules` for the key described by `ctx`.
pub fn evaluate(policy: &Policy<'_>, rules: &RuleSet, ctx: &KeyContext) -> Report {
    let analysis = Analysis::new(policy, rules, ctx);
    let mut out = Findings::new(policy, rules);
    for rule in RuleId::ALL {
        if let (true, Check::Policy { check, .. }) = (rules.is_on(rule), rule.rule().check) {
            check(&analysis, &mut out);
        }
    }
    for (grant, reach) in analysis.grants() {
        if let (Principal::AnyAccount, Bounds::Unjudged(notes)) = (grant.principal, reach) {
            notes.iter().for_each(|n| out.note(n.clone()));
        }
    }
    if ctx.account.is_none() {
        out.note(
            "the owner account is unknown (pass --account or set `account` in the rules): every named account is treated as external"
                .to_owned(),
        );
    }
    out.finish()
}

/// What every rule's check reads: the policy, its effective grants, and — worked out once
/// per grant — whether any caller can use it and how far its conditions bound its callers.
#[derive(Debug)]
pub struct Analysis<'a> {
    /// The policy as written.
    pub policy: &'a Policy<'a>,
    /// The key.
    pub ctx: &'a KeyContext,
    /// The rules.
    pub rules: &'a RuleSet,
    /// Who the rules trust for this key.
    pub trust: Trust<'a>,
    /// Effective grants and per-statement facts.
    pub normalized: Normalized<'a>,
    /// Per grant: `None` when no caller can use it, else its bounds.
    reach: Vec<Option<Bounds>>,
}

impl<'a> Analysis<'a> {
    fn new(policy: &'a Policy<'a>, rules: &'a RuleSet, ctx: &'a KeyContext) -> Self {
        let normalized = grants::normalize(policy, ctx);
        let trust = Trust::new(rules, ctx);
        let reach = normalized
            .grants
            .iter()
            .map(|g| bounds(g, &trust))
            .collect();
        Analysis {
            policy,
            ctx,
            rules,
            trust,
            normalized,
            reach,
        }
    }

    /// The grants some caller can use, with how far their conditions bound the callers.
    pub fn grants(&self) -> impl Iterator<Item = (&Grant<'a>, &Bounds)> {
        self.normalized
            .grants
            .iter()
            .zip(&self.reach)
            .filter_map(|(g, r)| r.as_ref().map(|b| (g, b)))
    }
}

/// How far `grant`'s conditions bound its callers; `None` when no caller can satisfy them.
fn bounds(grant: &Grant<'_>, trust: &Trust<'_>) -> Option<Bounds> {
    if !reachable(grant) {
        return None;
    }
    if !matches!(grant.principal, Principal::Service(_)) {
        return Some(trust.conditions(&grant.clauses));
    }
    // A service caller has no caller-identity keys (`aws:PrincipalAccount`, …): only the
    // `aws:Source*` atoms of a clause can hold for it, and a clause without one makes the
    // grant unusable by the service.
    let source_clauses: Vec<Clause<'_>> = grant
        .clauses
        .iter()
        .map(|c| {
            c.iter()
                .filter(|a| a.key.is_source())
                .cloned()
                .collect::<Clause<'_>>()
        })
        .collect();
    if source_clauses.iter().any(|c| c.is_empty()) {
        return None;
    }
    Some(trust.conditions(&source_clauses))
}
