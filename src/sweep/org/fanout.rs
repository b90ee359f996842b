//! The organization sweep fanned out on a queue (SQS) and workers (Lambda): a coordinator
//! records the sweep in the hub's table ([`Ledger`]) and sends one [`UnitMessage`] per
//! (account, region) ([`UnitQueue`]); each worker sweeps its unit and records the unit's
//! [`UnitResult`] once, however often its message is delivered; the worker that records the
//! last unit (an atomic counter) publishes the one organization summary. No scheduler of our
//! own, and nothing shared between workers but the table's conditional writes.

use super::{OrgSummary, Unit, UnitResult};
use crate::guardrail::Mode;
use crate::guardrail::ports::{Alerts, PortError};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// SQS's limit of messages per `SendMessageBatch`.
pub const BATCH: usize = 10;

/// One unit of work on the queue: sweep `account` in `region` as part of the sweep
/// `sweep_id`, from `checkpoint` when a worker before stopped at its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitMessage {
    /// The organization sweep.
    pub sweep_id: String,
    /// The unit.
    #[serde(flatten)]
    pub unit: Unit,
    /// Where the unit's sweep stands (opaque), when it is a continuation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// The message body: `{"sweep_unit": {...}}`, so a misrouted message is recognisably not one.
#[derive(Serialize, Deserialize)]
struct Body {
    sweep_unit: UnitMessage,
}

impl UnitMessage {
    /// Reads a message body.
    pub fn from_body(text: &str) -> Result<UnitMessage, String> {
        serde_json::from_str::<Body>(text)
            .map(|b| b.sweep_unit)
            .map_err(|e| format!("not a sweep unit message: {e}"))
    }

    /// The message body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(&Body {
            sweep_unit: self.clone(),
        })
        .unwrap_or_default()
    }
}

/// What the coordinator planned: every account in every region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The sweep's id (the schedule's occurrence).
    pub sweep_id: String,
    /// The mode the workers run in.
    pub mode: Mode,
    /// The accounts.
    pub accounts: Vec<String>,
    /// The regions.
    pub regions: Vec<String>,
}

impl Plan {
    /// The units, account by account.
    pub fn units(&self) -> Vec<Unit> {
        self.accounts
            .iter()
            .flat_map(|account| {
                self.regions.iter().map(|region| Unit {
                    account: account.clone(),
                    region: region.clone(),
                })
            })
            .collect()
    }
}

/// What opening a sweep in the ledger found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The sweep is new: send its units.
    New,
    /// The sweep was recorded but its units may not all have been sent (the coordinator
    /// stopped half-way): send them again — recording is idempotent.
    Unsent,
    /// Its units were all sent already (a redelivered start): send nothing.
    Sent,
}

/// How far a sweep is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Units recorded.
    pub recorded: u64,
    /// Units planned.
    pub total: u64,
}

/// The record of organization sweeps (the hub's table).
pub trait Ledger {
    /// Records `plan` unless its sweep is already there; says what to send.
    fn open(&self, plan: &Plan) -> impl Future<Output = Result<Opening, PortError>> + Send;
    /// Notes that every unit of the sweep was sent.
    fn mark_sent(&self, sweep_id: &str) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Records one unit's result (JSON) and counts it, atomically and once: `None` when the
    /// unit was recorded before (a redelivered message).
    fn record(
        &self,
        sweep_id: &str,
        unit: &Unit,
        result: &str,
    ) -> impl Future<Output = Result<Option<Progress>, PortError>> + Send;
    /// Claims the sweep's completion: `true` for exactly one caller.
    fn claim_completion(
        &self,
        sweep_id: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// The sweep's plan.
    fn plan(&self, sweep_id: &str) -> impl Future<Output = Result<Option<Plan>, PortError>> + Send;
    /// The recorded results (JSON) of `units`, in their order.
    fn results(
        &self,
        sweep_id: &str,
        units: &[Unit],
    ) -> impl Future<Output = Result<Vec<Option<String>>, PortError>> + Send;
}

/// The queue of units (SQS).
pub trait UnitQueue {
    /// Sends these message bodies.
    fn send(&self, bodies: &[String]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What the coordinator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coordinated {
    /// The sweep.
    pub sweep_id: String,
    /// Units planned.
    pub units: usize,
    /// Messages sent now (0 when the sweep's units were all sent before).
    pub sent: usize,
}

/// Records `plan` and sends one message per unit — nothing when a start with the same id
/// already sent them.
pub async fn coordinate<L: Ledger, Q: UnitQueue>(
    ledger: &L,
    queue: &Q,
    plan: &Plan,
) -> Result<Coordinated, PortError> {
    let units = plan.units();
    let mut sent = 0;
    if ledger.open(plan).await? != Opening::Sent {
        let bodies: Vec<String> = units
            .iter()
            .map(|unit| {
                UnitMessage {
                    sweep_id: plan.sweep_id.clone(),
                    unit: unit.clone(),
                    checkpoint: None,
                }
                .to_body()
            })
            .collect();
        for batch in bodies.chunks(BATCH) {
            queue.send(batch).await?;
            sent += batch.len();
        }
        ledger.mark_sent(&plan.sweep_id).await?;
    }
    Ok(Coordinated {
        sweep_id: plan.sweep_id.clone(),
        units: units.len(),
        sent,
    })
}

/// Records `result` for `unit` of the sweep `sweep_id`; when it was the last unit, builds the
/// organization summary and publishes its alert (a publish failure is logged with the whole
/// alert). Returns the summary to the one caller that completed the sweep.
pub async fn finish_unit<L: Ledger, A: Alerts>(
    ledger: &L,
    alerts: &A,
    sweep_id: &str,
    unit: &Unit,
    result: &UnitResult,
) -> Result<Option<OrgSummary>, PortError> {
    let text = serde_json::to_string(result).unwrap_or_default();
    let Some(progress) = ledger.record(sweep_id, unit, &text).await? else {
        return Ok(None);
    };
    if progress.recorded < progress.total || !ledger.claim_completion(sweep_id).await? {
        return Ok(None);
    }
    let Some(plan) = ledger.plan(sweep_id).await? else {
        return Ok(None);
    };
    let units = plan.units();
    let results = ledger.results(sweep_id, &units).await?;
    let mut summary = OrgSummary::new(sweep_id, plan.mode, units.len());
    for (unit, text) in units.iter().zip(results) {
        let recorded = text.and_then(|t| serde_json::from_str::<UnitResult>(&t).ok());
        summary.record(
            unit,
            recorded.unwrap_or_else(|| {
                UnitResult::Failed(super::UnitProblem {
                    account: unit.account.clone(),
                    region: unit.region.clone(),
                    reason: "no result was recorded for this unit".to_owned(),
                })
            }),
        );
    }
    let alert = summary.alert();
    match alerts.publish(&alert).await {
        Ok(()) => summary.alerted = true,
        Err(error) => tracing::error!(
            error = %error,
            subject = %alert.subject,
            body = %alert.body,
            "the organization sweep summary could not be published; this line holds it"
        ),
    }
    Ok(Some(summary))
}

/// The checkpoint a queue worker carries: the one its message brought, replaced by the one
/// the sweep saves when it stops (sent on in the continuation message). One unit, so one
/// place, whatever the scope.
#[derive(Debug, Default)]
pub struct Carried {
    checkpoint: std::sync::Mutex<Option<String>>,
}

impl Carried {
    /// Carries `checkpoint`.
    pub fn new(checkpoint: Option<String>) -> Self {
        Carried {
            checkpoint: std::sync::Mutex::new(checkpoint),
        }
    }

    /// The checkpoint now.
    pub fn take(&self) -> Option<String> {
        self.checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl crate::guardrail::ports::Checkpoints for Carried {
    async fn sweep_checkpoint(&self, _scope: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }

    async fn save_sweep_checkpoint(&self, _scope: &str, checkpoint: &str) -> Result<(), PortError> {
        *self
            .checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(checkpoint.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrail::memory::{InMemoryLedger, InMemoryQueue, RecordingAlerts};
    use crate::sweep::org::UnitProblem;

    fn plan() -> Plan {
        Plan {
            sweep_id: "s".to_owned(),
            mode: Mode::Monitor,
            accounts: vec!["111111111111".to_owned(), "222222222222".to_owned()],
            regions: vec!["us-east-1".to_owned()],
        }
    }

    fn not_covered(unit: &Unit) -> UnitResult {
        UnitResult::NotCovered(UnitProblem {
            account: unit.account.clone(),
            region: unit.region.clone(),
            reason: "AccessDenied".to_owned(),
        })
    }

    #[tokio::test]
    async fn the_last_unit_recorded_sends_the_summary_once_naming_blind_spots() {
        let (ledger, queue, alerts) = (
            InMemoryLedger::default(),
            InMemoryQueue::default(),
            RecordingAlerts::default(),
        );
        let done = coordinate(&ledger, &queue, &plan())
            .await
            .expect("coordinated");
        assert_eq!((done.units, done.sent, queue.len()), (2, 2, 2));
        let again = coordinate(&ledger, &queue, &plan())
            .await
            .expect("coordinated");
        assert_eq!(
            (again.sent, queue.len()),
            (0, 2),
            "a redelivered start sends nothing"
        );

        let units = plan().units();
        let first = finish_unit(&ledger, &alerts, "s", &units[0], &not_covered(&units[0]))
            .await
            .expect("recorded");
        assert!(first.is_none(), "one unit of two");
        // A redelivered message for the same unit counts nothing and completes nothing.
        let duplicate = finish_unit(&ledger, &alerts, "s", &units[0], &not_covered(&units[0]))
            .await
            .expect("recorded");
        assert!(duplicate.is_none());
        let failed = UnitResult::Failed(UnitProblem {
            account: units[1].account.clone(),
            region: units[1].region.clone(),
            reason: "ListKeys: InternalError".to_owned(),
        });
        let summary = finish_unit(&ledger, &alerts, "s", &units[1], &failed)
            .await
            .expect("recorded")
            .expect("the last unit completes the sweep");
        assert_eq!(summary.not_covered.len(), 1);
        assert_eq!(summary.not_covered[0].account, "111111111111");
        assert_eq!(summary.failed_units.len(), 1);
        assert!(summary.alerted);
        assert_eq!(alerts.sent().len(), 1);
        assert_eq!(alerts.sent()[0].action, "sweep-summary");
        // Late redelivery after completion: nothing more.
        let late = finish_unit(&ledger, &alerts, "s", &units[1], &failed)
            .await
            .expect("recorded");
        assert!(late.is_none());
        assert_eq!(alerts.sent().len(), 1);
    }

    #[test]
    fn messages_round_trip_and_strangers_are_refused() {
        let message = UnitMessage {
            sweep_id: "s".to_owned(),
            unit: Unit {
                account: "111111111111".to_owned(),
                region: "eu-west-1".to_owned(),
            },
            checkpoint: Some("{}".to_owned()),
        };
        assert_eq!(UnitMessage::from_body(&message.to_body()), Ok(message));
        assert!(UnitMessage::from_body("{\"sweep\": \"start\"}").is_err());
        assert!(UnitMessage::from_body("not JSON").is_err());
    }
}
