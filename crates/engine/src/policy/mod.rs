//! The key-policy model: policy text in, a [`Policy`] out — every statement as written, plus
//! every problem for which KMS would reject the document.
//!
//! Parsing is lenient where that stays meaningful: a policy KMS would refuse (unknown
//! `Effect`, a statement without principals, duplicate members, too long, characters outside
//! U+0020–U+00FF) is still modelled so it can be evaluated, and each reason lands in
//! [`Policy::problems`]. Only text that is not a JSON object at all is an error.

pub mod json;
mod write;

use crate::operator::Operator;
use std::borrow::Cow;

pub use json::{JsonError, Span};
use json::{Member, Node, Value};

/// The most characters KMS accepts in a key policy.
pub const MAX_POLICY_CHARS: usize = 32_768;

/// Why a text could not be modelled as a policy at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The text is JSON but not an object.
    #[error("a key policy must be a JSON object, found {0}")]
    NotAnObject(&'static str),
}

/// A parsed key policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy<'a> {
    /// `Version`, as written.
    pub version: Option<Cow<'a, str>>,
    /// `Id`, as written.
    pub id: Option<Cow<'a, str>>,
    /// The statements, in order.
    pub statements: Vec<Statement<'a>>,
    /// What KMS would reject in this document (in text order).
    pub problems: Vec<Problem>,
}

/// One reason KMS would reject the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The statement it concerns, if any.
    pub statement: Option<usize>,
    /// Where it is in the text.
    pub span: Span,
    /// One line, lowercase.
    pub message: String,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Removes, and always wins.
    Deny,
    /// Missing or not one of the two (reported as a problem; grants nothing).
    Invalid,
}

/// One statement as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement<'a> {
    /// Position in the `Statement` list, from 0.
    pub index: usize,
    /// Where the statement stands in the text (default for a built policy).
    pub span: Span,
    /// `Sid`.
    pub sid: Option<Cow<'a, str>>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`.
    pub principal: Option<Principals<'a>>,
    /// `Action` or `NotAction`.
    pub action: Option<Names<'a>>,
    /// `Resource` or `NotResource`.
    pub resource: Option<Names<'a>>,
    /// `Condition`, flattened to one entry per operator and key, in text order.
    pub conditions: Vec<Condition<'a>>,
}

/// The principal element.
#[derive(Debug, Clone, PartialEq)]
pub struct Principals<'a> {
    /// Written as `NotPrincipal`.
    pub negated: bool,
    /// Written as the bare string `"*"`.
    pub star: bool,
    /// Typed entries (`{"AWS": [...], "Service": ...}`), in text order.
    pub entries: Vec<PrincipalEntry<'a>>,
}

/// The type of a principal entry: the member name it stands under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalType {
    /// `AWS`: accounts, IAM users and roles, `*`.
    Aws,
    /// `Service`: AWS service principals.
    Service,
    /// `Federated`: identity providers.
    Federated,
    /// `CanonicalUser`: S3 canonical ids.
    CanonicalUser,
}

impl PrincipalType {
    /// The member name as IAM spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }

    fn parse(name: &str) -> Option<PrincipalType> {
        [
            PrincipalType::Aws,
            PrincipalType::Service,
            PrincipalType::Federated,
            PrincipalType::CanonicalUser,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// One principal value with its type.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalEntry<'a> {
    /// Its type.
    pub kind: PrincipalType,
    /// The value as written (an account id, an ARN, a service name, `*`).
    pub value: Cow<'a, str>,
}

/// An `Action`/`NotAction` or `Resource`/`NotResource` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Names<'a> {
    /// Written as the `Not…` form.
    pub negated: bool,
    /// The values, in order.
    pub values: Vec<Cow<'a, str>>,
}

/// One condition: an operator applied to one key with its values (ORed).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition<'a> {
    /// The operator as written (`StringEquals`, `ForAnyValue:StringLike`, …).
    pub operator: Cow<'a, str>,
    /// The operator parsed once, when the policy is read; `None` when IAM does not know it
    /// (also a [`Problem`]).
    pub op: Option<Operator>,
    /// The condition key as written.
    pub key: Cow<'a, str>,
    /// The values; numbers and booleans in their JSON spelling.
    pub values: Vec<Cow<'a, str>>,
}

impl<'a> Policy<'a> {
    /// Parses a key policy's text.
    pub fn parse(text: &'a str) -> Result<Policy<'a>, ParseError> {
        let document = json::parse(text)?;
        let Value::Object(members) = document.root.value else {
            return Err(ParseError::NotAnObject(document.root.value.type_name()));
        };
        let mut builder = Builder::default();
        builder.check_text(text);
        let mut policy = builder.policy(members, document.root.span);
        for duplicate in &document.duplicates {
            let statement = policy
                .statements
                .iter()
                .find(|s| s.span.start <= duplicate.span.start && duplicate.span.end <= s.span.end)
                .map(|s| s.index);
            policy.problems.push(Problem {
                statement,
                span: duplicate.span,
                message: format!(
                    "duplicate member `{}`: JSON readers disagree on which one counts",
                    duplicate.key
                ),
            });
        }
        policy.problems.sort_by_key(|p| p.span.start);
        Ok(policy)
    }

    /// Serializes the policy as pretty-printed JSON in AWS's member order. Parsing the result
    /// gives back an equal model (spans aside).
    pub fn to_json(&self) -> String {
        write::policy(self)
    }
}

/// Whether KMS accepts this character in a key policy.
pub fn is_allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
}

#[derive(Default)]
struct Builder {
    problems: Vec<Problem>,
}

impl Builder {
    fn problem(&mut self, statement: Option<usize>, span: Span, message: String) {
        self.problems.push(Problem {
            statement,
            span,
            message,
        });
    }

    fn check_text(&mut self, text: &str) {
        if text.len() > MAX_POLICY_CHARS {
            let chars = text.chars().count();
            if chars > MAX_POLICY_CHARS {
                self.problem(
                    None,
                    Span::default(),
                    format!(
                        "the policy is {chars} characters long; KMS accepts at most {MAX_POLICY_CHARS}"
                    ),
                );
            }
        }
        // The JSON reader already refused raw control characters inside strings, and only
        // whitespace may stand outside them: what is left to find is a character past
        // U+00FF, and an ASCII text (the common case, checked word by word) has none.
        let first_bad = if text.is_ascii() {
            None
        } else {
            text.char_indices().find(|&(_, c)| !is_allowed_char(c))
        };
        if let Some((offset, c)) = first_bad {
            self.problem(
                None,
                Span {
                    start: offset,
                    end: offset + c.len_utf8(),
                },
                format!(
                    "character U+{:04X} is not allowed in a key policy (only tab, line feed, carriage return and U+0020–U+00FF)",
                    c as u32
                ),
            );
        }
    }

    fn policy<'a>(mut self, members: Vec<Member<'a>>, span: Span) -> Policy<'a> {
        let mut version = None;
        let mut id = None;
        let mut statements = Vec::new();
        let mut saw_statement = false;
        for member in members {
            match member.key.as_ref() {
                "Version" => {
                    version = self.string(None, &member.node, "Version");
                    if let Some(v) = &version
                        && v != "2012-10-17"
                        && v != "2008-10-17"
                    {
                        self.problem(
                            None,
                            member.node.span,
                            format!("`Version` `{v}` is not `2012-10-17` or `2008-10-17`"),
                        );
                    }
                }
                "Id" => id = self.string(None, &member.node, "Id"),
                "Statement" => {
                    saw_statement = true;
                    statements = self.statements(member.node);
                }
                other => self.problem(
                    None,
                    member.key_span,
                    format!("unknown top-level member `{other}`"),
                ),
            }
        }
        if !saw_statement {
            self.problem(None, span, "the policy has no `Statement`".to_owned());
        }
        self.problems.sort_by_key(|p| p.span.start);
        Policy {
            version,
            id,
            statements,
            problems: self.problems,
        }
    }

    fn statements<'a>(&mut self, node: Node<'a>) -> Vec<Statement<'a>> {
        match node.value {
            Value::Object(members) => vec![self.statement(0, members, node.span)],
            Value::Array(items) => {
                if items.is_empty() {
                    self.problem(None, node.span, "`Statement` is empty".to_owned());
                }
                let mut statements = Vec::with_capacity(items.len());
                for item in items {
                    let index = statements.len();
                    match item.value {
                        Value::Object(members) => {
                            statements.push(self.statement(index, members, item.span));
                        }
                        other => {
                            self.problem(
                                Some(index),
                                item.span,
                                format!(
                                    "a statement must be an object, found {}",
                                    other.type_name()
                                ),
                            );
                            statements.push(Statement::empty(index, item.span));
                        }
                    }
                }
                statements
            }
            other => {
                self.problem(
                    None,
                    node.span,
                    format!(
                        "`Statement` must be an object or a list of objects, found {}",
                        other.type_name()
                    ),
                );
                Vec::new()
            }
        }
    }

    fn statement<'a>(
        &mut self,
        index: usize,
        members: Vec<Member<'a>>,
        span: Span,
    ) -> Statement<'a> {
        let at = Some(index);
        let mut statement = Statement::empty(index, span);
        let mut effect_seen = false;
        for member in members {
            let key = member.key.as_ref();
            match key {
                "Sid" => statement.sid = self.string(at, &member.node, "Sid"),
                "Effect" => {
                    effect_seen = true;
                    statement.effect = match self.string(at, &member.node, "Effect").as_deref() {
                        Some("Allow") => Effect::Allow,
                        Some("Deny") => Effect::Deny,
                        Some(other) => {
                            self.problem(
                                at,
                                member.node.span,
                                format!("`Effect` must be `Allow` or `Deny`, found `{other}`"),
                            );
                            Effect::Invalid
                        }
                        None => Effect::Invalid,
                    };
                }
                "Principal" | "NotPrincipal" => {
                    let principals = self.principals(at, key == "NotPrincipal", member.node);
                    self.set_once(
                        at,
                        member.key_span,
                        &mut statement.principal,
                        principals,
                        "Principal",
                    );
                }
                "Action" | "NotAction" => {
                    let names = self.names(at, key == "NotAction", member.node, key);
                    self.set_once(at, member.key_span, &mut statement.action, names, "Action");
                }
                "Resource" | "NotResource" => {
                    let names = self.names(at, key == "NotResource", member.node, key);
                    self.set_once(
                        at,
                        member.key_span,
                        &mut statement.resource,
                        names,
                        "Resource",
                    );
                }
                "Condition" => self.conditions(at, member.node, &mut statement.conditions),
                other => self.problem(
                    at,
                    member.key_span,
                    format!("unknown statement member `{other}`"),
                ),
            }
        }
        if !effect_seen {
            self.problem(at, span, "the statement has no `Effect`".to_owned());
        }
        if statement.principal.is_none() {
            self.problem(
                at,
                span,
                "the statement has no `Principal` or `NotPrincipal`; KMS requires one".to_owned(),
            );
        }
        statement
    }

    /// Keeps the later of `Principal`/`NotPrincipal` pairs (as a duplicate member would be
    /// read) and reports that both forms were given.
    fn set_once<T>(
        &mut self,
        at: Option<usize>,
        span: Span,
        slot: &mut Option<T>,
        value: T,
        element: &str,
    ) {
        if slot.is_some() {
            self.problem(
                at,
                span,
                format!("`{element}` is given more than once (with and without `Not`)"),
            );
        }
        *slot = Some(value);
    }

    fn string<'a>(
        &mut self,
        at: Option<usize>,
        node: &Node<'a>,
        what: &str,
    ) -> Option<Cow<'a, str>> {
        match &node.value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.problem(
                    at,
                    node.span,
                    format!("`{what}` must be a string, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// A string or a list of strings; numbers and booleans are taken in their JSON
    /// spelling (IAM does the same), anything else is a problem and skipped.
    fn string_list<'a>(
        &mut self,
        at: Option<usize>,
        node: Node<'a>,
        what: &str,
    ) -> Vec<Cow<'a, str>> {
        let mut out = Vec::new();
        match node.value {
            Value::Array(items) => {
                out.reserve(items.len());
                for item in items {
                    self.scalar(at, item, what, &mut out);
                }
            }
            _ => self.scalar(at, node, what, &mut out),
        }
        out
    }

    fn scalar<'a>(
        &mut self,
        at: Option<usize>,
        node: Node<'a>,
        what: &str,
        out: &mut Vec<Cow<'a, str>>,
    ) {
        match node.value {
            Value::String(s) => out.push(s),
            Value::Number(n) => out.push(Cow::Borrowed(n)),
            Value::Bool(b) => out.push(Cow::Borrowed(if b { "true" } else { "false" })),
            other => self.problem(
                at,
                node.span,
                format!(
                    "`{what}` values must be strings or lists of strings, found {}",
                    other.type_name()
                ),
            ),
        }
    }

    fn names<'a>(
        &mut self,
        at: Option<usize>,
        negated: bool,
        node: Node<'a>,
        what: &str,
    ) -> Names<'a> {
        Names {
            negated,
            values: self.string_list(at, node, what),
        }
    }

    fn principals<'a>(
        &mut self,
        at: Option<usize>,
        negated: bool,
        node: Node<'a>,
    ) -> Principals<'a> {
        let what = if negated { "NotPrincipal" } else { "Principal" };
        let mut principals = Principals {
            negated,
            star: false,
            entries: Vec::new(),
        };
        match node.value {
            Value::String(s) if s == "*" => principals.star = true,
            Value::Object(members) => {
                if members.is_empty() {
                    self.problem(at, node.span, format!("`{what}` is empty"));
                }
                for member in members {
                    let Some(kind) = PrincipalType::parse(&member.key) else {
                        self.problem(
                            at,
                            member.key_span,
                            format!(
                                "unknown principal type `{}` (expected `AWS`, `Service`, `Federated` or `CanonicalUser`)",
                                member.key
                            ),
                        );
                        continue;
                    };
                    for value in self.string_list(at, member.node, what) {
                        principals.entries.push(PrincipalEntry { kind, value });
                    }
                }
            }
            other => self.problem(
                at,
                node.span,
                format!(
                    "`{what}` must be `\"*\"` or an object, found {}",
                    describe(&other)
                ),
            ),
        }
        principals
    }

    fn conditions<'a>(&mut self, at: Option<usize>, node: Node<'a>, out: &mut Vec<Condition<'a>>) {
        let Value::Object(operators) = node.value else {
            self.problem(
                at,
                node.span,
                format!(
                    "`Condition` must be an object, found {}",
                    node.value.type_name()
                ),
            );
            return;
        };
        for operator in operators {
            let op = Operator::parse(&operator.key);
            if op.is_none() {
                self.problem(
                    at,
                    operator.key_span,
                    format!("unknown condition operator `{}`", operator.key),
                );
            }
            let Value::Object(keys) = operator.node.value else {
                self.problem(
                    at,
                    operator.node.span,
                    format!(
                        "condition operator `{}` must map to an object of keys, found {}",
                        operator.key,
                        operator.node.value.type_name()
                    ),
                );
                continue;
            };
            for key in keys {
                let values = self.string_list(at, key.node, "Condition");
                out.push(Condition {
                    operator: operator.key.clone(),
                    op,
                    key: key.key,
                    values,
                });
            }
        }
    }
}

fn describe(value: &Value<'_>) -> String {
    match value {
        Value::String(s) => format!("the string `{s}`"),
        other => other.type_name().to_owned(),
    }
}

impl Statement<'_> {
    fn empty(index: usize, span: Span) -> Self {
        Statement {
            index,
            span,
            sid: None,
            effect: Effect::Invalid,
            principal: None,
            action: None,
            resource: None,
            conditions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Policy<'_> {
        Policy::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn messages(policy: &Policy<'_>) -> Vec<String> {
        policy.problems.iter().map(|p| p.message.clone()).collect()
    }

    #[test]
    fn statement_may_be_an_object_or_a_list() {
        let one = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        );
        assert_eq!(one.statements.len(), 1);
        let two = parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":["kms:Decrypt"],"Resource":["*"]}]}"#,
        );
        assert_eq!(two.statements.len(), 2);
        assert_eq!(two.statements[1].effect, Effect::Deny);
        assert!(two.problems.is_empty(), "{:?}", two.problems);
    }

    #[test]
    fn principals_keep_type_and_order() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com","AWS":["111122223333","arn:aws:iam::444455556666:root"]},"Action":"kms:*","Resource":"*"}}"#,
        );
        let principal = p.statements[0].principal.as_ref().expect("principal");
        let got: Vec<_> = principal
            .entries
            .iter()
            .map(|e| (e.kind, e.value.as_ref()))
            .collect();
        assert_eq!(
            got,
            [
                (PrincipalType::Service, "logs.amazonaws.com"),
                (PrincipalType::Aws, "111122223333"),
                (PrincipalType::Aws, "arn:aws:iam::444455556666:root"),
            ]
        );
    }

    #[test]
    fn kms_rejections_are_problems_not_errors() {
        let p = parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Action":"kms:*","Resource":"*"}]}"#,
        );
        let m = messages(&p);
        assert!(
            m.iter()
                .any(|m| m.contains("`Effect` must be `Allow` or `Deny`")),
            "{m:?}"
        );
        assert!(m.iter().any(|m| m.contains("no `Principal`")), "{m:?}");
        assert_eq!(p.statements[0].effect, Effect::Invalid);
    }

    #[test]
    fn duplicate_members_are_problems() {
        let p = parse(
            r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        );
        assert!(messages(&p)[0].starts_with("duplicate member `Effect`"));
        // The later member is the one modelled, as most JSON readers would.
        assert_eq!(p.statements[0].effect, Effect::Allow);
    }

    #[test]
    fn conditions_flatten_and_stringify_scalars() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true},"StringEquals":{"kms:CallerAccount":[111122223333,"444455556666"]}}}}"#,
        );
        let c = &p.statements[0].conditions;
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].values, ["true"]);
        assert_eq!(c[1].key, "kms:CallerAccount");
        assert_eq!(c[1].values, ["111122223333", "444455556666"]);
    }

    #[test]
    fn text_limits_are_enforced() {
        let bad_char = parse("{\"Statement\":[],\"Id\":\"\u{2603}\"}");
        assert!(messages(&bad_char).iter().any(|m| m.contains("U+2603")));
        let latin1 = parse("{\"Statement\":[],\"Id\":\"caf\u{e9}\"}");
        assert!(!messages(&latin1).iter().any(|m| m.contains("character")));
        let long = format!(
            "{{\"Statement\":[],\"Id\":\"{}\"}}",
            "a".repeat(MAX_POLICY_CHARS)
        );
        assert!(
            messages(&parse(&long))
                .iter()
                .any(|m| m.contains("at most 32768"))
        );
    }

    #[test]
    fn non_objects_are_errors() {
        assert_eq!(
            Policy::parse("[]").unwrap_err().to_string(),
            "a key policy must be a JSON object, found an array"
        );
        assert!(matches!(
            Policy::parse("{").unwrap_err(),
            ParseError::Json(_)
        ));
    }

    #[test]
    fn serialization_round_trips() {
        let text = r#"{"Version":"2012-10-17","Id":"k","Statement":[{"Sid":"a\"b","Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"NotAction":"kms:Decrypt","NotResource":["x","y"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}},{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
        let p = parse(text);
        let again_text = p.to_json();
        let mut again = parse(&again_text);
        for (a, b) in again.statements.iter_mut().zip(&p.statements) {
            a.span = b.span;
        }
        assert_eq!(again, p);
    }
}
