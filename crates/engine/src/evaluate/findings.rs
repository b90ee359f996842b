//! Collecting findings: rules add them one at a time; grant-level findings of one rule and
//! statement merge into one (their principals, actions and subjects joined); the report
//! comes out ordered by statement, then rule.

use crate::actions::ActionSet;
use crate::grants::Grant;
use crate::policy::{Policy, Span};
use crate::report::{Finding, Report};
use crate::rules::{Check, RuleId, RuleSet};
use std::fmt;

/// A grant-level finding merged from every grant of one statement, as a rule's message
/// function sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The principals involved, as written.
    pub principals: Vec<String>,
    /// The key actions involved.
    pub actions: ActionSet,
    /// Who is reached outside trust (`account \`444455556666\``), when the rule says.
    pub subjects: Vec<String>,
}

impl Merged {
    /// "kms:Decrypt, kms:Encrypt", "every key action (kms:*)" or "12 key actions (…)",
    /// written straight into the message it is formatted into (no string of its own).
    pub fn actions_phrase(&self) -> impl fmt::Display + '_ {
        ActionsPhrase(self.actions)
    }

    /// The principals, each in backticks, written straight into the message.
    pub fn principals_phrase(&self) -> impl fmt::Display + '_ {
        PrincipalsPhrase(&self.principals)
    }
}

/// [`Merged::actions_phrase`].
struct ActionsPhrase(ActionSet);

impl fmt::Display for ActionsPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == ActionSet::ALL {
            return f.write_str("every key action (kms:*)");
        }
        let count = self.0.names().count();
        let shown = if count > 4 { 3 } else { count };
        if count > 4 {
            write!(f, "{count} key actions (")?;
        }
        for (i, name) in self.0.names().take(shown).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "kms:{name}")?;
        }
        if count > 4 {
            f.write_str(", …)")?;
        }
        Ok(())
    }
}

/// [`Merged::principals_phrase`].
struct PrincipalsPhrase<'m>(&'m [String]);

impl fmt::Display for PrincipalsPhrase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, principal) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{principal}`")?;
        }
        Ok(())
    }
}

/// A finding being assembled.
struct Pending {
    rule: RuleId,
    statement: Option<usize>,
    span: Span,
    merged: Merged,
    /// A finding with its own message is never merged.
    message: Option<String>,
}

/// The findings and notes of one evaluation, as rules add them.
pub struct Findings<'p> {
    policy: &'p Policy<'p>,
    rules: &'p RuleSet,
    pending: Vec<Pending>,
    notes: Vec<String>,
}

impl std::fmt::Debug for Findings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Findings")
            .field("pending", &self.pending.len())
            .field("notes", &self.notes)
            .finish()
    }
}

impl<'p> Findings<'p> {
    pub(super) fn new(policy: &'p Policy<'p>, rules: &'p RuleSet) -> Self {
        Findings {
            policy,
            rules,
            pending: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records something the evaluator could not judge (each note once).
    pub fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// A finding with its own message (not merged): about statement `statement` (`None`:
    /// the policy as a whole), at `span`, naming `principal` if one is involved.
    pub fn single(
        &mut self,
        rule: RuleId,
        statement: Option<usize>,
        span: Span,
        principal: Option<&str>,
        message: String,
    ) {
        self.pending.push(Pending {
            rule,
            statement,
            span,
            merged: Merged {
                principals: principal.map(str::to_owned).into_iter().collect(),
                actions: ActionSet::EMPTY,
                subjects: Vec::new(),
            },
            message: Some(message),
        });
    }

    /// A grant-level finding for `actions` of `grant`, merged with the others of the same
    /// rule and statement; `subjects` name who is reached outside trust.
    pub fn grant(
        &mut self,
        rule: RuleId,
        grant: &Grant<'_>,
        actions: ActionSet,
        subjects: Vec<String>,
    ) {
        let statement = Some(grant.statement);
        let existing = self
            .pending
            .iter_mut()
            .find(|p| p.rule == rule && p.statement == statement && p.message.is_none());
        let merged = match existing {
            Some(p) => &mut p.merged,
            None => {
                let span = self
                    .policy
                    .statements
                    .get(grant.statement)
                    .map(|s| s.span)
                    .unwrap_or_default();
                self.pending.push(Pending {
                    rule,
                    statement,
                    span,
                    merged: Merged {
                        principals: Vec::new(),
                        actions: ActionSet::EMPTY,
                        subjects: Vec::new(),
                    },
                    message: None,
                });
                match self.pending.last_mut() {
                    Some(p) => &mut p.merged,
                    None => return,
                }
            }
        };
        if !merged.principals.iter().any(|w| w == grant.written) {
            merged.principals.push(grant.written.to_owned());
        }
        merged.actions = merged.actions.union(actions);
        for s in subjects {
            if !merged.subjects.contains(&s) {
                merged.subjects.push(s);
            }
        }
    }

    pub(super) fn finish(mut self) -> Report {
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
                let message = match (p.message, p.rule.rule().check) {
                    (Some(m), _) => m,
                    (None, Check::Policy { message, .. }) => message(&p.merged),
                    // Grant rules never merge: every finding carries its message.
                    (None, Check::Grant(_)) => String::new(),
                };
                Finding {
                    rule: p.rule,
                    severity: p.rule.severity(),
                    action: self.rules.action(p.rule),
                    statement: p.statement,
                    sid,
                    principals: p.merged.principals,
                    actions: p.merged.actions.display_names(),
                    message,
                    span: p.span,
                    grant: None,
                }
            })
            .collect();
        Report {
            findings,
            notes: self.notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ActionMatch, expand};

    fn phrase(names: &[&str]) -> String {
        let actions = names
            .iter()
            .fold(ActionSet::EMPTY, |set, name| match expand(name) {
                ActionMatch::Key(s) => set.union(s),
                other => panic!("{name}: {other:?}"),
            });
        Merged {
            principals: Vec::new(),
            actions,
            subjects: Vec::new(),
        }
        .actions_phrase()
        .to_string()
    }

    #[test]
    fn actions_phrase_lists_few_and_counts_many() {
        assert_eq!(phrase(&["kms:*"]), "every key action (kms:*)");
        assert_eq!(
            phrase(&["kms:Encrypt", "kms:Decrypt"]),
            "kms:Decrypt, kms:Encrypt"
        );
        assert_eq!(
            phrase(&["kms:Decrypt", "kms:Encrypt", "kms:Sign", "kms:Verify"]),
            "kms:Decrypt, kms:Encrypt, kms:Sign, kms:Verify"
        );
        assert_eq!(
            phrase(&[
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:Sign",
                "kms:Verify",
                "kms:DescribeKey"
            ]),
            "5 key actions (kms:Decrypt, kms:DescribeKey, kms:Encrypt, …)"
        );
        assert_eq!(phrase(&[]), "");
    }
}
