//! The guardrail wired to AWS, shared by the Lambda binary, `kms-guardrail replay` and
//! `kms-guardrail sweep`: SDK clients built once from the environment (README, "Configuration"), the
//! rules source, and one invocation — an event (handle, log one line with the event id and
//! key ARN, emit EMF metrics) or a sweep run (sweep, log the run and the summary, emit EMF).
//! In organization mode (`GUARDRAIL_MEMBER_ROLE`) keys of other accounts are reached
//! through their member role, and a sweep may cover many accounts and regions ([`org`]).

pub mod fanout;
pub mod org;

use crate::aws::dynamodb::DynamoBaselines;
use crate::aws::kms::KmsKeyPolicies;
use crate::aws::member::MemberAccess;
use crate::aws::securityhub::SecurityHubFindings;
use crate::aws::sns::SnsAlerts;
use crate::aws::ssm::SsmRules;
use crate::config::{Config, ConfigError, RulesSource};
use crate::event::{self, Intake, KeyEventName};
use crate::guardrail::ports::{Adapters, Checkpoints, PortError};
use crate::guardrail::{Guardrail, HandlerError, Outcome, Settings, Status, metrics, now_secs};
use crate::sweep::pace::{Paced, Pacing};
use crate::sweep::{Limits, Request, RunReport, SweepError, SweepSettings, Sweeper};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use engine::rules::RuleSet;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The rules: read once from a file, or from SSM with a short cache.
#[derive(Debug)]
pub enum Rules {
    /// Fixed for the process's life.
    Fixed(RuleSet),
    /// Re-read from SSM when the cached copy is older than a minute.
    Ssm(SsmRules),
}

impl Rules {
    async fn get(&self) -> Result<RuleSet, PortError> {
        match self {
            Rules::Fixed(rules) => Ok(rules.clone()),
            Rules::Ssm(ssm) => ssm.get().await,
        }
    }
}

/// Why the guardrail could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A bad environment variable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rules document could not be loaded or is invalid.
    #[error("invalid configuration: GUARDRAIL_RULES: {0}")]
    Rules(String),
}

/// Why one invocation failed (the Lambda retries it, then sends it to the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The handler's error.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The rules could not be read for this invocation.
    #[error("the rules could not be read: {0}")]
    Rules(PortError),
    /// A sweep run failed.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// The organization sweep could not be started or worked.
    #[error("{0}")]
    Fanout(String),
    /// The input is larger than any input Lambda delivers asynchronously: refused unread.
    #[error(
        "the input is {0} bytes, more than Lambda's {MAX_INPUT_BYTES}-byte payload limit: refused"
    )]
    TooLarge(usize),
}

/// Lambda's payload limit for asynchronous invocations — what EventBridge and the schedules
/// use — and EventBridge's own limit for an event.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The size of `input` as JSON text, counted without building the text.
fn json_size(input: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail; a failure would leave a short count.
    let _ = serde_json::to_writer(&mut count, input);
    count.0
}

impl InvokeError {
    /// A stable error type for the Lambda runtime.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvokeError::Handler(h) => h.error_type(),
            InvokeError::Rules(_) => "RulesUnavailable",
            InvokeError::Sweep(s) => s.error_type(),
            InvokeError::Fanout(_) => "OrganizationSweepFailed",
            InvokeError::TooLarge(_) => "InputTooLarge",
        }
    }
}

impl From<InvokeError> for lambda_runtime::Diagnostic {
    fn from(e: InvokeError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Where the EMF metrics line goes: standard output for Lambda (CloudWatch Logs reads it),
/// standard error for `replay` (whose standard output is the outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsOut {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What one invocation produced.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Response {
    /// An event's outcome.
    Event(Outcome),
    /// A sweep run's report (boxed: it is by far the largest).
    Sweep(Box<RunReport>),
    /// The organization sweep's start.
    Coordinated(crate::sweep::org::fanout::Coordinated),
    /// The queue's messages that must be delivered again.
    Batch(fanout::BatchResponse),
}

/// The guardrail's ports over the SDK: KMS `K`, the topic, the table and Security Hub when
/// configured.
pub type AwsPorts<K> = Adapters<
    K,
    Option<SnsAlerts>,
    Option<DynamoBaselines>,
    Option<DynamoBaselines>,
    Option<SecurityHubFindings>,
>;

/// The guardrail with its AWS adapters.
#[derive(Debug)]
pub struct App {
    guardrail: Guardrail<AwsPorts<KmsKeyPolicies>>,
    sweeper: Sweeper<SweepPorts<Option<DynamoBaselines>>>,
    rules: Rules,
    metrics: MetricsOut,
    config: Config,
    sdk: SdkConfig,
    /// Organization mode: how other accounts are reached.
    members: Option<Arc<MemberAccess>>,
    /// The organization sweep's queue, when configured.
    queue: Option<crate::aws::sqs::SqsUnitQueue>,
}

/// The baseline table, when `config` names one.
fn table(config: &Config, sdk: &SdkConfig) -> Option<DynamoBaselines> {
    config
        .baseline_table
        .as_ref()
        .map(|table| DynamoBaselines::new(aws_sdk_dynamodb::Client::new(sdk), table.clone()))
}

/// The guardrail's ports over the SDK, as `config` names them, with `keys` for KMS and
/// `checkpoints` for a sweep's place; findings go to the key's own account (through
/// `members` in organization mode).
fn ports<K, C>(
    config: &Config,
    sdk: &SdkConfig,
    members: Option<Arc<MemberAccess>>,
    keys: K,
    checkpoints: C,
) -> Adapters<K, Option<SnsAlerts>, Option<DynamoBaselines>, C, Option<SecurityHubFindings>> {
    Adapters {
        keys,
        alerts: config.topic_arn.as_ref().map(|topic| {
            SnsAlerts::new(aws_sdk_sns::Client::new(sdk), topic.clone())
                .with_format(config.alert_format)
        }),
        baselines: table(config, sdk),
        checkpoints,
        findings: config
            .security_hub
            .then(|| SecurityHubFindings::new(sdk, members, &config.docs_url)),
    }
}

/// A sweep's ports: KMS paced, the topic, the table, `C` for checkpoints, Security Hub.
pub type SweepPorts<C> = Adapters<
    Paced<KmsKeyPolicies>,
    Option<SnsAlerts>,
    Option<DynamoBaselines>,
    C,
    Option<SecurityHubFindings>,
>;

/// The SDK configuration: the standard chain (region, credentials, `AWS_ENDPOINT_URL`) with
/// adaptive retries, which back off and pace requests on throttling — PutKeyPolicy's quota
/// is shared by the whole account.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(5))
        .load()
        .await
}

/// `sdk` with the SDK's own retries off: for clients whose caller retries (the sweep's pacer,
/// which also slows down on throttling), so no call is retried by both.
pub fn single_attempt(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// The guardrail's behaviour as `config` says; in organization mode it reads the
/// organization's membership as `members` learns it.
fn settings(config: &Config, members: Option<&MemberAccess>) -> Settings {
    Settings {
        mode: config.mode,
        role_arn: config.role_arn.clone(),
        member_role: config.member_role.clone(),
        membership: members.map(|m| m.membership().clone()).unwrap_or_default(),
        key_alerts: crate::guardrail::KeyAlertQuota::new(config.sweep_key_alerts),
        ..Settings::default()
    }
}

/// A sweep of `account` (`None`: the guardrail's own) in `region`, paced under the share
/// of that account's quotas `config` names (quotas are per account and region, so every
/// sweep unit has its own pacer), keeping its place in `checkpoints`.
fn sweeper<C>(
    config: &Config,
    sdk: &SdkConfig,
    members: Option<Arc<MemberAccess>>,
    account: Option<String>,
    region: String,
    alert_summary: bool,
    checkpoints: C,
) -> Sweeper<SweepPorts<C>> {
    let pacing = Pacing::share(
        f64::from(config.sweep_quota_percent),
        config.sweep_concurrency,
    );
    // The pacer owns the sweep's retries: its KMS clients try each call once.
    let settings = settings(config, members.as_deref());
    let keys = KmsKeyPolicies::with_members(&single_attempt(sdk), members.clone(), account.clone());
    Sweeper {
        guardrail: Guardrail {
            ports: ports(config, sdk, members, Paced::new(keys, pacing), checkpoints),
            settings,
        },
        settings: SweepSettings {
            account,
            alert_summary,
            ..SweepSettings::for_region(region)
        },
    }
}

impl App {
    /// Builds the app from the process environment.
    pub async fn from_env(metrics: MetricsOut) -> Result<App, StartError> {
        let config = Config::from_env(|k| std::env::var(k).ok())?;
        App::new(config, &sdk_config().await, metrics).await
    }

    /// Builds the app from `config` and `sdk`, loading the rules once to fail early.
    pub async fn new(
        config: Config,
        sdk: &SdkConfig,
        metrics: MetricsOut,
    ) -> Result<App, StartError> {
        let rules = match &config.rules {
            RulesSource::Defaults => Rules::Fixed(RuleSet::default()),
            RulesSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StartError::Rules(format!("{}: {e}", path.display())))?;
                Rules::Fixed(
                    RuleSet::from_document(&text)
                        .map_err(|e| StartError::Rules(format!("{}: {e}", path.display())))?,
                )
            }
            RulesSource::Ssm(name) => {
                let ssm = SsmRules::new(
                    aws_sdk_ssm::Client::new(sdk),
                    name.clone(),
                    Duration::from_secs(60),
                );
                ssm.get()
                    .await
                    .map_err(|e| StartError::Rules(format!("ssm:{name}: {e}")))?;
                Rules::Ssm(ssm)
            }
        };
        let members = config
            .member_role
            .as_deref()
            .map(|name| Arc::new(MemberAccess::new(name, sdk, config.role_arn.as_deref())));
        let guardrail = Guardrail {
            ports: ports(
                &config,
                sdk,
                members.clone(),
                KmsKeyPolicies::with_members(sdk, members.clone(), None),
                table(&config, sdk),
            ),
            settings: settings(&config, members.as_deref()),
        };
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let sweeper = sweeper(
            &config,
            sdk,
            members.clone(),
            None,
            region,
            true,
            table(&config, sdk),
        );
        let queue = config.fanout.as_ref().map(|f| {
            crate::aws::sqs::SqsUnitQueue::new(aws_sdk_sqs::Client::new(sdk), f.queue_url.clone())
        });
        Ok(App {
            guardrail,
            sweeper,
            rules,
            metrics,
            config,
            sdk: sdk.clone(),
            members,
            queue,
        })
    }

    /// Handles one Lambda input: a sweep request (from the schedule) or an event. The
    /// sweep stops launching keys at `deadline`.
    pub async fn handle(&self, input: &Value, limits: Limits) -> Result<Response, InvokeError> {
        let size = json_size(input);
        if size > MAX_INPUT_BYTES {
            let e = InvokeError::TooLarge(size);
            tracing::error!(error = %e, error_type = e.error_type(), "not handled");
            return Err(e);
        }
        if let Some(messages) = fanout::sqs_messages(input) {
            let messages = messages.map_err(|e| {
                tracing::error!(error = %e, "not handled");
                InvokeError::Fanout(e)
            })?;
            return Ok(Response::Batch(self.work(&messages, limits).await?));
        }
        match Request::from_input(input) {
            Some(request) => {
                let request = request.inspect_err(|e| {
                    tracing::error!(error = %e, error_type = e.error_type(), "not handled");
                })?;
                // With a queue, the schedule's start fans the organization out; its workers
                // carry their own continuations, so there is nothing to resume here.
                if self.config.fanout.is_some() {
                    return match &request {
                        Request::Start { id } => {
                            Ok(Response::Coordinated(self.coordinate(id).await?))
                        }
                        _ => Ok(Response::Sweep(Box::new(RunReport::nothing_to_do(
                            "the organization sweep's workers continue themselves",
                        )))),
                    };
                }
                Ok(Response::Sweep(Box::new(
                    self.sweep(&request, limits, &mut |_| {}).await?,
                )))
            }
            None => Ok(Response::Event(self.invoke(input).await?)),
        }
    }

    /// Runs the sweep `request` asks for within `limits`: logs violating and failed keys as
    /// they are met (`on_key` sees every outcome), then one line for the run (and the
    /// summary when the sweep finished), and prints the run's EMF metrics.
    pub async fn sweep(
        &self,
        request: &Request,
        limits: Limits,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> Result<RunReport, InvokeError> {
        let rules = self.rules().await?;
        self.learn_membership(&rules).await;
        self.run_sweep(&self.sweeper, request, &rules, limits, on_key)
            .await
    }

    async fn rules(&self) -> Result<RuleSet, InvokeError> {
        self.rules.get().await.map_err(|e| {
            tracing::error!(error = %e, "rules unavailable");
            InvokeError::Rules(e)
        })
    }

    /// Runs `sweeper` as [`App::sweep`] describes.
    async fn run_sweep<C: Checkpoints + Sync>(
        &self,
        sweeper: &Sweeper<SweepPorts<C>>,
        request: &Request,
        rules: &RuleSet,
        limits: Limits,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> Result<RunReport, InvokeError> {
        let span = tracing::info_span!(
            "sweep",
            account = sweeper.settings.account.as_deref().unwrap_or_default(),
            region = %sweeper.settings.region
        );
        let _entered = span.enter();
        let mut log_key = |out: &Outcome| {
            if matches!(
                out.status,
                Status::Violating | Status::CouldNotCheck | Status::NotCovered
            ) {
                tracing::info!(
                    key_arn = out.key_arn.as_deref().unwrap_or_default(),
                    status = ?out.status,
                    action = ?out.action,
                    message = %out.message,
                    "swept key"
                );
            }
            on_key(out);
        };
        let report = sweeper
            .run(request, rules, limits, &mut log_key)
            .await
            .inspect_err(|e| {
                tracing::error!(error = %e, error_type = e.error_type(), "sweep run failed");
            })?;
        let run = &report.run;
        tracing::info!(
            end = ?report.end,
            reason = report.reason.as_deref().unwrap_or_default(),
            keys_seen = run.keys_seen,
            compliant = run.compliant,
            violating = run.violating,
            remediated = run.remediated,
            failed = run.failed,
            skipped = run.skipped_total(),
            duration_ms = report.run_duration_ms,
            "sweep run"
        );
        if let Some(summary) = report.summary.as_ref().filter(|s| s.complete) {
            tracing::info!(
                summary = %serde_json::to_string(summary).unwrap_or_default(),
                alerted = report.alerted,
                "sweep finished"
            );
        }
        if report.summary.is_some() {
            let account = report
                .summary
                .as_ref()
                .and_then(|s| s.account.as_deref())
                .unwrap_or_default();
            let line = metrics::sweep_emf(
                run,
                report.run_duration_ms,
                metrics::Location {
                    account,
                    region: &sweeper.settings.region,
                },
                now_secs().saturating_mul(1000),
            );
            self.print_metrics(&line);
        }
        Ok(report)
    }

    fn print_metrics(&self, line: &Value) {
        match self.metrics {
            MetricsOut::Stdout => println!("{line}"),
            MetricsOut::Stderr => eprintln!("{line}"),
        }
    }

    /// Handles one input: logs the outcome (event id and key ARN on the line) and prints
    /// its EMF metrics.
    pub async fn invoke(&self, input: &Value) -> Result<Outcome, InvokeError> {
        let event_id = input
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let intake = event::read(input);
        let (key_arn, region) = match &intake {
            Ok(Intake::Handle(e)) => (e.key_arn.clone(), e.region.clone()),
            _ => (String::new(), String::new()),
        };
        let span = tracing::info_span!("event", event_id = %event_id, key_arn = %key_arn);
        let _entered = span.enter();
        let rules = self.rules().await?;
        if matches!(&intake, Ok(Intake::Handle(e)) if e.name == KeyEventName::CreateGrant) {
            self.learn_membership(&rules).await;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        match self
            .guardrail
            .handle_intake(intake, &rules, now.as_secs())
            .await
        {
            Ok(outcome) => {
                tracing::info!(
                    status = ?outcome.status,
                    action = ?outcome.action,
                    findings = outcome.findings.len(),
                    alerted = outcome.alerted,
                    message = %outcome.message,
                    "handled"
                );
                // The key's account, not the envelope's: a forwarded event's envelope
                // names the hub.
                let account = outcome
                    .key_arn
                    .as_deref()
                    .and_then(engine::arn::Arn::parse)
                    .map_or("", |a| a.account);
                let line = metrics::emf(
                    &outcome,
                    metrics::Location {
                        account,
                        region: &region,
                    },
                    u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
                );
                self.print_metrics(&line);
                Ok(outcome)
            }
            Err(e) => {
                tracing::error!(error = %e, error_type = e.error_type(), "not handled");
                Err(e.into())
            }
        }
    }
}

/// When a sweep run must stop launching keys, given the invocation's deadline (milliseconds
/// since the epoch): a quarter of the time left, at most a minute, is kept to drain the
/// keys in flight and save the checkpoint. A deadline that cannot be a time since the epoch
/// (before 2001) is read as milliseconds from now: cargo-lambda's runtime emulator sends the
/// function's timeout there.
pub fn stop_time(deadline_ms: u64) -> Instant {
    const EPOCH_MS_2001: u64 = 1_000_000_000_000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let left_ms = if deadline_ms < EPOCH_MS_2001 {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms)
    };
    let left = Duration::from_millis(left_ms);
    let margin = (left / 4).min(Duration::from_secs(60));
    Instant::now() + (left - margin)
}

/// JSON logs (one object per line) at `RUST_LOG` level (else `default`), written to
/// `writer`.
pub fn init_logs<W>(writer: W, default: &str)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_a_quarter_of_its_time_at_most_a_minute() {
        let now_ms = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after the epoch")
                .as_millis(),
        )
        .expect("fits");
        let within = |stop: Instant, expected: Duration| {
            let left = stop.saturating_duration_since(Instant::now());
            assert!(
                left <= expected && left + Duration::from_secs(2) >= expected,
                "{left:?} vs {expected:?}"
            );
        };
        // 15 minutes left: stop a minute before.
        within(stop_time(now_ms + 900_000), Duration::from_secs(840));
        // 40 seconds left: keep 10.
        within(stop_time(now_ms + 40_000), Duration::from_secs(30));
        // Past: stop now.
        within(stop_time(now_ms - 5_000), Duration::ZERO);
        // A timeout rather than a deadline (cargo-lambda's emulator).
        within(stop_time(600_000), Duration::from_secs(540));
    }
}
