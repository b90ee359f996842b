//! The organization sweep on SQS and Lambda (`GUARDRAIL_SWEEP_QUEUE_URL`): the scheduled
//! start coordinates — accounts (`GUARDRAIL_ACCOUNTS`, else AWS Organizations) × regions
//! (`GUARDRAIL_REGIONS`), recorded in the table, one message per unit — and the same binary,
//! fed by the queue, is the worker: it sweeps its unit through the member role with the paced,
//! checkpointed sweep, sends its own continuation when its deadline comes, and records the
//! unit's result once ([`crate::sweep::org::fanout`]). Partial batch failures are reported, so
//! only failed messages return to the queue (and, failing on, to its dead-letter queue).

use super::{App, InvokeError, sweeper};
use crate::aws::dynamodb::DynamoBaselines;
use crate::aws::sqs::SqsUnitQueue;
use crate::config::Fanout;
use crate::guardrail::ports::{ErrorClass, Ports};
use crate::sweep::org::fanout::{self, Carried, Coordinated, Plan, UnitMessage, UnitQueue};
use crate::sweep::org::{UnitProblem, UnitResult};
use crate::sweep::{Limits, Request, RunEnd, SweepError};
use engine::rules::RuleSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One SQS message as Lambda delivers it (the fields the worker reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    /// The message id (named in a partial batch failure).
    pub message_id: String,
    /// The body.
    #[serde(default)]
    pub body: String,
    /// `ApproximateReceiveCount` and friends.
    #[serde(default)]
    pub attributes: SqsAttributes,
}

/// The message attributes the worker reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsAttributes {
    /// How many times the message was received, this time included.
    #[serde(rename = "ApproximateReceiveCount", default)]
    pub receive_count: Option<String>,
}

/// The SQS messages of a Lambda input, when it is an SQS event.
pub fn sqs_messages(input: &Value) -> Option<Result<Vec<SqsMessage>, String>> {
    let records = input.get("Records")?.as_array()?;
    if !records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        || records.is_empty()
    {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| SqsMessage::deserialize(r).map_err(|e| format!("an SQS record: {e}")))
            .collect(),
    )
}

/// Lambda's partial batch response: the messages to deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    /// The failed messages.
    #[serde(rename = "batchItemFailures")]
    pub failures: Vec<BatchItemFailure>,
}

/// One failed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    /// Its message id.
    #[serde(rename = "itemIdentifier")]
    pub id: String,
}

impl App {
    fn fanout(&self) -> Result<(&Fanout, &DynamoBaselines, &SqsUnitQueue), InvokeError> {
        let missing =
            |what: &str| InvokeError::Fanout(format!("the organization sweep needs {what}"));
        let fanout = self
            .config
            .fanout
            .as_ref()
            .ok_or_else(|| missing("GUARDRAIL_SWEEP_QUEUE_URL"))?;
        let ledger = self
            .guardrail
            .ports
            .baselines()
            .as_ref()
            .ok_or_else(|| missing("GUARDRAIL_BASELINE_TABLE"))?;
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| missing("GUARDRAIL_SWEEP_QUEUE_URL"))?;
        Ok((fanout, ledger, queue))
    }

    /// Starts the organization sweep `id`: plans its units and sends them (nothing when a
    /// start with this id already did).
    pub async fn coordinate(&self, id: &str) -> Result<Coordinated, InvokeError> {
        let (config, ledger, queue) = self.fanout()?;
        let mut accounts = if config.accounts.is_empty() {
            self.organization_accounts()
                .await
                .map_err(|e| InvokeError::Fanout(e.to_string()))?
        } else {
            config.accounts.clone()
        };
        accounts.sort();
        accounts.dedup();
        let mut regions = config.regions.clone();
        if regions.is_empty() {
            regions.extend(self.sdk.region().map(ToString::to_string));
        }
        let plan = Plan {
            sweep_id: id.to_owned(),
            mode: self.config.mode,
            accounts,
            regions,
        };
        let done = fanout::coordinate(ledger, queue, &plan)
            .await
            .map_err(|e| InvokeError::Fanout(format!("the sweep could not be started: {e}")))?;
        tracing::info!(sweep_id = %done.sweep_id, units = done.units, sent = done.sent, "organization sweep coordinated");
        Ok(done)
    }

    /// Works the queue's messages within `limits`; reports the ones to deliver again.
    pub async fn work(
        &self,
        messages: &[SqsMessage],
        limits: Limits,
    ) -> Result<BatchResponse, InvokeError> {
        let rules = self.rules().await?;
        self.learn_membership(&rules).await;
        let mut response = BatchResponse::default();
        for message in messages {
            if let Err(reason) = self.work_one(message, &rules, limits).await {
                tracing::error!(message_id = %message.message_id, error = %reason, "sweep unit not done");
                response.failures.push(BatchItemFailure {
                    id: message.message_id.clone(),
                });
            }
        }
        Ok(response)
    }

    /// Sweeps one unit: to its end (recorded), or to the deadline (continued).
    async fn work_one(
        &self,
        message: &SqsMessage,
        rules: &RuleSet,
        limits: Limits,
    ) -> Result<(), String> {
        let (config, ledger, queue) = self.fanout().map_err(|e| e.to_string())?;
        let unit_message = UnitMessage::from_body(&message.body)?;
        let unit = &unit_message.unit;
        let own = self.own_account().await.map_err(|e| e.to_string())?;
        let carried = Carried::new(unit_message.checkpoint.clone());
        let unit_sweeper = sweeper(
            &self.config,
            &self.sdk,
            self.members.clone(),
            (unit.account != own).then(|| unit.account.clone()),
            unit.region.clone(),
            false,
            carried,
        );
        let request = Request::Start {
            id: unit_message.sweep_id.clone(),
        };
        let problem = |reason: String| UnitProblem {
            account: unit.account.clone(),
            region: unit.region.clone(),
            reason,
        };
        let result = match self
            .run_sweep(&unit_sweeper, &request, rules, limits, &mut |_| {})
            .await
        {
            Ok(report) if report.end == RunEnd::Stopped => {
                let continuation = UnitMessage {
                    checkpoint: unit_sweeper.guardrail.ports.checkpoints().take(),
                    ..unit_message.clone()
                };
                return queue
                    .send(&[continuation.to_body()])
                    .await
                    .map_err(|e| format!("the unit's continuation could not be sent: {e}"));
            }
            Ok(report) => match report.summary {
                Some(summary) => UnitResult::Swept(Box::new(summary)),
                None => {
                    UnitResult::Failed(problem("the unit's sweep produced no summary".to_owned()))
                }
            },
            Err(InvokeError::Sweep(SweepError::List(e))) if e.class == ErrorClass::NotCovered => {
                UnitResult::NotCovered(problem(e.to_string()))
            }
            Err(e) => {
                let received: u32 = message
                    .attributes
                    .receive_count
                    .as_deref()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                if received < config.max_receives {
                    return Err(e.to_string());
                }
                // The last delivery: record the failure so the sweep completes and says which,
                // and let the message go on to the dead-letter queue.
                let failed = UnitResult::Failed(problem(e.to_string()));
                self.record_unit(ledger, &unit_message, &failed).await?;
                return Err(e.to_string());
            }
        };
        self.record_unit(ledger, &unit_message, &result).await
    }

    async fn record_unit(
        &self,
        ledger: &DynamoBaselines,
        message: &UnitMessage,
        result: &UnitResult,
    ) -> Result<(), String> {
        let summary = fanout::finish_unit(
            ledger,
            self.guardrail.ports.alerts(),
            &message.sweep_id,
            &message.unit,
            result,
        )
        .await
        .map_err(|e| format!("the unit's result could not be recorded: {e}"))?;
        if let Some(summary) = summary {
            // The alert's body: totals, per-account counts, blind spots, the first keys —
            // not every unit's summary, which for a large organization outgrows a log event.
            tracing::info!(
                summary = %summary.alert().body,
                alerted = summary.alerted,
                "organization sweep finished"
            );
        }
        Ok(())
    }
}
