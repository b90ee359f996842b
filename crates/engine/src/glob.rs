//! IAM-style wildcard matching: `*` matches any run of characters, `?` exactly one.
//!
//! Used for action names, ARN patterns in `Resource`, `…Like` condition values and admin
//! patterns. Matching is iterative (no recursion, no backtracking blow-up): the classic
//! two-pointer algorithm with one saved star position, linear in practice.

use crate::words::{half, has_byte, word};

/// Whether `text` matches `pattern`, comparing characters exactly.
pub fn matches(pattern: &str, text: &str) -> bool {
    // A pattern without wildcards (most ARNs and ids in a policy or the rules) is a plain
    // comparison, a fraction of the matcher's cost per byte.
    if !has_wildcard(pattern) {
        return pattern == text;
    }
    matches_by(pattern, text, |a, b| a == b)
}

/// Whether `text` matches `pattern`, ignoring ASCII case.
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    if !has_wildcard(pattern) {
        return pattern.eq_ignore_ascii_case(text);
    }
    matches_by(pattern, text, |a, b| a.eq_ignore_ascii_case(&b))
}

/// Whether `pattern` contains a wildcard character.
pub fn has_wildcard(pattern: &str) -> bool {
    // Eight bytes at a time, the last word overlapping the one before (four and four below
    // eight bytes): asked of every action name, principal and condition value, where a
    // byte loop cost five instructions a byte.
    let bytes = pattern.as_bytes();
    let wild = |word: u64| has_byte(word, b'*') || has_byte(word, b'?');
    match bytes.len() {
        0..=3 => bytes.iter().any(|&b| b == b'*' || b == b'?'),
        len @ 4..=7 => wild(u64::from(half(bytes, 0)) | u64::from(half(bytes, len - 4)) << 32),
        len => {
            let mut at = 0;
            while at + 8 < len {
                if wild(word(bytes, at)) {
                    return true;
                }
                at += 8;
            }
            wild(word(bytes, len - 8))
        }
    }
}

/// Whether `pattern` consists only of wildcard characters (and is not empty): it matches
/// every value of any length (`*`) or of a given length (`???`).
pub fn is_only_wildcards(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.bytes().all(|b| b == b'*' || b == b'?')
}

fn matches_by(pattern: &str, text: &str, eq: impl Fn(u8, u8) -> bool) -> bool {
    // Patterns and texts are compared byte-wise: `?` against a multi-byte character would
    // be wrong, so fall back to chars only when either side is not ASCII.
    if !pattern.is_ascii() || !text.is_ascii() {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        return match_slices(&p, &t, '*', '?', |a, b| {
            a == b || (a.is_ascii() && b.is_ascii() && eq(a as u8, b as u8))
        });
    }
    match_slices(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq)
}

fn match_slices<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    star: T,
    one: T,
    eq: impl Fn(T, T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut saved: Option<(usize, usize)> = None;
    while let Some(&tc) = t.get(ti) {
        match p.get(pi) {
            Some(&pc) if pc == star => {
                saved = Some((pi, ti));
                pi += 1;
            }
            Some(&pc) if pc == one || eq(pc, tc) => {
                pi += 1;
                ti += 1;
            }
            _ => {
                let Some((sp, st)) = saved else {
                    return false;
                };
                pi = sp + 1;
                ti = st + 1;
                saved = Some((sp, st + 1));
            }
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == star)
}

/// `s` without `prefix`, compared ignoring ASCII case; `None` when it does not start so.
pub fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(matches("kms:*", "kms:Decrypt"));
        assert!(matches("kms:*", "kms:"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn question_mark_matches_exactly_one() {
        assert!(matches("o-????", "o-abcd"));
        assert!(!matches("o-????", "o-abc"));
        assert!(!matches("o-????", "o-abcde"));
    }

    #[test]
    fn literal_patterns_compare_whole_texts() {
        assert!(matches(
            "arn:aws:iam::111122223333:role/KeyAdmin",
            "arn:aws:iam::111122223333:role/KeyAdmin"
        ));
        assert!(!matches(
            "arn:aws:iam::111122223333:role/KeyAdmin",
            "arn:aws:iam::111122223333:role/keyadmin"
        ));
        assert!(!matches("role/Key", "role/KeyAdmin"));
        assert!(!matches("role/KeyAdmin", "role/Key"));
        assert!(matches_ignore_case("ROLE/KeyAdmin", "role/keyadmin"));
        assert!(!matches_ignore_case("role/keyadmi", "role/keyadmin"));
        // Outside ASCII, characters compare exactly, with or without case folding.
        assert!(matches_ignore_case("café", "CAFé"));
        assert!(!matches_ignore_case("café", "CAFÉ"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn wildcards_are_found_at_every_length_and_position() {
        for len in 0..=20 {
            let plain = "abcdefghijklmnopqrst"[..len].to_owned();
            assert!(!has_wildcard(&plain), "{plain:?}");
            for at in 0..len {
                for wild in ['*', '?'] {
                    let mut text = plain.clone().into_bytes();
                    text[at] = wild as u8;
                    let text = String::from_utf8(text).expect("ASCII");
                    assert!(has_wildcard(&text), "{text:?}");
                }
            }
        }
        // Bytes next to the wildcards, and non-ASCII text, are not wildcards.
        assert!(!has_wildcard(")+>@)+>@)+"));
        assert!(!has_wildcard("caf\u{e9} \u{2603} na\u{ef}ve"));
    }

    #[test]
    fn case_handling_is_explicit() {
        assert!(!matches("kms:decrypt", "kms:Decrypt"));
        assert!(matches_ignore_case("KMS:de*", "kms:Decrypt"));
    }

    #[test]
    fn non_ascii_is_matched_by_character() {
        assert!(matches("caf?", "café"));
        assert!(matches_ignore_case("CAF*", "café"));
    }

    #[test]
    fn wildcard_predicates() {
        assert!(is_only_wildcards("*?*"));
        assert!(!is_only_wildcards(""));
        assert!(!is_only_wildcards("o-*"));
        assert!(has_wildcard("o-*"));
        assert!(!has_wildcard("o-abc"));
    }

    #[test]
    fn pathological_pattern_stays_linear_enough() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &text));
    }
}
