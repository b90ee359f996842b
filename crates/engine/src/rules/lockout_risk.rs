//! `lockout-risk`: after the policy, neither the owner account (delegation) nor any listed
//! admin can call `kms:PutKeyPolicy` — the key is, or is about to be, unmanageable, and the
//! guardrail itself could no longer repair it. It reads the policy as a `PutKeyPolicy`
//! request meets it: an Allow conditioned on a key only other operations carry grants it
//! nothing, and a Deny whose negated condition is on such a key denies it to everyone it
//! names (the confused-deputy guard `Deny kms:* StringNotEquals aws:SourceAccount` locks the
//! key). The remediation planner asks the same
//! question of every policy it would write ([`keeps_management`]), whatever this rule's
//! action.

use super::{Check, Remedy, Rule, RuleAction, RuleId, RuleSet, Severity};
use crate::actions::ActionSet;
use crate::evaluate::{Analysis, Findings, Trust, clause_admits, reachable};
use crate::grants::{self, Grant, KeyContext, View};
use crate::policy::{Policy, Span};
use crate::principal::Principal;

pub(super) const RULE: Rule = Rule {
    severity: Severity::Critical,
    default_action: RuleAction::Alert,
    summary: "Neither the owner account nor any listed admin can call kms:PutKeyPolicy: the key is, or is about to be, unmanageable.",
    remedy: Remedy::Keep,
    check: Check::Policy {
        check,
        message: super::generic_message,
    },
};

fn check(a: &Analysis<'_>, out: &mut Findings<'_>) {
    // A PutKeyPolicy request lacks the keys of other operations: read the policy as such a
    // request meets it (the ordinary grants are that already when no condition uses one).
    let put_view;
    let grants = if grants::has_request_only_conditions(a.policy) {
        put_view = a
            .normalized
            .grants_in(a.policy, View::PutKeyPolicy, ActionSet::PUT_KEY_POLICY);
        &put_view
    } else {
        &a.normalized.grants
    };
    if manageable(grants, &a.trust) {
        return;
    }
    let who = match a.trust.owner {
        Some(owner) => format!("the owner account `{owner}` or a listed admin"),
        None => "any account or IAM principal".to_owned(),
    };
    out.single(
        RuleId::LockoutRisk,
        None,
        Span::default(),
        None,
        format!(
            "no statement lets {who} call kms:PutKeyPolicy: the key cannot be managed, and the guardrail could not repair it"
        ),
    );
}

/// Whether the owner account or an admin (any account or IAM principal, when the owner is
/// unknown) can still call `kms:PutKeyPolicy`.
fn manageable(grants: &[Grant<'_>], trust: &Trust<'_>) -> bool {
    grants.iter().any(|g| {
        if !g.actions.contains(ActionSet::PUT_KEY_POLICY) || !reachable(g) {
            return false;
        }
        if trust.is_owner_or_admin(g) {
            return true;
        }
        match (trust.owner, g.principal) {
            // Owner unknown: any account or IAM principal that can call it counts.
            (None, Principal::Account(_) | Principal::Identity { .. } | Principal::AnyAccount) => {
                true
            }
            (Some(owner), Principal::AnyAccount) => g
                .clauses
                .iter()
                .all(|c| clause_admits(c, owner) != Some(false)),
            _ => false,
        }
    })
}

/// Whether, under `policy`, the owner account or a listed admin can still call
/// `kms:PutKeyPolicy` — whatever action the rules give `lockout-risk`. Checked before the
/// guardrail writes any policy.
pub(crate) fn keeps_management(policy: &Policy<'_>, rules: &RuleSet, ctx: &KeyContext) -> bool {
    let normalized = grants::normalize_for(policy, ctx, View::PutKeyPolicy);
    manageable(&normalized.grants, &Trust::new(rules, ctx))
}
