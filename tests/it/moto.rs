//! The real handler through the real AWS SDK against moto's server (KMS, SNS, SQS, DynamoDB,
//! SSM) on 127.0.0.1. The server is installed (scripts/venv) and started on a free port by
//! the first test that needs it, and stops when this test process ends; tests run one at a
//! time and reset moto first, so each starts from nothing. The sweep's tests are in
//! `moto/sweep.rs`.

mod fanout;
mod grants;
mod org;
mod refusing;
mod reliability;
mod securityhub;
mod sweep;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::Credentials;
use kms_guardrail::app::{App, MetricsOut};
use kms_guardrail::config::{Config, RulesSource};
use kms_guardrail::guardrail::{Action, Mode, Status};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// moto's default account.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/kms-guardrail-GuardrailFunctionRole";

struct Moto {
    port: u16,
    /// The wrapper shell; moto dies when its standard input (held here) closes.
    _wrapper: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// One HTTP/1.1 request to moto's own API; returns the status code and body.
fn moto_api(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

fn venv_bin() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/venv"))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/venv");
    assert!(out.status.success(), "scripts/venv failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("a path").trim())
}

fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        let bin = venv_bin();
        let port = free_port();
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
            bin.join("moto_server").display()
        );
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !moto_api(port, "GET", "/moto-api/").is_ok_and(|(s, _)| s == 200) {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            port,
            _wrapper: Mutex::new(wrapper),
        }
    })
}

fn endpoint() -> String {
    format!("http://127.0.0.1:{}", moto().port)
}

async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// Serializes the moto tests and resets moto's state.
async fn fresh() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    let (status, _) = moto_api(moto().port, "POST", "/moto-api/reset").expect("moto reset");
    assert_eq!(status, 200);
    guard
}

fn good_policy() -> String {
    good_policy_in(ACCOUNT)
}

fn public_policy() -> String {
    public_policy_in(ACCOUNT)
}

/// A compliant policy for a key of `account`: the account's root and an application role.
fn good_policy_in(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
  {{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:role/App"}},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}}]}}"#
    )
}

/// [`good_policy_in`] plus decryption for anyone.
fn public_policy_in(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
  {{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:role/App"}},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}},
  {{"Sid":"backup","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    )
}

/// `kms-guardrail sweep ARGS` against moto, with the example rules, no topic and no table.
fn sweep_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kms-guardrail"));
    command
        .arg("sweep")
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GUARDRAIL_RULES", root().join("examples/rules.yaml"))
        .env_remove("GUARDRAIL_ALERT_TOPIC_ARN")
        .env_remove("GUARDRAIL_BASELINE_TABLE");
    command
}

/// Creates a key with `policy`; returns its ARN.
async fn new_key(sdk: &SdkConfig, policy: &str) -> String {
    let out = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .policy(policy)
        .send()
        .await
        .expect("create key");
    out.key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_owned()
}

async fn put_policy(sdk: &SdkConfig, key: &str, policy: &str) {
    aws_sdk_kms::Client::new(sdk)
        .put_key_policy()
        .key_id(key)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .expect("put key policy");
}

async fn policy_of(sdk: &SdkConfig, key: &str) -> String {
    aws_sdk_kms::Client::new(sdk)
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .expect("get key policy")
        .policy()
        .expect("policy")
        .to_owned()
}

/// A sample event from `events/`, retargeted at `key` in moto's account, carrying `policy`.
fn event_for(sample: &str, key: &str, policy: &str) -> Value {
    event_in(sample, ACCOUNT, key, policy)
}

/// A sample event from `events/`, retargeted at `key` in `account`, carrying `policy`.
fn event_in(sample: &str, account: &str, key: &str, policy: &str) -> Value {
    let text = std::fs::read_to_string(root().join("events").join(sample)).expect("sample event");
    let text = text.replace("111122223333", account).replace(
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        key.rsplit('/').next().expect("key id"),
    );
    let mut event: Value = serde_json::from_str(&text).expect("JSON");
    if event["detail"]["requestParameters"].get("policy").is_some() {
        event["detail"]["requestParameters"]["policy"] = Value::String(policy.to_owned());
    }
    event
}

/// A topic with an SQS queue subscribed; returns (topic ARN, queue URL).
async fn topic_with_queue(sdk: &SdkConfig) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic = sns
        .create_topic()
        .name("kms-guardrail-alerts")
        .send()
        .await
        .expect("topic");
    let topic_arn = topic.topic_arn().expect("topic ARN").to_owned();
    let queue = sqs
        .create_queue()
        .queue_name("alerts")
        .send()
        .await
        .expect("queue");
    let queue_url = queue.queue_url().expect("queue URL").to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let queue_arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    (topic_arn, queue_url)
}

/// The SNS notifications delivered to the queue since the last call (received ones stay
/// invisible for the queue's visibility timeout, longer than any test).
async fn notifications(sdk: &SdkConfig, queue_url: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let out = aws_sdk_sqs::Client::new(sdk)
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return all;
        }
        all.extend(
            out.messages().iter().map(|m| {
                serde_json::from_str(m.body().expect("body")).expect("an SNS notification")
            }),
        );
    }
}

async fn baseline_table(sdk: &SdkConfig) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name("kms-guardrail-baselines")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("key_arn")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("key_arn")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await
        .expect("table");
    "kms-guardrail-baselines".to_owned()
}

/// Sends `sample`, retargeted at `key` and carrying `policy`, through the app.
async fn send(
    app: &App,
    sample: &str,
    key: &str,
    policy: &str,
) -> kms_guardrail::guardrail::Outcome {
    app.invoke(&event_for(sample, key, policy))
        .await
        .expect("handled")
}

fn config(mode: Mode) -> Config {
    Config {
        mode,
        rules: RulesSource::File(root().join("examples/rules.yaml")),
        topic_arn: None,
        baseline_table: None,
        role_arn: Some(ROLE.to_owned()),
        member_role: None,
        sweep_quota_percent: 10,
        sweep_concurrency: 8,
        sweep_key_alerts: 10,
        fanout: None,
        ..Config::from_env(|_| None).expect("the defaults")
    }
}

async fn app(config: Config, sdk: &SdkConfig) -> App {
    App::new(config, sdk, MetricsOut::Stderr)
        .await
        .expect("app starts")
}

fn statements(policy: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(policy).expect("policy JSON");
    v["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_public_policy_is_reverted_to_the_last_known_good_and_alerted() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &good_policy()).await;
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(&sdk).await);
    let app = app(cfg, &sdk).await;

    let recorded = send(&app, "put-key-policy-compliant.json", &key, &good_policy()).await;
    assert_eq!(recorded.action, Action::BaselineRecorded);

    put_policy(&sdk, &key, &public_policy()).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(
        (out.status, out.action, out.verified),
        (Status::Violating, Action::Reverted, Some(true))
    );
    assert_eq!(
        policy_of(&sdk, &key).await,
        good_policy(),
        "the last known-good text is back"
    );

    let alerts = notifications(&sdk, &queue).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert!(alert["Subject"].as_str().expect("subject").chars().count() <= 100);
    assert_eq!(alert["MessageAttributes"]["severity"]["Value"], "critical");
    assert_eq!(alert["MessageAttributes"]["action"]["Value"], "reverted");
    let body: Value =
        serde_json::from_str(alert["Message"].as_str().expect("message")).expect("JSON body");
    assert_eq!(body["key_arn"], key.as_str());
    assert_eq!(
        body["actor"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/Developer/alice"
    );
    assert_eq!(body["findings"][0]["rule"], "public-access");
    assert_eq!(body["policy_before"], public_policy().as_str());
    assert_eq!(body["policy_after"], good_policy().as_str());
}

#[tokio::test]
async fn without_a_baseline_the_offending_statement_is_stripped() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let app = app(config(Mode::Enforce), &sdk).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(out.action, Action::Reverted);
    assert_eq!(
        statements(&policy_of(&sdk, &key).await),
        ["Enable IAM User Permissions", "App"]
    );
}

#[tokio::test]
async fn monitor_mode_writes_nothing() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let app = app(config(Mode::Monitor), &sdk).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(out.action, Action::WouldRevert);
    assert_eq!(policy_of(&sdk, &key).await, public_policy());
}

#[tokio::test]
async fn a_compliant_change_becomes_the_baseline() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &good_policy()).await;
    let mut cfg = config(Mode::Enforce);
    cfg.baseline_table = Some(baseline_table(&sdk).await);
    let app = app(cfg, &sdk).await;
    let out = send(&app, "put-key-policy-compliant.json", &key, &good_policy()).await;
    assert_eq!(
        (out.status, out.action),
        (Status::Compliant, Action::BaselineRecorded)
    );
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name("kms-guardrail-baselines")
        .key(
            "key_arn",
            aws_sdk_dynamodb::types::AttributeValue::S(key.clone()),
        )
        .send()
        .await
        .expect("get item");
    let stored = item
        .item()
        .and_then(|i| i.get("policy"))
        .and_then(|p| p.as_s().ok())
        .cloned();
    assert_eq!(stored, Some(good_policy()));
}

#[tokio::test]
async fn the_guardrails_own_change_is_not_remediated() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let app = app(config(Mode::Enforce), &sdk).await;
    let out = send(
        &app,
        "put-key-policy-by-guardrail.json",
        &key,
        &public_policy(),
    )
    .await;
    assert_eq!(out.action, Action::Alerted);
    assert_eq!(policy_of(&sdk, &key).await, public_policy());
}

#[tokio::test]
async fn a_flapping_key_hits_its_revert_budget() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let mut cfg = config(Mode::Enforce);
    cfg.baseline_table = Some(baseline_table(&sdk).await);
    let app = app(cfg, &sdk).await;
    let mut actions = Vec::new();
    for _ in 0..4 {
        put_policy(&sdk, &key, &public_policy()).await;
        let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
        actions.push(out.action);
    }
    assert_eq!(
        actions,
        [
            Action::Reverted,
            Action::Reverted,
            Action::Reverted,
            Action::Alerted
        ]
    );
    assert_eq!(
        policy_of(&sdk, &key).await,
        public_policy(),
        "the fourth change stands, alerted"
    );
}

#[tokio::test]
async fn a_key_pending_deletion_is_alerted_not_retried() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    aws_sdk_kms::Client::new(&sdk)
        .schedule_key_deletion()
        // moto answers 500 to a key ARN here; real KMS takes either.
        .key_id(key.rsplit('/').next().expect("key id"))
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    let app = app(cfg, &sdk).await;
    let out = app
        .invoke(&event_for(
            "put-key-policy-public.json",
            &key,
            &public_policy(),
        ))
        .await
        .expect("succeeds: no retry");
    assert_eq!(out.status, Status::Skipped);
    assert_eq!(policy_of(&sdk, &key).await, public_policy());
    let alerts = notifications(&sdk, &queue).await;
    assert_eq!(alerts[0]["MessageAttributes"]["action"]["Value"], "skipped");
}

#[tokio::test]
async fn a_failed_call_is_ignored() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &good_policy()).await;
    let app = app(config(Mode::Enforce), &sdk).await;
    let out = send(&app, "put-key-policy-failed.json", &key, &public_policy()).await;
    assert_eq!(out.status, Status::Ignored);
    assert_eq!(policy_of(&sdk, &key).await, good_policy());
}

#[tokio::test]
async fn an_input_past_lambdas_payload_limit_is_refused_and_changes_nothing() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let app = app(config(Mode::Enforce), &sdk).await;
    let mut event = event_for("put-key-policy-public.json", &key, &public_policy());
    event["detail"]["padding"] = Value::String("x".repeat(kms_guardrail::app::MAX_INPUT_BYTES));
    let err = app
        .handle(&event, kms_guardrail::sweep::Limits::default())
        .await
        .expect_err("refused");
    assert_eq!(err.error_type(), "InputTooLarge");
    assert!(err.to_string().contains("payload limit"), "{err}");
    assert_eq!(
        policy_of(&sdk, &key).await,
        public_policy(),
        "nothing written"
    );
}

#[tokio::test]
async fn rules_are_read_from_ssm() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    // The operators' rules only alert on public access.
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/kms-guardrail/rules")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value("version: 1\nrules:\n  public-access: alert\n  untrusted-account: alert\n")
        .send()
        .await
        .expect("put parameter");
    let mut cfg = config(Mode::Enforce);
    cfg.rules = RulesSource::Ssm("/kms-guardrail/rules".to_owned());
    let app = app(cfg, &sdk).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(out.action, Action::Alerted);
    assert_eq!(policy_of(&sdk, &key).await, public_policy());

    // A missing parameter fails the start-up, loudly.
    let mut missing = config(Mode::Enforce);
    missing.rules = RulesSource::Ssm("/kms-guardrail/nope".to_owned());
    let err = App::new(missing, &sdk, MetricsOut::Stderr)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("GUARDRAIL_RULES"), "{err}");
}

#[tokio::test]
async fn replay_runs_the_handler_from_the_command_line() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    let event = event_for("put-key-policy-public.json", &key, &public_policy());
    let replay = |input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kms-guardrail"))
            .args(["replay", "--event", "-"])
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("GUARDRAIL_MODE", "enforce")
            .env("GUARDRAIL_RULES", root().join("examples/rules.yaml"))
            .env_remove("GUARDRAIL_ALERT_TOPIC_ARN")
            .env_remove("GUARDRAIL_BASELINE_TABLE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("replay runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write event");
        child.wait_with_output().expect("replay finishes")
    };
    let out = replay(serde_json::to_string(&event).expect("JSON").as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("the outcome is JSON");
    assert_eq!(outcome["action"], "reverted");
    assert_eq!(
        statements(&policy_of(&sdk, &key).await),
        ["Enable IAM User Permissions", "App"]
    );

    let bad = replay(b"{\"not\": \"an event\"}");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidEvent"));
}

#[tokio::test]
async fn a_key_exempt_by_alias_is_not_remediated() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let key = new_key(&sdk, &public_policy()).await;
    // examples/rules.yaml exempts `alias/legacy-partner-key`.
    aws_sdk_kms::Client::new(&sdk)
        .create_alias()
        .alias_name("alias/legacy-partner-key")
        .target_key_id(key.rsplit('/').next().expect("key id"))
        .send()
        .await
        .expect("alias");
    let app = app(config(Mode::Enforce), &sdk).await;
    let out = send(&app, "put-key-policy-public.json", &key, &public_policy()).await;
    assert_eq!(out.action, Action::Alerted);
    assert_eq!(policy_of(&sdk, &key).await, public_policy());
}
