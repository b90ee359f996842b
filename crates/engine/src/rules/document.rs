//! Reading a rules document (YAML or JSON) into a [`RuleSet`], rejecting unknown fields and
//! invalid values with an error that names the offending field (`trusted_accounts[1]: …`).
//! The published JSON Schema is `schema/rules.schema.json`; a test keeps the two in step.

use super::{OWNER_PLACEHOLDER, RuleAction, RuleId, RuleSet};
use crate::arn::{Arn, is_account_id};
use serde::{Deserialize, Deserializer, de};
use std::collections::BTreeMap;

/// Why a rules document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The document is empty.
    #[error("invalid rules: the document is empty")]
    Empty,
    /// Not YAML/JSON, or a field is missing, unknown or invalid; the message names the field
    /// (`trusted_accounts[1]: …`) and its line.
    #[error("invalid rules: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    #[serde(rename = "version")]
    _version: Version,
    #[serde(default)]
    account: Option<AccountId>,
    #[serde(default)]
    organization: Option<OrgId>,
    #[serde(default)]
    trusted_accounts: Vec<AccountId>,
    #[serde(default)]
    trusted_organizations: Vec<OrgId>,
    #[serde(default)]
    trusted_vpc_endpoints: Vec<NetworkId>,
    #[serde(default)]
    admins: Vec<AdminPattern>,
    #[serde(default)]
    exemptions: Vec<KeyRef>,
    #[serde(default)]
    rules: BTreeMap<RuleId, RuleAction>,
}

/// Deserializes a string and checks it with `valid`, failing with `what`.
fn checked<'de, D: Deserializer<'de>>(
    d: D,
    valid: fn(&str) -> bool,
    what: &'static str,
) -> Result<String, D::Error> {
    struct Visitor {
        valid: fn(&str) -> bool,
        what: &'static str,
    }
    impl de::Visitor<'_> for Visitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            if (self.valid)(v) {
                Ok(v.to_owned())
            } else {
                Err(E::custom(format!("`{v}` is not {}", self.what)))
            }
        }
    }
    d.deserialize_str(Visitor { valid, what })
}

macro_rules! checked_string {
    ($name:ident, $valid:expr, $what:literal) => {
        struct $name(String);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                checked(d, $valid, $what).map($name)
            }
        }
    };
}

checked_string!(AccountId, is_account_id, "a 12-digit AWS account id");
checked_string!(
    OrgId,
    is_org_id,
    "an organization id (o- and 10 to 32 lowercase letters or digits)"
);
checked_string!(
    NetworkId,
    is_network_id,
    "a VPC endpoint id (vpce-…) or VPC id (vpc-…)"
);
checked_string!(
    AdminPattern,
    is_admin_pattern,
    "an account id or an IAM principal ARN (`${account}` for the key's owner, `*` allowed in the name)"
);
checked_string!(
    KeyRef,
    is_key_ref,
    "a key ARN, key id, alias ARN or alias/ name"
);

struct Version;
impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            1 => Ok(Version),
            other => Err(de::Error::custom(format!(
                "version `{other}` is not supported (this build reads version 1)"
            ))),
        }
    }
}

fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_network_id(s: &str) -> bool {
    let rest = s.strip_prefix("vpce-").or_else(|| s.strip_prefix("vpc-"));
    rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_admin_pattern(s: &str) -> bool {
    if is_account_id(s) {
        return true;
    }
    let Some(arn) = Arn::parse(s) else {
        return false;
    };
    let account_ok = arn.account == OWNER_PLACEHOLDER || is_account_id(arn.account);
    let rest_without_placeholder = s.replacen(OWNER_PLACEHOLDER, "", 1);
    account_ok
        && matches!(arn.service, "iam" | "sts")
        && arn.region.is_empty()
        && !arn.resource.is_empty()
        && !rest_without_placeholder.contains("${")
}

fn is_key_ref(s: &str) -> bool {
    if let Some(arn) = Arn::parse(s) {
        return arn.service == "kms"
            && (arn.resource.starts_with("key/") || arn.resource.starts_with("alias/"));
    }
    let id_like =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    s.strip_prefix("alias/").is_some_and(|a| !a.is_empty()) || id_like(s)
}

pub(super) fn parse(text: &str) -> Result<RuleSet, RulesError> {
    if text.trim().is_empty() {
        return Err(RulesError::Empty);
    }
    let raw: RawDocument = serde_yaml_ng::from_str(text)
        .map_err(|e| RulesError::Invalid(first_line(&e.to_string())))?;
    let mut rules = RuleSet {
        account: raw.account.map(|a| a.0),
        organization: raw.organization.map(|o| o.0),
        trusted_accounts: raw.trusted_accounts.into_iter().map(|a| a.0).collect(),
        trusted_organizations: raw.trusted_organizations.into_iter().map(|o| o.0).collect(),
        trusted_vpc_endpoints: raw.trusted_vpc_endpoints.into_iter().map(|v| v.0).collect(),
        admins: raw.admins.into_iter().map(|a| a.0).collect(),
        exemptions: raw.exemptions.into_iter().map(|k| k.0).collect(),
        ..RuleSet::default()
    };
    for (rule, action) in raw.rules {
        rules.set_action(rule, action);
    }
    Ok(rules)
}

/// serde_yaml appends " at line L column C"; keep the message one line.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).expect_err("should be refused").to_string()
    }

    #[test]
    fn full_document_parses() {
        let rules = parse(
            r#"
version: 1
account: "111122223333"
trusted_accounts: ["444455556666"]
trusted_organizations: ["o-a1b2c3d4e5"]
trusted_vpc_endpoints: ["vpce-1a2b3c4d"]
admins:
  - "arn:aws:iam::${account}:role/KeyAdmin"
exemptions: ["alias/legacy", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
rules:
  public-access: revert
  ineffective-statement: off
"#,
        )
        .expect("valid");
        assert_eq!(rules.account.as_deref(), Some("111122223333"));
        assert_eq!(rules.action(RuleId::PublicAccess), RuleAction::Revert);
        assert_eq!(rules.action(RuleId::IneffectiveStatement), RuleAction::Off);
        assert_eq!(rules.action(RuleId::UntrustedAccount), RuleAction::Alert);
    }

    #[test]
    fn json_documents_are_read_too() {
        let rules = parse(r#"{"version": 1, "rules": {"lockout-risk": "revert"}}"#).expect("valid");
        assert_eq!(rules.action(RuleId::LockoutRisk), RuleAction::Revert);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            err("version: 1\ntrusted_accounts: [\"444455556666\", \"12345\"]").starts_with(
                "invalid rules: trusted_accounts[1]: `12345` is not a 12-digit AWS account id"
            )
        );
        assert!(
            err("version: 1\nrules:\n  public-acess: revert")
                .contains("rules: unknown variant `public-acess`")
        );
        assert!(
            err("version: 1\nrules:\n  public-access: block")
                .contains("rules.public-access: unknown variant `block`")
        );
        assert!(err("version: 1\ntrusted_acounts: []").contains("unknown field `trusted_acounts`"));
        assert!(err("version: 2").starts_with("invalid rules: version `2` is not supported"));
        assert!(err("trusted_accounts: []").contains("missing field `version`"));
        assert!(
            err("version: 1\nadmins: [\"arn:aws:iam::${acount}:role/X\"]")
                .starts_with("invalid rules: admins[0]:")
        );
    }

    #[test]
    fn unquoted_account_ids_keep_their_leading_zeros() {
        // YAML would read 044455556666 as a number; the document is read as written.
        let rules =
            parse("version: 1\ntrusted_accounts: [044455556666, 444455556666]").expect("valid");
        assert_eq!(rules.trusted_accounts, ["044455556666", "444455556666"]);
    }

    #[test]
    fn syntax_errors_and_empty_documents() {
        assert_eq!(err("  \n"), "invalid rules: the document is empty");
        assert!(err("version: [1").starts_with("invalid rules:"));
        assert!(err("- a\n- b").starts_with("invalid rules:"));
    }

    /// The names serde lists after "expected one of" in an error about `text`.
    fn expected_names(text: &str) -> Vec<String> {
        let e = err(text);
        let list = e
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("no list in {e}"));
        let list = list.split(" at line").next().unwrap_or(list);
        list.split(", ")
            .map(|n| n.trim_matches('`').to_owned())
            .collect()
    }

    #[test]
    fn published_schema_matches_the_loader() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../../schema/rules.schema.json"))
                .expect("schema is JSON");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            k.sort();
            k
        };
        let mut fields = expected_names("version: 1\nnot_a_field: 1");
        fields.sort();
        assert_eq!(keys(&schema["properties"]), fields);
        let mut rule_ids: Vec<String> = RuleId::ALL.iter().map(|r| r.as_str().to_owned()).collect();
        rule_ids.sort();
        assert_eq!(keys(&schema["properties"]["rules"]["properties"]), rule_ids);
        let actions: Vec<String> = expected_names("version: 1\nrules: {public-access: nope}");
        assert_eq!(
            schema["$defs"]["action"]["enum"],
            serde_json::json!(actions)
        );
    }

    #[test]
    fn shipped_example_rules_are_valid() {
        let rules =
            parse(include_str!("../../../../examples/rules.yaml")).expect("example is valid");
        assert_eq!(rules.action(RuleId::PublicAccess), RuleAction::Revert);
    }
}
