//! Condition operators (`StringEquals`, `ForAnyValue:ArnLikeIfExists`, …), parsed once when
//! a policy is read. A leaf: it depends only on string helpers.

/// The operator family, without `IfExists` and set qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike`.
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `ArnEquals` (IAM matches each ARN component with wildcards, like `ArnLike`).
    ArnEquals,
    /// `ArnNotEquals`.
    ArnNotEquals,
    /// `ArnLike`.
    ArnLike,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `Bool`.
    Bool,
    /// `Null`.
    Null,
    /// Numeric, date, IP address and binary operators: never about identity.
    Other,
}

/// How a multi-valued key is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// No qualifier.
    None,
    /// `ForAnyValue:`.
    ForAnyValue,
    /// `ForAllValues:`.
    ForAllValues,
}

/// A parsed condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// The family.
    pub base: Base,
    /// `…IfExists`.
    pub if_exists: bool,
    /// `ForAnyValue:` / `ForAllValues:`.
    pub set: SetQualifier,
}

const OTHER_OPERATORS: [&str; 14] = [
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "IpAddress",
    "NotIpAddress",
];

impl Operator {
    /// Parses an operator name (case-insensitively); `None` if IAM does not know it.
    pub fn parse(name: &str) -> Option<Operator> {
        // Nearly always written in IAM's own spelling: compared exactly first, which costs
        // a third of comparing without case.
        Operator::parse_by(name, |a, b| a == b)
            .or_else(|| Operator::parse_by(name, str::eq_ignore_ascii_case))
    }

    /// Parses `name`, its parts compared with the catalogue's by `same`.
    #[inline(always)]
    fn parse_by(name: &str, same: impl Fn(&str, &str) -> bool) -> Option<Operator> {
        let strip = |prefix: &str| {
            name.get(..prefix.len())
                .filter(|head| same(head, prefix))
                .and_then(|_| name.get(prefix.len()..))
        };
        let (set, rest) = if let Some(rest) = strip("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = strip("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::None, name)
        };
        let base_end = rest.len().saturating_sub("IfExists".len());
        let (if_exists, base_name) = match rest.get(base_end..) {
            Some(tail) if same(tail, "IfExists") => (true, rest.get(..base_end)?),
            _ => (false, rest),
        };
        const BASES: [(&str, Base); 13] = [
            ("StringEquals", Base::StringEquals),
            ("StringNotEquals", Base::StringNotEquals),
            ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
            ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
            ("StringLike", Base::StringLike),
            ("StringNotLike", Base::StringNotLike),
            ("ArnEquals", Base::ArnEquals),
            ("ArnNotEquals", Base::ArnNotEquals),
            ("ArnLike", Base::ArnLike),
            ("ArnNotLike", Base::ArnNotLike),
            ("Bool", Base::Bool),
            ("Null", Base::Null),
            ("BinaryEquals", Base::Other),
        ];
        let base = match BASES.iter().find(|(n, _)| same(n, base_name)) {
            Some((_, Base::Null)) if if_exists => return None,
            Some(&(_, base)) => base,
            None if OTHER_OPERATORS.iter().any(|o| same(o, base_name)) => Base::Other,
            None => return None,
        };
        Some(Operator {
            base,
            if_exists,
            set,
        })
    }

    /// Whether the operator is a negated match (`…Not…`).
    pub fn is_negated(self) -> bool {
        matches!(
            self.base,
            Base::StringNotEquals
                | Base::StringNotEqualsIgnoreCase
                | Base::StringNotLike
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }

    /// How values compare, for string and ARN operators (`None` for the rest).
    pub(crate) fn matching(self) -> Option<Matching> {
        let (glob, ignore_case) = match self.base {
            Base::StringEquals | Base::StringNotEquals => (false, false),
            Base::StringEqualsIgnoreCase | Base::StringNotEqualsIgnoreCase => (false, true),
            Base::StringLike | Base::StringNotLike => (true, false),
            Base::ArnEquals | Base::ArnNotEquals | Base::ArnLike | Base::ArnNotLike => {
                (true, false)
            }
            Base::Bool | Base::Null | Base::Other => return None,
        };
        Some(Matching { glob, ignore_case })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// How a string or ARN operator compares values.
pub(crate) struct Matching {
    pub(crate) glob: bool,
    pub(crate) ignore_case: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_as_the_canonical_one_and_near_misses_do_not() {
        let bases = [
            "StringEquals",
            "StringNotEqualsIgnoreCase",
            "StringNotLike",
            "ArnEquals",
            "ArnNotLike",
            "Bool",
            "Null",
            "BinaryEquals",
        ];
        for set in ["", "ForAnyValue:", "ForAllValues:"] {
            for base in bases.iter().chain(&OTHER_OPERATORS) {
                for suffix in ["", "IfExists"] {
                    let name = format!("{set}{base}{suffix}");
                    let parsed = Operator::parse(&name);
                    assert_eq!(parsed.is_some(), !(*base == "Null" && suffix == "IfExists"));
                    for other in [name.to_ascii_lowercase(), name.to_ascii_uppercase()] {
                        assert_eq!(Operator::parse(&other), parsed, "{other}");
                    }
                    for miss in [format!("{name}x"), name[..name.len() - 1].to_owned()] {
                        assert_eq!(Operator::parse(&miss), None, "{miss}");
                    }
                }
            }
        }
        assert_eq!(Operator::parse("ForAnyValue:"), None);
        assert_eq!(Operator::parse("IfExists"), None);
        assert_eq!(Operator::parse(""), None);
    }
}
