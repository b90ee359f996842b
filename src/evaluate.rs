//! The evaluator: a parsed policy, the rules and the key's context in, a [`Report`] out.
//! The one function the Lambda and the CLI both call; it never does I/O.
//!
//! Stages: policy → [`grants::normalize`] (effective grants after Denies) → one check per
//! rule over those grants and over the statements' facts → findings grouped per statement
//! and rule, in a stable order.

use crate::actions::ActionSet;
use crate::condition::{Atom, Dimension, Key};
use crate::glob;
use crate::grants::{self, Clause, Grant, KeyContext};
use crate::policy::{Effect, Policy, Span};
use crate::principal::{Arn, Principal};
use crate::report::{Finding, Report};
use crate::rules::{RuleId, RuleSet};

/// Evaluates `policy` against `rules` for the key described by `ctx`.
pub fn evaluate(policy: &Policy<'_>, rules: &RuleSet, ctx: &KeyContext) -> Report {
    let normalized = grants::normalize(policy, ctx);
    let trust = Trust::new(rules, ctx);
    let mut out = Collector::new(policy, rules);

    for problem in &policy.problems {
        out.single(
            RuleId::InvalidPolicy,
            problem.statement,
            problem.span,
            None,
            problem.message.clone(),
        );
    }
    for (statement, facts) in policy.statements.iter().zip(&normalized.statements) {
        let at = Some(statement.index);
        if let Some(reason) = &facts.ineffective {
            out.single(
                RuleId::IneffectiveStatement,
                at,
                statement.span,
                None,
                reason.clone(),
            );
        }
        for (written, reason) in &facts.invalid_principals {
            out.single(
                RuleId::InvalidPrincipal,
                at,
                statement.span,
                Some(written),
                reason.clone(),
            );
        }
        if statement.effect == Effect::Allow {
            if statement.principal.as_ref().is_some_and(|p| p.negated) {
                out.single(
                    RuleId::AllowNotPrincipal,
                    at,
                    statement.span,
                    None,
                    "`NotPrincipal` in an Allow grants to every principal except those listed"
                        .to_owned(),
                );
            }
            if statement.action.as_ref().is_some_and(|a| a.negated) {
                out.single(
                    RuleId::AllowNotAction,
                    at,
                    statement.span,
                    None,
                    "`NotAction` in an Allow grants every key action not listed, including actions KMS adds later"
                        .to_owned(),
                );
            }
        }
    }
    for grant in &normalized.grants {
        check_grant(grant, &trust, &mut out);
    }
    check_lockout(&normalized.grants, &trust, &mut out);
    if ctx.account.is_none() {
        out.note(
            "the owner account is unknown (pass --account or set `account` in the rules): every named account is treated as external"
                .to_owned(),
        );
    }
    out.finish()
}

/// Who the rules trust, for one key.
struct Trust<'r> {
    owner: Option<&'r str>,
    rules: &'r RuleSet,
    admins: Vec<String>,
}

/// How far a grant's conditions keep it within trusted bounds.
enum Bounds {
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
    fn new(rules: &'r RuleSet, ctx: &'r KeyContext) -> Self {
        let owner = ctx.account.as_deref();
        Trust {
            owner,
            rules,
            admins: rules.admins_for(owner),
        }
    }

    fn account(&self, account: &str) -> bool {
        self.owner == Some(account) || self.rules.trusted_accounts.iter().any(|t| t == account)
    }

    fn organization(&self, org: &str) -> bool {
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
    fn conditions(&self, clauses: &[Clause<'_>]) -> Bounds {
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

    /// The owner account itself, or a principal the `admins` list names.
    fn is_owner_or_admin(&self, grant: &Grant<'_>) -> bool {
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

fn account_of<'a>(p: Principal<'a>) -> Option<&'a str> {
    match p {
        Principal::Account(a) | Principal::Identity { account: a, .. } => Some(a),
        Principal::Federated { account, .. } => account,
        _ => None,
    }
}

/// `Some(false)` when the clause certainly excludes callers of `account`.
fn clause_admits(clause: &Clause<'_>, account: &str) -> Option<bool> {
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
fn reachable(grant: &Grant<'_>) -> bool {
    match account_of(grant.principal) {
        Some(a) => !grant
            .clauses
            .iter()
            .any(|c| clause_admits(c, a) == Some(false)),
        None => true,
    }
}

fn check_grant(grant: &Grant<'_>, trust: &Trust<'_>, out: &mut Collector<'_>) {
    if !reachable(grant) {
        return;
    }
    let bounds = trust.conditions(&grant.clauses);
    match grant.principal {
        Principal::AnyAccount => match bounds {
            Bounds::Unbounded => {
                // Every account includes untrusted ones: both rules hold, so turning
                // `public-access` off never hides a public grant.
                out.grant(RuleId::PublicAccess, grant, grant.actions, Vec::new());
                out.grant(
                    RuleId::UntrustedAccount,
                    grant,
                    grant.actions,
                    vec!["any AWS account".to_owned()],
                );
            }
            Bounds::Untrusted(subjects) => {
                out.grant(RuleId::UntrustedAccount, grant, grant.actions, subjects)
            }
            Bounds::Unjudged(notes) => notes.into_iter().for_each(|n| out.note(n)),
            Bounds::Trusted => {}
        },
        Principal::Account(a)
        | Principal::Identity { account: a, .. }
        | Principal::Federated {
            account: Some(a), ..
        } => {
            if !trust.account(a) && !matches!(bounds, Bounds::Trusted) {
                out.grant(
                    RuleId::UntrustedAccount,
                    grant,
                    grant.actions,
                    vec![format!("account `{a}`")],
                );
            }
        }
        Principal::Federated {
            provider,
            account: None,
        } => {
            if !matches!(bounds, Bounds::Trusted) {
                out.grant(
                    RuleId::UntrustedAccount,
                    grant,
                    grant.actions,
                    vec![format!("identity provider `{provider}`")],
                );
            }
        }
        Principal::Service(_) => {
            // A service caller has no caller-identity keys (`aws:PrincipalAccount`, …): only
            // the `aws:Source*` atoms of a clause can hold for it, and a clause without one
            // makes the grant unusable by the service.
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
                return;
            }
            if let Bounds::Untrusted(subjects) = trust.conditions(&source_clauses) {
                out.grant(RuleId::UntrustedAccount, grant, grant.actions, subjects);
            }
            if !grant.service_scoped {
                out.grant(
                    RuleId::UnscopedServicePrincipal,
                    grant,
                    grant.actions,
                    Vec::new(),
                );
            }
        }
        Principal::Nothing => return,
    }
    let admin_actions = grant.actions.intersection(ActionSet::ADMIN);
    let owner_or_admin = trust.is_owner_or_admin(grant);
    if !admin_actions.is_empty() && !owner_or_admin {
        out.grant(RuleId::UntrustedAdmin, grant, admin_actions, Vec::new());
    }
    if grant.actions.contains(ActionSet::CREATE_GRANT)
        && !grant.aws_resource_grants_only
        && !owner_or_admin
    {
        out.grant(
            RuleId::UnconstrainedGrant,
            grant,
            ActionSet::CREATE_GRANT,
            Vec::new(),
        );
    }
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
pub fn keeps_management(policy: &Policy<'_>, rules: &RuleSet, ctx: &KeyContext) -> bool {
    let normalized = grants::normalize(policy, ctx);
    manageable(&normalized.grants, &Trust::new(rules, ctx))
}

fn check_lockout(grants: &[Grant<'_>], trust: &Trust<'_>, out: &mut Collector<'_>) {
    let manageable = manageable(grants, trust);
    if !manageable {
        let who = match trust.owner {
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
}

/// A finding being assembled: grant-level rules merge every grant of one statement.
struct Pending {
    rule: RuleId,
    statement: Option<usize>,
    span: Span,
    principals: Vec<String>,
    actions: ActionSet,
    subjects: Vec<String>,
    message: Option<String>,
}

struct Collector<'p> {
    policy: &'p Policy<'p>,
    rules: &'p RuleSet,
    pending: Vec<Pending>,
    notes: Vec<String>,
}

impl<'p> Collector<'p> {
    fn new(policy: &'p Policy<'p>, rules: &'p RuleSet) -> Self {
        Collector {
            policy,
            rules,
            pending: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// A finding with its own message (not merged).
    fn single(
        &mut self,
        rule: RuleId,
        statement: Option<usize>,
        span: Span,
        principal: Option<&str>,
        message: String,
    ) {
        if !self.rules.is_on(rule) {
            return;
        }
        self.pending.push(Pending {
            rule,
            statement,
            span,
            principals: principal.map(str::to_owned).into_iter().collect(),
            actions: ActionSet::EMPTY,
            subjects: Vec::new(),
            message: Some(message),
        });
    }

    /// A grant-level finding, merged with others of the same rule and statement.
    fn grant(
        &mut self,
        rule: RuleId,
        grant: &Grant<'_>,
        actions: ActionSet,
        subjects: Vec<String>,
    ) {
        if !self.rules.is_on(rule) {
            return;
        }
        let statement = Some(grant.statement);
        let index = match self
            .pending
            .iter()
            .position(|p| p.rule == rule && p.statement == statement && p.message.is_none())
        {
            Some(i) => i,
            None => {
                self.pending.push(Pending {
                    rule,
                    statement,
                    span: self.policy.statements[grant.statement].span,
                    principals: Vec::new(),
                    actions: ActionSet::EMPTY,
                    subjects: Vec::new(),
                    message: None,
                });
                self.pending.len() - 1
            }
        };
        let p = &mut self.pending[index];
        if !p.principals.iter().any(|w| w == grant.written) {
            p.principals.push(grant.written.to_owned());
        }
        p.actions = p.actions.union(actions);
        for s in subjects {
            if !p.subjects.contains(&s) {
                p.subjects.push(s);
            }
        }
    }

    fn finish(mut self) -> Report {
        self.pending.sort_by_key(|p| (p.statement, p.rule));
        let findings = self
            .pending
            .into_iter()
            .map(|p| {
                let sid = p
                    .statement
                    .and_then(|i| self.policy.statements.get(i))
                    .and_then(|s| s.sid.as_deref())
                    .map(str::to_owned);
                let message = p.message.clone().unwrap_or_else(|| grant_message(&p));
                Finding {
                    rule: p.rule,
                    severity: p.rule.severity(),
                    action: self.rules.action(p.rule),
                    statement: p.statement,
                    sid,
                    principals: p.principals,
                    actions: p.actions.display_names(),
                    message,
                    span: p.span,
                }
            })
            .collect();
        Report {
            findings,
            notes: self.notes,
        }
    }
}

fn actions_phrase(actions: ActionSet) -> String {
    if actions == ActionSet::ALL {
        return "every key action (kms:*)".to_owned();
    }
    let names = actions.display_names();
    if names.len() <= 4 {
        names.join(", ")
    } else {
        format!("{} key actions ({}, …)", names.len(), names[..3].join(", "))
    }
}

fn principals_phrase(principals: &[String]) -> String {
    let quoted: Vec<String> = principals.iter().map(|p| format!("`{p}`")).collect();
    quoted.join(", ")
}

fn grant_message(p: &Pending) -> String {
    let acts = actions_phrase(p.actions);
    let who = principals_phrase(&p.principals);
    match p.rule {
        RuleId::PublicAccess => format!(
            "grants {acts} to any AWS account: principal {who} with no condition that pins the caller's account, organization or network"
        ),
        RuleId::UntrustedAccount => format!(
            "grants {acts} to {}, outside the owner account and the trusted accounts and organizations",
            p.subjects.join(", ")
        ),
        RuleId::UntrustedAdmin => format!(
            "grants key administration ({acts}) to {who}, which is neither the owner account nor a listed admin"
        ),
        RuleId::UnconstrainedGrant => format!(
            "grants kms:CreateGrant to {who} without `kms:GrantIsForAWSResource` = true or `kms:ViaService`: they can pass use of the key on to anyone"
        ),
        RuleId::UnscopedServicePrincipal => format!(
            "grants {acts} to service {who} with no aws:SourceAccount, aws:SourceArn or encryption-context condition: resources of any account can use the key through it (confused deputy)"
        ),
        other => format!("{other}: {acts} for {who}"),
    }
}
