//! KMS grants — the other door to a key: a [`KeyGrant`] as `ListGrants` reports it (and as
//! `aws kms list-grants` prints it), read from JSON, and what its principals denote.
//!
//! A grant gives its grantee the listed operations on the key without touching the key's
//! policy; the grant rules (`grant-*`, in [`crate::rules`]) judge it with the same rules
//! document, through [`crate::evaluate::evaluate_grant`].

use crate::arn::{Arn, is_account_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One grant on a key, with `ListGrants`' field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyGrant {
    /// The grant's id.
    pub grant_id: String,
    /// The key it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Its name, if it was given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who gets the operations: an IAM ARN, an account, or (for grants to AWS services) a
    /// service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    /// The service principal that gets the operations (grants made to a service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_service_principal: Option<String>,
    /// Who may retire the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// The service principal that may retire the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_service_principal: Option<String>,
    /// The account under which the grant was issued (`arn:aws:iam::<id>:root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuing_account: Option<String>,
    /// The operations granted (`Decrypt`, `CreateGrant`, …).
    #[serde(default)]
    pub operations: Vec<String>,
    /// What a request must carry for the grant to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
}

/// A grant's constraints: encryption context pairs, or the resource requests must be made
/// for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Constraints {
    /// Pairs the request's encryption context must include.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption_context_subset: BTreeMap<String, String>,
    /// Pairs the request's encryption context must equal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encryption_context_equals: BTreeMap<String, String>,
    /// The resource on whose behalf requests must be made (as `aws:SourceArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

/// The operations that read plaintext or hand out data keys.
pub const DECRYPT_OR_DATA_KEY: [&str; 6] = [
    "Decrypt",
    "ReEncryptFrom",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// What a grant principal denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee<'a> {
    /// An AWS service (`rds.eu-west-1.amazonaws.com`): judged by the grant's constraints.
    Service(&'a str),
    /// An account, or an IAM identity in it.
    Account {
        /// The account.
        account: &'a str,
        /// The principal as written.
        written: &'a str,
    },
    /// Nothing whose account can be read (a deleted principal's unique id, a malformed
    /// value): never taken as safe.
    Unknown(&'a str),
}

impl<'a> Grantee<'a> {
    /// Classifies a grant principal.
    pub fn of(principal: &'a str) -> Grantee<'a> {
        if is_account_id(principal) {
            return Grantee::Account {
                account: principal,
                written: principal,
            };
        }
        if let Some(arn) = Arn::parse(principal) {
            return if is_account_id(arn.account) && matches!(arn.service, "iam" | "sts") {
                Grantee::Account {
                    account: arn.account,
                    written: principal,
                }
            } else {
                Grantee::Unknown(principal)
            };
        }
        let service = principal
            .strip_suffix(".amazonaws.com")
            .or_else(|| principal.strip_suffix(".amazonaws.com.cn"));
        match service {
            Some(name)
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
            {
                Grantee::Service(principal)
            }
            _ => Grantee::Unknown(principal),
        }
    }

    /// The principal as written.
    pub fn written(self) -> &'a str {
        match self {
            Grantee::Service(p) | Grantee::Account { written: p, .. } | Grantee::Unknown(p) => p,
        }
    }
}

impl KeyGrant {
    /// Who gets the operations (the service principal when the grant names one).
    pub fn grantee(&self) -> Option<Grantee<'_>> {
        self.grantee_service_principal
            .as_deref()
            .or(self.grantee_principal.as_deref())
            .map(Grantee::of)
    }

    /// Who may retire the grant, besides the grantee's own `RetireGrant` operation.
    pub fn retiring(&self) -> Option<Grantee<'_>> {
        self.retiring_service_principal
            .as_deref()
            .or(self.retiring_principal.as_deref())
            .map(Grantee::of)
    }

    /// The account that issued the grant, when `IssuingAccount` names one.
    pub fn issuer(&self) -> Option<&str> {
        match Grantee::of(self.issuing_account.as_deref()?) {
            Grantee::Account { account, .. } => Some(account),
            _ => None,
        }
    }

    /// Whether the grant gives `operation`.
    pub fn allows(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o == operation)
    }

    /// The decrypt and data-key operations it gives.
    pub fn decrypt_or_data_key(&self) -> Vec<&str> {
        self.operations
            .iter()
            .map(String::as_str)
            .filter(|o| DECRYPT_OR_DATA_KEY.contains(o))
            .collect()
    }

    /// Whether an encryption-context constraint limits it.
    pub fn has_context_constraint(&self) -> bool {
        self.constraints.as_ref().is_some_and(|c| {
            !c.encryption_context_subset.is_empty() || !c.encryption_context_equals.is_empty()
        })
    }

    /// The `SourceArn` constraint, if any.
    pub fn source_arn(&self) -> Option<&str> {
        self.constraints.as_ref()?.source_arn.as_deref()
    }

    /// The operations as `kms:` actions (`kms:Decrypt`), for findings.
    pub fn actions(&self) -> Vec<String> {
        self.operations.iter().map(|o| format!("kms:{o}")).collect()
    }
}

/// The text is not a grant listing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a grant listing: {0}")]
pub struct GrantsError(String);

/// Every grant of a listing judged: one report, the grants' findings in listing order. A
/// grant whose `KeyId` is a key ARN is judged for that key's account when `ctx` names none.
pub fn evaluate_listing(
    grants: &[KeyGrant],
    rules: &crate::rules::RuleSet,
    ctx: &crate::grants::KeyContext,
) -> crate::report::Report {
    let mut report = crate::report::Report::default();
    for grant in grants {
        let own;
        let ctx = match grant.key_id.as_deref() {
            Some(key) if ctx.account.is_none() && Arn::parse(key).is_some() => {
                own = crate::grants::KeyContext {
                    organization: ctx.organization.clone(),
                    ..crate::grants::KeyContext::for_key_arn(key)
                };
                &own
            }
            _ => ctx,
        };
        let one = crate::evaluate::evaluate_grant(grant, rules, ctx);
        report.findings.extend(one.findings);
        for note in one.notes {
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
    }
    report
}

/// Reads what `aws kms list-grants` prints (`{"Grants": [...]}`), or a bare array of grants.
pub fn parse_listing(text: &str) -> Result<Vec<KeyGrant>, GrantsError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| GrantsError(e.to_string()))?;
    let grants = match value {
        serde_json::Value::Object(mut map) => match map.remove("Grants") {
            Some(grants @ serde_json::Value::Array(_)) => grants,
            _ => {
                return Err(GrantsError(
                    "expected an object with a `Grants` array (`aws kms list-grants` output)"
                        .to_owned(),
                ));
            }
        },
        array @ serde_json::Value::Array(_) => array,
        _ => {
            return Err(GrantsError(
                "expected an object with a `Grants` array, or an array of grants".to_owned(),
            ));
        }
    };
    serde_json::from_value(grants).map_err(|e| GrantsError(e.to_string()))
}

/// The grants of `text` when it has the shape of a grant listing (an object with a `Grants`
/// array) rather than of a key policy — `None` otherwise — read in one pass. Looks at the top
/// level only; a text without `"Grants"` is not parsed at all.
pub fn listing(text: &str) -> Option<Result<Vec<KeyGrant>, GrantsError>> {
    if !text.contains("\"Grants\"") {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut map)) => match map.remove("Grants") {
            Some(grants @ serde_json::Value::Array(_)) => {
                Some(serde_json::from_value(grants).map_err(|e| GrantsError(e.to_string())))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_services_accounts_or_unknown() {
        assert_eq!(
            Grantee::of("rds.eu-west-1.amazonaws.com"),
            Grantee::Service("rds.eu-west-1.amazonaws.com")
        );
        assert!(matches!(
            Grantee::of("arn:aws:sts::111122223333:assumed-role/R/s"),
            Grantee::Account {
                account: "111122223333",
                ..
            }
        ));
        assert!(matches!(
            Grantee::of("444455556666"),
            Grantee::Account {
                account: "444455556666",
                ..
            }
        ));
        for unknown in [
            "AROAEXAMPLEEXAMPLE123",
            "arn:aws:iam::*:root",
            "arn:aws:s3:::bucket",
            "evil.example.com",
            ".amazonaws.com",
        ] {
            assert_eq!(Grantee::of(unknown), Grantee::Unknown(unknown), "{unknown}");
        }
    }

    #[test]
    fn a_listing_reads_with_or_without_its_envelope() {
        let page = r#"{"Grants":[{"GrantId":"g1","GranteePrincipal":"444455556666","Operations":["Decrypt"],
            "Constraints":{"EncryptionContextSubset":{"a":"b"}},"CreationDate":"2026-01-01T00:00:00Z"}],"Truncated":false}"#;
        let grants = parse_listing(page).expect("a page");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].grant_id, "g1");
        assert!(grants[0].has_context_constraint());
        assert!(listing(page).is_some());
        assert_eq!(
            parse_listing(r#"[{"GrantId":"g2"}]"#).expect("bare")[0].grant_id,
            "g2"
        );
        assert!(listing(r#"{"Version":"2012-10-17","Statement":[]}"#).is_none());
        let err = parse_listing(r#"{"Grants":[{"Operations":["Decrypt"]}]}"#)
            .expect_err("a grant without an id");
        assert!(err.to_string().contains("GrantId"), "{err}");
    }
}
