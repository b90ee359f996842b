//! The sweep over in-memory ports: the same decision per key as an event, the summary,
//! idempotence, resuming from the checkpoint, keys that change under the sweep — and the
//! pacing: over 10,000 keys no operation exceeds its rate, no more calls are in flight than
//! allowed, and throttling slows the sweep down. Time is tokio's paused clock, so the paced
//! waits cost no real time and every timestamp is exact.

use kms_guardrail::engine::{Policy, RuleSet};
use kms_guardrail::guardrail::memory::{
    Call, InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
};
use kms_guardrail::guardrail::ports::{
    Adapters, Alert, ErrorClass, GrantPage, KeyInfo, KeyPage, KeyPolicies, NoFindings, PortError,
};
use kms_guardrail::guardrail::{Action, Guardrail, Mode, Outcome, Settings, Skip, Status};
use kms_guardrail::sweep::pace::{Op, Paced, Pacing};
use kms_guardrail::sweep::{Limits, Request, RunEnd, RunReport, Summary, SweepSettings, Sweeper};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn key(n: usize) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-{n:012}")
}

fn good() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
  {{"Sid":"App","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:role/App"}},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}}]}}"#
    )
}

/// The compliant policy plus a statement granting `principal` decryption.
fn granting(principal: &str) -> String {
    good().replace(
        "]}",
        &format!(
            r#",
  {{"Sid":"Extra","Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
        ),
    )
}

fn public() -> String {
    granting("*")
}

fn cross_account() -> String {
    granting("arn:aws:iam::999999999999:root")
}

fn rules() -> RuleSet {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.yaml"))
            .expect("example rules");
    RuleSet::from_document(&text).expect("valid rules")
}

/// One call the probe saw.
#[derive(Debug, Clone, Copy)]
struct Seen {
    op: Op,
    at: Instant,
    throttled: bool,
}

/// In-memory KMS that takes `latency` per call and records every call and the most calls
/// ever in flight.
struct Probe {
    keys: InMemoryKeyPolicies,
    latency: Duration,
    calls: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Per key ARN, how often it was described (one visit = one DescribeKey).
    visits: Mutex<BTreeMap<String, usize>>,
}

impl Probe {
    fn new(latency: Duration) -> Self {
        Probe {
            keys: InMemoryKeyPolicies::default(),
            latency,
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            visits: Mutex::new(BTreeMap::new()),
        }
    }

    async fn observe<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let at = Instant::now();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        let result = call.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().expect("calls").push(Seen {
            op,
            at,
            throttled: result.as_ref().is_err_and(PortError::is_throttling),
        });
        result
    }

    fn calls(&self, op: Op) -> Vec<Seen> {
        let mut calls: Vec<Seen> = self
            .calls
            .lock()
            .expect("calls")
            .iter()
            .filter(|c| c.op == op)
            .copied()
            .collect();
        calls.sort_by_key(|c| c.at);
        calls
    }
}

impl KeyPolicies for Probe {
    async fn describe_key(&self, region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        *self
            .visits
            .lock()
            .expect("visits")
            .entry(key_arn.to_owned())
            .or_default() += 1;
        self.observe(Op::DescribeKey, self.keys.describe_key(region, key_arn))
            .await
    }

    async fn get_key_policy(&self, region: &str, key_arn: &str) -> Result<String, PortError> {
        self.observe(Op::GetKeyPolicy, self.keys.get_key_policy(region, key_arn))
            .await
    }

    async fn list_aliases(&self, region: &str, key_arn: &str) -> Result<Vec<String>, PortError> {
        self.observe(Op::ListAliases, self.keys.list_aliases(region, key_arn))
            .await
    }

    async fn list_keys(
        &self,
        region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, PortError> {
        self.observe(Op::ListKeys, self.keys.list_keys(region, marker, limit))
            .await
    }

    async fn put_key_policy(
        &self,
        region: &str,
        key_arn: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        self.observe(
            Op::PutKeyPolicy,
            self.keys.put_key_policy(region, key_arn, policy),
        )
        .await
    }
    async fn list_grants(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        marker: Option<&str>,
    ) -> Result<GrantPage, PortError> {
        self.observe(
            Op::ListGrants,
            self.keys.list_grants(region, key_arn, grant_id, marker),
        )
        .await
    }

    async fn revoke_grant(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> Result<(), PortError> {
        self.observe(
            Op::RevokeGrant,
            self.keys.revoke_grant(region, key_arn, grant_id),
        )
        .await
    }
}

type Memory =
    Sweeper<Adapters<Paced<Probe>, RecordingAlerts, InMemoryBaselines, InMemoryCheckpoints>>;

fn sweeper(mode: Mode, pacing: Pacing, page_size: i32) -> Memory {
    Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(Probe::new(Duration::from_millis(5)), pacing),
                alerts: RecordingAlerts::default(),
                baselines: InMemoryBaselines::default(),
                checkpoints: Default::default(),
                findings: None::<NoFindings>,
            },
            settings: Settings {
                mode,
                ..Settings::default()
            },
        },
        settings: SweepSettings {
            page_size,
            ..SweepSettings::for_region(REGION)
        },
    }
}

fn kms(s: &Memory) -> &InMemoryKeyPolicies {
    &s.guardrail.ports.keys.inner().keys
}

fn probe(s: &Memory) -> &Probe {
    s.guardrail.ports.keys.inner()
}

async fn run(s: &Memory, request: &Request, limits: Limits) -> (RunReport, Vec<Outcome>) {
    let mut outcomes = Vec::new();
    let report = s
        .run(request, &rules(), limits, &mut |o| outcomes.push(o.clone()))
        .await
        .expect("the sweep runs");
    (report, outcomes)
}

fn start(id: &str) -> Request {
    Request::Start { id: id.to_owned() }
}

fn throttling() -> PortError {
    PortError::new(
        ErrorClass::Transient,
        "ThrottlingException",
        "Rate exceeded",
    )
}

/// Keys 0..n: every `every`-th public, the one after it cross-account, the rest compliant.
fn fill(s: &Memory, n: usize, every: usize) -> BTreeSet<String> {
    let mut violating = BTreeSet::new();
    for i in 0..n {
        let policy = match i % every {
            0 => public(),
            1 => cross_account(),
            _ => good(),
        };
        if i % every < 2 {
            violating.insert(key(i));
        }
        kms(s).insert(&key(i), &policy);
    }
    violating
}

/// The largest number of `calls` that start within any window of `window` (half-open).
fn most_in_window(calls: &[Seen], window: Duration) -> usize {
    let mut most = 0;
    let mut first = 0;
    for (last, call) in calls.iter().enumerate() {
        while call.at - calls[first].at >= window {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    most
}

/// The violating keys the summary names.
fn violating_set(summary: &Summary) -> BTreeSet<String> {
    summary.violating_keys.iter().cloned().collect()
}

fn min_gap(calls: &[Seen]) -> Duration {
    calls
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .min()
        .unwrap_or(Duration::MAX)
}

#[tokio::test(start_paused = true)]
async fn a_sweep_decides_every_key_as_an_event_would() {
    let s = sweeper(Mode::Enforce, Pacing::default(), 100);
    let violating = fill(&s, 30, 10);
    kms(&s).insert_with(&key(100), &public(), true, "Enabled");
    kms(&s).insert_with(&key(101), &public(), false, "PendingDeletion");
    kms(&s).insert_with(&key(102), &good(), false, "PendingReplicaDeletion");
    let (report, outcomes) = run(&s, &start("first"), Limits::default()).await;
    assert_eq!(report.end, RunEnd::Finished);
    let summary = report.summary.expect("a summary");
    let c = &summary.counts;
    assert!(summary.complete);
    assert_eq!(
        (
            c.keys_seen,
            c.compliant,
            c.violating,
            c.remediated,
            c.failed
        ),
        (33, 24, 6, 6, 0)
    );
    assert_eq!(c.skipped.get(&Skip::AwsManaged), Some(&1));
    assert_eq!(c.skipped.get(&Skip::PendingDeletion), Some(&2));
    assert_eq!(summary.account.as_deref(), Some(ACCOUNT));
    assert_eq!(violating_set(&summary), violating);
    // Every violating key was put back to a policy without the offending grant; the
    // AWS-managed and pending-deletion keys were not touched.
    let puts: BTreeSet<String> = kms(&s).puts().into_iter().map(|(k, _)| k).collect();
    assert_eq!(puts, violating);
    for k in &violating {
        let now = kms(&s).policy(k).expect("policy");
        assert!(!now.contains("Extra"), "{k}: {now}");
        assert!(Policy::parse(&now).is_ok());
    }
    assert_eq!(kms(&s).policy(&key(100)), Some(public()));
    assert_eq!(kms(&s).policy(&key(101)), Some(public()));
    // One alert per violating key, then the summary; none for skipped keys.
    let alerts = s.guardrail.ports.alerts.sent();
    assert_eq!(alerts.len(), 7);
    assert!(alerts[..6].iter().all(|a| a.action == "reverted"));
    assert_eq!(alerts[6].action, "sweep-summary");
    assert_eq!(alerts[6].severity, "high");
    assert_eq!(alerts[6].body["violating"], 6);
    assert!(report.alerted);
    assert_eq!(outcomes.len(), 33);
    assert!(
        outcomes
            .iter()
            .filter(|o| o.status == Status::Compliant)
            .all(|o| o.action == Action::BaselineRecorded)
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_sweep_changes_nothing() {
    let s = sweeper(Mode::Enforce, Pacing::default(), 100);
    fill(&s, 20, 5);
    run(&s, &start("day-1"), Limits::default()).await;
    let puts = kms(&s).puts().len();
    let alerts = s.guardrail.ports.alerts.sent().len();
    assert_eq!(puts, 8);
    let (report, _) = run(&s, &start("day-2"), Limits::default()).await;
    let c = report.summary.expect("a summary").counts;
    assert_eq!((c.keys_seen, c.compliant, c.violating), (20, 20, 0));
    assert_eq!(kms(&s).puts().len(), puts, "nothing written");
    assert_eq!(
        s.guardrail.ports.alerts.sent().len(),
        alerts,
        "nothing alerted"
    );
    assert!(!report.alerted);
    // The same schedule occurrence delivered again finds its sweep done.
    let (again, outcomes) = run(&s, &start("day-2"), Limits::default()).await;
    assert_eq!(again.end, RunEnd::NothingToDo);
    assert!(outcomes.is_empty());
}

#[tokio::test(start_paused = true)]
async fn monitor_mode_writes_nothing_and_says_what_it_would_do() {
    let s = sweeper(Mode::Monitor, Pacing::default(), 100);
    fill(&s, 10, 5);
    let (report, _) = run(&s, &start("m"), Limits::default()).await;
    let c = report.summary.expect("a summary").counts;
    assert_eq!((c.violating, c.would_remediate, c.remediated), (4, 4, 0));
    assert!(kms(&s).puts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stopped_sweep_resumes_and_visits_every_key_once() {
    // Pages of 7 over 50 keys; each run stops after 9 keys, mid-page.
    let s = sweeper(Mode::Enforce, Pacing::default(), 7);
    let violating = fill(&s, 50, 10);
    let limits = Limits {
        deadline: None,
        max_keys: Some(9),
    };
    let mut seen = Vec::new();
    let mut runs = 0;
    let summary = loop {
        let request = if runs == 0 {
            start("big")
        } else {
            Request::Resume
        };
        let (report, outcomes) = run(&s, &request, limits).await;
        runs += 1;
        seen.extend(outcomes.into_iter().filter_map(|o| o.key_arn));
        if report.end == RunEnd::Finished {
            break report.summary.expect("a summary");
        }
        assert_eq!(report.end, RunEnd::Stopped);
        assert_eq!(report.run.keys_seen, 9);
        assert!(runs < 20, "the sweep never finishes");
    };
    assert_eq!(runs, 6);
    assert_eq!(summary.runs, 6);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 50, "no key twice");
    assert_eq!(unique.len(), 50, "every key");
    assert!(
        probe(&s)
            .visits
            .lock()
            .expect("visits")
            .values()
            .all(|v| *v == 1)
    );
    // The summary spans every run.
    assert_eq!(summary.counts.keys_seen, 50);
    assert_eq!(summary.counts.violating, 10);
    assert_eq!(violating_set(&summary), violating);
    // Only the finished sweep sends the summary alert.
    let summaries = s
        .guardrail
        .ports
        .alerts
        .sent()
        .iter()
        .filter(|a| a.action == "sweep-summary")
        .count();
    assert_eq!(summaries, 1);
    // Nothing left to resume.
    let (after, _) = run(&s, &Request::Resume, limits).await;
    assert_eq!(after.end, RunEnd::NothingToDo);
}

#[tokio::test(start_paused = true)]
async fn a_run_stops_at_its_deadline_and_the_next_one_finishes() {
    let s = sweeper(Mode::Monitor, Pacing::default(), 100);
    fill(&s, 300, 50);
    // Every key's grants are listed at 10 ListGrants/s (a tenth of its 100/s, the slowest
    // lane): 300 keys need about thirty seconds.
    let limits = Limits {
        deadline: Some(Instant::now() + Duration::from_secs(10)),
        max_keys: None,
    };
    let (first, _) = run(&s, &start("d"), limits).await;
    assert_eq!(first.end, RunEnd::Stopped);
    let done = first.run.keys_seen;
    assert!((50..250).contains(&done), "{done}");
    let (second, _) = run(&s, &Request::Resume, Limits::default()).await;
    assert_eq!(second.end, RunEnd::Finished);
    assert_eq!(second.run.keys_seen, 300 - done);
    assert_eq!(second.summary.expect("a summary").counts.keys_seen, 300);
}

/// KMS in memory whose listing changes the keys right after it is read: one turns public,
/// one is deleted.
struct Shifting {
    probe: Probe,
}

impl KeyPolicies for Shifting {
    async fn describe_key(&self, region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        self.probe.describe_key(region, key_arn).await
    }
    async fn get_key_policy(&self, region: &str, key_arn: &str) -> Result<String, PortError> {
        self.probe.get_key_policy(region, key_arn).await
    }
    async fn list_aliases(&self, region: &str, key_arn: &str) -> Result<Vec<String>, PortError> {
        self.probe.list_aliases(region, key_arn).await
    }
    async fn list_keys(
        &self,
        region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, PortError> {
        let page = self.probe.list_keys(region, marker, limit).await;
        self.probe.keys.insert(&key(1), &public());
        self.probe.keys.remove(&key(2));
        page
    }
    async fn put_key_policy(
        &self,
        region: &str,
        key_arn: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        self.probe.put_key_policy(region, key_arn, policy).await
    }
    async fn list_grants(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        marker: Option<&str>,
    ) -> Result<GrantPage, PortError> {
        self.probe
            .list_grants(region, key_arn, grant_id, marker)
            .await
    }
    async fn revoke_grant(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> Result<(), PortError> {
        self.probe.revoke_grant(region, key_arn, grant_id).await
    }
}

#[tokio::test(start_paused = true)]
async fn keys_that_change_after_listing_are_judged_as_they_are_now() {
    let s = Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(
                    Shifting {
                        probe: Probe::new(Duration::from_millis(5)),
                    },
                    Pacing::default(),
                ),
                alerts: RecordingAlerts::default(),
                baselines: InMemoryBaselines::default(),
                checkpoints: InMemoryCheckpoints::default(),
                findings: None::<NoFindings>,
            },
            settings: Settings {
                mode: Mode::Enforce,
                ..Settings::default()
            },
        },
        settings: SweepSettings::for_region(REGION),
    };
    let memory = &s.guardrail.ports.keys.inner().probe.keys;
    for i in 0..4 {
        memory.insert(&key(i), &good());
    }
    let mut outcomes = Vec::new();
    let report = s
        .run(&start("shift"), &rules(), Limits::default(), &mut |o| {
            outcomes.push(o.clone())
        })
        .await
        .expect("the sweep runs");
    let c = report.summary.expect("a summary").counts;
    assert_eq!(
        (c.keys_seen, c.compliant, c.violating, c.remediated),
        (4, 2, 1, 1)
    );
    assert_eq!(c.skipped.get(&Skip::Deleted), Some(&1));
    assert_eq!(c.failed, 0, "a key deleted since listing is no failure");
    assert_eq!(memory.puts().len(), 1);
    assert_eq!(memory.puts()[0].0, key(1));
    let deleted = outcomes
        .iter()
        .find(|o| o.key_arn.as_deref() == Some(key(2).as_str()))
        .expect("the deleted key's outcome");
    assert_eq!(deleted.status, Status::Skipped);
    assert!(!deleted.alerted);
}

/// The pacing over 10,000 keys (every 50th violating, reverted): per operation, calls are
/// spaced by at least the configured interval and no 1-s window holds more than the rate
/// allows; never more calls in flight than configured; every key visited once.
#[tokio::test(start_paused = true)]
async fn ten_thousand_keys_never_exceed_the_rate_or_the_concurrency() {
    let pacing = Pacing::share(10.0, 8);
    let s = sweeper(Mode::Enforce, pacing.clone(), 100);
    let violating = fill(&s, 10_000, 100);
    let began = Instant::now();
    let (report, _) = run(&s, &start("10k"), Limits::default()).await;
    let summary = report.summary.expect("a summary");
    assert_eq!(summary.counts.keys_seen, 10_000);
    assert_eq!(summary.counts.remediated, violating.len() as u64);
    assert_eq!(summary.counts.failed, 0);
    let p = probe(&s);
    for op in Op::ALL {
        let calls = p.calls(op);
        let rate = pacing.rate(op);
        let interval = Duration::from_secs_f64(1.0 / rate);
        if calls.len() > 1 {
            assert!(
                min_gap(&calls) + Duration::from_nanos(1) >= interval,
                "{op:?}: calls {:?} apart, the rate allows {interval:?}",
                min_gap(&calls)
            );
        }
        let most = most_in_window(&calls, Duration::from_secs(1));
        assert!(
            most as f64 <= rate.ceil(),
            "{op:?}: {most} calls in one second, the rate is {rate}/s"
        );
    }
    assert_eq!(p.calls(Op::DescribeKey).len(), 10_000);
    assert!(p.calls(Op::PutKeyPolicy).len() == violating.len());
    let most = p.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most <= pacing.concurrency,
        "{most} calls in flight, {} allowed",
        pacing.concurrency
    );
    assert!(most > 1, "the sweep does make calls concurrently");
    assert!(p.visits.lock().expect("visits").values().all(|v| *v == 1));
    // 200 reverts at 1.5 PutKeyPolicy/s bound the sweep from below.
    let took = Instant::now() - began;
    assert!(took >= Duration::from_secs(130), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn throttling_backs_off_and_slows_the_operation() {
    // One call at a time, so the throttled calls are one call's attempts, in order; grants
    // listed fast enough that GetKeyPolicy's lane sets the pace.
    let mut pacing = Pacing::share(10.0, 1);
    pacing.rates[Op::ListGrants as usize] = 10_000.0;
    let s = sweeper(Mode::Monitor, pacing.clone(), 100);
    fill(&s, 400, 1_000);
    // After 100 keys, three throttled GetKeyPolicy calls in a row.
    let (first, _) = run(
        &s,
        &start("t"),
        Limits {
            deadline: None,
            max_keys: Some(100),
        },
    )
    .await;
    assert_eq!(first.end, RunEnd::Stopped);
    for _ in 0..3 {
        kms(&s).fail_next(Call::Get, throttling());
    }
    let (report, _) = run(&s, &Request::Resume, Limits::default()).await;
    let summary = report.summary.expect("a summary");
    assert_eq!(summary.counts.keys_seen, 400);
    assert_eq!(summary.counts.failed, 0, "throttled calls were retried");
    let gets = probe(&s).calls(Op::GetKeyPolicy);
    let normal = Duration::from_secs_f64(1.0 / pacing.rate(Op::GetKeyPolicy));
    let throttled: Vec<usize> = (0..gets.len()).filter(|i| gets[*i].throttled).collect();
    assert_eq!(throttled.len(), 3);
    // Each throttling holds the operation for the back-off, doubling: 200, 400, 800 ms.
    for (n, i) in throttled.iter().enumerate() {
        let wait = gets[i + 1].at - gets[*i].at;
        let backoff = pacing.backoff * (1 << n);
        assert!(
            wait >= backoff,
            "after throttling {n}: {wait:?} < {backoff:?}"
        );
    }
    // Then the rate is an eighth of the configured one and climbs back.
    let after = *throttled.last().expect("a throttled call") + 1;
    let gap = gets[after + 1].at - gets[after].at;
    assert!(gap >= normal * 7, "{gap:?}: the rate did not come down");
    let last = gets[gets.len() - 1].at - gets[gets.len() - 2].at;
    assert!(
        last < gap,
        "the rate did not climb back ({last:?} vs {gap:?})"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_past_the_retries_fails_the_key_not_the_sweep() {
    let pacing = Pacing::share(10.0, 1);
    let s = sweeper(Mode::Monitor, pacing.clone(), 100);
    for i in 0..5 {
        kms(&s).insert(&key(i), &good());
    }
    // One more throttling than the retries: the first key's GetKeyPolicy gives up.
    for _ in 0..=pacing.retries {
        kms(&s).fail_next(Call::Get, throttling());
    }
    let (report, outcomes) = run(&s, &start("f"), Limits::default()).await;
    let summary = report.summary.expect("a summary");
    assert!(summary.complete);
    assert_eq!((summary.counts.failed, summary.counts.compliant), (1, 4));
    assert_eq!(summary.failures.len(), 1);
    assert!(summary.failures[0].reason.contains("ThrottlingException"));
    assert_eq!(outcomes[0].status, Status::CouldNotCheck);
    // Failures alone send the summary (medium: nothing is known to violate).
    let alerts = s.guardrail.ports.alerts.sent();
    assert_eq!(alerts.last().map(|a| a.severity.as_str()), Some("medium"));
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_retried_by_the_pacer_alone() {
    let s = sweeper(Mode::Monitor, Pacing::default(), 4);
    fill(&s, 6, 1_000);
    kms(&s).fail_next(
        Call::Get,
        PortError::new(ErrorClass::Transient, "KMSInternalException", "oops"),
    );
    let (report, outcomes) = run(&s, &start("r"), Limits::default()).await;
    assert_eq!(report.end, RunEnd::Finished);
    assert_eq!(outcomes.len(), 6);
    assert!(outcomes.iter().all(|o| o.status != Status::CouldNotCheck));
}

#[tokio::test(start_paused = true)]
async fn a_failed_listing_keeps_the_place_for_the_next_run() {
    let s = sweeper(Mode::Monitor, Pacing::default(), 4);
    fill(&s, 10, 1_000);
    // The first listing fails past the pacer's retries (it owns them: the SDK client makes
    // one attempt): nothing is swept, the (empty) place is kept.
    for _ in 0..=Pacing::default().retries {
        kms(&s).fail_next(
            Call::List,
            PortError::new(ErrorClass::Transient, "KMSInternalException", "oops"),
        );
    }
    let err = s
        .run(&start("l"), &rules(), Limits::default(), &mut |_| {})
        .await
        .expect_err("the listing failed");
    assert_eq!(err.error_type(), "SweepListKeysFailed");
    let (report, outcomes) = run(&s, &Request::Resume, Limits::default()).await;
    assert_eq!(report.end, RunEnd::Finished);
    assert_eq!(outcomes.len(), 10);
    assert_eq!(report.summary.expect("a summary").runs, 2);
}

/// The organization sweep's capacity model at a small scale: 20 accounts × 3 regions × 24
/// keys (a third public), 5 workers whose budget ends before their unit does. Every key is visited once, every public
/// one reverted, the last worker sends one summary, and the simulated time is what the
/// `PutKeyPolicy` share (1.5/s per account-region) allows — bounded below by it.
#[tokio::test(start_paused = true)]
async fn the_organization_sweep_model_visits_every_key_once_within_each_accounts_quota() {
    use kms_guardrail::sweep::org::simulation::{self, Knobs, Organization};
    let read = |rel: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("fixture")
    };
    let rules = RuleSet::from_document(&read("examples/rules.yaml")).expect("rules");
    let org = Organization {
        accounts: 20,
        regions: 3,
        keys_per_unit: 24,
        public_every: 3,
        compliant: read("crates/engine/tests/fixtures/policies/real-world/typical-2kb.json"),
        public: read(
            "crates/engine/tests/fixtures/policies/real-world/public-decrypt-incident.json",
        ),
    };
    let knobs = Knobs {
        workers: 5,
        quota_percent: 10.0,
        concurrency: 8,
        worker_budget: Duration::from_millis(100),
    };
    let report = simulation::run(&org, knobs, &rules).await;
    let totals = &report.summary.totals;
    assert_eq!(report.summary.units, 60);
    assert_eq!(totals.keys_seen, 1440, "each key once");
    assert_eq!(totals.remediated, 480, "every public key");
    assert!(report.summary.alerted, "the organization summary went out");
    assert!(report.summary.failed_units.is_empty());
    assert!(
        report.deliveries > 60,
        "workers handed on at their budget: {} deliveries in {:?}",
        report.deliveries,
        report.simulated
    );
    // Each worker run writes its first revert at once and the others 1/1.5 s apart (its
    // pacer's PutKeyPolicy share), five runs at a time: ≥ (480 − runs) / 1.5 / 5 s in all.
    let floor = Duration::from_secs_f64((480.0 - report.deliveries as f64) / 1.5 / 5.0);
    assert!(
        report.simulated >= floor && report.simulated < floor * 4,
        "{:?}",
        report.simulated
    );
}

/// A sweep over an account where every read is denied sends at most its per-key alerts
/// (10 by default) and one summary that counts and names the rest — across its runs.
#[tokio::test(start_paused = true)]
async fn a_sweep_that_cannot_read_its_keys_sends_a_bounded_number_of_alerts() {
    let s = sweeper(Mode::Monitor, Pacing::default(), 100);
    fill(&s, 30, 1_000);
    for _ in 0..30 {
        kms(&s).fail_next(
            Call::Get,
            PortError::new(ErrorClass::AccessDenied, "AccessDeniedException", "denied"),
        );
    }
    let stop = Limits {
        deadline: None,
        max_keys: Some(12),
    };
    let (first, _) = run(&s, &start("denied"), stop).await;
    assert_eq!(first.end, RunEnd::Stopped);
    let (second, outcomes) = run(&s, &Request::Resume, Limits::default()).await;
    assert_eq!(second.end, RunEnd::Finished);
    let summary = second.summary.expect("a summary");
    assert_eq!(summary.counts.failed, 30);
    assert_eq!(summary.counts.alerts_withheld, 20);
    assert_eq!(summary.key_alerts_sent, 10);
    assert_eq!(summary.failures.len(), 30, "every key is named");
    assert!(
        outcomes.iter().all(|o| o.alert_withheld),
        "the second run sent none"
    );
    let alerts = s.guardrail.ports.alerts.sent();
    let per_key = alerts
        .iter()
        .filter(|a| a.action == "could-not-check")
        .count();
    assert_eq!(per_key, 10);
    let summaries: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.action == "sweep-summary")
        .collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].body["alerts_withheld"], 20);
}
