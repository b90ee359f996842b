//! What a principal entry of a key policy denotes: an account, an IAM identity in an account,
//! any account, a service, an identity provider — or something KMS would reject.
//!
//! A bare 12-digit id and `arn:<partition>:iam::<id>:root` both denote *the account*
//! (delegation to its IAM policies), not its root user.

use crate::arn::{Arn, is_account_id, is_unique_id};
use crate::glob;
use crate::policy::PrincipalType;

/// The meaning of one principal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// `"*"`, `{"AWS": "*"}` or an ARN whose account field is a wildcard: every AWS account.
    AnyAccount,
    /// An account (delegation to its IAM policies).
    Account(&'a str),
    /// An IAM user, role, role session or federated user of an account.
    Identity {
        /// Its account.
        account: &'a str,
        /// Its ARN as written.
        arn: &'a str,
    },
    /// An AWS service principal (`logs.amazonaws.com`).
    Service(&'a str),
    /// An identity provider: a SAML/OIDC provider ARN of an account, or a public provider
    /// (`accounts.google.com`, `cognito-identity.amazonaws.com`) with no account of ours.
    Federated {
        /// The provider as written.
        provider: &'a str,
        /// The account that owns the provider, when it is an ARN.
        account: Option<&'a str>,
    },
    /// Denotes nothing KMS can resolve (a deleted principal's unique id, a malformed value):
    /// grants nothing, reported as invalid.
    Nothing,
}

impl<'a> Principal<'a> {
    /// The account the principal belongs to, when it names one: the one way to ask.
    pub fn account(self) -> Option<&'a str> {
        match self {
            Principal::Account(a) | Principal::Identity { account: a, .. } => Some(a),
            Principal::Federated { account, .. } => account,
            Principal::AnyAccount | Principal::Service(_) | Principal::Nothing => None,
        }
    }
}

/// A principal entry's meaning and, when KMS would reject it or it no longer exists, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    /// What it grants to.
    pub principal: Principal<'a>,
    /// Why it is invalid, if it is.
    pub invalid: Option<String>,
}

impl<'a> Classified<'a> {
    fn ok(principal: Principal<'a>) -> Self {
        Classified {
            principal,
            invalid: None,
        }
    }

    fn invalid(principal: Principal<'a>, reason: String) -> Self {
        Classified {
            principal,
            invalid: Some(reason),
        }
    }
}

/// Classifies one principal entry; `partition` is the key's, when known.
pub fn classify<'a>(
    kind: PrincipalType,
    value: &'a str,
    partition: Option<&str>,
) -> Classified<'a> {
    match kind {
        PrincipalType::Aws => classify_aws(value, partition),
        PrincipalType::Service => {
            let valid = value.contains('.')
                && value.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if valid {
                Classified::ok(Principal::Service(value))
            } else {
                Classified::invalid(
                    Principal::Nothing,
                    format!("`{value}` is not a valid service principal"),
                )
            }
        }
        PrincipalType::Federated => match Arn::parse(value) {
            Some(arn) if arn.service == "iam" && is_account_id(arn.account) => {
                Classified::ok(Principal::Federated {
                    provider: value,
                    account: Some(arn.account),
                })
            }
            Some(_) => Classified::invalid(
                Principal::Nothing,
                format!("`{value}` is not a valid identity-provider ARN"),
            ),
            None if value.contains('.') && !value.contains('*') => {
                Classified::ok(Principal::Federated {
                    provider: value,
                    account: None,
                })
            }
            None => Classified::invalid(
                Principal::Nothing,
                format!("`{value}` is not a valid federated principal"),
            ),
        },
        PrincipalType::CanonicalUser => Classified::invalid(
            Principal::Nothing,
            "KMS key policies do not accept `CanonicalUser` principals".to_owned(),
        ),
    }
}

fn classify_aws<'a>(value: &'a str, partition: Option<&str>) -> Classified<'a> {
    if value == "*" {
        return Classified::ok(Principal::AnyAccount);
    }
    if is_account_id(value) {
        return Classified::ok(Principal::Account(value));
    }
    if is_unique_id(value) {
        return Classified::invalid(
            Principal::Nothing,
            format!(
                "`{value}` is a unique id: KMS shows these for principals that were deleted, so it grants nothing"
            ),
        );
    }
    let Some(arn) = Arn::parse(value) else {
        return Classified::invalid(
            Principal::Nothing,
            format!("`{value}` is neither an account id, an ARN nor `*`"),
        );
    };
    if let Some(p) = partition
        && arn.partition != p
    {
        return Classified::invalid(
            Principal::Nothing,
            format!(
                "`{value}` is in partition `{}`, the key in `{p}`",
                arn.partition
            ),
        );
    }
    let wildcard_account = glob::has_wildcard(arn.account);
    if wildcard_account {
        return Classified::invalid(
            Principal::AnyAccount,
            format!("`{value}` has a wildcard account: it stands for every AWS account"),
        );
    }
    if !is_account_id(arn.account) || !arn.region.is_empty() {
        return Classified::invalid(
            Principal::Nothing,
            format!("`{value}` is not a valid IAM principal ARN"),
        );
    }
    let identity = Principal::Identity {
        account: arn.account,
        arn: value,
    };
    // A byte search: `split_once('/')` costs a `memchr` call on these few bytes.
    let (kind, name) = match arn.resource.bytes().position(|b| b == b'/') {
        Some(slash) => (
            arn.resource.get(..slash).unwrap_or_default(),
            arn.resource.get(slash + 1..).unwrap_or_default(),
        ),
        None => (arn.resource, ""),
    };
    let valid_kind = match arn.service {
        "iam" if arn.resource == "root" => return Classified::ok(Principal::Account(arn.account)),
        "iam" => matches!(kind, "user" | "role"),
        "sts" => matches!(kind, "assumed-role" | "federated-user"),
        _ => false,
    };
    if !valid_kind || name.is_empty() {
        return Classified::invalid(
            Principal::Nothing,
            format!("`{value}` is not an IAM user, role, role session, federated user or account"),
        );
    }
    if glob::has_wildcard(name) {
        return Classified::invalid(
            identity,
            format!("`{value}` has a wildcard in its name; KMS accepts only whole principals"),
        );
    }
    Classified::ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(v: &str) -> Classified<'_> {
        classify(PrincipalType::Aws, v, Some("aws"))
    }

    #[test]
    fn arns_split_into_six_fields() {
        let arn = Arn::parse("arn:aws:sts::111122223333:assumed-role/App/a:b").expect("arn");
        assert_eq!(
            (
                arn.partition,
                arn.service,
                arn.region,
                arn.account,
                arn.resource
            ),
            ("aws", "sts", "", "111122223333", "assumed-role/App/a:b")
        );
        assert_eq!(Arn::parse("arn:aws:iam::111122223333"), None);
        assert_eq!(Arn::parse("arn::iam::111122223333:root"), None);
        assert_eq!(Arn::parse("nra:aws:iam::111122223333:root"), None);
    }

    #[test]
    fn account_forms_are_the_account() {
        assert_eq!(
            aws("111122223333").principal,
            Principal::Account("111122223333")
        );
        assert_eq!(
            aws("arn:aws:iam::111122223333:root").principal,
            Principal::Account("111122223333")
        );
        let cn = classify(
            PrincipalType::Aws,
            "arn:aws-cn:iam::111122223333:root",
            Some("aws-cn"),
        );
        assert_eq!(cn.principal, Principal::Account("111122223333"));
    }

    #[test]
    fn identities_keep_their_account() {
        for arn in [
            "arn:aws:iam::111122223333:role/path/Admin",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:sts::111122223333:assumed-role/Admin/session",
        ] {
            let c = aws(arn);
            assert_eq!(c.invalid, None, "{arn}");
            assert!(matches!(
                c.principal,
                Principal::Identity {
                    account: "111122223333",
                    ..
                }
            ));
        }
    }

    #[test]
    fn wildcards_mean_any_account() {
        assert_eq!(aws("*").principal, Principal::AnyAccount);
        let c = aws("arn:aws:iam::*:root");
        assert_eq!(c.principal, Principal::AnyAccount);
        assert!(c.invalid.is_some());
    }

    #[test]
    fn invalid_principals_are_reported() {
        for v in [
            "AROAEXAMPLEEXAMPLE12",
            "AIDAEXAMPLEEXAMPLE12",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam::1111:root",
            "arn:aws-cn:iam::111122223333:root",
            "alice",
            "arn:aws:s3:::bucket",
        ] {
            assert!(aws(v).invalid.is_some(), "{v} should be invalid");
        }
        assert!(
            classify(
                PrincipalType::CanonicalUser,
                "79a59df900b949e55d96a1e698fbaced",
                None
            )
            .invalid
            .is_some()
        );
    }

    #[test]
    fn partition_is_parsed_not_assumed() {
        let c = classify(
            PrincipalType::Aws,
            "arn:aws-us-gov:iam::111122223333:role/x",
            None,
        );
        assert_eq!(c.invalid, None);
    }

    #[test]
    fn services_and_providers() {
        assert_eq!(
            classify(PrincipalType::Service, "logs.us-east-1.amazonaws.com", None).principal,
            Principal::Service("logs.us-east-1.amazonaws.com")
        );
        assert!(
            classify(PrincipalType::Service, "*", None)
                .invalid
                .is_some()
        );
        let saml = classify(
            PrincipalType::Federated,
            "arn:aws:iam::111122223333:saml-provider/Okta",
            None,
        );
        assert!(matches!(
            saml.principal,
            Principal::Federated {
                account: Some("111122223333"),
                ..
            }
        ));
        let google = classify(PrincipalType::Federated, "accounts.google.com", None);
        assert!(matches!(
            google.principal,
            Principal::Federated { account: None, .. }
        ));
    }
}
