//! Condition operators (`StringEquals`, `ForAnyValue:ArnLikeIfExists`, …), parsed once when
//! a policy is read. A leaf: it depends only on string helpers.

use crate::glob::{strip_prefix_ignore_case, strip_suffix_ignore_case};

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
        let (set, rest) = if let Some(rest) = strip_prefix_ignore_case(name, "ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(name, "ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, base_name) = match strip_suffix_ignore_case(rest, "IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
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
        let base = match BASES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(base_name))
        {
            Some((_, Base::Null)) if if_exists => return None,
            Some(&(_, base)) => base,
            None if OTHER_OPERATORS
                .iter()
                .any(|o| o.eq_ignore_ascii_case(base_name)) =>
            {
                Base::Other
            }
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
