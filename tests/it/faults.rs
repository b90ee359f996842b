//! Fault paths moto cannot produce, through the real KMS adapter with `aws-smithy-mocks`:
//! every error the PutKeyPolicy reference lists (plus throttling and access denied) is
//! classified, and the handler retries the transient ones and alerts the permanent ones; and
//! grants to service principals, whose fields moto does not keep.

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
use aws_sdk_kms::types::{KeyManagerType, KeyMetadata, KeyState};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use kms_guardrail::aws::kms::KmsKeyPolicies;
use kms_guardrail::engine::RuleSet;
use kms_guardrail::guardrail::memory::{InMemoryBaselines, InMemoryCheckpoints, RecordingAlerts};
use kms_guardrail::guardrail::ports::{Adapters, ErrorClass, KeyPolicies, NoFindings};
use kms_guardrail::guardrail::{Action, Guardrail, Mode, Settings};
use std::path::Path;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"backup","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#;

/// The errors the PutKeyPolicy reference lists, with its HTTP status, and what they mean.
const PUT_ERRORS: [(&str, u16, ErrorClass); 8] = [
    ("DependencyTimeoutException", 500, ErrorClass::Transient),
    ("InvalidArnException", 400, ErrorClass::Rejected),
    ("KMSInternalException", 500, ErrorClass::Transient),
    ("KMSInvalidStateException", 400, ErrorClass::InvalidState),
    ("LimitExceededException", 400, ErrorClass::Rejected),
    (
        "MalformedPolicyDocumentException",
        400,
        ErrorClass::Rejected,
    ),
    ("NotFoundException", 400, ErrorClass::NotFound),
    ("UnsupportedOperationException", 400, ErrorClass::Rejected),
];

/// An error response as KMS sends it, so the SDK's own deserializer reads it.
fn kms_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("status"),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"injected {code}"}}"#
        )),
    )
}

fn customer_key() -> DescribeKeyOutput {
    key_managed_by(KeyManagerType::Customer)
}

fn key_managed_by(manager: KeyManagerType) -> DescribeKeyOutput {
    DescribeKeyOutput::builder()
        .key_metadata(
            KeyMetadata::builder()
                .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
                .arn(KEY)
                .key_manager(manager)
                .key_state(KeyState::Enabled)
                .build()
                .expect("metadata"),
        )
        .build()
}

/// The guardrail in enforce mode over the real KMS adapter with `client`.
fn guardrail_over(
    client: Client,
) -> Guardrail<Adapters<KmsKeyPolicies, RecordingAlerts, InMemoryBaselines, InMemoryCheckpoints>> {
    Guardrail {
        ports: Adapters {
            keys: KmsKeyPolicies::with_client(client),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: Default::default(),
            findings: None::<NoFindings>,
        },
        settings: Settings {
            mode: Mode::Enforce,
            ..Settings::default()
        },
    }
}

fn rules() -> RuleSet {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.yaml"))
            .expect("rules");
    RuleSet::from_document(&text).expect("valid")
}

fn event() -> serde_json::Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("events/put-key-policy-public.json"),
    )
    .expect("event");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn every_put_key_policy_error_is_classified() {
    for (code, status, class) in PUT_ERRORS {
        let rule =
            mock!(Client::put_key_policy).then_http_response(move || kms_error(status, code));
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&rule]);
        let kms = KmsKeyPolicies::with_client(client);
        let err = kms
            .put_key_policy("us-east-1", KEY, "{}")
            .await
            .expect_err(code);
        assert_eq!((err.code.as_str(), err.class), (code, class), "{code}");
    }
}

#[tokio::test]
async fn read_errors_are_classified() {
    for (code, status, class) in [
        ("ThrottlingException", 400, ErrorClass::Transient),
        ("AccessDeniedException", 400, ErrorClass::AccessDenied),
        ("NotFoundException", 400, ErrorClass::NotFound),
        ("KMSInvalidStateException", 400, ErrorClass::InvalidState),
        ("ServiceUnavailable", 503, ErrorClass::Transient),
    ] {
        let rule =
            mock!(Client::get_key_policy).then_http_response(move || kms_error(status, code));
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&rule]);
        let err = KmsKeyPolicies::with_client(client)
            .get_key_policy("us-east-1", KEY)
            .await
            .expect_err(code);
        assert_eq!(err.class, class, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_handler_retries_transient_write_errors_and_alerts_permanent_ones() {
    for (code, status, class) in PUT_ERRORS {
        let describe = mock!(Client::describe_key).then_output(customer_key);
        let get = mock!(Client::get_key_policy)
            .then_output(|| GetKeyPolicyOutput::builder().policy(PUBLIC).build());
        // Matches only writes without the lock-out bypass: one with it finds no rule.
        let put = mock!(Client::put_key_policy)
            .match_requests(|req| req.bypass_policy_lockout_safety_check().is_none())
            .then_http_response(move || kms_error(status, code));
        let aliases = mock!(Client::list_aliases).then_output(|| {
            aws_sdk_kms::operation::list_aliases::ListAliasesOutput::builder().build()
        });
        let client = mock_client!(
            aws_sdk_kms,
            RuleMode::MatchAny,
            [&describe, &get, &aliases, &put]
        );
        let g = guardrail_over(client);
        let result = g.handle(&event(), &rules(), 1_795_000_000).await;
        if class.is_transient() {
            let err = result.expect_err(code);
            assert_eq!(err.error_type(), "TransientAwsError", "{code}");
            assert!(g.ports.alerts.sent().is_empty(), "{code}");
        } else {
            let out = result.unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(out.action, Action::RevertFailed, "{code}");
            assert!(out.message.contains(code), "{code}: {}", out.message);
            assert_eq!(g.ports.alerts.sent()[0].action, "revert-failed", "{code}");
        }
        // The SDK's retry policy retries transient errors itself (3 attempts) before the
        // handler sees them; it also counts LimitExceededException as throttling, which for
        // PutKeyPolicy (a policy too long) the handler then treats as permanent.
        let sdk_retries = class.is_transient() || code == "LimitExceededException";
        let expected_calls = if sdk_retries { 3 } else { 1 };
        assert_eq!(put.num_calls(), expected_calls, "{code}");
    }
}

/// moto reports every key as customer-managed; AWS-managed keys are checked here.
#[tokio::test]
async fn aws_managed_keys_are_recognized_and_left_alone() {
    let describe = mock!(Client::describe_key).then_output(|| key_managed_by(KeyManagerType::Aws));
    let get = mock!(Client::get_key_policy)
        .then_output(|| GetKeyPolicyOutput::builder().policy(PUBLIC).build());
    let put = mock!(Client::put_key_policy).then_output(|| {
        aws_sdk_kms::operation::put_key_policy::PutKeyPolicyOutput::builder().build()
    });
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe, &get, &put]);
    let g = guardrail_over(client);
    let out = g
        .handle(&event(), &rules(), 1_795_000_000)
        .await
        .expect("handled");
    assert_eq!(out.status, kms_guardrail::guardrail::Status::Skipped);
    assert_eq!((get.num_calls(), put.num_calls()), (0, 0));
    assert!(g.ports.alerts.sent().is_empty());
}

/// A sweep meets AWS-managed keys (moto cannot hold them): listed, described, skipped,
/// their policy never read.
#[tokio::test]
async fn a_sweep_skips_aws_managed_keys() {
    use aws_sdk_kms::operation::list_keys::ListKeysOutput;
    use aws_sdk_kms::types::KeyListEntry;
    use kms_guardrail::guardrail::Skip;
    use kms_guardrail::sweep::pace::{Paced, Pacing};
    use kms_guardrail::sweep::{Limits, Request, SweepSettings, Sweeper};
    const MANAGED: &str =
        "arn:aws:kms:us-east-1:111122223333:key/0000aaaa-0000-0000-0000-000000000000";
    let list = mock!(Client::list_keys).then_output(|| {
        ListKeysOutput::builder()
            .keys(KeyListEntry::builder().key_arn(MANAGED).build())
            .keys(KeyListEntry::builder().key_arn(KEY).build())
            .truncated(false)
            .build()
    });
    let managed = mock!(Client::describe_key)
        .match_requests(|r| r.key_id() == Some(MANAGED))
        .then_output(|| key_managed_by(KeyManagerType::Aws));
    let customer = mock!(Client::describe_key)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(customer_key);
    let get = mock!(Client::get_key_policy)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(|| {
            GetKeyPolicyOutput::builder()
                .policy(PUBLIC.replace(
                    r#","Principal":"*""#,
                    r#","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"}"#,
                ))
                .build()
        });
    let grants = mock!(Client::list_grants)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(|| {
            aws_sdk_kms::operation::list_grants::ListGrantsOutput::builder()
                .truncated(false)
                .build()
        });
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [&list, &managed, &customer, &get, &grants]
    );
    let g = guardrail_over(client);
    let sweeper = Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(g.ports.keys, Pacing::default()),
                alerts: g.ports.alerts,
                baselines: g.ports.baselines,
                checkpoints: g.ports.checkpoints,
                findings: None::<NoFindings>,
            },
            settings: g.settings,
        },
        settings: SweepSettings::for_region("us-east-1"),
    };
    let report = sweeper
        .run(
            &Request::Once {
                id: "mocked".to_owned(),
            },
            &rules(),
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("the sweep runs");
    let c = report.summary.expect("a summary").counts;
    assert_eq!((c.keys_seen, c.compliant), (2, 1));
    assert_eq!(c.skipped.get(&Skip::AwsManaged), Some(&1));
    assert_eq!((managed.num_calls(), customer.num_calls()), (1, 1));
    assert_eq!(
        get.num_calls(),
        1,
        "the AWS-managed key's policy is never read"
    );
    assert!(sweeper.guardrail.ports.alerts.sent().is_empty());
}

/// Grants to service principals, which moto does not hold: `ListGrants` answers (through the
/// real adapter and the SDK's deserializer) with a service principal scoped to a resource of
/// a foreign account (revoked) and one scoped to the owner's own log group (left alone).
#[tokio::test(start_paused = true)]
async fn service_principal_grants_are_judged_by_their_source() {
    use aws_sdk_kms::operation::list_grants::ListGrantsOutput;
    use aws_sdk_kms::operation::revoke_grant::RevokeGrantOutput;
    use aws_sdk_kms::types::{GrantConstraints, GrantListEntry, GrantOperation};
    let service_grant = |id: &str, source: &str| {
        GrantListEntry::builder()
            .key_id(KEY)
            .grant_id(id)
            .grantee_service_principal("logs.us-east-1.amazonaws.com")
            .retiring_service_principal("logs.us-east-1.amazonaws.com")
            .issuing_account("arn:aws:iam::111122223333:root")
            .operations(GrantOperation::Encrypt)
            .operations(GrantOperation::Decrypt)
            .constraints(GrantConstraints::builder().source_arn(source).build())
            .build()
    };
    let listed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reads = listed.clone();
    let list = mock!(Client::list_grants).then_output(move || {
        // The foreign-source grant is gone once revoked (the read-back sees it so).
        let first = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let mut out = ListGrantsOutput::builder()
            .grants(service_grant(
                "own-logs",
                "arn:aws:logs:us-east-1:111122223333:log-group:/app/audit",
            ))
            .truncated(false);
        if first {
            out = out.grants(service_grant(
                "foreign-logs",
                "arn:aws:logs:us-east-1:999988887777:log-group:/theirs",
            ));
        }
        out.build()
    });
    let revoke = mock!(Client::revoke_grant)
        .match_requests(|r| r.grant_id() == Some("foreign-logs"))
        .then_output(|| RevokeGrantOutput::builder().build());
    let describe = mock!(Client::describe_key).then_output(customer_key);
    // The example rules exempt an alias: the key's aliases are read before a revocation.
    let aliases = mock!(Client::list_aliases)
        .then_output(|| aws_sdk_kms::operation::list_aliases::ListAliasesOutput::builder().build());
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [&describe, &list, &revoke, &aliases]
    );
    let g = guardrail_over(client);
    // The organization is known and 999988887777 is not in it.
    g.settings.membership.set(
        kms_guardrail::engine::Organization {
            id: "o-a1b2c3d4e5".to_owned(),
            accounts: vec!["111122223333".to_owned()],
        },
        1_795_000_000,
    );
    let mut rules = rules();
    rules.set_action(
        kms_guardrail::engine::RuleId::GrantUntrustedGrantee,
        kms_guardrail::engine::RuleAction::Revert,
    );
    // The event names no grant id: every grant of the key is judged.
    let mut e = event();
    e["detail"]["eventName"] = "CreateGrant".into();
    e["detail"]["requestParameters"] = serde_json::json!({"keyId": KEY});
    let out = g.handle(&e, &rules, 1_795_000_000).await.expect("handled");
    let verdicts: Vec<(&str, Action, usize)> = out
        .grants
        .iter()
        .map(|v| (v.grant.grant_id.as_str(), v.action, v.findings.len()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("own-logs", Action::None, 0),
            ("foreign-logs", Action::Reverted, 1)
        ]
    );
    assert_eq!(revoke.num_calls(), 1);
    let foreign = &out.grants[1];
    assert_eq!(
        foreign.grant.grantee_service_principal.as_deref(),
        Some("logs.us-east-1.amazonaws.com")
    );
    assert_eq!(foreign.verified, Some(true));
    assert!(
        foreign.findings[0].message.contains("999988887777"),
        "{}",
        foreign.findings[0].message
    );
    let alerts = g.ports.alerts.sent();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].body["grant"]["Constraints"]["SourceArn"],
        "arn:aws:logs:us-east-1:999988887777:log-group:/theirs"
    );
}

mod security_hub {
    //! The Security Hub adapter's batches and faults: at most 100 findings a call, grouped
    //! by the key's account and region; throttling (`LimitExceededException`, 429) retried
    //! with back-off by the SDK; a finding Security Hub refuses is an error.

    use aws_sdk_securityhub::Client;
    use aws_sdk_securityhub::config::retry::RetryConfig;
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::types::ImportFindingsError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use kms_guardrail::aws::securityhub::{DEFAULT_DOCS_URL, SecurityHubFindings};
    use kms_guardrail::engine::RuleId;
    use kms_guardrail::guardrail::findings::{FindingState, KeyFinding};
    use kms_guardrail::guardrail::ports::{ErrorClass, Findings};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn findings(n: usize) -> Vec<KeyFinding> {
        (0..n)
            .map(|i| KeyFinding {
                key_arn: format!("arn:aws:kms:us-east-1:111122223333:key/{i:04}"),
                account: "111122223333".to_owned(),
                region: "us-east-1".to_owned(),
                rule: RuleId::PublicAccess,
                state: FindingState::Active {
                    action: "alerted".to_owned(),
                },
                description: "anyone may call kms:Decrypt".to_owned(),
                first_seen: 1_795_000_000,
                updated: 1_795_000_000,
                event_id: "e".to_owned(),
            })
            .collect()
    }

    fn accepted(n: usize) -> BatchImportFindingsOutput {
        BatchImportFindingsOutput::builder()
            .success_count(i32::try_from(n).expect("small"))
            .failed_count(0)
            .build()
    }

    /// A Security Hub client over `rules`, retrying as the function's clients do but with
    /// a short first back-off.
    fn client(mode: RuleMode, rules: &[&aws_smithy_mocks::Rule]) -> Client {
        mock_client!(aws_sdk_securityhub, mode, rules, |c| c.retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        ))
    }

    #[tokio::test]
    async fn at_most_100_findings_go_in_one_call() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let rule = mock!(Client::batch_import_findings).then_compute_output(move |input| {
            let n = input.findings().len();
            seen.lock().expect("sizes").push(n);
            accepted(n)
        });
        let hub = SecurityHubFindings::with_client(
            client(RuleMode::MatchAny, &[&rule]),
            DEFAULT_DOCS_URL,
        );
        hub.import(&findings(250)).await.expect("imported");
        assert_eq!(*sizes.lock().expect("sizes"), [100, 100, 50]);
    }

    #[tokio::test]
    async fn throttling_is_retried_with_back_off() {
        let throttled = r#"{"__type":"LimitExceededException","Message":"rate exceeded"}"#;
        let rule = mock!(Client::batch_import_findings)
            .sequence()
            .http_status(429, Some(throttled.to_owned()))
            .times(2)
            .output(|| accepted(1))
            .build();
        let hub = SecurityHubFindings::with_client(
            client(RuleMode::Sequential, &[&rule]),
            DEFAULT_DOCS_URL,
        );
        hub.import(&findings(1))
            .await
            .expect("imported on the third try");
        assert_eq!(rule.num_calls(), 3);

        let always = mock!(Client::batch_import_findings)
            .sequence()
            .http_status(429, Some(throttled.to_owned()))
            .times(5)
            .build();
        let hub = SecurityHubFindings::with_client(
            client(RuleMode::Sequential, &[&always]),
            DEFAULT_DOCS_URL,
        );
        let err = hub.import(&findings(1)).await.expect_err("still throttled");
        assert_eq!(err.code, "LimitExceededException");
        assert_eq!(always.num_calls(), 3, "the SDK's attempts, then the error");
    }

    #[tokio::test]
    async fn a_refused_finding_is_an_error_naming_it() {
        let rule = mock!(Client::batch_import_findings).then_output(|| {
            BatchImportFindingsOutput::builder()
                .success_count(1)
                .failed_count(1)
                .failed_findings(
                    ImportFindingsError::builder()
                        .id("arn:aws:kms:us-east-1:111122223333:key/0001/kms-guardrail/public-access")
                        .error_code("InvalidInput")
                        .error_message("Finding does not adhere to Amazon Finding Format")
                        .build(),
                )
                .build()
        });
        let hub = SecurityHubFindings::with_client(
            client(RuleMode::Sequential, &[&rule]),
            DEFAULT_DOCS_URL,
        );
        let err = hub.import(&findings(2)).await.expect_err("refused");
        assert_eq!(
            (err.class, err.code.as_str()),
            (ErrorClass::Rejected, "InvalidInput")
        );
        assert!(
            err.message.contains("1 of 2 findings refused"),
            "{}",
            err.message
        );
        assert!(err.message.contains("key/0001"), "{}", err.message);
    }
}
