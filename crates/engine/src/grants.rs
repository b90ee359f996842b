//! Normalization: a parsed policy becomes the list of effective [`Grant`]s — who (one
//! principal) may do what (an [`ActionSet`]) under which caller restrictions (AND-ed clauses
//! of OR-ed [`Atom`]s) — after every `Deny` has taken away what it unconditionally covers and
//! capped what it covers behind a data perimeter.
//!
//! Conservative by construction: a condition that is not understood restricts nothing in an
//! Allow, and a Deny whose reach is not certain takes nothing away.

use crate::actions::{self, ActionMatch, ActionSet};
use crate::arn::{self, Arn};
use crate::condition::{self, AllowEffect, Atom, DenyEffect};
use crate::glob;
use crate::policy::{Effect, Names, Policy, Statement};
use crate::principal::{self, Principal};
use std::borrow::Cow;
use std::ops::Range;
use std::rc::Rc;

/// What the evaluator knows of the key under evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyContext {
    /// The owner account, when known.
    pub account: Option<String>,
    /// The key's ARN, when known (gives partition, region and account).
    pub key_arn: Option<String>,
    /// The organization the owner belongs to, when the caller knows it and its accounts:
    /// how a grant to another account of a trusted organization is told from a foreign one
    /// (a grant names an account, not an organization).
    pub organization: Option<std::sync::Arc<Organization>>,
}

/// An organization and its member accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    /// Its id (`o-…`).
    pub id: String,
    /// Its accounts.
    pub accounts: Vec<String>,
}

impl KeyContext {
    /// Context for a key known by its ARN; the owner is the ARN's account.
    pub fn for_key_arn(key_arn: &str) -> KeyContext {
        KeyContext {
            account: Arn::parse(key_arn)
                .map(|a| a.account)
                .filter(|a| arn::is_account_id(a))
                .map(str::to_owned),
            key_arn: Some(key_arn.to_owned()),
            organization: None,
        }
    }

    /// Context for a policy of a key in `account` (partition and key unknown).
    pub fn for_account(account: Option<&str>) -> KeyContext {
        KeyContext {
            account: account.map(str::to_owned),
            key_arn: None,
            organization: None,
        }
    }

    /// The key's partition, when its ARN is known.
    pub fn partition(&self) -> Option<&str> {
        self.key_arn
            .as_deref()
            .and_then(Arn::parse)
            .map(|a| a.partition)
    }
}

/// One clause: an OR of atoms. A grant's clauses are ANDed. Shared, because a Deny's
/// perimeter clause is added to every grant it caps.
pub type Clause<'a> = Rc<[Atom<'a>]>;

/// One principal's effective access from one Allow statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant<'a> {
    /// The Allow statement it comes from.
    pub statement: usize,
    /// What the principal denotes.
    pub principal: Principal<'a>,
    /// The principal as written (`*` for the bare star and for `NotPrincipal`).
    pub written: &'a str,
    /// The key actions granted (never empty).
    pub actions: ActionSet,
    /// Constraints on the caller, all of which must hold.
    pub clauses: Vec<Clause<'a>>,
    /// The statement scopes a service principal (`aws:Source*`, encryption context).
    pub service_scoped: bool,
    /// The statement limits grants to AWS services acting for AWS resources
    /// (`kms:GrantIsForAWSResource` = true, or `kms:ViaService`).
    pub aws_resource_grants_only: bool,
}

/// What normalization learned about one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementFacts<'a> {
    /// Why it grants (or denies) nothing, if it does.
    pub ineffective: Option<String>,
    /// Principal entries KMS would reject or that no longer exist: (as written, why).
    pub invalid_principals: Vec<(&'a str, String)>,
}

/// The result of normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized<'a> {
    /// Effective grants, in statement order.
    pub grants: Vec<Grant<'a>>,
    /// One entry per statement.
    pub statements: Vec<StatementFacts<'a>>,
    /// What each statement comes to in any view, kept so another view reuses it.
    prepared: Vec<Prepared>,
    /// Every statement's classified principals, one after the other (see [`Prepared`]).
    principals: Vec<(Principal<'a>, &'a str)>,
}

impl<'a> Normalized<'a> {
    /// The effective grants of `policy` (the one normalized) of the actions in `only`, for
    /// the requests `view` names, reusing the per-statement work (actions, principals,
    /// resource) already done. Statements with none of those actions are passed over.
    pub fn grants_in(&self, policy: &'a Policy<'_>, view: View, only: ActionSet) -> Vec<Grant<'a>> {
        grants_for(policy, view, &self.prepared, &self.principals, only)
    }
}

/// What a statement comes to whatever the request: its key actions, whether it applies to
/// the key, its principals, and whether it has any effect at all.
#[derive(Debug, Clone, PartialEq)]
struct Prepared {
    actions: ActionSet,
    applies: Applies,
    /// Where its principals are in the policy's one list of them: one allocation for all,
    /// where a list per statement cost one each.
    principals: Range<usize>,
    live: bool,
}

impl Prepared {
    /// The statement's principals, (meaning, as written), from the policy's list of them.
    fn principals<'s, 'a>(
        &self,
        all: &'s [(Principal<'a>, &'a str)],
    ) -> &'s [(Principal<'a>, &'a str)] {
        all.get(self.principals.clone()).unwrap_or_default()
    }
}

/// Whether a `Resource` element applies to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    Yes,
    /// The key's ARN is unknown and the pattern could match it.
    Maybe,
    No,
}

/// Which requests the grants are worked out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Any request: a condition on a key a request may carry may hold.
    AnyRequest,
    /// A direct `PutKeyPolicy` request, for lock-out: it carries none of the keys that exist
    /// only on other operations ([`condition::absent_on_put_key_policy`]), so a condition on
    /// one holds or fails as it does for an absent key.
    PutKeyPolicy,
}

/// Normalizes `policy` for the key described by `ctx`, for any request.
pub fn normalize<'a>(policy: &'a Policy<'_>, ctx: &KeyContext) -> Normalized<'a> {
    normalize_for(policy, ctx, View::AnyRequest)
}

/// Whether some condition of `policy` is on a key a `PutKeyPolicy` request never carries:
/// only then can the [`View::PutKeyPolicy`] grants differ from the ordinary ones.
pub fn has_request_only_conditions(policy: &Policy<'_>) -> bool {
    policy
        .statements
        .iter()
        .flat_map(|s| &s.conditions)
        .any(|c| condition::absent_on_put_key_policy(&c.key))
}

/// Normalizes `policy` for the key described by `ctx`, for the requests `view` names.
pub fn normalize_for<'a>(policy: &'a Policy<'_>, ctx: &KeyContext, view: View) -> Normalized<'a> {
    let mut statements = Vec::with_capacity(policy.statements.len());
    let mut prepared = Vec::with_capacity(policy.statements.len());
    let mut all_principals = Vec::with_capacity(
        policy
            .statements
            .iter()
            .filter_map(|s| s.principal.as_ref())
            .map(|p| usize::from(p.star) + p.entries.len())
            .sum(),
    );
    let partition = ctx.partition();
    for statement in &policy.statements {
        let mut facts = StatementFacts::default();
        let actions = statement_actions(statement, &mut facts);
        let applies = statement_applies(statement, ctx, &mut facts);
        let start = all_principals.len();
        statement_principals(statement, partition, &mut facts, &mut all_principals);
        let principals = start..all_principals.len();
        prepared.push(Prepared {
            actions,
            applies,
            principals,
            live: facts.ineffective.is_none(),
        });
        statements.push(facts);
    }
    Normalized {
        grants: grants_for(policy, view, &prepared, &all_principals, ActionSet::ALL),
        statements,
        prepared,
        principals: all_principals,
    }
}

/// The effective grants of `policy`'s `prepared` statements (their classified `principals`)
/// of the actions in `only`, in `view`: each Allow's grants, less what the Denies take away.
fn grants_for<'a>(
    policy: &'a Policy<'_>,
    view: View,
    prepared: &[Prepared],
    principals: &[(Principal<'a>, &'a str)],
    only: ActionSet,
) -> Vec<Grant<'a>> {
    let mut grants = Vec::with_capacity(prepared.len() * 2);
    let mut denies = Vec::new();
    // One shared copy of each distinct clause, the Allows' and the Denies' caps alike.
    let mut pool = Vec::new();
    // Every condition's values as `&str`s: in place when one, else one reused buffer.
    let mut scratch = ValueStrs::default();
    for (statement, p) in policy.statements.iter().zip(prepared) {
        let actions = p.actions.intersection(only);
        if !p.live || actions.is_empty() {
            continue;
        }
        let holds = conditions_hold(statement, view);
        match statement.effect {
            Effect::Allow if holds != Holds::Never => {
                let principals = p.principals(principals);
                allow_grants(
                    statement,
                    actions,
                    principals,
                    &mut pool,
                    &mut scratch,
                    &mut grants,
                );
            }
            // Only a Deny that certainly applies to this key takes anything away.
            Effect::Deny if p.applies == Applies::Yes && holds != Holds::Never => {
                denies.push((
                    statement,
                    p.principals(principals),
                    actions,
                    holds == Holds::Always,
                ));
            }
            _ => {}
        }
    }
    for (deny, principals, actions, unconditional) in denies {
        let denied = DeniedPrincipals::new(deny, principals);
        apply_deny(
            deny,
            &denied,
            actions,
            unconditional,
            &mut pool,
            &mut scratch,
            &mut grants,
        );
    }
    grants.retain(|g| !g.actions.is_empty());
    grants.sort_by_key(|g| g.statement);
    grants
}

/// What the conditions on request-only keys of a statement come to, in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Nothing is known: the conditions are read as usual.
    AsUsual,
    /// Some condition on a key the request lacks can never hold: the statement does not
    /// apply.
    Never,
    /// Every condition is on a key the request lacks and holds without it: the statement
    /// applies unconditionally.
    Always,
}

fn conditions_hold(statement: &Statement<'_>, view: View) -> Holds {
    if view == View::AnyRequest || statement.conditions.is_empty() {
        return Holds::AsUsual;
    }
    let mut all = true;
    for c in &statement.conditions {
        if !condition::absent_on_put_key_policy(&c.key) {
            all = false;
            continue;
        }
        match condition::holds_when_absent(c.op, &c.values) {
            Some(false) => return Holds::Never,
            Some(true) => {}
            None => all = false,
        }
    }
    if all { Holds::Always } else { Holds::AsUsual }
}

fn statement_actions(statement: &Statement<'_>, facts: &mut StatementFacts<'_>) -> ActionSet {
    let Some(names) = &statement.action else {
        facts.ineffective =
            Some("the statement has no `Action` or `NotAction`, so it has no effect".to_owned());
        return ActionSet::EMPTY;
    };
    let mut set = ActionSet::EMPTY;
    for name in &names.values {
        if let ActionMatch::Key(s) = actions::expand(name) {
            set = set.union(s);
        }
    }
    let set = if names.negated { set.complement() } else { set };
    if set.is_empty() {
        facts.ineffective = Some(format!(
            "`{}` names no action a key policy governs, so the statement has no effect",
            if names.negated { "NotAction" } else { "Action" }
        ));
    }
    set
}

fn statement_applies(
    statement: &Statement<'_>,
    ctx: &KeyContext,
    facts: &mut StatementFacts<'_>,
) -> Applies {
    let Some(resource) = &statement.resource else {
        if facts.ineffective.is_none() {
            facts.ineffective = Some(
                "the statement has no `Resource` or `NotResource`, so it has no effect".to_owned(),
            );
        }
        return Applies::No;
    };
    let applies = resource_applies(resource, ctx);
    if applies == Applies::No && facts.ineffective.is_none() {
        facts.ineffective = Some(format!(
            "`{}` does not cover this key, so the statement has no effect",
            if resource.negated {
                "NotResource"
            } else {
                "Resource"
            }
        ));
    }
    applies
}

fn resource_applies(resource: &Names<'_>, ctx: &KeyContext) -> Applies {
    let mut best = Applies::No;
    for pattern in &resource.values {
        match pattern_applies(pattern, ctx) {
            Applies::Yes => {
                best = Applies::Yes;
                break;
            }
            Applies::Maybe => best = Applies::Maybe,
            Applies::No => {}
        }
    }
    if !resource.negated {
        return best;
    }
    // NotResource covers the key when no listed pattern matches it.
    match best {
        Applies::Yes => Applies::No,
        Applies::Maybe => Applies::Maybe,
        Applies::No => Applies::Yes,
    }
}

fn pattern_applies(pattern: &str, ctx: &KeyContext) -> Applies {
    if pattern == "*" {
        return Applies::Yes;
    }
    if let Some(key_arn) = &ctx.key_arn {
        return if glob::matches(pattern, key_arn) {
            Applies::Yes
        } else {
            Applies::No
        };
    }
    // Key unknown: could the pattern name a KMS key of the owner?
    let Some(arn) = Arn::parse(pattern) else {
        return if glob::is_only_wildcards(pattern) {
            Applies::Yes
        } else {
            Applies::No
        };
    };
    let service_ok = glob::matches(arn.service, "kms");
    let account_ok = match &ctx.account {
        Some(owner) => glob::matches(arn.account, owner),
        None => true,
    };
    let resource_ok = could_start_with(arn.resource, "key/");
    if service_ok && account_ok && resource_ok {
        Applies::Maybe
    } else {
        Applies::No
    }
}

/// Whether some text starting with `prefix` could match `pattern`.
fn could_start_with(pattern: &str, prefix: &str) -> bool {
    let mut p = pattern.chars();
    for want in prefix.chars() {
        match p.next() {
            Some('*') => return true,
            Some('?') => {}
            Some(c) if c == want => {}
            _ => return false,
        }
    }
    true
}

/// Classifies every principal entry (`partition` is the key's, when known), recording
/// invalid ones; appends (meaning, as written) to `out` — `*` as any account, entries that
/// denote nothing left out.
fn statement_principals<'a>(
    statement: &'a Statement<'_>,
    partition: Option<&str>,
    facts: &mut StatementFacts<'a>,
    out: &mut Vec<(Principal<'a>, &'a str)>,
) {
    let Some(p) = &statement.principal else {
        return;
    };
    if p.star {
        out.push((Principal::AnyAccount, "*"));
    }
    for entry in &p.entries {
        let c = principal::classify(entry.kind, &entry.value, partition);
        if let Some(reason) = c.invalid {
            facts
                .invalid_principals
                .push((entry.value.as_ref(), reason));
        }
        if c.principal != Principal::Nothing {
            out.push((c.principal, entry.value.as_ref()));
        }
    }
}

fn allow_grants<'a>(
    statement: &'a Statement<'_>,
    actions: ActionSet,
    principals: &[(Principal<'a>, &'a str)],
    pool: &mut Vec<Clause<'a>>,
    scratch: &mut ValueStrs<'a>,
    grants: &mut Vec<Grant<'a>>,
) {
    let mut clauses = Vec::new();
    let mut service_scoped = false;
    let mut aws_resource_grants_only = false;
    for c in &statement.conditions {
        let op = c.op;
        let values = scratch.of(&c.values);
        if let AllowEffect::Restricts(atom) = condition::allow_effect(op, &c.key, values) {
            clauses.push(interned(pool, Clause::from([atom])));
        }
        service_scoped |= condition::scopes_service(op, &c.key, values);
        aws_resource_grants_only |= condition::limits_grants_to_aws_services(op, &c.key, values);
    }
    let negated = statement.principal.as_ref().is_some_and(|p| p.negated);
    let grant = |principal, written| Grant {
        statement: statement.index,
        principal,
        written,
        actions,
        clauses: clauses.clone(),
        service_scoped,
        aws_resource_grants_only,
    };
    if negated {
        // NotPrincipal in an Allow reaches every principal not listed: any account.
        grants.push(grant(Principal::AnyAccount, "*"));
        return;
    }
    for (principal, written) in principals {
        grants.push(grant(*principal, written));
    }
}

/// Where a condition's values are put as `&str`s, the plain slice the condition functions
/// take: one value (most conditions) in place, more in one buffer reused for the whole
/// policy. A buffer per statement cost an allocation for each conditioned one.
#[derive(Default)]
struct ValueStrs<'a> {
    one: [&'a str; 1],
    many: Vec<&'a str>,
}

impl<'a> ValueStrs<'a> {
    fn of(&mut self, values: &'a [Cow<'_, str>]) -> &[&'a str] {
        if let [value] = values {
            self.one = [value.as_ref()];
            return &self.one;
        }
        self.many.clear();
        self.many.extend(values.iter().map(AsRef::as_ref));
        &self.many
    }
}

/// `clause` as one shared copy: the equal one in `pool` if there is one, else `clause`,
/// added. Every clause of every grant is taken from the pool (an Allow's conditions and a
/// Deny's caps alike), so equal clauses are one `Rc`, and a grant's "already capped" check
/// is a pointer comparison instead of comparing every atom of every clause it holds, Deny
/// after Deny (many Denies often repeat one data perimeter).
fn interned<'a>(pool: &mut Vec<Clause<'a>>, clause: Clause<'a>) -> Clause<'a> {
    if let Some(same) = pool.iter().find(|c| **c == clause) {
        return Rc::clone(same);
    }
    pool.push(Rc::clone(&clause));
    clause
}

/// Whether `clauses` hold `cap`: as both come from one pool ([`interned`]), an equal clause
/// is the same shared copy.
fn holds(clauses: &[Clause<'_>], cap: &Clause<'_>) -> bool {
    clauses.iter().any(|c| Rc::ptr_eq(c, cap))
}

fn apply_deny<'a>(
    deny: &'a Statement<'_>,
    denied: &DeniedPrincipals<'a, '_>,
    deny_actions: ActionSet,
    unconditional: bool,
    pool: &mut Vec<Clause<'a>>,
    scratch: &mut ValueStrs<'a>,
    grants: &mut Vec<Grant<'a>>,
) {
    if deny.principal.is_none() {
        return;
    }
    let mut perimeter: Vec<Atom<'a>> = Vec::new();
    let mut spares_services = false;
    let conditions: &[crate::policy::Condition<'_>] =
        if unconditional { &[] } else { &deny.conditions };
    for c in conditions {
        match condition::deny_effect(c.op, &c.key, scratch.of(&c.values)) {
            DenyEffect::Perimeter(atom) => perimeter.push(atom),
            DenyEffect::SparesServices => spares_services = true,
            // The Deny may not apply to anyone we can name: take no credit for it.
            DenyEffect::Unknown => return,
        }
    }
    // A NotPrincipal Deny leaves a grant to any account only to the principals it lists
    // (or, with conditions, to them or to callers inside its perimeter).
    let spared: Option<Clause<'a>> = denied.spared_accounts().map(|accounts| {
        let mut atoms = vec![Atom::accounts(accounts)];
        atoms.extend(perimeter.iter().cloned());
        interned(pool, Clause::from(atoms))
    });
    let perimeter: Option<Clause<'a>> =
        (!perimeter.is_empty()).then(|| interned(pool, Clause::from(perimeter)));
    let mut capped = Vec::new();
    for grant in grants.iter_mut() {
        let hit = grant.actions.intersection(deny_actions);
        if hit.is_empty() || (spares_services && matches!(grant.principal, Principal::Service(_))) {
            continue;
        }
        let cap = if denied.cover(grant) {
            perimeter.as_ref()
        } else if denied.negated && grant.principal == Principal::AnyAccount {
            match &spared {
                Some(clause) => Some(clause),
                None => continue,
            }
        } else {
            continue;
        };
        // Already confined to the callers inside the cap: the Deny changes nothing.
        if cap.is_some_and(|cap| holds(&grant.clauses, cap)) {
            continue;
        }
        grant.actions = grant.actions.difference(hit);
        if let Some(cap) = cap {
            // The Deny leaves exactly the callers inside the cap for these actions.
            let mut inside = grant.clone();
            inside.actions = hit;
            if !holds(&inside.clauses, cap) {
                inside.clauses.push(Rc::clone(cap));
            }
            capped.push(inside);
        }
    }
    // A grant left with no actions stays until the caller's one sweep: later Denies find
    // nothing in it to take.
    grants.extend(capped);
}

/// A Deny's principal element, as its statement was classified ([`Prepared`]).
struct DeniedPrincipals<'a, 'p> {
    negated: bool,
    star: bool,
    prepared: &'p [(Principal<'a>, &'a str)],
}

impl<'a, 'p> DeniedPrincipals<'a, 'p> {
    /// `deny`'s principal element, its entries as classified in `prepared` (where `*` is
    /// any account and entries that denote nobody are left out: they deny and spare no one).
    fn new(deny: &Statement<'_>, prepared: &'p [(Principal<'a>, &'a str)]) -> Self {
        DeniedPrincipals {
            negated: deny.principal.as_ref().is_some_and(|p| p.negated),
            star: prepared.iter().any(|(p, _)| *p == Principal::AnyAccount),
            prepared,
        }
    }

    fn entries(&self) -> impl Iterator<Item = Principal<'a>> + '_ {
        self.prepared.iter().map(|(p, _)| *p)
    }

    /// For a `NotPrincipal` Deny: the accounts of the principals it spares, when every one
    /// of them is in a named account (a spared service, identity provider without an account
    /// or `*` leaves callers we cannot bound). Entries that name nobody (a deleted
    /// principal's unique id) spare nobody: classification left them out.
    fn spared_accounts(&self) -> Option<Vec<&'a str>> {
        if !self.negated || self.star {
            return None;
        }
        let mut accounts = Vec::new();
        for e in self.entries() {
            accounts.push(e.account()?);
        }
        accounts.dedup();
        Some(accounts)
    }

    /// Whether the Deny certainly covers everyone the grant reaches.
    fn cover(&self, grant: &Grant<'_>) -> bool {
        if self.negated {
            // Everyone but the listed principals is denied. A grant to any account is not
            // fully covered; a named grant is, unless it shares an account or service with
            // an exempted principal.
            if self.star {
                return false;
            }
            return match grant.principal {
                Principal::AnyAccount | Principal::Nothing => false,
                p => !self.entries().any(|e| spares(e, p)),
            };
        }
        self.star
            || self
                .entries()
                .any(|e| denied_entry_covers(e, grant.principal))
    }
}

/// Whether a `NotPrincipal` Deny listing `listed` spares (some callers of) a grant to
/// `granted`. IAM checks a role session's account, role and session in turn, so listing an
/// account spares only its root user: a grant to the account itself keeps that user, a grant
/// to one of its roles or users is denied unless that identity is listed too.
fn spares(listed: Principal<'_>, granted: Principal<'_>) -> bool {
    match (listed, granted) {
        (Principal::Service(x), Principal::Service(y)) => x == y,
        (Principal::Identity { arn: x, .. }, Principal::Identity { arn: y, .. }) => x == y,
        (Principal::Federated { provider: x, .. }, Principal::Federated { provider: y, .. }) => {
            x == y
        }
        (_, Principal::Account(a)) => listed.account() == Some(a),
        _ => false,
    }
}

fn denied_entry_covers(denied: Principal<'_>, granted: Principal<'_>) -> bool {
    match (denied, granted) {
        // Denying an account denies every principal in it.
        (Principal::Account(a), g) => g.account() == Some(a),
        (Principal::Identity { arn: x, .. }, Principal::Identity { arn: y, .. }) => x == y,
        (Principal::Service(x), Principal::Service(y)) => x == y,
        (Principal::Federated { provider: x, .. }, Principal::Federated { provider: y, .. }) => {
            x == y
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants_of(text: &str, account: &str) -> Vec<(String, Vec<String>, usize)> {
        let policy = Policy::parse(text).expect("valid");
        let ctx = KeyContext::for_account(Some(account));
        normalize(&policy, &ctx)
            .grants
            .iter()
            .map(|g| {
                (
                    g.written.to_owned(),
                    g.actions.display_names(),
                    g.clauses.len(),
                )
            })
            .collect()
    }

    const OWNER: &str = "111122223333";

    #[test]
    fn unconditional_deny_removes_covered_actions_only() {
        let text = r#"{"Statement":[
          {"Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#;
        assert_eq!(
            grants_of(text, OWNER),
            [("*".to_owned(), vec!["kms:Encrypt".to_owned()], 0)]
        );
    }

    #[test]
    fn perimeter_deny_caps_the_covered_actions() {
        let text = r#"{"Statement":[
          {"Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
           "Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}"#;
        let g = grants_of(text, OWNER);
        assert_eq!(g.len(), 2);
        assert!(g.contains(&("*".to_owned(), vec!["kms:Encrypt".to_owned()], 0)));
        assert!(g.contains(&("*".to_owned(), vec!["kms:Decrypt".to_owned()], 1)));
    }

    #[test]
    fn deny_with_an_unknown_condition_takes_nothing_away() {
        let text = r#"{"Statement":[
          {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
           "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
        assert_eq!(
            grants_of(text, OWNER),
            [("*".to_owned(), vec!["kms:Decrypt".to_owned()], 0)]
        );
    }

    #[test]
    fn deny_to_an_account_covers_its_identities() {
        let text = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/App"},"Action":"kms:Decrypt","Resource":"*"},
          {"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}]}"#;
        assert!(grants_of(text, OWNER).is_empty());
    }

    #[test]
    fn not_principal_deny_does_not_cover_the_exempted_account() {
        let text = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":["444455556666","777788889999"]},"Action":"kms:Decrypt","Resource":"*"},
          {"Effect":"Deny","NotPrincipal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}]}"#;
        assert_eq!(
            grants_of(text, OWNER),
            [("444455556666".to_owned(), vec!["kms:Decrypt".to_owned()], 0)]
        );
    }

    #[test]
    fn resource_must_cover_the_key() {
        let policy = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:aws:s3:::bucket/*"}]}"#,
        )
        .expect("valid");
        let n = normalize(&policy, &KeyContext::for_account(Some(OWNER)));
        assert!(n.grants.is_empty());
        assert!(
            n.statements[0]
                .ineffective
                .as_deref()
                .is_some_and(|r| r.contains("does not cover"))
        );

        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let other_text = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"{}"}}]}}"#,
            key.replace("1234abcd", "ffffffff")
        );
        let other = Policy::parse(&other_text).expect("valid");
        assert!(
            normalize(&other, &KeyContext::for_key_arn(key))
                .grants
                .is_empty()
        );
    }

    #[test]
    fn value_strs_hold_exactly_the_last_values_asked_for() {
        let three: Vec<Cow<'_, str>> = vec!["a".into(), "b".into(), "c".into()];
        let one: Vec<Cow<'_, str>> = vec![Cow::Owned("d".to_owned())];
        let none: Vec<Cow<'_, str>> = Vec::new();
        let mut strs = ValueStrs::default();
        assert_eq!(strs.of(&three), ["a", "b", "c"]);
        assert_eq!(strs.of(&one), ["d"]);
        assert_eq!(strs.of(&none), [] as [&str; 0]);
        assert_eq!(strs.of(&three[..2]), ["a", "b"]);
    }

    #[test]
    fn not_action_grants_the_complement() {
        let text = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"NotAction":"kms:Decrypt","Resource":"*"}]}"#;
        let policy = Policy::parse(text).expect("valid");
        let n = normalize(&policy, &KeyContext::for_account(Some(OWNER)));
        let ActionMatch::Key(decrypt) = actions::expand("kms:Decrypt") else {
            panic!("key action")
        };
        assert_eq!(n.grants[0].actions, ActionSet::ALL.difference(decrypt));
    }
}
