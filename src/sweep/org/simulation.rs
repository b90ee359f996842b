//! A capacity model of the organization sweep, run for real over in-memory ports: the
//! coordinator, `workers` queue workers at most at once, each unit's keys paced under its
//! own account-region's quota share and each worker stopped at its deadline (continuing from
//! its own message), the ledger and the completion — everything but AWS. Run on tokio's
//! paused clock, the pacing's waits take no real time, so the simulated wall time of a
//! sweep of 1,000 accounts × 17 regions is measured in seconds (benches/org_sweep.rs; a
//! smaller one is a test).

use super::fanout::{self, Carried, Plan, UnitMessage};
use super::{OrgSummary, UnitProblem, UnitResult};
use crate::guardrail::memory::{InMemoryKeyPolicies, InMemoryLedger, InMemoryQueue};
use crate::guardrail::ports::{Adapters, Alert, Alerts, PortError};
use crate::guardrail::{Guardrail, Mode, Settings};
use crate::sweep::pace::{Paced, Pacing};
use crate::sweep::{Limits, Request, RunEnd, SweepSettings, Sweeper};
use engine::rules::RuleSet;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// The organization to simulate.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Accounts.
    pub accounts: usize,
    /// Regions per account.
    pub regions: usize,
    /// Keys per account-region.
    pub keys_per_unit: usize,
    /// Every `public_every`-th key is public (0: none).
    pub public_every: usize,
    /// A compliant key policy (the owner account is written `111122223333`).
    pub compliant: String,
    /// A public key policy (same owner).
    pub public: String,
}

/// How the sweep runs.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    /// Workers at once (the event source mapping's maximum concurrency).
    pub workers: usize,
    /// Each unit's share of its quotas, percent.
    pub quota_percent: f64,
    /// Each unit's KMS calls in flight.
    pub concurrency: usize,
    /// A worker's time before it hands on (its timeout less the drain margin).
    pub worker_budget: Duration,
}

/// What the simulated sweep came to.
#[derive(Debug, Clone)]
pub struct Report {
    /// The organization summary the last worker sent.
    pub summary: OrgSummary,
    /// Simulated time from the start to the summary.
    pub simulated: Duration,
    /// Worker runs (messages handled, continuations included).
    pub deliveries: u64,
}

/// Alerts counted, not kept: the simulation's alerts would otherwise be its memory.
#[derive(Debug, Default)]
struct Counted(std::sync::atomic::AtomicU64);

impl Alerts for Counted {
    async fn publish(&self, _alert: &Alert) -> Result<(), PortError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

fn account_id(i: usize) -> String {
    format!("{:012}", 100_000_000_000 + i)
}

/// Runs the organization sweep of `org` with `knobs` in enforce mode under `rules`. Call it
/// on a paused clock (`tokio::time::pause`), or it takes the sweep's real time.
pub async fn run(org: &Organization, knobs: Knobs, rules: &RuleSet) -> Report {
    let began = Instant::now();
    let (ledger, queue, alerts) = (
        InMemoryLedger::default(),
        InMemoryQueue::default(),
        Counted::default(),
    );
    let plan = Plan {
        sweep_id: "simulated".to_owned(),
        mode: Mode::Enforce,
        accounts: (0..org.accounts).map(account_id).collect(),
        regions: (0..org.regions)
            .map(|r| format!("sim-region-{r}"))
            .collect(),
    };
    // In memory nothing fails: the errors below cannot happen.
    let _ = fanout::coordinate(&ledger, &queue, &plan).await;
    let mut summary = None;
    let mut deliveries = 0u64;
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    loop {
        // Like the event source mapping: a free worker takes the next message, continuations
        // included.
        while in_flight.len() < knobs.workers.max(1) {
            let Some(body) = queue.pop() else {
                break;
            };
            deliveries += 1;
            in_flight.push(work(org, knobs, rules, &ledger, &queue, &alerts, body));
        }
        match in_flight.next().await {
            Some(done) => summary = summary.or(done),
            None => break,
        }
    }
    Report {
        summary: summary.unwrap_or_else(|| OrgSummary::new("simulated", Mode::Enforce, 0)),
        simulated: began.elapsed(),
        deliveries,
    }
}

/// One worker run: the unit's keys (built for the run, dropped after, as a worker's memory
/// would be), swept from the message's checkpoint to the end or the budget.
async fn work(
    org: &Organization,
    knobs: Knobs,
    rules: &RuleSet,
    ledger: &InMemoryLedger,
    queue: &InMemoryQueue,
    alerts: &Counted,
    body: String,
) -> Option<OrgSummary> {
    let message = UnitMessage::from_body(&body).ok()?;
    let unit = &message.unit;
    let keys = InMemoryKeyPolicies::default();
    let owner = |policy: &str| policy.replace("111122223333", &unit.account);
    let (compliant, public) = (owner(&org.compliant), owner(&org.public));
    for i in 0..org.keys_per_unit {
        let arn = format!(
            "arn:aws:kms:{}:{}:key/00000000-0000-0000-0000-{i:012}",
            unit.region, unit.account
        );
        let is_public = org.public_every > 0 && i % org.public_every == 0;
        keys.insert(&arn, if is_public { &public } else { &compliant });
    }
    let sweeper = Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(keys, Pacing::share(knobs.quota_percent, knobs.concurrency)),
                alerts: None::<Counted>,
                baselines: None::<crate::guardrail::memory::InMemoryBaselines>,
                checkpoints: Carried::new(message.checkpoint.clone()),
                findings: None::<crate::guardrail::ports::NoFindings>,
            },
            settings: Settings {
                mode: Mode::Enforce,
                ..Settings::default()
            },
        },
        settings: SweepSettings {
            alert_summary: false,
            ..SweepSettings::for_region(unit.region.clone())
        },
    };
    let limits = Limits {
        deadline: Some(Instant::now() + knobs.worker_budget),
        max_keys: None,
    };
    let request = Request::Start {
        id: message.sweep_id.clone(),
    };
    let result = match sweeper.run(&request, rules, limits, &mut |_| {}).await {
        Ok(report) if report.end == RunEnd::Stopped => {
            let next = UnitMessage {
                checkpoint: sweeper.guardrail.ports.checkpoints.take(),
                ..message.clone()
            };
            let _ = fanout::UnitQueue::send(queue, &[next.to_body()]).await;
            return None;
        }
        Ok(report) => report.summary.map(|s| UnitResult::Swept(Box::new(s))),
        Err(e) => Some(UnitResult::Failed(UnitProblem {
            account: unit.account.clone(),
            region: unit.region.clone(),
            reason: e.to_string(),
        })),
    }?;
    fanout::finish_unit(ledger, alerts, &message.sweep_id, unit, &result)
        .await
        .ok()
        .flatten()
}
