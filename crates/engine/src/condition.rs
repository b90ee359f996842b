//! Condition operators and condition keys, and what one condition means for *who* can use a
//! grant: whether it pins the caller's account, organization, identity or network
//! ([`Atom`]), scopes a service principal, or restricts nothing we can rely on.
//!
//! The rule throughout (docs/semantics.md): a condition may only *narrow* access. Anything this
//! module does not understand restricts nothing in an Allow and denies nothing in a Deny.

use crate::arn::{Arn, is_account_id};
use crate::glob::{self, strip_prefix_ignore_case};
pub use crate::operator::{Base, Operator, SetQualifier};

/// Condition keys that say who the caller is (or, for service calls, on whose behalf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `aws:PrincipalAccount`.
    PrincipalAccount,
    /// `kms:CallerAccount`.
    CallerAccount,
    /// `aws:PrincipalArn`.
    PrincipalArn,
    /// `aws:PrincipalOrgID`.
    PrincipalOrgId,
    /// `aws:PrincipalOrgPaths`.
    PrincipalOrgPaths,
    /// `aws:userid`.
    UserId,
    /// `aws:SourceAccount`.
    SourceAccount,
    /// `aws:SourceArn`.
    SourceArn,
    /// `aws:SourceOwner`.
    SourceOwner,
    /// `aws:SourceOrgID`.
    SourceOrgId,
    /// `aws:SourceOrgPaths`.
    SourceOrgPaths,
    /// `aws:SourceVpce`.
    SourceVpce,
    /// `aws:SourceVpc`.
    SourceVpc,
}

/// What a key pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Account ids (directly, or as the account field of an ARN, or of `aws:userid`).
    Account,
    /// Organization ids (directly or as the first element of an org path).
    Organization,
    /// VPC endpoints or VPCs.
    Network,
}

impl Key {
    /// Recognizes a key, case-insensitively.
    pub fn parse(name: &str) -> Option<Key> {
        const KEYS: [(&str, Key); 13] = [
            ("aws:principalaccount", Key::PrincipalAccount),
            ("kms:calleraccount", Key::CallerAccount),
            ("aws:principalarn", Key::PrincipalArn),
            ("aws:principalorgid", Key::PrincipalOrgId),
            ("aws:principalorgpaths", Key::PrincipalOrgPaths),
            ("aws:userid", Key::UserId),
            ("aws:sourceaccount", Key::SourceAccount),
            ("aws:sourcearn", Key::SourceArn),
            ("aws:sourceowner", Key::SourceOwner),
            ("aws:sourceorgid", Key::SourceOrgId),
            ("aws:sourceorgpaths", Key::SourceOrgPaths),
            ("aws:sourcevpce", Key::SourceVpce),
            ("aws:sourcevpc", Key::SourceVpc),
        ];
        KEYS.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|&(_, key)| key)
    }

    /// Whether a signed KMS request can lack this key (so `…IfExists` lets it through).
    pub fn can_be_absent(self) -> bool {
        !matches!(
            self,
            Key::PrincipalAccount | Key::CallerAccount | Key::PrincipalArn | Key::UserId
        )
    }

    /// Whether the key is about the resource a service acts for (confused-deputy scoping).
    pub fn is_source(self) -> bool {
        matches!(
            self,
            Key::SourceAccount
                | Key::SourceArn
                | Key::SourceOwner
                | Key::SourceOrgId
                | Key::SourceOrgPaths
        )
    }

    /// What the key pins.
    pub fn dimension(self) -> Dimension {
        match self {
            Key::PrincipalOrgId
            | Key::PrincipalOrgPaths
            | Key::SourceOrgId
            | Key::SourceOrgPaths => Dimension::Organization,
            Key::SourceVpce | Key::SourceVpc => Dimension::Network,
            _ => Dimension::Account,
        }
    }

    /// The IAM spelling, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Key::PrincipalAccount => "aws:PrincipalAccount",
            Key::CallerAccount => "kms:CallerAccount",
            Key::PrincipalArn => "aws:PrincipalArn",
            Key::PrincipalOrgId => "aws:PrincipalOrgID",
            Key::PrincipalOrgPaths => "aws:PrincipalOrgPaths",
            Key::UserId => "aws:userid",
            Key::SourceAccount => "aws:SourceAccount",
            Key::SourceArn => "aws:SourceArn",
            Key::SourceOwner => "aws:SourceOwner",
            Key::SourceOrgId => "aws:SourceOrgID",
            Key::SourceOrgPaths => "aws:SourceOrgPaths",
            Key::SourceVpce => "aws:SourceVpce",
            Key::SourceVpc => "aws:SourceVpc",
        }
    }
}

/// One value of an [`Atom`], with how it is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern<'a> {
    /// As written.
    pub text: &'a str,
    glob: bool,
    ignore_case: bool,
}

impl<'a> Pattern<'a> {
    /// Whether `value` matches this pattern.
    pub fn matches(&self, value: &str) -> bool {
        match (self.glob, self.ignore_case) {
            (true, false) => glob::matches(self.text, value),
            (true, true) => glob::matches_ignore_case(self.text, value),
            (false, false) => self.text == value,
            (false, true) => self.text.eq_ignore_ascii_case(value),
        }
    }

    /// Whether it matches exactly one value (no wildcards in play).
    pub fn is_literal(&self) -> bool {
        !self.glob || !glob::has_wildcard(self.text)
    }

    /// The part of the value the key's dimension is about: the account field of an ARN,
    /// the account of a `aws:userid` value, the organization of an org path.
    fn subject(&self, key: Key) -> Option<&'a str> {
        match key {
            Key::PrincipalArn | Key::SourceArn => Arn::parse(self.text).map(|a| a.account),
            Key::UserId => {
                let head = self.text.split(':').next().unwrap_or(self.text);
                is_account_id(head).then_some(head)
            }
            Key::PrincipalOrgPaths | Key::SourceOrgPaths => self.text.split('/').next(),
            _ => Some(self.text),
        }
    }

    /// Whether this value narrows who the caller can be, for `key`. Policy variables naming
    /// the caller, and
    /// patterns whose relevant part is only wildcards (`*`, `o-*`, `arn:aws:iam::*:role/x`),
    /// do not. A literal that can never match (`"*"` under `StringEquals`) does: it pins the
    /// caller to nobody.
    fn pins(&self, key: Key) -> bool {
        if has_variable(self.text) {
            // A variable that names the caller (`${aws:PrincipalAccount}`) pins nothing; one
            // that names the key's own context pins the caller to it.
            return self
                .subject(key)
                .is_some_and(|s| is_context_variable(s, key.dimension()));
        }
        if !self.glob {
            return true;
        }
        if glob::is_only_wildcards(self.text) {
            return false;
        }
        let Some(subject) = self.subject(key) else {
            // An unparseable ARN pattern or a non-account user id pins the caller only if it
            // holds no wildcard at all.
            return !glob::has_wildcard(self.text);
        };
        let rest = match key.dimension() {
            Dimension::Organization => subject.strip_prefix("o-").unwrap_or(subject),
            Dimension::Network => subject
                .strip_prefix("vpce-")
                .or_else(|| subject.strip_prefix("vpc-"))
                .unwrap_or(subject),
            Dimension::Account => subject,
        };
        !rest.is_empty() && !glob::is_only_wildcards(rest)
    }
}

/// The policy variable for the key's own account: `aws:PrincipalAccount` =
/// `${aws:ResourceAccount}` pins the caller to the owner account.
pub const RESOURCE_ACCOUNT: &str = "${aws:ResourceAccount}";

/// The policy variable for the key owner's organization: `aws:PrincipalOrgID` =
/// `${aws:ResourceOrgID}` pins the caller to it (trusted only when the rules list it).
pub const RESOURCE_ORG_ID: &str = "${aws:ResourceOrgID}";

/// Whether `text` holds a policy variable (`${…}`). A byte scan: `str::contains` with a
/// two-byte needle sets up a substring searcher first, which cost more than the search on
/// condition values this short.
pub fn has_variable(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| w == b"${")
}

/// Whether `subject` is the policy variable naming the key's own context for `dimension`.
pub fn is_context_variable(subject: &str, dimension: Dimension) -> bool {
    match dimension {
        Dimension::Account => subject.eq_ignore_ascii_case(RESOURCE_ACCOUNT),
        Dimension::Organization => subject.eq_ignore_ascii_case(RESOURCE_ORG_ID),
        Dimension::Network => false,
    }
}

/// "The caller's `key` is one of `values`": one pinning, positive constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom<'a> {
    /// The key constrained.
    pub key: Key,
    /// The accepted values (ORed).
    pub values: Vec<Pattern<'a>>,
}

impl<'a> Atom<'a> {
    /// The constraint "the caller's account is one of `accounts`" (literal account ids).
    pub fn accounts(accounts: Vec<&'a str>) -> Atom<'a> {
        Atom {
            key: Key::PrincipalAccount,
            values: accounts
                .into_iter()
                .map(|text| Pattern {
                    text,
                    glob: false,
                    ignore_case: false,
                })
                .collect(),
        }
    }

    /// Builds the constraint "`key` ∈ `values`" compared as `operator` compares (ignoring its
    /// negation); `None` unless every value pins the caller.
    fn new(key: Key, operator: Operator, values: &[&'a str]) -> Option<Atom<'a>> {
        let m = operator.matching()?;
        let pattern = |&text: &&'a str| Pattern {
            text,
            glob: m.glob,
            ignore_case: m.ignore_case,
        };
        // Judged before the list is built: a condition that pins nobody costs no allocation.
        let pins = !values.is_empty() && values.iter().map(pattern).all(|p| p.pins(key));
        pins.then(|| Atom {
            key,
            values: values.iter().map(pattern).collect(),
        })
    }

    /// The accounts (or organizations, or network ids) it names, when each of its values is
    /// a literal with a readable subject; `None` otherwise. A literal that cannot be such an
    /// id (`"*"` under `StringEquals`) matches nobody and is left out.
    pub fn literal_subjects(&self) -> Option<Vec<&'a str>> {
        let mut out = Vec::with_capacity(self.values.len());
        self.all_subjects(|s| {
            out.push(s);
            true
        })?;
        Some(out)
    }

    /// Whether every value is a literal whose subject satisfies `trusted` (values that can
    /// match no real id are skipped); `None` when a value is a pattern or has no readable
    /// subject.
    pub fn all_subjects(&self, mut trusted: impl FnMut(&'a str) -> bool) -> Option<bool> {
        let mut all = true;
        for p in &self.values {
            let subject = p.subject(self.key)?;
            if is_context_variable(subject, self.key.dimension()) {
                all &= trusted(subject);
                continue;
            }
            if glob::has_wildcard(subject) {
                if p.glob {
                    return None;
                }
                continue;
            }
            if self.key.dimension() == Dimension::Account && !is_account_id(subject) {
                continue;
            }
            all &= trusted(subject);
        }
        Some(all)
    }

    /// Whether a caller in `account` can satisfy it: `Some(false)` when every value's account
    /// is known and none is `account`; `None` when the atom is not about accounts or an
    /// account cannot be read from a value.
    pub fn admits_account(&self, account: &str) -> Option<bool> {
        if self.key.dimension() != Dimension::Account {
            return None;
        }
        let mut unknown = false;
        for p in &self.values {
            match p.subject(self.key) {
                // The owner's own account: asked only of the owner, or conservatively.
                Some(subject) if is_context_variable(subject, Dimension::Account) => {
                    return Some(true);
                }
                Some(subject) if p.glob => {
                    if glob::matches(subject, account) {
                        return Some(true);
                    }
                }
                Some(subject) => {
                    if subject == account {
                        return Some(true);
                    }
                }
                None => unknown = true,
            }
        }
        if unknown { None } else { Some(false) }
    }
}

/// What one condition of an `Allow` contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEffect<'a> {
    /// Pins the caller: an AND-ed constraint.
    Restricts(Atom<'a>),
    /// Restricts nothing we rely on.
    Nothing,
}

/// Reads one condition of an `Allow` statement.
pub fn allow_effect<'a>(
    operator: Option<Operator>,
    key: &str,
    values: &[&'a str],
) -> AllowEffect<'a> {
    let (Some(op), Some(key)) = (operator, Key::parse(key)) else {
        return AllowEffect::Nothing;
    };
    // Negations never restrict in an Allow; ForAllValues is true when the key is absent;
    // IfExists lets requests without the key through.
    if op.is_negated()
        || op.set == SetQualifier::ForAllValues
        || (op.if_exists && key.can_be_absent())
    {
        return AllowEffect::Nothing;
    }
    match Atom::new(key, op, values) {
        Some(atom) => AllowEffect::Restricts(atom),
        None => AllowEffect::Nothing,
    }
}

/// Whether a condition of an `Allow` scopes a service principal to the resources of an
/// account or organization (`aws:Source*`) or to an encryption context: the confused-deputy
/// protection.
pub fn scopes_service(operator: Option<Operator>, key: &str, values: &[&str]) -> bool {
    let Some(op) = operator else { return false };
    if op.is_negated()
        || op.if_exists
        || op.set == SetQualifier::ForAllValues
        || op.matching().is_none()
    {
        return false;
    }
    if let Some(k) = Key::parse(key) {
        return k.is_source() && Atom::new(k, op, values).is_some();
    }
    strip_prefix_ignore_case(key, "kms:EncryptionContext").is_some()
        && !values.is_empty()
        && values
            .iter()
            .all(|v| !glob::is_only_wildcards(v) && !has_variable(v))
}

/// Whether a condition of an `Allow` limits `CreateGrant` to grants that AWS services make
/// for AWS resources: `"Bool": {"kms:GrantIsForAWSResource": "true"}`, a positive
/// `kms:ViaService` naming services (AWS's own pattern for service-integrated keys), or a
/// `kms:GrantConstraintSourceArn` pinned to an account's resources (the grant can only be
/// used for that source). `kms:GranteeServicePrincipal` alone does not: the service may act
/// for any account's resources.
pub fn limits_grants_to_aws_services(
    operator: Option<Operator>,
    key: &str,
    values: &[&str],
) -> bool {
    let Some(op) = operator else { return false };
    if op.if_exists || op.set != SetQualifier::None || values.is_empty() {
        return false;
    }
    if key.eq_ignore_ascii_case("kms:GrantIsForAWSResource") {
        return matches!(
            op.base,
            Base::Bool | Base::StringEquals | Base::StringEqualsIgnoreCase
        ) && values.iter().all(|v| v.eq_ignore_ascii_case("true"));
    }
    if key.eq_ignore_ascii_case("kms:GrantConstraintSourceArn") {
        return !op.is_negated()
            && op.matching().is_some()
            && Atom::new(Key::SourceArn, op, values).is_some();
    }
    key.eq_ignore_ascii_case("kms:ViaService")
        && !op.is_negated()
        && op.matching().is_some()
        && values
            .iter()
            .all(|v| !glob::is_only_wildcards(v) && !has_variable(v))
}

/// Whether a direct `PutKeyPolicy` request never carries the condition key `key`: keys that
/// exist only on other operations (`kms:EncryptionContext*`, the algorithm keys,
/// `kms:RecipientAttestation:*`, the `kms:Grant*` keys, `kms:GranteePrincipal`,
/// `kms:RetiringPrincipal`) and the `aws:Source*` keys of service-to-service calls.
pub fn absent_on_put_key_policy(key: &str) -> bool {
    const EXACT: [&str; 6] = [
        "kms:EncryptionAlgorithm",
        "kms:SigningAlgorithm",
        "kms:MacAlgorithm",
        "kms:KeyAgreementAlgorithm",
        "kms:GranteePrincipal",
        "kms:RetiringPrincipal",
    ];
    const PREFIXES: [&str; 3] = [
        "kms:EncryptionContext",
        "kms:RecipientAttestation:",
        "kms:Grant",
    ];
    EXACT.iter().any(|k| k.eq_ignore_ascii_case(key))
        || PREFIXES
            .iter()
            .any(|p| strip_prefix_ignore_case(key, p).is_some())
        || Key::parse(key).is_some_and(Key::is_source)
}

/// Whether a condition holds for a request that lacks its key: `Some(true)` for negated
/// operators (except `ForAnyValue:`), `…IfExists`, `ForAllValues:` and `Null` = true;
/// `Some(false)` for the positive operators and `Null` = false; `None` when unknown.
pub fn holds_when_absent(
    operator: Option<Operator>,
    values: &[std::borrow::Cow<'_, str>],
) -> Option<bool> {
    let op = operator?;
    if op.base == Base::Null {
        let all =
            |want: &str| !values.is_empty() && values.iter().all(|v| v.eq_ignore_ascii_case(want));
        return if all("true") {
            Some(true)
        } else if all("false") {
            Some(false)
        } else {
            None
        };
    }
    Some(match op.set {
        SetQualifier::ForAllValues => true,
        SetQualifier::ForAnyValue => false,
        SetQualifier::None => op.if_exists || op.is_negated(),
    })
}

/// What one condition of a `Deny` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyEffect<'a> {
    /// A negated identity condition: the Deny hits every caller *outside* the atom, so the
    /// callers it leaves are exactly those inside it (the data-perimeter pattern).
    Perimeter(Atom<'a>),
    /// `aws:PrincipalIsAWSService` is false: the Deny spares AWS service principals and
    /// applies to every account principal.
    SparesServices,
    /// Anything else: the Deny may not apply, so no credit is taken for it.
    Unknown,
}

/// Reads one condition of a `Deny` statement.
pub fn deny_effect<'a>(
    operator: Option<Operator>,
    key: &str,
    values: &[&'a str],
) -> DenyEffect<'a> {
    let Some(op) = operator else {
        return DenyEffect::Unknown;
    };
    if op.base == Base::Bool
        && op.set == SetQualifier::None
        && key.eq_ignore_ascii_case("aws:PrincipalIsAWSService")
        && matches!(values, [v] if v.eq_ignore_ascii_case("false"))
    {
        return DenyEffect::SparesServices;
    }
    // A negated operator is true when the key is absent, with or without IfExists, so the
    // Deny covers callers without the key too.
    let Some(key) = Key::parse(key) else {
        return DenyEffect::Unknown;
    };
    // `ForAllValues:` with a negated operator is true when the key is absent too (the set
    // of values is empty), so it denies every caller outside the values, like the plain
    // negated operator: `ForAllValues:StringNotLike aws:PrincipalOrgPaths ["o-x/*"]` denies
    // callers with no path inside o-x. `ForAnyValue:` is false when the key is absent: a
    // caller without it is not denied, so no perimeter.
    if !op.is_negated() || op.set == SetQualifier::ForAnyValue {
        return DenyEffect::Unknown;
    }
    match Atom::new(key, op, values) {
        Some(atom) => DenyEffect::Perimeter(atom),
        None => DenyEffect::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> Option<Operator> {
        Operator::parse(name)
    }

    fn restricts(operator: &str, key: &str, values: &[&str]) -> bool {
        matches!(
            allow_effect(op(operator), key, values),
            AllowEffect::Restricts(_)
        )
    }

    #[test]
    fn variables_are_found_anywhere_and_look_alikes_are_not_variables() {
        for text in [
            "${aws:ResourceAccount}",
            "arn:aws:iam::${aws:PrincipalAccount}:role/x",
            "a${",
        ] {
            assert!(has_variable(text), "{text}");
        }
        for text in ["", "$", "{$aws}", "$ {x}", "o-a1b2c3d4e5", "$$", "{{}}"] {
            assert!(!has_variable(text), "{text}");
        }
    }

    #[test]
    fn operators_parse_with_qualifiers() {
        let o = op("ForAnyValue:StringLikeIfExists").expect("known");
        assert_eq!(
            (o.base, o.if_exists, o.set),
            (Base::StringLike, true, SetQualifier::ForAnyValue)
        );
        assert!(op("stringequals").is_some());
        assert!(op("NumericLessThanIfExists").is_some());
        assert!(op("StringEqualz").is_none());
        assert!(op("NullIfExists").is_none());
    }

    #[test]
    fn restricting_keys_restrict() {
        assert!(restricts(
            "StringEquals",
            "aws:PrincipalAccount",
            &["111122223333"]
        ));
        assert!(restricts(
            "StringEquals",
            "KMS:CALLERACCOUNT",
            &["111122223333"]
        ));
        assert!(restricts(
            "StringEquals",
            "aws:PrincipalOrgID",
            &["o-a1b2c3d4e5"]
        ));
        assert!(restricts(
            "ForAnyValue:StringLike",
            "aws:PrincipalOrgPaths",
            &["o-a1b2c3d4e5/r-ab12/*"]
        ));
        assert!(restricts(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/*"]
        ));
        assert!(restricts(
            "StringEquals",
            "aws:SourceVpce",
            &["vpce-1a2b3c4d"]
        ));
    }

    #[test]
    fn non_restricting_keys_and_forms_do_not() {
        assert!(!restricts(
            "StringEquals",
            "kms:ViaService",
            &["s3.us-east-1.amazonaws.com"]
        ));
        assert!(!restricts("IpAddress", "aws:SourceIp", &["10.0.0.0/8"]));
        assert!(!restricts(
            "StringNotEquals",
            "aws:PrincipalAccount",
            &["111122223333"]
        ));
        assert!(!restricts(
            "ForAllValues:StringEquals",
            "aws:PrincipalOrgID",
            &["o-a1b2c3d4e5"]
        ));
        assert!(!restricts(
            "StringEqualsIfExists",
            "aws:PrincipalOrgID",
            &["o-a1b2c3d4e5"]
        ));
        assert!(!restricts(
            "StringEquals",
            "aws:PrincipalAccount",
            &["${aws:PrincipalAccount}"]
        ));
        assert!(!restricts("Null", "aws:PrincipalOrgID", &["false"]));
        assert!(!restricts(
            "Bogus",
            "aws:PrincipalAccount",
            &["111122223333"]
        ));
    }

    #[test]
    fn if_exists_restricts_keys_every_request_has() {
        assert!(restricts(
            "StringEqualsIfExists",
            "aws:PrincipalAccount",
            &["111122223333"]
        ));
        assert!(restricts(
            "ArnEqualsIfExists",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/x"]
        ));
    }

    #[test]
    fn wildcard_only_values_restrict_nothing() {
        assert!(!restricts("StringLike", "aws:PrincipalAccount", &["*"]));
        assert!(!restricts("StringLike", "aws:PrincipalOrgID", &["o-*"]));
        assert!(!restricts(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/x"]
        ));
        assert!(!restricts(
            "ArnEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/x"]
        ));
        assert!(!restricts(
            "StringLike",
            "aws:PrincipalOrgID",
            &["o-a1b2c3d4e5", "*"]
        ));
        // A literal "*" under StringEquals matches no account: it pins the caller to nobody.
        assert!(restricts("StringEquals", "aws:PrincipalAccount", &["*"]));
    }

    #[test]
    fn admits_account_reads_arn_account_fields() {
        let AllowEffect::Restricts(atom) = allow_effect(
            op("ArnLike"),
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/*"],
        ) else {
            panic!("restricts")
        };
        assert_eq!(atom.admits_account("111122223333"), Some(true));
        assert_eq!(atom.admits_account("444455556666"), Some(false));
        assert_eq!(atom.literal_subjects(), Some(vec!["111122223333"]));
    }

    #[test]
    fn service_scoping() {
        assert!(scopes_service(
            op("StringEquals"),
            "aws:SourceAccount",
            &["111122223333"]
        ));
        assert!(scopes_service(
            op("ArnLike"),
            "kms:EncryptionContext:aws:logs:arn",
            &["arn:aws:logs:us-east-1:111122223333:*"]
        ));
        assert!(!scopes_service(op("StringLike"), "aws:SourceArn", &["*"]));
        assert!(!scopes_service(
            op("StringEqualsIfExists"),
            "aws:SourceAccount",
            &["111122223333"]
        ));
        assert!(!scopes_service(
            op("StringEquals"),
            "kms:ViaService",
            &["logs.amazonaws.com"]
        ));
    }

    #[test]
    fn grants_limited_to_aws_services() {
        let limits = limits_grants_to_aws_services;
        assert!(limits(op("Bool"), "kms:GrantIsForAWSResource", &["true"]));
        assert!(!limits(op("Bool"), "kms:GrantIsForAWSResource", &["false"]));
        assert!(!limits(
            op("BoolIfExists"),
            "kms:GrantIsForAWSResource",
            &["true"]
        ));
        assert!(limits(
            op("StringEquals"),
            "kms:ViaService",
            &["ec2.us-east-1.amazonaws.com"]
        ));
        assert!(!limits(op("StringLike"), "kms:ViaService", &["*"]));
        assert!(!limits(
            op("StringNotEquals"),
            "kms:ViaService",
            &["ec2.us-east-1.amazonaws.com"]
        ));
    }

    #[test]
    fn impossible_literals_name_nobody() {
        let AllowEffect::Restricts(atom) =
            allow_effect(op("StringEquals"), "kms:CallerAccount", &["*"])
        else {
            panic!("restricts")
        };
        assert_eq!(atom.literal_subjects(), Some(vec![]));
    }

    #[test]
    fn deny_perimeters() {
        assert!(matches!(
            deny_effect(
                op("StringNotEquals"),
                "aws:PrincipalOrgID",
                &["o-a1b2c3d4e5"]
            ),
            DenyEffect::Perimeter(_)
        ));
        assert!(matches!(
            deny_effect(
                op("StringNotEqualsIfExists"),
                "aws:PrincipalAccount",
                &["111122223333"]
            ),
            DenyEffect::Perimeter(_)
        ));
        assert_eq!(
            deny_effect(op("BoolIfExists"), "aws:PrincipalIsAWSService", &["false"]),
            DenyEffect::SparesServices
        );
        assert_eq!(
            deny_effect(op("StringEquals"), "aws:PrincipalOrgID", &["o-x"]),
            DenyEffect::Unknown
        );
        assert_eq!(
            deny_effect(op("StringNotLike"), "aws:PrincipalOrgID", &["o-*"]),
            DenyEffect::Unknown
        );
        assert_eq!(
            deny_effect(op("StringNotEquals"), "aws:SourceIp", &["1.2.3.4"]),
            DenyEffect::Unknown
        );
    }
}
