//! The key-policy model: policy text in, a [`Policy`] out — every statement as written, plus
//! every problem for which KMS would reject the document.
//!
//! Parsing is lenient where that stays meaningful: a policy KMS would refuse (unknown
//! `Effect`, a statement without principals, duplicate members, too long, characters outside
//! U+0020–U+00FF) is still modelled so it can be evaluated, and each reason lands in
//! [`Policy::problems`]. Only text that is not a JSON object at all is an error.

pub mod json;
mod list;
mod write;

use crate::operator::Operator;
use std::borrow::Cow;

pub use json::{JsonError, Span};
use json::{Kind, Name, Reader, Scalar, Step};
pub use list::List;

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
    pub conditions: List<Condition<'a>>,
}

/// The principal element.
#[derive(Debug, Clone, PartialEq)]
pub struct Principals<'a> {
    /// Written as `NotPrincipal`.
    pub negated: bool,
    /// Written as the bare string `"*"`.
    pub star: bool,
    /// Typed entries (`{"AWS": [...], "Service": ...}`), in text order.
    pub entries: List<PrincipalEntry<'a>>,
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

    /// Every type under its member name, as the reader looks them up.
    const NAMES: [(&'static str, PrincipalType); 4] = [
        ("AWS", PrincipalType::Aws),
        ("Service", PrincipalType::Service),
        ("Federated", PrincipalType::Federated),
        ("CanonicalUser", PrincipalType::CanonicalUser),
    ];
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
    pub values: List<Cow<'a, str>>,
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
    pub values: List<Cow<'a, str>>,
}

impl<'a> Policy<'a> {
    /// Parses a key policy's text.
    pub fn parse(text: &'a str) -> Result<Policy<'a>, ParseError> {
        let mut builder = Builder {
            reader: Reader::new(text),
            problems: Vec::new(),
            // Room for most value lists (a long `Action` list is 15–30) without growing.
            values: Vec::with_capacity(32),
        };
        builder.check_text(text);
        let read = builder.reader.peek().and_then(|kind| match kind {
            Kind::Object => builder.policy().map(Ok),
            // Still read to the end: text that is not JSON is reported as such.
            other => builder.reader.skip().map(|_| Err(other)),
        });
        let Builder {
            reader, problems, ..
        } = builder;
        let (read, duplicates) = read
            .and_then(|read| reader.end().map(|duplicates| (read, duplicates)))
            .map_err(|at| at.into_error(text))?;
        let (mut policy, problems) = match read {
            Ok(policy) => (policy, problems),
            Err(kind) => return Err(ParseError::NotAnObject(kind.type_name())),
        };
        policy.problems = problems;
        for duplicate in duplicates {
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

/// The members of a policy document.
#[derive(Debug, Clone, Copy)]
enum Top {
    Version,
    Id,
    Statement,
}

impl Top {
    /// Each under its member name, as the reader looks them up.
    const NAMES: [(&'static str, Top); 3] = [
        ("Version", Top::Version),
        ("Id", Top::Id),
        ("Statement", Top::Statement),
    ];
}

/// The members of a statement; `negated` for the `Not…` form.
#[derive(Debug, Clone, Copy)]
enum Element {
    Sid,
    Effect,
    Principal { negated: bool },
    Action { negated: bool },
    Resource { negated: bool },
    Condition,
}

impl Element {
    /// Each under its member name, as the reader looks them up (the common ones first, in
    /// the order AWS writes them).
    const NAMES: [(&'static str, Element); 9] = [
        ("Sid", Element::Sid),
        ("Effect", Element::Effect),
        ("Principal", Element::Principal { negated: false }),
        ("Action", Element::Action { negated: false }),
        ("Resource", Element::Resource { negated: false }),
        ("Condition", Element::Condition),
        ("NotPrincipal", Element::Principal { negated: true }),
        ("NotAction", Element::Action { negated: true }),
        ("NotResource", Element::Resource { negated: true }),
    ];
}

/// Reads the policy text straight into the model, noting every problem KMS would reject.
struct Builder<'a> {
    reader: Reader<'a>,
    problems: Vec<Problem>,
    /// Where a list of values is gathered before it is moved into the model, so a list
    /// costs one allocation of its own size (none for one value), not a growing vector's
    /// several.
    values: Vec<Cow<'a, str>>,
}

impl<'a> Builder<'a> {
    fn problem(&mut self, statement: Option<usize>, span: Span, message: String) {
        self.problems.push(Problem {
            statement,
            span,
            message,
        });
    }

    /// The span from `start` to where the reader stands.
    fn since(&self, start: usize) -> Span {
        Span {
            start,
            end: self.reader.pos(),
        }
    }

    /// Reads the next value, whatever it is, and reports it with `message(kind)`.
    fn skip_as_problem(
        &mut self,
        at: Option<usize>,
        message: impl FnOnce(Kind) -> String,
    ) -> Step<()> {
        let start = self.reader.pos();
        let kind = self.reader.skip()?;
        let span = self.since(start);
        self.problem(at, span, message(kind));
        Ok(())
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
        // The JSON reader refuses raw control characters inside strings, and only
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

    fn policy(&mut self) -> Step<Policy<'a>> {
        let mut open = self.reader.open_object()?;
        let mut version = None;
        let mut id = None;
        let mut statements = Vec::new();
        let mut saw_statement = false;
        while let Some((name, key_span)) = self.reader.member_of(&mut open, &Top::NAMES)? {
            match name {
                Name::Known(Top::Version) => {
                    let (value, span) = self.string(None, "Version")?;
                    if let Some(v) = &value
                        && v != "2012-10-17"
                        && v != "2008-10-17"
                    {
                        self.problem(
                            None,
                            span,
                            format!("`Version` `{v}` is not `2012-10-17` or `2008-10-17`"),
                        );
                    }
                    version = value;
                }
                Name::Known(Top::Id) => id = self.string(None, "Id")?.0,
                Name::Known(Top::Statement) => {
                    saw_statement = true;
                    statements = self.statements()?;
                }
                Name::Other(other) => {
                    self.problem(
                        None,
                        key_span,
                        format!("unknown top-level member `{other}`"),
                    );
                    self.reader.skip()?;
                }
            }
        }
        if !saw_statement {
            let span = self.since(open.start);
            self.problem(None, span, "the policy has no `Statement`".to_owned());
        }
        Ok(Policy {
            version,
            id,
            statements,
            problems: Vec::new(),
        })
    }

    fn statements(&mut self) -> Step<Vec<Statement<'a>>> {
        let start = self.reader.pos();
        match self.reader.peek()? {
            Kind::Object => {
                let mut statements = vec![Statement::empty(0, Span::default())];
                if let Some(statement) = statements.last_mut() {
                    self.statement(statement)?;
                }
                Ok(statements)
            }
            Kind::Array => {
                let mut open = self.reader.open_array()?;
                // Sized once from the text left: statements as written take 200 bytes or
                // more (a compact minimal one is 66), so this rarely grows, where growing
                // from empty copied 45 KB on the way to a 32 KB policy's 132 statements.
                let mut statements = Vec::with_capacity(self.reader.remaining() / 200 + 1);
                while self.reader.item(&mut open)? {
                    let index = statements.len();
                    let item_start = self.reader.pos();
                    if self.reader.peek()? == Kind::Object {
                        // Read in its place: a statement is some 200 bytes, and building it
                        // aside, then returning and pushing it, cost a memcpy call per move.
                        statements.push(Statement::empty(index, Span::default()));
                        if let Some(statement) = statements.last_mut() {
                            self.statement(statement)?;
                        }
                        continue;
                    }
                    self.skip_as_problem(Some(index), |kind| {
                        format!("a statement must be an object, found {}", kind.type_name())
                    })?;
                    statements.push(Statement::empty(index, self.since(item_start)));
                }
                if statements.is_empty() {
                    let span = self.since(start);
                    self.problem(None, span, "`Statement` is empty".to_owned());
                }
                Ok(statements)
            }
            _ => {
                self.skip_as_problem(None, |kind| {
                    format!(
                        "`Statement` must be an object or a list of objects, found {}",
                        kind.type_name()
                    )
                })?;
                Ok(Vec::new())
            }
        }
    }

    /// Reads the statement object the reader stands at into `statement` (empty, its index
    /// set).
    fn statement(&mut self, statement: &mut Statement<'a>) -> Step<()> {
        let at = Some(statement.index);
        let mut open = self.reader.open_object()?;
        let mut effect_seen = false;
        while let Some((name, key_span)) = self.reader.member_of(&mut open, &Element::NAMES)? {
            match name {
                Name::Known(Element::Sid) => statement.sid = self.string(at, "Sid")?.0,
                Name::Known(Element::Effect) => {
                    effect_seen = true;
                    let (value, span) = self.string(at, "Effect")?;
                    statement.effect = match value.as_deref() {
                        Some("Allow") => Effect::Allow,
                        Some("Deny") => Effect::Deny,
                        Some(other) => {
                            self.problem(
                                at,
                                span,
                                format!("`Effect` must be `Allow` or `Deny`, found `{other}`"),
                            );
                            Effect::Invalid
                        }
                        None => Effect::Invalid,
                    };
                }
                Name::Known(Element::Principal { negated }) => {
                    self.once(at, key_span, statement.principal.is_some(), "Principal");
                    statement.principal = Some(self.principals(at, negated)?);
                }
                Name::Known(Element::Action { negated }) => {
                    self.once(at, key_span, statement.action.is_some(), "Action");
                    let what = if negated { "NotAction" } else { "Action" };
                    statement.action = Some(self.names(at, negated, what)?);
                }
                Name::Known(Element::Resource { negated }) => {
                    self.once(at, key_span, statement.resource.is_some(), "Resource");
                    let what = if negated { "NotResource" } else { "Resource" };
                    statement.resource = Some(self.names(at, negated, what)?);
                }
                Name::Known(Element::Condition) => {
                    self.conditions(at, &mut statement.conditions)?;
                }
                Name::Other(other) => {
                    self.problem(at, key_span, format!("unknown statement member `{other}`"));
                    self.reader.skip()?;
                }
            }
        }
        statement.span = self.since(open.start);
        if !effect_seen {
            self.problem(
                at,
                statement.span,
                "the statement has no `Effect`".to_owned(),
            );
        }
        if statement.principal.is_none() {
            self.problem(
                at,
                statement.span,
                "the statement has no `Principal` or `NotPrincipal`; KMS requires one".to_owned(),
            );
        }
        Ok(())
    }

    /// Reports an element `given` already (`Principal` and `NotPrincipal`, say); the later
    /// one is kept, as a duplicate member would be read. (It takes no value: a value passed
    /// through it was copied with a load that stalled on the stores just made.)
    fn once(&mut self, at: Option<usize>, span: Span, given: bool, element: &str) {
        if given {
            self.problem(
                at,
                span,
                format!("`{element}` is given more than once (with and without `Not`)"),
            );
        }
    }

    /// The next value as a string (`None`, reported, when it is not one), with its span.
    // Inlined: its result, returned through memory, was loaded whole right after being
    // stored in pieces (a store-forwarding stall on every `Sid` and `Effect`).
    #[inline(always)]
    fn string(&mut self, at: Option<usize>, what: &str) -> Step<(Option<Cow<'a, str>>, Span)> {
        let start = self.reader.pos();
        if self.reader.peek()? == Kind::String {
            let s = self.reader.peeked_string()?;
            return Ok((Some(s), self.since(start)));
        }
        self.skip_as_problem(at, |kind| {
            format!("`{what}` must be a string, found {}", kind.type_name())
        })?;
        Ok((None, self.since(start)))
    }

    /// A string or a list of strings; numbers and booleans are taken in their JSON
    /// spelling (IAM does the same), anything else is a problem and skipped.
    // Inlined, with `with_values`: its list, returned through memory, was loaded whole
    // right after being stored in pieces (a store-forwarding stall on every `Action` and
    // `Resource`, seen with `perf annotate`).
    #[inline(always)]
    fn string_list(&mut self, at: Option<usize>, what: &str) -> Step<List<Cow<'a, str>>> {
        self.with_values(at, what, |values| values.drain(..).collect())
    }

    /// Gathers the next value's strings in the shared buffer and hands it to `take`, which
    /// moves them out (into one allocation of their number, or a [`List`] of one).
    #[inline(always)]
    fn with_values<T>(
        &mut self,
        at: Option<usize>,
        what: &str,
        take: impl FnOnce(&mut Vec<Cow<'a, str>>) -> T,
    ) -> Step<T> {
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        self.gather(at, what, &mut values)?;
        let taken = take(&mut values);
        self.values = values;
        Ok(taken)
    }

    /// Appends the next value's strings (see [`Builder::string_list`]) to `out`.
    fn gather(&mut self, at: Option<usize>, what: &str, out: &mut Vec<Cow<'a, str>>) -> Step<()> {
        if self.reader.peek()? == Kind::Array {
            let mut open = self.reader.open_array()?;
            while self.reader.item(&mut open)? {
                self.scalar(at, what, out)?;
            }
        } else {
            self.scalar(at, what, out)?;
        }
        Ok(())
    }

    // Inlined into `gather`'s two calls: a call per value of every list was a tenth of
    // reading the value.
    #[inline(always)]
    fn scalar(&mut self, at: Option<usize>, what: &str, out: &mut Vec<Cow<'a, str>>) -> Step<()> {
        let kind = self.reader.peek()?;
        if kind == Kind::String {
            out.push(self.reader.peeked_string()?);
            return Ok(());
        }
        if matches!(kind, Kind::Number | Kind::Bool) {
            match self.reader.scalar()? {
                Scalar::String(s) => out.push(s),
                Scalar::Number(n) => out.push(Cow::Borrowed(n)),
                Scalar::Bool(b) => out.push(Cow::Borrowed(if b { "true" } else { "false" })),
                Scalar::Null => {}
            }
            return Ok(());
        }
        self.skip_as_problem(at, |kind| {
            format!(
                "`{what}` values must be strings or lists of strings, found {}",
                kind.type_name()
            )
        })
    }

    fn names(&mut self, at: Option<usize>, negated: bool, what: &str) -> Step<Names<'a>> {
        Ok(Names {
            negated,
            values: self.string_list(at, what)?,
        })
    }

    fn principals(&mut self, at: Option<usize>, negated: bool) -> Step<Principals<'a>> {
        let what = if negated { "NotPrincipal" } else { "Principal" };
        let mut principals = Principals {
            negated,
            star: false,
            entries: List::new(),
        };
        let start = self.reader.pos();
        match self.reader.peek()? {
            Kind::Object => {
                let mut open = self.reader.open_object()?;
                let mut members = 0;
                while let Some((name, key_span)) =
                    self.reader.member_of(&mut open, &PrincipalType::NAMES)?
                {
                    members += 1;
                    let kind = match name {
                        Name::Known(kind) => kind,
                        Name::Other(key) => {
                            self.problem(
                                at,
                                key_span,
                                format!(
                                    "unknown principal type `{key}` (expected `AWS`, `Service`, `Federated` or `CanonicalUser`)"
                                ),
                            );
                            self.reader.skip()?;
                            continue;
                        }
                    };
                    let entries = &mut principals.entries;
                    self.with_values(at, what, |values| {
                        entries
                            .extend(values.drain(..).map(|value| PrincipalEntry { kind, value }));
                    })?;
                }
                if members == 0 {
                    let span = self.since(open.start);
                    self.problem(at, span, format!("`{what}` is empty"));
                }
            }
            Kind::String => {
                let value = self.reader.peeked_string()?;
                if value == "*" {
                    principals.star = true;
                } else {
                    let span = self.since(start);
                    self.problem(
                        at,
                        span,
                        format!(
                            "`{what}` must be `\"*\"` or an object, found the string `{value}`"
                        ),
                    );
                }
            }
            _ => self.skip_as_problem(at, |kind| {
                format!(
                    "`{what}` must be `\"*\"` or an object, found {}",
                    kind.type_name()
                )
            })?,
        }
        Ok(principals)
    }

    fn conditions(&mut self, at: Option<usize>, out: &mut List<Condition<'a>>) -> Step<()> {
        if self.reader.peek()? != Kind::Object {
            return self.skip_as_problem(at, |kind| {
                format!("`Condition` must be an object, found {}", kind.type_name())
            });
        }
        let mut operators = self.reader.open_object()?;
        while let Some((operator, operator_span)) = self.reader.member(&mut operators)? {
            let op = Operator::parse(&operator);
            if op.is_none() {
                self.problem(
                    at,
                    operator_span,
                    format!("unknown condition operator `{operator}`"),
                );
            }
            if self.reader.peek()? != Kind::Object {
                self.skip_as_problem(at, |kind| {
                    format!(
                        "condition operator `{operator}` must map to an object of keys, found {}",
                        kind.type_name()
                    )
                })?;
                continue;
            }
            let mut keys = self.reader.open_object()?;
            while let Some((key, _)) = self.reader.member(&mut keys)? {
                let values = self.string_list(at, "Condition")?;
                out.push(Condition {
                    operator: operator.clone(),
                    op,
                    key,
                    values,
                });
            }
        }
        Ok(())
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
            conditions: List::new(),
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
    fn duplicates_are_found_at_every_level_known_names_or_not() {
        let duplicated = |text: &str| -> Vec<String> {
            parse(text)
                .problems
                .iter()
                .filter_map(|p| p.message.strip_prefix("duplicate member `"))
                .filter_map(|m| m.split_once('`').map(|(key, _)| key.to_owned()))
                .collect()
        };
        let statement = r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#;
        // The document's members, a statement's, a principal object's, operators and keys.
        assert_eq!(
            duplicated(&format!(
                r#"{{"Version":"2012-10-17","Statement":{{{statement}}},"Version":"2012-10-17"}}"#
            )),
            ["Version"]
        );
        assert_eq!(
            duplicated(&format!(
                r#"{{"Statement":{{"Sid":"a",{statement},"Sid":"b"}}}}"#
            )),
            ["Sid"]
        );
        assert_eq!(
            duplicated(
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"1","Service":"s","AWS":"2"},"Action":"kms:*","Resource":"*"}}"#
            ),
            ["AWS"]
        );
        assert_eq!(
            duplicated(&format!(
                r#"{{"Statement":{{{statement},"Condition":{{"Bool":{{"aws:SecureTransport":"true","aws:SecureTransport":"false"}},"Bool":{{}}}}}}}}"#
            )),
            ["aws:SecureTransport", "Bool"]
        );
        // Unknown names repeat too; a name escaped to a known one is that name.
        assert_eq!(
            duplicated(&format!(
                r#"{{"Statement":{{"Foo":1,{statement},"Foo":2}}}}"#
            )),
            ["Foo"]
        );
        assert_eq!(
            duplicated(&format!(
                r#"{{"Statement":{{{statement},"Effect":"Deny"}}}}"#
            )),
            ["Effect"]
        );
        // The same name in sibling objects, or with and without `Not`, is no duplicate.
        assert!(
            duplicated(&format!(
                r#"{{"Statement":[{{{statement}}},{{{statement}}}]}}"#
            ))
            .is_empty()
        );
        assert!(
            duplicated(&format!(
                r#"{{"Statement":{{{statement},"NotAction":"kms:Decrypt"}}}}"#
            ))
            .is_empty()
        );
    }

    #[test]
    fn an_element_with_and_without_not_is_a_problem_and_the_later_is_kept() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"111122223333"},"NotAction":"kms:Decrypt","Action":"kms:Encrypt","Resource":"*"}}"#,
        );
        assert_eq!(
            messages(&p),
            [
                "`Principal` is given more than once (with and without `Not`)",
                "`Action` is given more than once (with and without `Not`)",
            ]
        );
        let s = &p.statements[0];
        assert!(s.principal.as_ref().is_some_and(|p| p.negated && !p.star));
        assert!(
            s.action
                .as_ref()
                .is_some_and(|a| !a.negated && a.values == ["kms:Encrypt"])
        );
        // Each alone is no problem.
        let once = parse(
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"NotAction":"kms:Decrypt","NotResource":"x"}}"#,
        );
        assert!(once.problems.is_empty(), "{:?}", once.problems);
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
