//! The guardrail wired to AWS, shared by the Lambda binary and `kms-guardrail replay`: SDK
//! clients built once from the environment (DESIGN.md §7), the rules source, and one
//! invocation — handle, log one line with the event id and key ARN, emit EMF metrics.

use crate::aws::dynamodb::DynamoBaselines;
use crate::aws::kms::KmsKeyPolicies;
use crate::aws::sns::{LogAlerts, SnsAlerts};
use crate::aws::ssm::SsmRules;
use crate::config::{Config, ConfigError, RulesSource};
use crate::event::{self, Intake};
use crate::guardrail::ports::{Alert, Alerts, PortError};
use crate::guardrail::{Guardrail, HandlerError, Outcome, Settings, metrics};
use crate::rules::RuleSet;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use serde_json::Value;
use std::time::Duration;

/// Where alerts go: the topic, or the log when none is configured.
pub enum AlertSink {
    /// SNS.
    Sns(SnsAlerts),
    /// The log.
    Log(LogAlerts),
}

impl Alerts for AlertSink {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        match self {
            AlertSink::Sns(sns) => sns.publish(alert).await,
            AlertSink::Log(log) => log.publish(alert).await,
        }
    }
}

/// The rules: read once from a file, or from SSM with a short cache.
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
}

impl InvokeError {
    /// A stable error type for the Lambda runtime.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvokeError::Handler(h) => h.error_type(),
            InvokeError::Rules(_) => "RulesUnavailable",
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

/// The guardrail with its AWS adapters.
pub struct App {
    guardrail: Guardrail<KmsKeyPolicies, AlertSink, Option<DynamoBaselines>>,
    rules: Rules,
    metrics: MetricsOut,
}

/// The SDK configuration: the standard chain (region, credentials, `AWS_ENDPOINT_URL`) with
/// adaptive retries, which back off and pace requests on throttling — PutKeyPolicy's quota
/// is shared by the whole account.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(5))
        .load()
        .await
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
        let alerts = match &config.topic_arn {
            Some(topic) => {
                AlertSink::Sns(SnsAlerts::new(aws_sdk_sns::Client::new(sdk), topic.clone()))
            }
            None => AlertSink::Log(LogAlerts),
        };
        let baselines = config
            .baseline_table
            .as_ref()
            .map(|table| DynamoBaselines::new(aws_sdk_dynamodb::Client::new(sdk), table.clone()));
        Ok(App {
            guardrail: Guardrail {
                keys: KmsKeyPolicies::new(sdk),
                alerts,
                baselines,
                settings: Settings {
                    mode: config.mode,
                    role_arn: config.role_arn,
                    ..Settings::default()
                },
            },
            rules,
            metrics,
        })
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
        let key_arn = match &intake {
            Ok(Intake::Handle(e)) => e.key_arn.clone(),
            _ => String::new(),
        };
        let span = tracing::info_span!("event", event_id = %event_id, key_arn = %key_arn);
        let _entered = span.enter();
        let rules = self.rules.get().await.map_err(|e| {
            tracing::error!(error = %e, "rules unavailable");
            InvokeError::Rules(e)
        })?;
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
                let account = input
                    .get("account")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let line = metrics::emf(
                    &outcome,
                    account,
                    u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
                );
                match self.metrics {
                    MetricsOut::Stdout => println!("{line}"),
                    MetricsOut::Stderr => eprintln!("{line}"),
                }
                Ok(outcome)
            }
            Err(e) => {
                tracing::error!(error = %e, error_type = e.error_type(), "not handled");
                Err(e.into())
            }
        }
    }
}

/// JSON logs (one object per line) at `RUST_LOG` level (default `info`), written to
/// `writer`.
pub fn init_logs<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
