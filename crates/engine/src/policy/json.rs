//! A strict JSON reader (RFC 8259) that keeps what a policy checker needs and serde's
//! `Value` drops: the byte span of every value, object members in order *with* duplicates
//! (reported, never silently collapsed), and strings borrowed from the text when they hold
//! no escapes.
//!
//! It is a pull reader: the policy builder asks for the next member, item or value and reads
//! it straight into the policy model, so no tree of the document is built and thrown away.
//! It accepts exactly what `serde_json` accepts (a property test pins that through
//! [`validate`]), nests at most [`MAX_DEPTH`] levels, and never panics on any input.

use crate::words::{HIGHS, ONES, word};
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

/// The JSON type of a value, known from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Kind {
    /// The JSON type's name, for messages.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// A value that is not an array or object, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (validated against the JSON grammar).
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
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

/// Checks that `text` is one JSON value (surrounding whitespace allowed).
pub fn validate(text: &str) -> Result<(), JsonError> {
    let mut reader = Reader::new(text);
    reader
        .skip()
        .and_then(|_| reader.end())
        .map(drop)
        .map_err(|at| at.into_error(text))
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

/// The high bit of every byte of `word` below `limit` (≤ 0x80). Exact for the lowest such
/// byte; a byte above it may be flagged too (a borrow), which no caller looks at.
fn bytes_below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGHS
}

/// How many leading bytes of `rest` a string holds as they are (no quote, escape or
/// control character): eight bytes a step, then one at a time.
fn plain_run(rest: &[u8]) -> usize {
    let mut done = 0;
    for chunk in rest.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(bytes);
        // A control character and a quote in one test: flipping bit 1 keeps bytes below 0x20
        // below it and makes `"` (0x22) the one byte that becomes 0x20.
        let stops = bytes_below(word ^ (ONES * 0x02), 0x21)
            | bytes_below(word ^ (ONES * u64::from(b'\\')), 1);
        if stops != 0 {
            return done + (stops.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    let tail = rest.get(done..).unwrap_or_default();
    done + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

/// How many leading bytes of `rest` are whitespace: runs of spaces (indentation) eight
/// bytes a step, the rest one at a time.
fn whitespace_run(rest: &[u8]) -> usize {
    let mut i = 0;
    loop {
        // The spaces the next eight bytes start with (none when fewer than eight are left:
        // a zero word has no space).
        let others = word(rest, i) ^ (ONES * u64::from(b' '));
        i += (others.trailing_zeros() / 8) as usize;
        match rest.get(i) {
            Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
            _ => return i,
        }
    }
}

/// Where and why reading stopped: made a [`JsonError`] (line and column) only when it is
/// reported.
pub struct Failure {
    offset: usize,
    reason: &'static str,
}

impl Failure {
    /// The error, with its line and column in `text`.
    pub fn into_error(self, text: &str) -> JsonError {
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

/// Reads one JSON value from a text, a piece at a time.
pub struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// The member names of every object being read, innermost last: duplicates are found
    /// among the innermost object's.
    keys: Vec<Cow<'a, str>>,
    duplicates: Vec<Duplicate>,
}

/// An object or array being read (from [`Reader::open_object`] or [`Reader::open_array`]).
#[derive(Debug)]
pub struct Open {
    /// Where its `{` or `[` stands.
    pub start: usize,
    keys_from: usize,
    first: bool,
    /// The names read by [`Reader::member_of`], one bit each (by their place in its list).
    seen: u64,
}

/// A member name as [`Reader::member_of`] read it: what the list of names it was given
/// pairs it with, or another name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name<'a, T> {
    /// A name of the list: what it stands for.
    Known(T),
    /// A name not in the list, unescaped.
    Other(Cow<'a, str>),
}

/// A reading step: its result, or where and why the text is not JSON.
pub type Step<T> = Result<T, Failure>;

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").field("pos", &self.pos).finish()
    }
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            // Room for the names of the objects a policy nests (a statement has ≤ 8).
            keys: Vec::with_capacity(16),
            duplicates: Vec::new(),
        }
    }

    /// The byte offset reached: after [`Reader::peek`], where the next value starts.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Skips whitespace and tells the kind of the next value, without reading it.
    #[inline]
    pub fn peek(&mut self) -> Step<Kind> {
        self.skip_ws();
        match self.peek_byte() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(_) => Err(self.fail("expected a value")),
            None => Err(self.fail("unexpected end of input, expected a value")),
        }
    }

    /// Reads the next value, which must not be an array or object.
    #[inline]
    pub fn scalar(&mut self) -> Step<Scalar<'a>> {
        match self.peek()? {
            Kind::String => self.string().map(Scalar::String),
            Kind::Number => self.number().map(Scalar::Number),
            Kind::Bool if self.rest().starts_with(b"true") => {
                self.pos += 4;
                Ok(Scalar::Bool(true))
            }
            Kind::Bool if self.rest().starts_with(b"false") => {
                self.pos += 5;
                Ok(Scalar::Bool(false))
            }
            Kind::Null if self.rest().starts_with(b"null") => {
                self.pos += 4;
                Ok(Scalar::Null)
            }
            Kind::Bool | Kind::Null => Err(self.fail("expected `true`, `false` or `null`")),
            Kind::Array | Kind::Object => Err(self.fail("expected a value")),
        }
    }

    /// Reads the string that [`Reader::peek`] just found ([`Kind::String`]) — what
    /// [`Reader::scalar`] does for a string, without looking at the value's kind again.
    #[inline(always)]
    pub fn peeked_string(&mut self) -> Step<Cow<'a, str>> {
        if self.peek_byte() != Some(b'"') {
            return Err(self.fail("expected a string"));
        }
        self.string()
    }

    /// Reads (and checks) the next value whatever it is; returns its kind.
    pub fn skip(&mut self) -> Step<Kind> {
        let kind = self.peek()?;
        match kind {
            Kind::Object => {
                let mut open = self.open_object()?;
                while self.member(&mut open)?.is_some() {
                    self.skip()?;
                }
            }
            Kind::Array => {
                let mut open = self.open_array()?;
                while self.item(&mut open)? {
                    self.skip()?;
                }
            }
            _ => {
                self.scalar()?;
            }
        }
        Ok(kind)
    }

    /// Enters the object that is the next value.
    pub fn open_object(&mut self) -> Step<Open> {
        self.open(b'{', "expected an object")
    }

    /// Enters the array that is the next value.
    pub fn open_array(&mut self) -> Step<Open> {
        self.open(b'[', "expected an array")
    }

    fn open(&mut self, byte: u8, reason: &'static str) -> Step<Open> {
        self.skip_ws();
        if self.peek_byte() != Some(byte) {
            return Err(self.fail(reason));
        }
        if self.depth + 1 > MAX_DEPTH {
            return Err(self.fail("nested too deeply"));
        }
        self.depth += 1;
        let start = self.pos;
        self.pos += 1;
        Ok(Open {
            start,
            keys_from: self.keys.len(),
            first: true,
            seen: 0,
        })
    }

    fn close(&mut self, open: &Open) {
        self.pos += 1;
        self.depth -= 1;
        self.keys.truncate(open.keys_from);
    }

    /// The next member's name and its span, positioned at its value (which must be read
    /// next); `None` past the object's `}`.
    #[inline]
    pub fn member(&mut self, open: &mut Open) -> Step<Option<(Cow<'a, str>, Span)>> {
        let Some((key, key_span)) = self.name(open)? else {
            return Ok(None);
        };
        self.note(open, key.clone(), key_span);
        self.colon()?;
        Ok(Some((key, key_span)))
    }

    /// [`Reader::member`], the name looked up among `names` (at most 64, each given once)
    /// and read as what it is paired with there: a repeat of one of them is told by a bit,
    /// without keeping the name for comparisons.
    #[inline]
    pub fn member_of<T: Copy>(
        &mut self,
        open: &mut Open,
        names: &[(&str, T)],
    ) -> Step<Option<(Name<'a, T>, Span)>> {
        let Some((key, key_span)) = self.name(open)? else {
            return Ok(None);
        };
        let found = names.iter().enumerate().find(|(_, (name, _))| *name == key);
        let name = match found {
            Some((i, &(name, known))) => {
                let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
                if open.seen & bit != 0 {
                    self.duplicates.push(Duplicate {
                        key: name.to_owned(),
                        span: key_span,
                    });
                }
                open.seen |= bit;
                Name::Known(known)
            }
            None => {
                self.note(open, key.clone(), key_span);
                Name::Other(key)
            }
        };
        self.colon()?;
        Ok(Some((name, key_span)))
    }

    /// Past the `,` (or `{`) before the next member: its name and span; `None` past the
    /// object's `}`.
    #[inline(always)]
    fn name(&mut self, open: &mut Open) -> Step<Option<(Cow<'a, str>, Span)>> {
        self.skip_ws();
        let first = std::mem::replace(&mut open.first, false);
        match self.peek_byte() {
            Some(b'}') if first => {
                self.close(open);
                return Ok(None);
            }
            _ if first => {}
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
            }
            Some(b'}') => {
                self.close(open);
                return Ok(None);
            }
            _ => return Err(self.fail("expected `,` or `}`")),
        }
        if self.peek_byte() != Some(b'"') {
            return Err(self.fail("expected a member name in double quotes"));
        }
        let key_start = self.pos;
        let key = self.string()?;
        Ok(Some((
            key,
            Span {
                start: key_start,
                end: self.pos,
            },
        )))
    }

    /// Keeps `key` among the object's names, noting it when it repeats one.
    #[inline(always)]
    fn note(&mut self, open: &Open, key: Cow<'a, str>, span: Span) {
        if self
            .keys
            .get(open.keys_from..)
            .is_some_and(|keys| keys.contains(&key))
        {
            self.duplicates.push(Duplicate {
                key: key.as_ref().to_owned(),
                span,
            });
        }
        self.keys.push(key);
    }

    /// The `:` after a member name.
    #[inline(always)]
    fn colon(&mut self) -> Step<()> {
        self.skip_ws();
        self.expect(b':', "expected `:` after a member name")
    }

    /// Whether the array has a next item (then positioned at it, to be read next).
    #[inline]
    pub fn item(&mut self, open: &mut Open) -> Step<bool> {
        self.skip_ws();
        let first = std::mem::replace(&mut open.first, false);
        match self.peek_byte() {
            Some(b']') => {
                self.close(open);
                Ok(false)
            }
            _ if first => Ok(true),
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.fail("expected `,` or `]`")),
        }
    }

    /// After the one value: only whitespace may follow. Returns the duplicated members.
    pub fn end(mut self) -> Step<Vec<Duplicate>> {
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(self.fail("trailing characters after the JSON value"));
        }
        Ok(self.duplicates)
    }

    fn fail(&self, reason: &'static str) -> Failure {
        Failure {
            offset: self.pos,
            reason,
        }
    }

    fn peek_byte(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    // Most calls stand at a value or a delimiter already: that costs one comparison here.
    #[inline(always)]
    fn skip_ws(&mut self) {
        if self.peek_byte().is_some_and(|b| b > b' ') {
            return;
        }
        self.pos += whitespace_run(self.rest());
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Step<()> {
        if self.peek_byte() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// The string the reader stands at, when it holds no escape: borrowed from the text and
    /// returned in two registers. `None`, with nothing read, for any other string (escapes,
    /// a control character, no closing quote), which [`Reader::string`] reads or rejects.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let end = start + plain_run(self.bytes.get(start..)?);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        // Cut from each end in turn: `get(start..end)` was a call on every string (too big to
        // inline), these two checks of a char boundary are not.
        let s = self.text.get(start..)?.get(..end - start)?;
        self.pos = end + 1;
        Some(s)
    }

    /// The string the reader stands at (after its opening quote was seen), unescaped.
    // Inlined, and its common case first: a `Cow` returned through memory was stored in
    // pieces and loaded whole by the caller, a store-forwarding stall on every string.
    #[inline(always)]
    fn string(&mut self) -> Step<Cow<'a, str>> {
        match self.plain_string() {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => self.escaped_string(),
        }
    }

    /// A string with escapes (or not a valid one): unescaped into an owned copy.
    fn escaped_string(&mut self) -> Step<Cow<'a, str>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        self.pos += plain_run(self.rest());
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek_byte() {
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
            .peek_byte()
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
                .peek_byte()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.fail("expected four hex digits in a \\u escape"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    fn number(&mut self) -> Step<&'a str> {
        let start = self.pos;
        if self.peek_byte() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek_byte() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("expected a digit")),
        }
        if self.peek_byte() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek_byte(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek_byte() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek_byte() {
                self.pos += 1;
            }
            if !matches!(self.peek_byte(), Some(b'0'..=b'9')) {
                return Err(self.fail("expected a digit in the exponent"));
            }
            self.digits();
        }
        Ok(&self.text[start..self.pos])
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek_byte() {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), JsonError> {
        validate(text)
    }

    #[test]
    fn spans_cover_each_value() {
        let text = r#" {"a": [1, "x"]} "#;
        let mut r = Reader::new(text);
        assert_eq!(r.peek().ok(), Some(Kind::Object));
        let mut object = r.open_object().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(object.start, 1);
        let (key, key_span) = r.member(&mut object).ok().flatten().expect("member");
        assert_eq!(
            (key.as_ref(), &text[key_span.start..key_span.end]),
            ("a", "\"a\"")
        );
        let start = r.peek().map(|_| r.pos()).expect("value");
        assert_eq!(r.skip().ok(), Some(Kind::Array));
        assert_eq!(&text[start..r.pos()], r#"[1, "x"]"#);
        assert!(matches!(r.member(&mut object), Ok(None)));
        assert_eq!(&text[object.start..r.pos()], r#"{"a": [1, "x"]}"#);
        assert!(r.end().is_ok());
    }

    fn duplicates(text: &str) -> Vec<Duplicate> {
        let mut r = Reader::new(text);
        r.skip()
            .and_then(|_| r.end())
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn duplicate_members_are_kept_and_reported() {
        let found = duplicates(r#"{"Effect":"Deny","Effect":"Allow"}"#);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "Effect");
        assert_eq!(found[0].span, Span { start: 17, end: 25 });
        // Per object: the same name in a sibling or nested object is no duplicate.
        assert!(duplicates(r#"{"a":{"a":1},"b":{"a":2}}"#).is_empty());
        assert_eq!(duplicates(r#"{"a":{"b":1,"b":2},"a":3}"#).len(), 2);
    }

    #[test]
    fn escaped_keys_that_collide_are_duplicates() {
        assert_eq!(duplicates(r#"{"Effect":1,"Eff\u0065ct":2}"#).len(), 1);
    }

    #[test]
    fn strings_unescape_and_borrow_when_plain() {
        let mut r = Reader::new(r#"["plain", "a\"b\\c\u00e9\ud83d\ude00", 1.5e3, true, null]"#);
        let mut array = r.open_array().unwrap_or_else(|e| panic!("{e:?}"));
        let mut items = Vec::new();
        while r.item(&mut array).unwrap_or_else(|e| panic!("{e:?}")) {
            items.push(r.scalar().unwrap_or_else(|e| panic!("{e:?}")));
        }
        assert!(matches!(&items[0], Scalar::String(Cow::Borrowed("plain"))));
        assert_eq!(
            items[1..],
            [
                Scalar::String(Cow::Owned("a\"b\\c\u{e9}\u{1F600}".into())),
                Scalar::Number("1.5e3"),
                Scalar::Bool(true),
                Scalar::Null
            ]
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
            "[1 2]",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["[]", "{}", " [ 1 , {\"a\" : [ ] } ] ", "-0.5E+2", "\"\""] {
            assert!(parse(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn runs_stop_where_a_byte_at_a_time_scan_does() {
        let stop = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        // Every byte at every position of runs up to 20 bytes, over a plain background, over
        // high bytes (UTF-8 continuation bytes must never stop a run), over spaces and over
        // the bytes next to a quote.
        for len in 0..20 {
            for at in 0..=len {
                for &fill in &[b'x', 0xa9, b' ', b'!', b'#'] {
                    for b in 0..=u8::MAX {
                        let mut bytes = vec![fill; len];
                        if at < len {
                            bytes[at] = b;
                        }
                        let expected = bytes.iter().position(|&b| stop(b)).unwrap_or(len);
                        assert_eq!(plain_run(&bytes), expected, "{bytes:?}");
                        let ws = bytes
                            .iter()
                            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                            .unwrap_or(len);
                        assert_eq!(whitespace_run(&bytes), ws, "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&fine).is_ok());
    }
}
