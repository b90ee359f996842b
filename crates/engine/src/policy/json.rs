//! A strict JSON reader (RFC 8259) that keeps what a policy checker needs and serde's
//! `Value` drops: the byte span of every value, object members in order *with* duplicates
//! (reported, never silently collapsed), and strings borrowed from the text when they hold
//! no escapes.
//!
//! It accepts exactly what `serde_json` accepts (a property test pins that), nests at most
//! [`MAX_DEPTH`] levels, and never panics on any input.

use std::borrow::Cow;
use std::fmt;

/// How deep arrays and objects may nest; a key policy needs five levels.
pub const MAX_DEPTH: usize = 64;

/// A byte range of the policy text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A JSON value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// The value.
    pub value: Value<'a>,
    /// Where it stands in the text.
    pub span: Span,
}

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (validated against the JSON grammar).
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Node<'a>>),
    /// An object: members in text order, duplicates kept.
    Object(Vec<Member<'a>>),
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    /// The key, unescaped.
    pub key: Cow<'a, str>,
    /// Where the key stands.
    pub key_span: Span,
    /// The value.
    pub node: Node<'a>,
}

impl Value<'_> {
    /// The JSON type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// A parsed document: the root and every duplicated object member.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    /// The top-level value.
    pub root: Node<'a>,
    /// Members whose key already appeared earlier in the same object.
    pub duplicates: Vec<Duplicate>,
}

/// A member whose key repeats an earlier one in the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The repeated key.
    pub key: String,
    /// The span of the later occurrence's key.
    pub span: Span,
}

/// Why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at line {line}, column {column}: {reason}")]
pub struct JsonError {
    /// 1-based line of the offending byte.
    pub line: usize,
    /// 1-based column (in characters) of the offending byte.
    pub column: usize,
    /// What was expected or found.
    pub reason: &'static str,
}

/// Parses `text` as one JSON value (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Document<'_>, JsonError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        duplicates: Vec::new(),
    };
    let root = reader
        .skip_ws()
        .and_then(|()| reader.value(0))
        .and_then(|root| {
            reader.skip_ws()?;
            if reader.pos < reader.bytes.len() {
                return Err(reader.fail("trailing characters after the JSON value"));
            }
            Ok(root)
        })
        .map_err(|at| at.into_error(text))?;
    Ok(Document {
        root,
        duplicates: reader.duplicates,
    })
}

/// 1-based line and character column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How many leading bytes of `rest` a string holds as they are (no quote, escape or
/// control character).
fn plain_run(rest: &[u8]) -> usize {
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(rest.len())
}

struct Failure {
    offset: usize,
    reason: &'static str,
}

impl Failure {
    fn into_error(self, text: &str) -> JsonError {
        let (line, column) = line_column(text, self.offset);
        JsonError {
            line,
            column,
            reason: self.reason,
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.reason, self.offset)
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    duplicates: Vec<Duplicate>,
}

type Step<T> = Result<T, Failure>;

impl<'a> Reader<'a> {
    fn fail(&self, reason: &'static str) -> Failure {
        Failure {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn skip_ws(&mut self) -> Step<()> {
        self.pos += self
            .rest()
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .unwrap_or(self.rest().len());
        Ok(())
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Step<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Step<Node<'a>> {
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.fail("expected a value")),
            None => return Err(self.fail("unexpected end of input, expected a value")),
        };
        Ok(Node {
            value,
            span: Span {
                start,
                end: self.pos,
            },
        })
    }

    fn literal(&mut self, word: &'static str, value: Value<'a>) -> Step<Value<'a>> {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.fail("expected `true`, `false` or `null`"))
        }
    }

    fn nested(&self, depth: usize) -> Step<usize> {
        if depth + 1 > MAX_DEPTH {
            Err(self.fail("nested too deeply"))
        } else {
            Ok(depth + 1)
        }
    }

    fn array(&mut self, depth: usize) -> Step<Value<'a>> {
        let depth = self.nested(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws()?;
            items.push(self.value(depth)?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.fail("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Step<Value<'a>> {
        let depth = self.nested(depth)?;
        self.pos += 1;
        let mut members: Vec<Member<'a>> = Vec::new();
        self.skip_ws()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws()?;
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected a member name in double quotes"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = Span {
                start: key_start,
                end: self.pos,
            };
            if members.iter().any(|m| m.key == key) {
                self.duplicates.push(Duplicate {
                    key: key.clone().into_owned(),
                    span: key_span,
                });
            }
            self.skip_ws()?;
            self.expect(b':', "expected `:` after a member name")?;
            self.skip_ws()?;
            let node = self.value(depth)?;
            members.push(Member {
                key,
                key_span,
                node,
            });
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.fail("expected `,` or `}`")),
            }
        }
    }

    fn string(&mut self) -> Step<Cow<'a, str>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes, borrow the text.
        self.pos += plain_run(self.rest());
        loop {
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0x00..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(0x00..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => {
                    // Copy the run up to the next quote, backslash or control character.
                    let run_start = self.pos;
                    self.pos += plain_run(self.rest());
                    out.push_str(&self.text[run_start..self.pos]);
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Step<()> {
        let c = self
            .peek()
            .ok_or_else(|| self.fail("unterminated escape"))?;
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xDC00..0xE000).contains(&first) {
                    return Err(self.fail("lone trailing surrogate in a \\u escape"));
                }
                if (0xD800..0xDC00).contains(&first) {
                    if !self.rest().starts_with(b"\\u") {
                        return Err(self.fail("lone leading surrogate in a \\u escape"));
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.fail("invalid surrogate pair in a \\u escape"));
                    }
                    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    char::from_u32(code).ok_or_else(|| self.fail("invalid \\u escape"))?
                } else {
                    char::from_u32(first).ok_or_else(|| self.fail("invalid \\u escape"))?
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.fail("invalid escape"));
            }
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Step<u32> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.fail("expected four hex digits in a \\u escape"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    fn number(&mut self) -> Step<Value<'a>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(Value::Number(&self.text[start..self.pos]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Document<'_> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn spans_cover_each_value() {
        let text = r#" {"a": [1, "x"]} "#;
        let doc = ok(text);
        assert_eq!(
            &text[doc.root.span.start..doc.root.span.end],
            r#"{"a": [1, "x"]}"#
        );
        let Value::Object(members) = &doc.root.value else {
            panic!("object expected")
        };
        let span = members[0].node.span;
        assert_eq!(&text[span.start..span.end], r#"[1, "x"]"#);
    }

    #[test]
    fn duplicate_members_are_kept_and_reported() {
        let doc = ok(r#"{"Effect":"Deny","Effect":"Allow"}"#);
        assert_eq!(doc.duplicates.len(), 1);
        assert_eq!(doc.duplicates[0].key, "Effect");
        let Value::Object(members) = doc.root.value else {
            panic!("object expected")
        };
        assert_eq!(members.len(), 2);
    }

    #[test]
    fn escaped_keys_that_collide_are_duplicates() {
        let doc = ok(r#"{"Effect":1,"Eff\u0065ct":2}"#);
        assert_eq!(doc.duplicates.len(), 1);
    }

    #[test]
    fn strings_unescape_and_borrow_when_plain() {
        let doc = ok(r#"["plain", "a\"b\\c\u00e9\ud83d\ude00"]"#);
        let Value::Array(items) = doc.root.value else {
            panic!("array expected")
        };
        assert!(matches!(
            &items[0].value,
            Value::String(Cow::Borrowed("plain"))
        ));
        assert_eq!(
            items[1].value,
            Value::String(Cow::Owned("a\"b\\c\u{e9}\u{1F600}".into()))
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse("{\n  \"a\": 1,\n  }").unwrap_err();
        assert_eq!((err.line, err.column), (3, 3));
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 3, column 3: expected a member name in double quotes"
        );
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "tru",
            "\"\\x\"",
            "\"a\nb\"",
            "[1] 2",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "NaN",
            "{'a':1}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("é\nab", 4), (2, 2));
        assert_eq!(line_column("éa", 2), (1, 2));
    }
}
