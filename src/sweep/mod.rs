//! The scheduled sweep: every key in a region (`ListKeys`, page by page) through the same
//! decision as an event about it — evaluate, record the baseline, remediate or alert — so
//! nothing depends on one event's delivery. Calls are paced under a share of the account's
//! quotas ([`pace`]); a run that must stop (the Lambda's deadline) drains what is in flight
//! and leaves a checkpoint ([`Checkpoints`]), and the next run resumes from it, so each
//! key is visited once per sweep. When the sweep finishes, one summary alert goes out if
//! anything was violating or could not be checked.

pub mod org;
pub mod pace;

use crate::guardrail::ports::{Alert, Alerts, Checkpoints, KeyPolicies, PortError, Ports};
use crate::guardrail::{Action, Guardrail, HandlerError, Mode, Outcome, Skip, Status, now_secs};
use engine::rules::RuleSet;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pace::Paced;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// Keys asked of `ListKeys` per page (KMS's default; at most 1000).
pub const PAGE_SIZE: i32 = 100;

/// How many violating keys and failures the summary names (the counts cover all).
pub const NAMED: usize = 50;

/// What a run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Start the sweep `id` (the schedule's occurrence, so a redelivered request finds it
    /// done) — or, when a sweep is unfinished, resume that one.
    Start {
        /// The sweep's id.
        id: String,
    },
    /// Resume the unfinished sweep, if there is one; otherwise do nothing.
    Resume,
    /// A whole sweep of its own, to the end: no checkpoint is read or written (the CLI).
    Once {
        /// The sweep's id.
        id: String,
    },
}

impl Request {
    /// The sweep request in a Lambda input (`{"sweep": "start", "id": "…"}` or
    /// `{"sweep": "resume"}`), `None` when the input is not one.
    pub fn from_input(input: &Value) -> Option<Result<Request, SweepError>> {
        let verb = input.as_object()?.get("sweep")?;
        let invalid = |why: &str| Some(Err(SweepError::InvalidRequest(why.to_owned())));
        match verb.as_str() {
            Some("resume") => Some(Ok(Request::Resume)),
            Some("start") => match input.get("id").and_then(Value::as_str) {
                Some(id) if !id.trim().is_empty() => Some(Ok(Request::Start {
                    id: id.trim().to_owned(),
                })),
                _ => invalid("`start` needs a non-empty string `id`"),
            },
            _ => invalid("`sweep` is `start` or `resume`"),
        }
    }
}

/// Why a sweep run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    /// The input asked for a sweep, wrongly.
    #[error("invalid sweep request: {0}")]
    InvalidRequest(String),
    /// The keys could not be listed; the checkpoint keeps the sweep's place.
    #[error("ListKeys failed: {0}")]
    List(PortError),
    /// The checkpoint could not be read, so the run cannot know where to start.
    #[error("the sweep checkpoint could not be read: {0}")]
    Checkpoint(PortError),
    /// No region to sweep.
    #[error("no AWS region is configured (set AWS_REGION)")]
    NoRegion,
}

impl SweepError {
    /// A stable error type for the Lambda runtime's error response.
    pub fn error_type(&self) -> &'static str {
        match self {
            SweepError::InvalidRequest(_) => "InvalidSweepRequest",
            SweepError::List(_) => "SweepListKeysFailed",
            SweepError::Checkpoint(_) => "SweepCheckpointUnreadable",
            SweepError::NoRegion => "SweepRegionUnset",
        }
    }
}

/// Counts of what a sweep (or one run of it) met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Keys listed and handled.
    pub keys_seen: u64,
    /// Policies that comply.
    pub compliant: u64,
    /// Policies that violate the rules.
    pub violating: u64,
    /// Violating policies reverted.
    pub remediated: u64,
    /// Violating policies a monitor-mode sweep would have reverted.
    pub would_remediate: u64,
    /// Keys that could not be checked, or whose remediation failed.
    pub failed: u64,
    /// Keys left alone, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// Grants checked (every swept key's, `ListGrants`).
    #[serde(default)]
    pub grants_seen: u64,
    /// Grants that violate the rules.
    #[serde(default)]
    pub grant_violations: u64,
    /// Violating grants revoked.
    #[serde(default)]
    pub grants_revoked: u64,
    /// Violating grants a monitor-mode sweep would have revoked.
    #[serde(default)]
    pub grants_would_revoke: u64,
    /// Alerts that could not be published after a write and wait in the outbox.
    #[serde(default)]
    pub alerts_deferred: u64,
    /// Earlier alerts delivered from the outbox.
    #[serde(default)]
    pub alerts_delivered: u64,
    /// Keys that could not be checked and were not alerted on their own (past the sweep's
    /// per-key alerts): the summary names them.
    #[serde(default)]
    pub alerts_withheld: u64,
}

impl Counts {
    /// Counts one key's outcome.
    pub fn add(&mut self, out: &Outcome) {
        self.keys_seen += 1;
        self.failed += u64::from(out.failed());
        match out.status {
            Status::Compliant => self.compliant += 1,
            Status::Violating => self.violating += 1,
            Status::Skipped => {
                *self
                    .skipped
                    .entry(out.skip.unwrap_or(Skip::Deleted))
                    .or_default() += 1;
            }
            Status::CouldNotCheck | Status::NotCovered | Status::Ignored => {}
        }
        match out.action {
            Action::Reverted => self.remediated += 1,
            Action::WouldRevert => self.would_remediate += 1,
            _ => {}
        }
        self.alerts_deferred += u64::from(out.alerts_deferred);
        self.alerts_withheld += u64::from(out.alert_withheld);
        self.alerts_delivered += u64::from(out.alerts_delivered);
        for v in &out.grants {
            self.grants_seen += 1;
            self.grant_violations += u64::from(!v.findings.is_empty());
            self.grants_revoked += u64::from(v.action == Action::Reverted);
            self.grants_would_revoke += u64::from(v.action == Action::WouldRevert);
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.keys_seen += other.keys_seen;
        self.compliant += other.compliant;
        self.violating += other.violating;
        self.remediated += other.remediated;
        self.would_remediate += other.would_remediate;
        self.failed += other.failed;
        self.grants_seen += other.grants_seen;
        self.grant_violations += other.grant_violations;
        self.grants_revoked += other.grants_revoked;
        self.grants_would_revoke += other.grants_would_revoke;
        self.alerts_deferred += other.alerts_deferred;
        self.alerts_delivered += other.alerts_delivered;
        self.alerts_withheld += other.alerts_withheld;
        for (skip, n) in &other.skipped {
            *self.skipped.entry(*skip).or_default() += n;
        }
    }

    /// Whether a key policy or a grant violates the rules.
    pub fn has_violations(&self) -> bool {
        self.violating > 0 || self.grant_violations > 0
    }

    /// Keys skipped, for every reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// A key the sweep could not check or remediate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The key.
    pub key_arn: String,
    /// Why.
    pub reason: String,
}

/// One sweep, across all its runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The sweep's id.
    pub sweep_id: String,
    /// The region swept.
    pub region: String,
    /// The account the keys belong to (from their ARNs; unknown until a key is listed).
    pub account: Option<String>,
    /// The mode it ran in (its first run's).
    pub mode: Mode,
    /// Whether every key has been visited.
    pub complete: bool,
    /// Runs so far.
    pub runs: u32,
    /// When it started (seconds since the epoch).
    pub started_at: u64,
    /// When it finished.
    pub finished_at: Option<u64>,
    /// Time spent in its runs, in milliseconds.
    pub duration_ms: u64,
    /// What it met.
    #[serde(flatten)]
    pub counts: Counts,
    /// The first [`NAMED`] violating keys.
    pub violating_keys: Vec<String>,
    /// The first [`NAMED`] failures.
    pub failures: Vec<Failure>,
    /// Alerts waiting in the outbox for more than a day, as its last run found them.
    #[serde(default)]
    pub stale_alerts: u32,
    /// Per-key could-not-check alerts sent so far (at most the configured number).
    #[serde(default)]
    pub key_alerts_sent: u32,
}

/// Where an unfinished sweep stands: its summary so far and its place in the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    summary: Summary,
    /// The marker of the page being swept (`None`: the first page).
    marker: Option<String>,
    /// Keys of that page already handled (always a prefix: a run drains what it started).
    done_in_page: usize,
    /// The last of them, to find the place again if the page has shifted.
    last_done: Option<String>,
}

impl Checkpoint {
    /// A new sweep `id` of `region` in `mode`, starting now at the first page.
    fn new(id: &str, region: &str, mode: Mode) -> Checkpoint {
        Checkpoint {
            summary: Summary {
                sweep_id: id.to_owned(),
                region: region.to_owned(),
                account: None,
                mode,
                complete: false,
                runs: 0,
                started_at: now_secs(),
                finished_at: None,
                duration_ms: 0,
                counts: Counts::default(),
                violating_keys: Vec::new(),
                failures: Vec::new(),
                stale_alerts: 0,
                key_alerts_sent: 0,
            },
            marker: None,
            done_in_page: 0,
            last_done: None,
        }
    }

    /// Where to start in `keys`, the page at `marker` listed again.
    fn resume_at(&self, keys: &[String]) -> usize {
        let Some(last) = &self.last_done else {
            return 0;
        };
        let expected = self.done_in_page.min(keys.len());
        if expected > 0 && keys.get(expected - 1) == Some(last) {
            return expected;
        }
        // Keys were created or deleted before our place: find the last one handled. When it
        // is gone itself, step back one rather than risk passing over a key.
        keys.iter()
            .position(|k| k == last)
            .map_or(expected.saturating_sub(1), |i| i + 1)
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunEnd {
    /// The sweep visited its last key.
    Finished,
    /// The run stopped before the end (deadline or key limit); the checkpoint keeps the place.
    Stopped,
    /// There was nothing to do (no unfinished sweep to resume, or this one is done).
    NothingToDo,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// How the run ended.
    pub end: RunEnd,
    /// Why it stopped or did nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What this run met.
    pub run: Counts,
    /// This run's time, in milliseconds.
    pub run_duration_ms: u64,
    /// The sweep so far (all its runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Whether the summary alert was published (finished sweeps with something to report).
    pub alerted: bool,
    /// What the run delivered from the outbox, and what still waits.
    pub outbox: crate::guardrail::outbox::Delivery,
}

impl RunReport {
    /// A run that did nothing, and why.
    pub fn nothing_to_do(reason: &str) -> Self {
        RunReport {
            end: RunEnd::NothingToDo,
            reason: Some(reason.to_owned()),
            run: Counts::default(),
            run_duration_ms: 0,
            summary: None,
            alerted: false,
            outbox: Default::default(),
        }
    }
}

/// When a run must stop launching keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Stop at this time (the Lambda's deadline less a margin).
    pub deadline: Option<Instant>,
    /// Stop after this many keys.
    pub max_keys: Option<u64>,
}

impl Limits {
    fn reached(&self, launched: u64) -> Option<String> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some("the run's time is up".to_owned());
        }
        if self.max_keys.is_some_and(|m| launched >= m) {
            return Some(format!("the run's limit of {launched} keys is reached"));
        }
        None
    }
}

/// How the sweep is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSettings {
    /// The account swept, when it is not the guardrail's own (organization mode).
    pub account: Option<String>,
    /// The region swept.
    pub region: String,
    /// Keys per `ListKeys` page.
    pub page_size: i32,
    /// Whether a finished sweep publishes its own summary alert (a sweep of many accounts
    /// and regions sends one combined summary instead).
    pub alert_summary: bool,
}

impl SweepSettings {
    /// A sweep of the guardrail's own account in `region`, [`PAGE_SIZE`] keys a page,
    /// publishing its own summary.
    pub fn for_region(region: impl Into<String>) -> Self {
        SweepSettings {
            account: None,
            region: region.into(),
            page_size: PAGE_SIZE,
            alert_summary: true,
        }
    }
}

/// The sweep over the guardrail's ports, its KMS calls paced: the ports' KMS adapter is
/// always a [`Paced`] one.
#[derive(Debug)]
pub struct Sweeper<P> {
    /// The guardrail that decides each key.
    pub guardrail: Guardrail<P>,
    /// The sweep's set-up.
    pub settings: SweepSettings,
}

impl<K: KeyPolicies + Sync, P: Ports<Keys = Paced<K>>> Sweeper<P> {
    /// The checkpoint's key in the baseline store: `sweep#<region>` for the guardrail's own
    /// account, `sweep#<account>#<region>` for another.
    fn scope(&self) -> String {
        match &self.settings.account {
            None => format!("sweep#{}", self.settings.region),
            Some(account) => format!("sweep#{account}#{}", self.settings.region),
        }
    }

    /// Runs the sweep `request` asks for, within `limits`, calling `on_key` with each key's
    /// outcome as it is decided.
    pub async fn run(
        &self,
        request: &Request,
        rules: &RuleSet,
        limits: Limits,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> Result<RunReport, SweepError> {
        if self.settings.region.is_empty() {
            return Err(SweepError::NoRegion);
        }
        let began = Instant::now();
        let persist = !matches!(request, Request::Once { .. });
        // Every run, idle ones included, delivers what waits in the outbox.
        let outbox = self.guardrail.deliver_deferred(now_secs()).await;
        let Some(mut cp) = self.begin(request).await? else {
            let reason = match request {
                Request::Start { id } => format!("sweep {id} is already done"),
                _ => "no unfinished sweep to resume".to_owned(),
            };
            return Ok(RunReport {
                outbox,
                ..RunReport::nothing_to_do(&reason)
            });
        };
        cp.summary.runs += 1;
        cp.summary.stale_alerts = outbox.stale;
        let key_alerts = &self.guardrail.settings.key_alerts;
        key_alerts.start(cp.summary.key_alerts_sent);
        let mut run = Counts {
            alerts_delivered: u64::from(outbox.delivered),
            ..Counts::default()
        };
        let stopped = self
            .sweep_pages(&mut cp, &mut run, rules, limits, persist, on_key)
            .await;
        let elapsed = millis(began.elapsed());
        cp.summary.duration_ms += elapsed;
        cp.summary.key_alerts_sent = key_alerts.sent();
        let stopped = match stopped {
            Ok(stopped) => stopped,
            Err(err) => {
                self.save(&cp, persist).await;
                return Err(err);
            }
        };
        let mut alerted = false;
        if stopped.is_none() {
            cp.summary.complete = true;
            cp.summary.finished_at = Some(now_secs());
            cp.marker = None;
            cp.done_in_page = 0;
            cp.last_done = None;
            if self.settings.alert_summary {
                alerted = self.alert_summary(&cp.summary).await;
            }
        }
        self.save(&cp, persist).await;
        Ok(RunReport {
            end: if stopped.is_some() {
                RunEnd::Stopped
            } else {
                RunEnd::Finished
            },
            reason: stopped,
            run,
            run_duration_ms: elapsed,
            summary: Some(cp.summary),
            alerted,
            outbox,
        })
    }

    /// The sweep to run: the unfinished one, a new one, or none.
    async fn begin(&self, request: &Request) -> Result<Option<Checkpoint>, SweepError> {
        let stored = match request {
            Request::Once { .. } => None,
            _ => self.load().await?,
        };
        Ok(match (request, stored) {
            (Request::Start { .. } | Request::Resume, Some(cp)) if !cp.summary.complete => Some(cp),
            (Request::Resume, _) => None,
            (Request::Start { id }, Some(done)) if done.summary.sweep_id == *id => None,
            (Request::Start { id } | Request::Once { id }, _) => {
                let mut cp =
                    Checkpoint::new(id, &self.settings.region, self.guardrail.settings.mode);
                cp.summary.account.clone_from(&self.settings.account);
                Some(cp)
            }
        })
    }

    /// Sweeps page after page until the last, or until `limits` stop it (the reason).
    async fn sweep_pages(
        &self,
        cp: &mut Checkpoint,
        run: &mut Counts,
        rules: &RuleSet,
        limits: Limits,
        persist: bool,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> Result<Option<String>, SweepError> {
        let region = self.settings.region.as_str();
        let concurrency = self.guardrail.ports.keys().pacing().concurrency;
        let sweep_id = cp.summary.sweep_id.clone();
        let sweep_id = sweep_id.as_str();
        let mut launched = 0u64;
        loop {
            if let Some(reason) = limits.reached(launched) {
                return Ok(Some(reason));
            }
            let page = self
                .guardrail
                .ports
                .keys()
                .list_keys(region, cp.marker.as_deref(), self.settings.page_size)
                .await
                .map_err(SweepError::List)?;
            let start = cp.resume_at(&page.keys);
            let mut next = start;
            let mut stop = None;
            let mut in_flight = FuturesUnordered::new();
            loop {
                while stop.is_none() && in_flight.len() < concurrency {
                    let Some(key) = page.keys.get(next).map(String::as_str) else {
                        break;
                    };
                    if let Some(reason) = limits.reached(launched) {
                        stop = Some(reason);
                        break;
                    }
                    next += 1;
                    launched += 1;
                    in_flight.push(async move {
                        let result = self
                            .guardrail
                            .handle_swept(sweep_id, region, key, rules, now_secs())
                            .await;
                        (key, result)
                    });
                }
                let Some((key, result)) = in_flight.next().await else {
                    break;
                };
                let outcome = result.unwrap_or_else(|err| failed(sweep_id, key, &err));
                record(&mut cp.summary, &outcome);
                run.add(&outcome);
                on_key(&outcome);
            }
            // Everything launched has finished: the first `next` keys of the page are done.
            if stop.is_some() {
                cp.done_in_page = next;
                cp.last_done = next.checked_sub(1).and_then(|i| page.keys.get(i).cloned());
                return Ok(stop);
            }
            match page.next {
                None => return Ok(None),
                Some(marker) => {
                    cp.marker = Some(marker);
                    cp.done_in_page = 0;
                    cp.last_done = None;
                    self.save(cp, persist).await;
                }
            }
        }
    }

    async fn load(&self) -> Result<Option<Checkpoint>, SweepError> {
        let text = self
            .guardrail
            .ports
            .checkpoints()
            .sweep_checkpoint(&self.scope())
            .await
            .map_err(SweepError::Checkpoint)?;
        Ok(text.and_then(|t| match serde_json::from_str(&t) {
            Ok(cp) => Some(cp),
            Err(err) => {
                // Starting over costs time; failing every run would stop sweeping for good.
                tracing::warn!(error = %err, "the sweep checkpoint is unreadable; starting over");
                None
            }
        }))
    }

    /// Stores the checkpoint (when `persist`). A lost checkpoint costs the next run work,
    /// not this one its result: a failure is logged.
    async fn save(&self, cp: &Checkpoint, persist: bool) {
        if !persist {
            return;
        }
        let text = match serde_json::to_string(cp) {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(error = %err, "the sweep checkpoint could not be written as JSON");
                return;
            }
        };
        if let Err(err) = self
            .guardrail
            .ports
            .checkpoints()
            .save_sweep_checkpoint(&self.scope(), &text)
            .await
        {
            tracing::error!(error = %err, "the sweep checkpoint could not be saved");
        }
    }

    /// Publishes the summary when anything was violating or could not be checked; whether
    /// it was. A summary that cannot be published is logged whole.
    async fn alert_summary(&self, summary: &Summary) -> bool {
        let counts = &summary.counts;
        if !counts.has_violations() && counts.failed == 0 && summary.stale_alerts == 0 {
            return false;
        }
        let alert = summary_alert(summary);
        match self.guardrail.ports.alerts().publish(&alert).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(
                    error = %error,
                    subject = %alert.subject,
                    body = %alert.body,
                    "the sweep summary could not be published; this line holds it"
                );
                false
            }
        }
    }
}

/// The outcome of a key whose handling failed with a transient error (retries spent).
fn failed(sweep_id: &str, key_arn: &str, err: &HandlerError) -> Outcome {
    Outcome {
        message: err.to_string(),
        ..Outcome::new(
            Some(format!("sweep:{sweep_id}")),
            Some(key_arn.to_owned()),
            Status::CouldNotCheck,
        )
    }
}

/// Adds one key's outcome to the sweep's summary.
fn record(summary: &mut Summary, out: &Outcome) {
    let key = out.key_arn.clone().unwrap_or_default();
    if summary.account.is_none() {
        summary.account = engine::arn::Arn::parse(&key).map(|a| a.account.to_owned());
    }
    summary.counts.add(out);
    let violating_grant = out.grants.iter().any(|v| !v.findings.is_empty());
    if (out.status == Status::Violating || violating_grant) && summary.violating_keys.len() < NAMED
    {
        summary.violating_keys.push(key.clone());
    }
    if out.failed() && summary.failures.len() < NAMED {
        summary.failures.push(Failure {
            key_arn: key,
            reason: out.message.clone(),
        });
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The one alert for a finished sweep that met violations or failures.
pub fn summary_alert(summary: &Summary) -> Alert {
    let c = &summary.counts;
    let subject = format!(
        "KMS guardrail: sweep of {} {}: {} violating, {} failed of {} keys, {} violating grants",
        summary.account.as_deref().unwrap_or_default(),
        summary.region,
        c.violating,
        c.failed,
        c.keys_seen,
        c.grant_violations
    );
    Alert {
        subject: crate::guardrail::alert::truncate(&subject, crate::guardrail::alert::MAX_SUBJECT),
        severity: if c.has_violations() { "high" } else { "medium" }.to_owned(),
        account: summary.account.clone(),
        action: "sweep-summary".to_owned(),
        body: serde_json::to_value(summary).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_read_from_the_schedules_input() {
        assert_eq!(
            Request::from_input(&json!({"sweep": "start", "id": "2026-11-23T03:00:00Z"})),
            Some(Ok(Request::Start {
                id: "2026-11-23T03:00:00Z".to_owned()
            }))
        );
        assert_eq!(
            Request::from_input(&json!({"sweep": "resume"})),
            Some(Ok(Request::Resume))
        );
        assert_eq!(Request::from_input(&json!({"detail-type": "x"})), None);
        assert_eq!(Request::from_input(&json!([1])), None);
        for bad in [
            json!({"sweep": "start"}),
            json!({"sweep": "start", "id": " "}),
            json!({"sweep": "go"}),
            json!({"sweep": 1}),
        ] {
            assert!(
                matches!(
                    Request::from_input(&bad),
                    Some(Err(SweepError::InvalidRequest(_)))
                ),
                "{bad}"
            );
        }
    }

    fn checkpoint(done: usize, last: Option<&str>) -> Checkpoint {
        Checkpoint {
            done_in_page: done,
            last_done: last.map(str::to_owned),
            ..Checkpoint::new("s", "r", Mode::Monitor)
        }
    }

    #[test]
    fn a_resumed_page_starts_after_the_last_key_handled() {
        let keys: Vec<String> = ["a", "b", "c", "d"].map(str::to_owned).into();
        assert_eq!(checkpoint(0, None).resume_at(&keys), 0);
        assert_eq!(checkpoint(2, Some("b")).resume_at(&keys), 2);
        // A key created before our place shifts the page: find the last one handled.
        let shifted: Vec<String> = ["0", "a", "b", "c", "d"].map(str::to_owned).into();
        assert_eq!(checkpoint(2, Some("b")).resume_at(&shifted), 3);
        // The last one handled is gone: the next is where it was.
        let gone: Vec<String> = ["a", "c", "d"].map(str::to_owned).into();
        assert_eq!(checkpoint(2, Some("b")).resume_at(&gone), 1);
    }

    #[test]
    fn checkpoints_round_trip_through_json() {
        let mut cp = checkpoint(3, Some("c"));
        cp.summary.counts.skipped.insert(Skip::AwsManaged, 2);
        let text = serde_json::to_string(&cp).expect("serializes");
        assert!(text.contains(r#""aws-managed":2"#), "{text}");
        assert_eq!(
            serde_json::from_str::<Checkpoint>(&text).expect("reads"),
            cp
        );
    }
}
