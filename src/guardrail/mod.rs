//! The guardrail's decision for one event (or one key the sweep listed): intake → `DescribeKey` → `GetKeyPolicy` (settled
//! against stale reads) → evaluate → record the baseline, or plan, check and write a revert
//! and read it back → alert → publish its findings (Security Hub, [`findings`]). Generic over
//! the [`ports`], so the same code runs against AWS, against moto, and in memory.
//!
//! Errors are classified: transient AWS faults come back as [`HandlerError::Transient`] so
//! Lambda retries; permanent ones (missing key, wrong state, access denied, a refused write)
//! are alerted and the event succeeds.

pub mod alert;
pub mod findings;
pub mod grant;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod ports;

use crate::event::{self, Intake, KeyEvent, KeyEventName};
use engine::grants::{KeyContext, Organization};
use engine::policy::Policy;
use engine::remediate;
use engine::report::{Finding, Report};
use engine::rules::{RuleAction, RuleSet};
use ports::{Alerts, Baselines, Budget, ErrorClass, Findings, KeyPolicies, PortError, Ports};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// An account that is not covered is alerted at most once in this many seconds.
pub const COVERAGE_ALERT_WINDOW_SECS: u64 = 3600;

/// Seconds since the epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `enforce` writes reverts; `monitor` only says what it would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Revert violations whose rule says `revert`.
    Enforce,
    /// Write nothing.
    Monitor,
}

/// Retries with exponential back-off: `attempts` tries, waiting `first_delay`, then twice
/// that, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// How many reads in all.
    pub attempts: u32,
    /// The wait before the second read.
    pub first_delay: Duration,
}

impl Backoff {
    fn delay(self, attempt: u32) -> Duration {
        self.first_delay.saturating_mul(1 << attempt.min(16))
    }
}

/// How the guardrail behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Enforce or monitor.
    pub mode: Mode,
    /// The guardrail's own role: changes it made are never remediated again.
    pub role_arn: Option<String>,
    /// The member role's name (organization mode): changes made through it, in any
    /// account, are the guardrail's own too.
    pub member_role: Option<String>,
    /// Reverts per key per window before the key becomes alert-only.
    pub budget: Budget,
    /// Re-reads after a write (and of a policy that looks superseded): KMS is eventually
    /// consistent.
    pub reread: Backoff,
    /// The owner's organization, as last learned (organization mode): how a grant to
    /// another account of a trusted organization is told from a foreign one.
    pub membership: Membership,
    /// How many per-key could-not-check alerts one sweep may send.
    pub key_alerts: KeyAlertQuota,
}

/// A coalesced alert (an event's could-not-check, per account, step and error code) goes
/// out at most once in this many seconds.
pub const COALESCE_WINDOW_SECS: u64 = 3600;

/// The per-key could-not-check alerts a sweep sends at most by default; the rest are counted
/// and listed in its summary.
pub const DEFAULT_SWEEP_KEY_ALERTS: u32 = 10;

/// How many per-key could-not-check alerts a sweep may still send: a sweep over an account
/// where every read is denied sends a few, and one summary, not an alert per key. Shared by
/// the sweep's keys in flight; each run starts it from what its sweep already sent.
#[derive(Debug, Clone)]
pub struct KeyAlertQuota {
    limit: u32,
    remaining: Arc<AtomicU32>,
}

impl KeyAlertQuota {
    /// At most `limit` alerts per sweep.
    pub fn new(limit: u32) -> Self {
        KeyAlertQuota {
            limit,
            remaining: Arc::new(AtomicU32::new(limit)),
        }
    }

    /// Starts a run of a sweep that already sent `sent`.
    pub fn start(&self, sent: u32) {
        self.remaining
            .store(self.limit.saturating_sub(sent), Ordering::SeqCst);
    }

    /// Takes one alert; `false` when the sweep's are spent.
    pub fn take(&self) -> bool {
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Alerts the sweep has sent, this run's included.
    pub fn sent(&self) -> u32 {
        self.limit
            .saturating_sub(self.remaining.load(Ordering::SeqCst))
    }
}

impl Default for KeyAlertQuota {
    fn default() -> Self {
        KeyAlertQuota::new(DEFAULT_SWEEP_KEY_ALERTS)
    }
}

/// Two quotas are equal when they have one limit and share one count.
impl PartialEq for KeyAlertQuota {
    fn eq(&self, other: &Self) -> bool {
        self.limit == other.limit && Arc::ptr_eq(&self.remaining, &other.remaining)
    }
}

impl Eq for KeyAlertQuota {}

/// The organization the keys' owners belong to, as the app last learned it (`ListAccounts`
/// in organization mode), shared between the app that refreshes it and the guardrail that
/// reads it. Unknown until learned: a grant finding that hangs on membership then only
/// alerts.
#[derive(Debug, Clone, Default)]
pub struct Membership(Arc<RwLock<Option<Learned>>>);

/// What the last attempt to learn the organization found (`None`: it failed), and when
/// (seconds since the epoch).
type Learned = (Option<Arc<Organization>>, u64);

impl Membership {
    /// The organization, if known.
    pub fn get(&self) -> Option<Arc<Organization>> {
        self.read().and_then(|(org, _)| org)
    }

    /// When it was last learned, or tried to be (seconds since the epoch).
    pub fn learned_at(&self) -> Option<u64> {
        self.read().map(|(_, at)| at)
    }

    /// Records `org` as learned at `now`.
    pub fn set(&self, org: Organization, now: u64) {
        self.write(Some(Arc::new(org)), now);
    }

    /// Records that learning it failed at `now`: it is not asked again until that is stale.
    /// What was known before is kept.
    pub fn failed(&self, now: u64) {
        let known = self.get();
        self.write(known, now);
    }

    fn write(&self, org: Option<Arc<Organization>>, now: u64) {
        let mut slot = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some((org, now));
    }

    fn read(&self) -> Option<Learned> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Two handles are equal when they share one record.
impl PartialEq for Membership {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Membership {}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Enforce,
            role_arn: None,
            member_role: None,
            budget: Budget {
                reverts: 3,
                window_secs: 3600,
            },
            reread: Backoff {
                attempts: 4,
                first_delay: Duration::from_millis(250),
            },
            membership: Membership::default(),
            key_alerts: KeyAlertQuota::default(),
        }
    }
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not an event about a key policy (acknowledged).
    Ignored,
    /// A key the guardrail leaves alone (AWS-managed, pending deletion).
    Skipped,
    /// The policy complies.
    Compliant,
    /// The policy violates the rules.
    Violating,
    /// The policy could not be read (missing key, access denied, …).
    CouldNotCheck,
    /// The key's account could not be reached: its member role could not be assumed.
    NotCovered,
}

/// Why a key was left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// AWS owns the key's policy.
    AwsManaged,
    /// The key is on its way out.
    PendingDeletion,
    /// The sweep listed the key, then it was gone.
    Deleted,
}

impl Skip {
    /// The reason's name (`aws-managed`, `pending-deletion`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::AwsManaged => "aws-managed",
            Skip::PendingDeletion => "pending-deletion",
            Skip::Deleted => "deleted",
        }
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing.
    None,
    /// The compliant policy was recorded as the key's last known-good.
    BaselineRecorded,
    /// Alerted only (the rules say alert, the change was the guardrail's own, the key is
    /// exempt, or its revert budget is spent).
    Alerted,
    /// Monitor mode: a revert would have been written.
    WouldRevert,
    /// A compliant policy was written back.
    Reverted,
    /// No safe policy exists: alerted, nothing written.
    NotRemediated,
    /// The write was refused: alerted.
    RevertFailed,
}

/// The result of handling one event (logged, returned by `replay`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The EventBridge event id.
    pub event_id: Option<String>,
    /// The key checked.
    pub key_arn: Option<String>,
    /// What was found.
    pub status: Status,
    /// Why the key was skipped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<Skip>,
    /// What was done.
    pub action: Action,
    /// One line on why.
    pub message: String,
    /// The violations.
    pub findings: Vec<Finding>,
    /// The policy the guardrail read.
    pub policy_before: Option<String>,
    /// The policy it wrote (or would have).
    pub policy_after: Option<String>,
    /// Whether the written policy was read back as written.
    pub verified: Option<bool>,
    /// Whether an alert was published.
    pub alerted: bool,
    /// The key's grants judged (a `CreateGrant` event's grant; every grant in a sweep).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<grant::GrantVerdict>,
    /// Why the key's grants could not be checked (a sweep whose `ListGrants` failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants_unchecked: Option<String>,
    /// Alerts of this outcome kept in the outbox because they could not be published.
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_deferred: u32,
    /// Earlier alerts delivered from the outbox by this invocation.
    #[serde(skip_serializing_if = "is_zero")]
    pub alerts_delivered: u32,
    /// Its could-not-check alert was held back: coalesced with an identical one, or past
    /// its sweep's per-key alerts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub alert_withheld: bool,
    /// What publishing its findings to Security Hub did, when it was asked to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<Box<findings::HubReport>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Outcome {
    /// Whether the key could not be checked, or its remediation failed: the outcomes that
    /// count as failures in metrics and sweep summaries.
    pub fn failed(&self) -> bool {
        matches!(self.status, Status::CouldNotCheck | Status::NotCovered)
            || matches!(self.action, Action::RevertFailed | Action::NotRemediated)
            || self.grants_unchecked.is_some()
            || self.grants.iter().any(grant::GrantVerdict::failed)
    }

    /// An outcome with nothing found or done yet.
    pub fn new(event_id: Option<String>, key_arn: Option<String>, status: Status) -> Self {
        Outcome {
            event_id,
            key_arn,
            status,
            skip: None,
            action: Action::None,
            message: String::new(),
            findings: Vec::new(),
            policy_before: None,
            policy_after: None,
            verified: None,
            alerted: false,
            grants: Vec::new(),
            grants_unchecked: None,
            alerts_deferred: 0,
            alerts_delivered: 0,
            alert_withheld: false,
            security_hub: None,
        }
    }
}

/// Why an event could not be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The input is not an EventBridge CloudTrail event: retrying cannot help.
    #[error(transparent)]
    InvalidEvent(#[from] event::EventError),
    /// An AWS call failed in a way worth retrying.
    #[error("transient failure during {step}: {error}")]
    Transient {
        /// The call (`GetKeyPolicy`, `PutKeyPolicy`, `Publish`, …).
        step: &'static str,
        /// The failure.
        error: PortError,
    },
}

impl HandlerError {
    /// A stable error type for the Lambda runtime's error response.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidEvent(_) => "InvalidEvent",
            HandlerError::Transient { .. } => "TransientAwsError",
        }
    }
}

/// The guardrail over its ports.
#[derive(Debug)]
pub struct Guardrail<P> {
    /// KMS, SNS, the baseline store, …
    pub ports: P,
    /// Behaviour.
    pub settings: Settings,
}

/// What an event's decision read ahead, together with `DescribeKey`
/// ([`Guardrail::prefetch`]); `None` where nothing was read ahead.
#[derive(Debug, Default)]
struct Prefetched {
    /// The policy's first read.
    first_read: Option<Result<String, PortError>>,
    /// The last known-good policy (a failed read counts as none, as when read later).
    baseline: Option<Option<String>>,
    /// The key's aliases, when the rules exempt aliases.
    aliases: Option<Result<Vec<String>, PortError>>,
}

impl<P: Ports> Guardrail<P> {
    /// Handles one Lambda input at `now` (seconds since the epoch, for the revert budget).
    pub async fn handle(
        &self,
        input: &Value,
        rules: &RuleSet,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        self.handle_intake(event::read(input), rules, now).await
    }

    /// Handles what intake made of an input (for callers that already read it).
    pub async fn handle_intake(
        &self,
        intake: Result<Intake, event::EventError>,
        rules: &RuleSet,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        match intake? {
            Intake::Ignore(ignored) => Ok(Outcome {
                message: ignored.reason,
                ..Outcome::new(ignored.event_id, None, Status::Ignored)
            }),
            Intake::Handle(event) => {
                let mut out = self.handle_key(&event, rules, now).await?;
                // The topic works again: deliver what waits in the outbox.
                if out.alerted || out.grants.iter().any(|v| v.alerted) {
                    out.alerts_delivered = self.deliver_deferred(now).await.delivered;
                }
                Ok(out)
            }
        }
    }

    /// Checks one key the sweep `sweep_id` listed in `region`: the same decision as for an
    /// event about it, except that a key pending deletion or gone since it was listed is
    /// skipped without an alert.
    pub async fn handle_swept(
        &self,
        sweep_id: &str,
        region: &str,
        key_arn: &str,
        rules: &RuleSet,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        self.handle_key(&KeyEvent::swept(sweep_id, key_arn, region), rules, now)
            .await
    }

    /// The decision for one key, then — when findings are enabled — its findings published
    /// (`findings`).
    async fn handle_key(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        let mut out = Box::pin(self.decide(e, rules, now)).await?;
        if self.ports.findings().enabled() {
            Box::pin(self.report_findings(e, &mut out, now)).await;
        }
        Ok(out)
    }

    async fn decide(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        let mut out = Outcome::new(
            Some(e.event_id.clone()),
            Some(e.key_arn.clone()),
            Status::CouldNotCheck,
        );
        // Each joined call is boxed: joined, the calls' states would sit side by side in this
        // future (an SDK call's is large), and a sweep nests it deep.
        let (info, prefetched) = tokio::join!(
            Box::pin(self.ports.keys().describe_key(&e.region, &e.key_arn)),
            Box::pin(self.prefetch(e, rules))
        );
        let info = match info {
            Ok(info) => info,
            Err(err) => return self.could_not_check(e, out, "DescribeKey", err, now).await,
        };
        if info.aws_managed {
            out.status = Status::Skipped;
            out.skip = Some(Skip::AwsManaged);
            out.message = "AWS-managed key: AWS owns its policy".to_owned();
            return Ok(out);
        }
        if info.pending_deletion() {
            out.status = Status::Skipped;
            out.skip = Some(Skip::PendingDeletion);
            out.message = format!("the key is {}: its policy is not checked", info.state);
            // An event says someone just acted on the key; a sweep meets it every day.
            if e.name != KeyEventName::Sweep {
                self.alert(e, &mut out, alert::Kind::Skipped).await?;
            }
            return Ok(out);
        }
        let mut ctx = KeyContext::for_key_arn(&e.key_arn);
        ctx.organization = self.settings.membership.get();
        if e.name == KeyEventName::CreateGrant {
            return self.handle_grant_event(e, rules, &ctx, out, now).await;
        }
        let mut out = self
            .handle_policy(e, rules, &ctx, out, now, prefetched)
            .await?;
        if e.name == KeyEventName::Sweep
            && rules.judges_grants()
            && matches!(out.status, Status::Compliant | Status::Violating)
        {
            self.sweep_grants(e, rules, &ctx, now, &mut out).await?;
        }
        Ok(out)
    }

    /// What an event's decision may read besides `DescribeKey`, started with it so the reads
    /// share one round trip (the exposure window is counted in sequential round trips): the
    /// last known-good policy (a revert may follow) and, for a key in the function's own
    /// account, the policy and the aliases ([`Guardrail::key_reads`]). A member account's
    /// KMS is reached through an assumed role: its reads wait for `DescribeKey`, the first
    /// call, so a cold or refused role costs one `AssumeRole`, not one per racing call.
    /// A sweep reads only after `DescribeKey` (it meets many AWS-managed keys, and is paced,
    /// not raced), and so does a `CreateGrant` event (it reads grants, not the policy).
    async fn prefetch(&self, e: &KeyEvent, rules: &RuleSet) -> Prefetched {
        if matches!(e.name, KeyEventName::Sweep | KeyEventName::CreateGrant) {
            return Prefetched::default();
        }
        let own_account = self
            .settings
            .role_arn
            .as_deref()
            .and_then(engine::arn::Arn::parse)
            .is_some_and(|role| role.account == e.account);
        // A lost baseline costs a better revert, not the revert: as when read later.
        let baseline = async {
            self.ports
                .baselines()
                .last_known_good(&e.key_arn)
                .await
                .unwrap_or(None)
        };
        let reads = async {
            if own_account {
                Some(self.key_reads(e, rules).await)
            } else {
                None
            }
        };
        let (baseline, reads) = tokio::join!(Box::pin(baseline), Box::pin(reads));
        let (first_read, aliases) = reads.unzip();
        Prefetched {
            first_read,
            baseline: Some(baseline),
            aliases: aliases.flatten(),
        }
    }

    /// The key's policy and — when the rules exempt aliases — its aliases, read together.
    async fn key_reads(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
    ) -> (
        Result<String, PortError>,
        Option<Result<Vec<String>, PortError>>,
    ) {
        let keys = self.ports.keys();
        let aliases = async {
            if exempt_aliases(rules).is_empty() {
                None
            } else {
                Some(keys.list_aliases(&e.region, &e.key_arn).await)
            }
        };
        tokio::join!(
            Box::pin(keys.get_key_policy(&e.region, &e.key_arn)),
            Box::pin(aliases)
        )
    }

    /// The key policy's part of the decision: read (settled), evaluate, then record the
    /// baseline or act on the violation.
    async fn handle_policy(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        mut out: Outcome,
        now: u64,
        mut prefetched: Prefetched,
    ) -> Result<Outcome, HandlerError> {
        // An event about a member account's key reads its policy and aliases now, together.
        if prefetched.first_read.is_none() && prefetched.baseline.is_some() {
            let (policy, aliases) = self.key_reads(e, rules).await;
            prefetched.first_read = Some(policy);
            prefetched.aliases = aliases;
        }
        let first_read = prefetched.first_read.take();
        let (text, report) = match self.settled_policy(e, rules, ctx, first_read).await {
            Ok(settled) => settled,
            Err(err) => return self.could_not_check(e, out, "GetKeyPolicy", err, now).await,
        };
        out.policy_before = Some(text.clone());
        out.findings = report.findings.clone();
        if report.is_compliant() {
            out.status = Status::Compliant;
            out.message = "the policy complies".to_owned();
            // A lost baseline costs a better revert later, not this event: log, go on.
            match self
                .ports
                .baselines()
                .record_known_good(&e.key_arn, &text, &e.event_id)
                .await
            {
                Ok(()) => out.action = Action::BaselineRecorded,
                Err(err) => {
                    out.message =
                        format!("the policy complies; recording it as baseline failed: {err}")
                }
            }
            return Ok(out);
        }
        out.status = Status::Violating;
        self.act_on_violation(e, rules, ctx, &text, &report, now, prefetched, &mut out)
            .await?;
        Ok(out)
    }

    /// Reads the key's policy (unless `first_read` already did). When the event's own copy
    /// violates the rules but the read one differs and complies, the read may be stale:
    /// re-read with back-off before concluding the change was superseded.
    async fn settled_policy(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        first_read: Option<Result<String, PortError>>,
    ) -> Result<(String, Report), PortError> {
        let mut text = match first_read {
            Some(read) => read?,
            None => {
                self.ports
                    .keys()
                    .get_key_policy(&e.region, &e.key_arn)
                    .await?
            }
        };
        let mut report = check_text(&text, rules, ctx);
        let event_copy_violates = e
            .request_policy
            .as_deref()
            .is_some_and(|p| !check_text(p, rules, ctx).is_compliant());
        let mut attempt = 0;
        while report.is_compliant()
            && event_copy_violates
            && e.request_policy.as_deref() != Some(text.as_str())
            && attempt + 1 < self.settings.reread.attempts
        {
            tokio::time::sleep(self.settings.reread.delay(attempt)).await;
            attempt += 1;
            text = self
                .ports
                .keys()
                .get_key_policy(&e.region, &e.key_arn)
                .await?;
            report = check_text(&text, rules, ctx);
        }
        Ok((text, report))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the stages' values, passed rather than rebuilt"
    )]
    async fn act_on_violation(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        ctx: &KeyContext,
        text: &str,
        report: &Report,
        now: u64,
        prefetched: Prefetched,
        out: &mut Outcome,
    ) -> Result<(), HandlerError> {
        let held = self
            .hold(e, rules, &report.findings, prefetched.aliases)
            .await?;
        if let Some(reason) = held {
            out.action = Action::Alerted;
            out.message = reason;
            return self.alert(e, out, alert::Kind::Violation).await;
        }
        let baseline = match prefetched.baseline {
            Some(baseline) => baseline,
            None => self
                .ports
                .baselines()
                .last_known_good(&e.key_arn)
                .await
                .unwrap_or(None),
        };
        let policy = match Policy::parse(text) {
            Ok(policy) => policy,
            Err(err) => {
                out.action = Action::NotRemediated;
                out.message = format!(
                    "the key's policy cannot be read as JSON, so it is not rewritten: {err}"
                );
                return self.alert(e, out, alert::Kind::Violation).await;
            }
        };
        let plan = match remediate::plan(&policy, report, rules, ctx, baseline.as_deref()) {
            Ok(plan) => plan,
            Err(no_plan) => {
                out.action = Action::NotRemediated;
                out.message = no_plan.to_string();
                return self.alert(e, out, alert::Kind::Violation).await;
            }
        };
        out.policy_after = Some(plan.policy.clone());
        if self.settings.mode == Mode::Monitor {
            out.action = Action::WouldRevert;
            out.message = format!(
                "monitor mode: would have put back {}",
                describe_source(plan.source)
            );
            return self.alert(e, out, alert::Kind::Violation).await;
        }
        if let Some(spent) = self.spent_budget(e, now).await? {
            out.action = Action::Alerted;
            out.policy_after = None;
            out.message = spent;
            return self.alert(e, out, alert::Kind::Violation).await;
        }
        if let Err(err) = self
            .ports
            .keys()
            .put_key_policy(&e.region, &e.key_arn, &plan.policy)
            .await
        {
            if err.class.is_transient() {
                return Err(HandlerError::Transient {
                    step: "PutKeyPolicy",
                    error: err,
                });
            }
            out.action = Action::RevertFailed;
            out.message = format!("PutKeyPolicy was refused: {err}");
            return self.alert(e, out, alert::Kind::Violation).await;
        }
        out.action = Action::Reverted;
        out.verified = Some(self.read_back(e, &plan.policy).await);
        out.message = format!(
            "put back {}{}",
            describe_source(plan.source),
            if out.verified == Some(true) {
                ""
            } else {
                "; not yet visible when read back"
            }
        );
        let message = alert::build(e, out, alert::Kind::Violation);
        let sent = self
            .deliver(&message, Some((&outbox_id(e, None), now)))
            .await?;
        out.record(sent);
        Ok(())
    }

    /// Takes one write (a revert or a revocation) from the key's budget; `Some(why)` when the
    /// budget is spent. Without a working budget store the write still happens — a missed
    /// revert is the worse failure, and the loop guard keeps the guardrail from feeding
    /// itself — unless the store's failure is transient (Lambda retries).
    async fn spent_budget(&self, e: &KeyEvent, now: u64) -> Result<Option<String>, HandlerError> {
        let budget = self.settings.budget;
        match self
            .ports
            .baselines()
            .take_revert(&e.key_arn, now, budget)
            .await
        {
            Ok(true) => Ok(None),
            Ok(false) => Ok(Some(format!(
                "revert budget spent ({} per {} s): the key is alert-only until the window passes",
                budget.reverts, budget.window_secs
            ))),
            Err(err) if err.class.is_transient() => Err(HandlerError::Transient {
                step: "take revert budget",
                error: err,
            }),
            Err(_) => Ok(None),
        }
    }

    /// Why `findings` are only alerted, if they are: no finding's rule says revert, the key
    /// is exempt, or the change was the guardrail's own. `aliases`: the key's aliases when
    /// already read.
    async fn hold(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        findings: &[Finding],
        aliases: Option<Result<Vec<String>, PortError>>,
    ) -> Result<Option<String>, HandlerError> {
        if !findings.iter().any(|f| f.action == RuleAction::Revert) {
            return Ok(Some("the rules say alert".to_owned()));
        }
        if let Some(why) = self.exemption(e, rules, aliases).await? {
            return Ok(Some(why));
        }
        if self.is_own_change(e) {
            return Ok(Some(
                "the change was the guardrail's own: it is never remediated again".to_owned(),
            ));
        }
        Ok(None)
    }

    /// Whether the change was made by the guardrail itself: its own role, or its member
    /// role in any account.
    fn is_own_change(&self, e: &KeyEvent) -> bool {
        let settings = &self.settings;
        settings
            .role_arn
            .as_deref()
            .is_some_and(|r| e.actor.is_role(r))
            || settings
                .member_role
                .as_deref()
                .is_some_and(|name| e.actor.is_role_named(name))
    }

    /// Why the key is exempt from remediation, if it is: by key ARN or id, or by one of its
    /// aliases (looked up only when the rules exempt aliases, unless `read` already holds
    /// them). When the aliases cannot be read, the key is held too: reverting an exempt key
    /// would be an outage.
    async fn exemption(
        &self,
        e: &KeyEvent,
        rules: &RuleSet,
        read: Option<Result<Vec<String>, PortError>>,
    ) -> Result<Option<String>, HandlerError> {
        let key_id = e.key_arn.rsplit('/').next().unwrap_or(&e.key_arn);
        if rules
            .exemptions
            .iter()
            .any(|x| *x == e.key_arn || x == key_id)
        {
            return Ok(Some("the key is exempt from remediation".to_owned()));
        }
        let aliases = exempt_aliases(rules);
        if aliases.is_empty() {
            return Ok(None);
        }
        let read = match read {
            Some(read) => read,
            None => self.ports.keys().list_aliases(&e.region, &e.key_arn).await,
        };
        match read {
            Ok(names) => Ok(names
                .iter()
                .find(|n| aliases.contains(&n.as_str()))
                .map(|n| format!("the key is exempt from remediation (as `{n}`)"))),
            Err(err) if err.class.is_transient() => Err(HandlerError::Transient {
                step: "ListAliases",
                error: err,
            }),
            Err(err) => Ok(Some(format!(
                "the rules exempt aliases and the key's could not be read ({err}): not remediated"
            ))),
        }
    }

    /// Reads the policy back until it is the one written (same model), with back-off.
    async fn read_back(&self, e: &KeyEvent, written: &str) -> bool {
        let Ok(expected) = Policy::parse(written) else {
            return false;
        };
        for attempt in 0..self.settings.reread.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.settings.reread.delay(attempt - 1)).await;
            }
            if let Ok(text) = self
                .ports
                .keys()
                .get_key_policy(&e.region, &e.key_arn)
                .await
                && Policy::parse(&text).is_ok_and(|p| same_policy(&p, &expected))
            {
                return true;
            }
        }
        false
    }

    async fn could_not_check(
        &self,
        e: &KeyEvent,
        mut out: Outcome,
        step: &'static str,
        err: PortError,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        if err.class.is_transient() {
            return Err(HandlerError::Transient { step, error: err });
        }
        if err.class == ErrorClass::NotCovered {
            return self.not_covered(e, out, err, now).await;
        }
        if e.name == KeyEventName::Sweep && err.class == ErrorClass::NotFound {
            out.status = Status::Skipped;
            out.skip = Some(Skip::Deleted);
            out.message = format!("the key was deleted after the sweep listed it ({step}: {err})");
            return Ok(out);
        }
        out.status = Status::CouldNotCheck;
        out.message = match err.class {
            ErrorClass::AccessDenied => format!(
                "{step} was denied: the policy could not be verified (this is never a pass): {err}"
            ),
            _ => format!("{step} failed: {err}"),
        };
        if e.name == KeyEventName::Sweep {
            // Bounded: the sweep's summary counts and lists the rest.
            if !self.settings.key_alerts.take() {
                out.alert_withheld = true;
                out.message.push_str(
                    "; not alerted on its own: the sweep's per-key alerts are spent (its summary lists the key)",
                );
                return Ok(out);
            }
        } else {
            // Coalesced: one alert per account, step and error per window. Without a working
            // store, alert: a flood is better than silence.
            let ration = Budget {
                reverts: 1,
                window_secs: COALESCE_WINDOW_SECS,
            };
            let scope = format!("alerts#{}#{step}#{}", e.account, err.code);
            let due = self
                .ports
                .baselines()
                .take_revert(&scope, now, ration)
                .await
                .unwrap_or(true);
            if !due {
                out.alert_withheld = true;
                out.message
                    .push_str("; an identical alert for this account went out within the hour");
                return Ok(out);
            }
        }
        self.alert(e, &mut out, alert::Kind::CouldNotCheck).await?;
        Ok(out)
    }

    /// The key's account is a blind spot: counted, and alerted at most once per account
    /// per [`COVERAGE_ALERT_WINDOW_SECS`] (rationed through the hub table's windowed budget
    /// under `coverage#<account>`), so a burst of events from an unreachable account is one
    /// alert, not a flood.
    async fn not_covered(
        &self,
        e: &KeyEvent,
        mut out: Outcome,
        err: PortError,
        now: u64,
    ) -> Result<Outcome, HandlerError> {
        out.status = Status::NotCovered;
        out.message = format!(
            "account {} is not covered: the guardrail cannot act there ({err})",
            e.account
        );
        let ration = Budget {
            reverts: 1,
            window_secs: COVERAGE_ALERT_WINDOW_SECS,
        };
        let due = self
            .ports
            .baselines()
            .take_revert(&format!("coverage#{}", e.account), now, ration)
            .await
            // Without a working store, alert: a flood is better than silence.
            .unwrap_or(true);
        if due {
            self.alert(e, &mut out, alert::Kind::NotCovered).await?;
        } else {
            out.message
                .push_str("; already alerted for this account within the hour");
        }
        Ok(out)
    }

    async fn alert(
        &self,
        e: &KeyEvent,
        out: &mut Outcome,
        kind: alert::Kind,
    ) -> Result<(), HandlerError> {
        let message = alert::build(e, out, kind);
        let sent = self.deliver(&message, None).await?;
        out.record(sent);
        Ok(())
    }

    /// Publishes `message`. Before any write (`written` is `None`) a failure is transient:
    /// a retry re-evaluates and alerts again. After a write (`written`: the outbox id and
    /// now) a retry would find nothing left to do and never alert, so a failed publish keeps
    /// the alert in the outbox, delivered later ([`Guardrail::deliver_deferred`]); when the
    /// outbox cannot take it either, the alert is logged whole at error level and the
    /// invocation fails, so Lambda's retries and dead-letter queue keep the event.
    async fn deliver(
        &self,
        message: &ports::Alert,
        written: Option<(&str, u64)>,
    ) -> Result<Sent, HandlerError> {
        let error = match self.ports.alerts().publish(message).await {
            Ok(()) => return Ok(Sent::Published),
            Err(error) => error,
        };
        let Some((id, now)) = written else {
            return Err(HandlerError::Transient {
                step: "Publish",
                error,
            });
        };
        match self.ports.baselines().defer_alert(id, message, now).await {
            Ok(_) => {
                tracing::warn!(
                    error = %error,
                    outbox_id = id,
                    subject = %message.subject,
                    "the alert could not be published; it waits in the outbox"
                );
                Ok(Sent::Deferred(error))
            }
            Err(store) => {
                tracing::error!(
                    error = %error,
                    outbox_error = %store,
                    subject = %message.subject,
                    body = %message.body,
                    "the alert for a write could not be published nor kept in the outbox; this line holds it"
                );
                Err(HandlerError::Transient {
                    step: "Publish",
                    error,
                })
            }
        }
    }
}

/// How an alert left.
#[derive(Debug)]
enum Sent {
    /// Published.
    Published,
    /// Kept in the outbox after this publish failure.
    Deferred(PortError),
}

impl Outcome {
    /// Notes how its alert left.
    fn record(&mut self, sent: Sent) {
        match sent {
            Sent::Published => self.alerted = true,
            Sent::Deferred(error) => {
                self.alerts_deferred += 1;
                self.message = format!(
                    "{}; the alert could not be published ({error}) and waits in the outbox",
                    self.message
                );
            }
        }
    }
}

/// The outbox id of the alert about `e` (and its grant `grant_id`): one per event, key and
/// grant, so a retried event never duplicates it.
fn outbox_id(e: &KeyEvent, grant_id: Option<&str>) -> String {
    match grant_id {
        Some(grant) => format!("{}#{}#{grant}", e.event_id, e.key_arn),
        None => format!("{}#{}", e.event_id, e.key_arn),
    }
}

fn check_text(text: &str, rules: &RuleSet, ctx: &KeyContext) -> Report {
    match Policy::parse(text) {
        Ok(policy) => engine::evaluate(&policy, rules, ctx),
        // KMS only stores valid JSON objects; a text that is not one is judged as a
        // document KMS would refuse.
        Err(err) => Report {
            findings: vec![Finding::whole_policy(
                engine::RuleId::InvalidPolicy,
                rules,
                err.to_string(),
            )],
            notes: Vec::new(),
        },
    }
}

fn same_policy(a: &Policy<'_>, b: &Policy<'_>) -> bool {
    a.version == b.version
        && a.id == b.id
        && a.statements.len() == b.statements.len()
        && a.statements.iter().zip(&b.statements).all(|(x, y)| {
            x.sid == y.sid
                && x.effect == y.effect
                && x.principal == y.principal
                && x.action == y.action
                && x.resource == y.resource
                && x.conditions == y.conditions
        })
}

fn describe_source(source: remediate::Source) -> &'static str {
    match source {
        remediate::Source::Baseline => "the last known-good policy",
        remediate::Source::Stripped => "the policy without the offending grants",
    }
}

/// The alias names the exemptions list (`alias/x`, or the alias part of an alias ARN).
fn exempt_aliases(rules: &RuleSet) -> Vec<&str> {
    rules
        .exemptions
        .iter()
        .filter_map(|x| {
            if x.starts_with("alias/") {
                return Some(x.as_str());
            }
            engine::arn::Arn::parse(x)
                .filter(|a| a.resource.starts_with("alias/"))
                .map(|a| a.resource)
        })
        .collect()
}
