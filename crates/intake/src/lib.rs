//! Event intake: an EventBridge "AWS API Call via CloudTrail" event for KMS (a call that set
//! a key policy, or `CreateGrant`) becomes a [`KeyEvent`] to handle, an [`Ignored`] one to acknowledge (failed calls, other events, no
//! resolvable key), or an [`EventError`] when the input is not such an event at all.
//!
//! Own types rather than `aws_lambda_events`' `AWSAPICall`: real CloudTrail events omit
//! fields those require (`userAgent`, `sessionContext.attributes.mfaAuthenticated`, …), so
//! every field here that CloudTrail may leave out is optional. Pure: no I/O.
//!
//! Where a key lives comes from the CloudTrail record (`recipientAccountId`, `awsRegion`,
//! the key's ARN), never from the envelope's `account` and `region`: forwarding an event to
//! the organization's hub bus rewrites those to the hub's.

use engine::arn::Arn;
use serde::Deserialize;
use serde_json::Value;

/// Why a key is checked: one of the CloudTrail calls that set a key policy, `CreateGrant`,
/// or the scheduled sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KeyEventName {
    /// `PutKeyPolicy`.
    PutKeyPolicy,
    /// `CreateKey` (the policy in force may be the default one).
    CreateKey,
    /// `ReplicateKey` (the replica, in the replica region, is the key to check).
    ReplicateKey,
    /// `CreateGrant`: the grant, not the policy, is what to check.
    CreateGrant,
    /// The scheduled sweep listed the key (no CloudTrail call).
    Sweep,
}

impl KeyEventName {
    fn parse(name: &str) -> Option<KeyEventName> {
        match name {
            "PutKeyPolicy" => Some(KeyEventName::PutKeyPolicy),
            "CreateKey" => Some(KeyEventName::CreateKey),
            "ReplicateKey" => Some(KeyEventName::ReplicateKey),
            "CreateGrant" => Some(KeyEventName::CreateGrant),
            _ => None,
        }
    }

    /// The CloudTrail event name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyEventName::PutKeyPolicy => "PutKeyPolicy",
            KeyEventName::CreateKey => "CreateKey",
            KeyEventName::ReplicateKey => "ReplicateKey",
            KeyEventName::CreateGrant => "CreateGrant",
            KeyEventName::Sweep => "Sweep",
        }
    }
}

/// Who made the call (`detail.userIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    /// `type` (`AssumedRole`, `IAMUser`, `Root`, `AWSService`, …).
    pub kind: Option<String>,
    /// `arn` (for a role session, the `assumed-role` ARN).
    pub arn: Option<String>,
    /// `sessionContext.sessionIssuer.arn`: the role behind a session.
    pub role_arn: Option<String>,
    /// `accountId`.
    pub account: Option<String>,
}

impl Actor {
    /// Whether the call was made by a session of a role named `name` (the last segment of
    /// its path) in any account: the member role the guardrail assumes in every account.
    pub fn is_role_named(&self, name: &str) -> bool {
        let issuer = self
            .role_arn
            .as_deref()
            .and_then(Arn::parse)
            .is_some_and(|r| {
                r.service == "iam"
                    && r.resource
                        .strip_prefix("role/")
                        .is_some_and(|p| p.rsplit('/').next() == Some(name))
            });
        let session = self.arn.as_deref().and_then(Arn::parse).is_some_and(|s| {
            s.service == "sts"
                && s.resource
                    .strip_prefix("assumed-role/")
                    .and_then(|r| r.split('/').next())
                    == Some(name)
        });
        issuer || session
    }

    /// Whether the call was made by `role_arn` (an IAM role ARN), directly or through one
    /// of its sessions.
    pub fn is_role(&self, role_arn: &str) -> bool {
        if self.role_arn.as_deref() == Some(role_arn) {
            return true;
        }
        // arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION is a session of
        // arn:aws:iam::ACCOUNT:role/[PATH/]NAME.
        let (Some(session), Some(role)) = (
            self.arn.as_deref().and_then(Arn::parse),
            Arn::parse(role_arn),
        ) else {
            return false;
        };
        let session_role = session
            .resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next());
        let role_name = role
            .resource
            .strip_prefix("role/")
            .and_then(|r| r.rsplit('/').next());
        session.service == "sts"
            && role.service == "iam"
            && session.partition == role.partition
            && session.account == role.account
            && session_role.is_some()
            && session_role == role_name
    }
}

/// A successful call that set a key policy: what the guardrail must look at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyEvent {
    /// The EventBridge event id (`id`), for logs and idempotence.
    pub event_id: String,
    /// CloudTrail's `eventID`, when present.
    pub cloudtrail_event_id: Option<String>,
    /// Which call.
    pub name: KeyEventName,
    /// `eventTime`.
    pub time: Option<String>,
    /// The key whose policy to check (for `ReplicateKey`, the replica).
    pub key_arn: String,
    /// The region the key lives in (for `ReplicateKey`, the replica region).
    pub region: String,
    /// The account that owns the key.
    pub account: String,
    /// Who made the call.
    pub actor: Actor,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// The policy text the call carried, if CloudTrail recorded it. Never trusted for the
    /// verdict: the guardrail re-fetches the policy.
    pub request_policy: Option<String>,
    /// The grant a `CreateGrant` made (`responseElements.grantId`). Only a hint: the
    /// guardrail reads the grant with `ListGrants` and judges what is there.
    pub grant_id: Option<String>,
}

impl KeyEvent {
    /// The key `key_arn` (in `region`) as the sweep `sweep_id` met it: no caller, no request.
    pub fn swept(sweep_id: &str, key_arn: &str, region: &str) -> KeyEvent {
        KeyEvent {
            event_id: format!("sweep:{sweep_id}"),
            cloudtrail_event_id: None,
            name: KeyEventName::Sweep,
            time: None,
            key_arn: key_arn.to_owned(),
            region: region.to_owned(),
            account: Arn::parse(key_arn).map_or_else(String::new, |a| a.account.to_owned()),
            actor: Actor::default(),
            source_ip: None,
            user_agent: None,
            request_policy: None,
            grant_id: None,
        }
    }
}

/// An event that is acknowledged without action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ignored {
    /// The EventBridge event id, when there is one.
    pub event_id: Option<String>,
    /// The event name, when there is one.
    pub event_name: Option<String>,
    /// Why it is ignored.
    pub reason: String,
}

/// What intake makes of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// Check this key.
    Handle(Box<KeyEvent>),
    /// Acknowledge and do nothing.
    Ignore(Ignored),
}

/// The input is not an EventBridge CloudTrail event at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an EventBridge CloudTrail event: {0}")]
pub struct EventError(pub String);

#[derive(Deserialize)]
struct Envelope {
    id: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    detail: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Detail {
    event_name: Option<String>,
    event_source: Option<String>,
    event_time: Option<String>,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    aws_region: Option<String>,
    recipient_account_id: Option<String>,
    error_code: Option<String>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<String>,
    user_identity: Option<UserIdentity>,
    request_parameters: Option<Value>,
    response_elements: Option<Value>,
    resources: Option<Vec<Resource>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserIdentity {
    #[serde(rename = "type")]
    kind: Option<String>,
    arn: Option<String>,
    account_id: Option<String>,
    session_context: Option<SessionContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionContext {
    session_issuer: Option<SessionIssuer>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SessionIssuer {
    arn: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resource {
    #[serde(rename = "ARN")]
    arn: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// Reads one Lambda input.
pub fn read(input: &Value) -> Result<Intake, EventError> {
    let envelope = Envelope::deserialize(input).map_err(|e| EventError(e.to_string()))?;
    if !envelope.detail.is_object() {
        return Err(EventError("`detail` is not an object".to_owned()));
    }
    let detail =
        Detail::deserialize(&envelope.detail).map_err(|e| EventError(format!("detail: {e}")))?;
    let ignore = |reason: String| {
        Ok(Intake::Ignore(Ignored {
            event_id: envelope.id.clone(),
            event_name: detail.event_name.clone(),
            reason,
        }))
    };
    if envelope.source != "aws.kms" || envelope.detail_type != DETAIL_TYPE {
        return ignore(format!(
            "not a KMS CloudTrail call (source `{}`, detail-type `{}`)",
            envelope.source, envelope.detail_type
        ));
    }
    if detail
        .event_source
        .as_deref()
        .is_some_and(|s| s != "kms.amazonaws.com")
    {
        return ignore("the CloudTrail event is not from kms.amazonaws.com".to_owned());
    }
    let Some(name) = detail.event_name.as_deref().and_then(KeyEventName::parse) else {
        return ignore(format!(
            "event `{}` neither sets a key policy nor creates a grant",
            detail.event_name.as_deref().unwrap_or("")
        ));
    };
    if let Some(code) = &detail.error_code {
        return ignore(format!("the call failed (`{code}`): nothing changed"));
    }
    let Some(region) = detail.aws_region.clone() else {
        return ignore("the CloudTrail record names no region (`awsRegion`)".to_owned());
    };
    let Some(account) = detail.recipient_account_id.clone() else {
        return ignore("the CloudTrail record names no account (`recipientAccountId`)".to_owned());
    };
    let Some((key_arn, key_region)) = resolve_key(name, &detail, &region, &account) else {
        return ignore("no key could be resolved from the event".to_owned());
    };
    let identity = detail.user_identity.unwrap_or_default();
    let request = detail.request_parameters.as_ref();
    Ok(Intake::Handle(Box::new(KeyEvent {
        event_id: envelope
            .id
            .unwrap_or_else(|| detail.event_id.clone().unwrap_or_default()),
        cloudtrail_event_id: detail.event_id,
        name,
        time: detail.event_time,
        account: Arn::parse(&key_arn).map_or(account, |a| a.account.to_owned()),
        key_arn,
        region: key_region,
        actor: Actor {
            kind: identity.kind,
            arn: identity.arn,
            role_arn: identity
                .session_context
                .and_then(|c| c.session_issuer)
                .and_then(|i| i.arn),
            account: identity.account_id,
        },
        source_ip: detail.source_ip_address,
        user_agent: detail.user_agent,
        request_policy: request
            .and_then(|r| r.get("policy"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        grant_id: str_at(detail.response_elements.as_ref(), &["grantId"]).map(str::to_owned),
    })))
}

/// The partition the event's call was made in, read from an ARN the event carries (a
/// resource, the request's key, the caller): partitions are never guessed from a region.
fn event_partition(detail: &Detail) -> Option<&str> {
    let resources = detail
        .resources
        .iter()
        .flatten()
        .filter_map(|r| r.arn.as_deref());
    let request_key = str_at(detail.request_parameters.as_ref(), &["keyId"]);
    let caller = detail.user_identity.as_ref().and_then(|i| i.arn.as_deref());
    resources
        .chain(request_key)
        .chain(caller)
        .find_map(|arn| Arn::parse(arn).map(|a| a.partition))
}

fn is_key_arn(text: &str) -> bool {
    Arn::parse(text).is_some_and(|a| a.service == "kms" && a.resource.starts_with("key/"))
}

fn key_arn_from_id(id: &str, partition: &str, region: &str, account: &str) -> Option<String> {
    if is_key_arn(id) {
        return Some(id.to_owned());
    }
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| format!("arn:{partition}:kms:{region}:{account}:key/{id}"))
}

fn str_at<'v>(value: Option<&'v Value>, path: &[&str]) -> Option<&'v str> {
    let mut v = value?;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str()
}

/// The key whose policy the event set, and its region.
fn resolve_key(
    name: KeyEventName,
    detail: &Detail,
    region: &str,
    account: &str,
) -> Option<(String, String)> {
    let request = detail.request_parameters.as_ref();
    let response = detail.response_elements.as_ref();
    let from_id =
        |id: &str, region: &str| key_arn_from_id(id, event_partition(detail)?, region, account);
    match name {
        KeyEventName::PutKeyPolicy | KeyEventName::CreateGrant => {
            let from_resources = detail.resources.iter().flatten().find_map(|r| {
                let arn = r.arn.as_deref()?;
                (r.kind.as_deref().is_none_or(|k| k == "AWS::KMS::Key") && is_key_arn(arn))
                    .then(|| arn.to_owned())
            });
            let arn = from_resources.or_else(|| from_id(str_at(request, &["keyId"])?, region))?;
            Some((arn, region.to_owned()))
        }
        KeyEventName::CreateKey => {
            let arn = str_at(response, &["keyMetadata", "arn"])
                .filter(|a| is_key_arn(a))
                .map(str::to_owned)
                .or_else(|| from_id(str_at(response, &["keyMetadata", "keyId"])?, region))?;
            Some((arn, region.to_owned()))
        }
        KeyEventName::ReplicateKey => {
            let replica_region = str_at(request, &["replicaRegion"])?;
            if let Some(arn) =
                str_at(response, &["replicaKeyMetadata", "arn"]).filter(|a| is_key_arn(a))
            {
                return Some((arn.to_owned(), replica_region.to_owned()));
            }
            // A multi-Region replica keeps the primary's key id.
            let primary = str_at(request, &["keyId"])?;
            let id = Arn::parse(primary)
                .and_then(|a| a.resource.strip_prefix("key/"))
                .unwrap_or(primary);
            Some((from_id(id, replica_region)?, replica_region.to_owned()))
        }
        // Never parsed from CloudTrail: a sweep names its key itself.
        KeyEventName::Sweep => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put_key_policy() -> Value {
        json!({
            "version": "0", "id": "ev-1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.kms", "account": "111122223333", "region": "us-east-1",
            "detail": {
                "eventSource": "kms.amazonaws.com", "eventName": "PutKeyPolicy",
                "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Dev/alice"},
                "requestParameters": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default", "policy": "{}"}
            }
        })
    }

    fn handled(v: &Value) -> KeyEvent {
        match read(v).expect("an event") {
            Intake::Handle(e) => *e,
            Intake::Ignore(i) => panic!("ignored: {}", i.reason),
        }
    }

    fn ignored(v: &Value) -> String {
        match read(v).expect("an event") {
            Intake::Ignore(i) => i.reason,
            Intake::Handle(e) => panic!("handled: {e:?}"),
        }
    }

    #[test]
    fn a_key_id_becomes_an_arn_in_the_event_region() {
        let e = handled(&put_key_policy());
        assert_eq!(
            e.key_arn,
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert_eq!(e.request_policy.as_deref(), Some("{}"));
        assert_eq!(e.user_agent, None, "optional fields may be missing");
    }

    #[test]
    fn the_partition_comes_from_the_events_own_arns() {
        // GIVEN a call in the China partition whose key is named by id only
        let mut v = put_key_policy();
        v["detail"]["awsRegion"] = json!("cn-north-1");
        v["detail"]["userIdentity"]["arn"] = json!("arn:aws-cn:iam::111122223333:role/Deployer");
        // THEN the key's ARN takes the caller's partition
        assert!(
            handled(&v)
                .key_arn
                .starts_with("arn:aws-cn:kms:cn-north-1:")
        );
        // and a partition no region list knows is taken as it is
        v["detail"]["userIdentity"]["arn"] = json!("arn:aws-eusc:iam::111122223333:role/Deployer");
        assert!(handled(&v).key_arn.starts_with("arn:aws-eusc:kms:"));
        // and an event with no ARN at all names no key
        v["detail"]["userIdentity"] = json!({"type": "Root"});
        assert!(ignored(&v).contains("no key"));
    }

    #[test]
    fn failed_calls_and_other_events_are_ignored() {
        let mut failed = put_key_policy();
        failed["detail"]["errorCode"] = json!("AccessDeniedException");
        assert!(ignored(&failed).contains("AccessDeniedException"));
        let mut other = put_key_policy();
        other["detail"]["eventName"] = json!("Decrypt");
        assert!(ignored(&other).contains("`Decrypt`"));
        let mut s3 = put_key_policy();
        s3["source"] = json!("aws.s3");
        assert!(ignored(&s3).contains("aws.s3"));
        let mut keyless = put_key_policy();
        keyless["detail"]["requestParameters"] = json!({});
        assert!(ignored(&keyless).contains("no key"));
    }

    #[test]
    fn non_events_are_errors() {
        for bad in [
            json!([]),
            json!({"detail": {}}),
            json!("PutKeyPolicy"),
            json!({"source": "aws.kms", "detail-type": DETAIL_TYPE, "detail": 3}),
        ] {
            assert!(read(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_key_lives_where_the_record_says_not_where_the_envelope_was_forwarded() {
        // GIVEN a member's event forwarded to the hub bus: the envelope names the hub
        let mut v = put_key_policy();
        v["account"] = json!("999988887777");
        v["region"] = json!("eu-west-1");
        v["detail"]["recipientAccountId"] = json!("444455556666");
        v["detail"]["awsRegion"] = json!("ap-southeast-2");
        // THEN the key is the member's, in the record's region
        let e = handled(&v);
        assert_eq!(e.account, "444455556666");
        assert_eq!(e.region, "ap-southeast-2");
        assert!(
            e.key_arn
                .starts_with("arn:aws:kms:ap-southeast-2:444455556666:key/")
        );
        // and a record without its account or region is not guessed from the envelope
        let mut no_account = v.clone();
        no_account["detail"]
            .as_object_mut()
            .expect("detail")
            .remove("recipientAccountId");
        assert!(ignored(&no_account).contains("recipientAccountId"));
        let mut no_region = v;
        no_region["detail"]
            .as_object_mut()
            .expect("detail")
            .remove("awsRegion");
        assert!(ignored(&no_region).contains("awsRegion"));
    }

    #[test]
    fn the_member_role_is_recognised_in_any_account() {
        let session = Actor {
            arn: Some(
                "arn:aws:sts::444455556666:assumed-role/KmsGuardrailMember/kms-guardrail"
                    .to_owned(),
            ),
            ..Actor::default()
        };
        assert!(session.is_role_named("KmsGuardrailMember"));
        let issuer = Actor {
            role_arn: Some("arn:aws-cn:iam::777788889999:role/ops/KmsGuardrailMember".to_owned()),
            ..Actor::default()
        };
        assert!(issuer.is_role_named("KmsGuardrailMember"));
        // look-alikes: another role, a user of that name, a longer name
        for other in [
            "arn:aws:sts::444455556666:assumed-role/KmsGuardrailMemberX/s",
            "arn:aws:iam::444455556666:user/KmsGuardrailMember",
            "arn:aws:sts::444455556666:assumed-role/Admin/KmsGuardrailMember",
        ] {
            let actor = Actor {
                arn: Some(other.to_owned()),
                role_arn: Some(other.to_owned()),
                ..Actor::default()
            };
            assert!(!actor.is_role_named("KmsGuardrailMember"), "{other}");
        }
    }

    #[test]
    fn sessions_of_a_role_are_that_role() {
        let actor = Actor {
            arn: Some("arn:aws:sts::111122223333:assumed-role/kms-guardrail/1700000000".to_owned()),
            ..Actor::default()
        };
        assert!(actor.is_role("arn:aws:iam::111122223333:role/service/kms-guardrail"));
        assert!(!actor.is_role("arn:aws:iam::111122223333:role/kms-guardrail-other"));
        assert!(!actor.is_role("arn:aws:iam::444455556666:role/kms-guardrail"));
        let issuer = Actor {
            role_arn: Some("arn:aws:iam::111122223333:role/kms-guardrail".to_owned()),
            ..Actor::default()
        };
        assert!(issuer.is_role("arn:aws:iam::111122223333:role/kms-guardrail"));
    }
}
