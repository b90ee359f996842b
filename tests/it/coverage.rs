//! A member account whose role cannot be assumed, through the real SDK: STS answers from a
//! canned HTTP client (moto's `AssumeRole` never refuses), so the SDK's own assume-role
//! provider, its retries and the guardrail's classification all run as in AWS. A refusal is
//! "not covered" after one STS call and no KMS call — no retry storm; throttling on STS is
//! transient.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use kms_guardrail::app::org::Scope;
use kms_guardrail::app::{App, InvokeError, MetricsOut};
use kms_guardrail::config::{Config, RulesSource};
use kms_guardrail::guardrail::{HandlerError, Mode, Status};
use kms_guardrail::sweep::org::Unit;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const HUB_ROLE: &str = "arn:aws:iam::123456789012:role/kms-guardrail-GuardrailFunctionRole";
const MEMBER: &str = "111111111111";

/// Requests the canned client answered, by service.
#[derive(Default)]
struct Calls {
    sts: AtomicUsize,
    other: AtomicUsize,
}

/// An SDK configuration whose every request is answered here: STS with `status` and the
/// error `code`, anything else (KMS) with a server error that must never be reached.
async fn sdk(status: u16, code: &'static str, calls: Arc<Calls>) -> SdkConfig {
    let http = aws_smithy_http_client::test_util::infallible_client_fn(move |req| {
        let host = req.uri().host().unwrap_or_default().to_owned();
        if host.starts_with("sts.") {
            calls.sts.fetch_add(1, Ordering::SeqCst);
            http::Response::builder()
                .status(status)
                .body(format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
                ))
                .expect("response")
        } else {
            calls.other.fetch_add(1, Ordering::SeqCst);
            http::Response::builder()
                .status(500)
                .body(String::from("{}"))
                .expect("response")
        }
    });
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .load()
        .await
}

async fn app(sdk: &SdkConfig) -> App {
    let config = Config {
        mode: Mode::Enforce,
        rules: RulesSource::Defaults,
        topic_arn: None,
        baseline_table: None,
        role_arn: Some(HUB_ROLE.to_owned()),
        member_role: Some("KmsGuardrailMember".to_owned()),
        sweep_quota_percent: 10,
        sweep_concurrency: 8,
        sweep_key_alerts: 10,
        fanout: None,
        ..Config::from_env(|_| None).expect("the defaults")
    };
    App::new(config, sdk, MetricsOut::Stderr)
        .await
        .expect("app starts")
}

fn member_event() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/put-key-policy-public.json");
    let text = std::fs::read_to_string(path)
        .expect("sample")
        .replace("111122223333", MEMBER);
    let mut event: Value = serde_json::from_str(&text).expect("JSON");
    event["account"] = Value::String("123456789012".to_owned());
    event
}

#[tokio::test]
async fn a_refused_member_role_is_not_covered_after_one_sts_call_and_no_kms_call() {
    let calls = Arc::new(Calls::default());
    let sdk = sdk(403, "AccessDenied", calls.clone()).await;
    let app = app(&sdk).await;

    let out = app.invoke(&member_event()).await.expect("an outcome");

    assert_eq!(out.status, Status::NotCovered, "{}", out.message);
    assert!(
        out.message
            .contains(&format!("account {MEMBER} is not covered")),
        "{}",
        out.message
    );
    assert_eq!(
        calls.sts.load(Ordering::SeqCst),
        1,
        "a refusal is not retried"
    );
    assert_eq!(calls.other.load(Ordering::SeqCst), 0, "KMS is never called");

    // A sweep of that account reports it not covered, and does not retry either.
    let units = [Unit {
        account: MEMBER.to_owned(),
        region: "us-east-1".to_owned(),
    }];
    let summary = app
        .sweep_units("s-1", &units, 2, &mut |_| {})
        .await
        .expect("a summary");
    assert_eq!(summary.not_covered.len(), 1, "{summary:?}");
    assert_eq!(summary.not_covered[0].account, MEMBER);
    assert!(summary.needs_attention());
    assert_eq!(calls.sts.load(Ordering::SeqCst), 2);
    assert_eq!(calls.other.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn throttling_on_sts_is_transient_and_retried_by_the_sdk() {
    let calls = Arc::new(Calls::default());
    let sdk = sdk(400, "Throttling", calls.clone()).await;
    let app = app(&sdk).await;

    let err = app
        .invoke(&member_event())
        .await
        .expect_err("Lambda must retry");

    assert!(
        matches!(err, InvokeError::Handler(HandlerError::Transient { .. })),
        "{err:?}"
    );
    assert_eq!(
        calls.sts.load(Ordering::SeqCst),
        3,
        "the SDK's attempts, no more"
    );
    assert_eq!(calls.other.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn another_account_without_a_member_role_is_refused_up_front() {
    let calls = Arc::new(Calls::default());
    let sdk = sdk(403, "AccessDenied", calls.clone()).await;
    let config = Config {
        mode: Mode::Monitor,
        rules: RulesSource::Defaults,
        topic_arn: None,
        baseline_table: None,
        role_arn: Some(HUB_ROLE.to_owned()),
        member_role: None,
        sweep_quota_percent: 10,
        sweep_concurrency: 8,
        sweep_key_alerts: 10,
        fanout: None,
        ..Config::from_env(|_| None).expect("the defaults")
    };
    let app = App::new(config, &sdk, MetricsOut::Stderr)
        .await
        .expect("app starts");
    let err = app
        .units(&Scope {
            accounts: vec![MEMBER.to_owned()],
            ..Scope::default()
        })
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("GUARDRAIL_MEMBER_ROLE"), "{err}");
}
