//! The guardrail's boundaries, one small trait per capability: [`KeyPolicies`] (KMS: key
//! policies and grants),
//! [`Alerts`] (SNS), [`Baselines`] (the store of last known-good policies, revert
//! budgets and which findings are open), [`Checkpoints`] (where a sweep keeps its place),
//! [`Findings`] (Security Hub). AWS adapters implement them over
//! the SDK; `memory` implements them in memory. [`Ports`] bundles them, so the decision and
//! the sweep are generic over one type and a new capability is one associated type here.
//!
//! An adapter that is not configured is `None`: every port but KMS is implemented for
//! `Option<T>`, with the behaviour of having no such service (alerts go to the log, nothing
//! is remembered).
//!
//! Every failure is a [`PortError`] whose [`ErrorClass`] says what the handler does about
//! it: transient ones are returned so Lambda retries, permanent ones are alerted.

use std::future::Future;

/// What a failure means for the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// Throttling, timeouts, internal errors, 5xx: retry.
    Transient,
    /// The key does not exist (any more).
    NotFound,
    /// The key's state forbids the call (pending deletion, disabled, …).
    InvalidState,
    /// The guardrail's role may not make the call.
    AccessDenied,
    /// The request was refused as invalid (ARN, unsupported operation, malformed policy).
    Rejected,
    /// The key's account cannot be reached: its member role could not be assumed
    /// (organization mode). A blind spot, never a pass.
    NotCovered,
}

impl ErrorClass {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(self) -> bool {
        self == ErrorClass::Transient
    }
}

/// Error codes by which AWS says a request was refused for its rate (as opposed to other
/// transient faults): the caller must slow down, not only retry.
pub const THROTTLING: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
];

/// A failed call at a boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PortError {
    /// What it means.
    pub class: ErrorClass,
    /// The service's error code (`ThrottlingException`, `NotFoundException`, …).
    pub code: String,
    /// The service's message.
    pub message: String,
}

impl PortError {
    /// A failure of class `class`.
    pub fn new(class: ErrorClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        PortError {
            class,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the service refused the call for its request rate (`ThrottlingException`
    /// and its kin).
    pub fn is_throttling(&self) -> bool {
        self.class.is_transient() && THROTTLING.contains(&self.code.as_str())
    }
}

/// What `DescribeKey` says of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's ARN.
    pub arn: String,
    /// `KeyManager` is `AWS`: AWS owns the policy, the guardrail must not touch it.
    pub aws_managed: bool,
    /// `KeyState` (`Enabled`, `PendingDeletion`, …).
    pub state: String,
}

impl KeyInfo {
    /// Whether the key is on its way out (`PendingDeletion`, `PendingReplicaDeletion`).
    pub fn pending_deletion(&self) -> bool {
        self.state.starts_with("Pending") && self.state.ends_with("Deletion")
    }
}

/// One page of `ListKeys`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// The keys' ARNs, in the service's order.
    pub keys: Vec<String>,
    /// The marker for the next page; `None` on the last.
    pub next: Option<String>,
}

/// One page of `ListGrants`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantPage {
    /// The grants, in the service's order.
    pub grants: Vec<engine::KeyGrant>,
    /// The marker for the next page; `None` on the last.
    pub next: Option<String>,
}

/// Reading and writing key policies, and reading and revoking a key's grants (KMS). Calls
/// take the key's region: a replica lives in another region than the event that announced
/// it.
pub trait KeyPolicies {
    /// `DescribeKey`.
    fn describe_key(
        &self,
        region: &str,
        key_arn: &str,
    ) -> impl Future<Output = Result<KeyInfo, PortError>> + Send;
    /// `GetKeyPolicy` for the `default` policy.
    fn get_key_policy(
        &self,
        region: &str,
        key_arn: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
    /// `ListAliases` for the key: its alias names (`alias/…`).
    fn list_aliases(
        &self,
        region: &str,
        key_arn: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// `ListKeys` in `region`: the page after `marker` (the first without one), at most
    /// `limit` keys.
    fn list_keys(
        &self,
        region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = Result<KeyPage, PortError>> + Send;
    /// `PutKeyPolicy` for the `default` policy. There is deliberately no way to ask for
    /// `BypassPolicyLockoutSafetyCheck` through this port.
    fn put_key_policy(
        &self,
        region: &str,
        key_arn: &str,
        policy: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// `ListGrants` for the key: the page after `marker`, only grant `grant_id` when given.
    fn list_grants(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        marker: Option<&str>,
    ) -> impl Future<Output = Result<GrantPage, PortError>> + Send;
    /// `RevokeGrant`.
    fn revoke_grant(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// One alert: a short subject, a JSON body, and attributes subscribers filter on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// At most 100 characters (SNS's limit for e-mail subjects).
    pub subject: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: String,
    /// The account the alert is about (an attribute for per-account subscription filters).
    pub account: Option<String>,
    /// What the guardrail did: `reverted`, `would-revert`, `alerted`, `revert-failed`,
    /// `not-remediated`, `could-not-check`, `not-covered`, `skipped`, `sweep-summary`; for
    /// grants `revoked`, `would-revoke`, `revoke-failed`.
    pub action: String,
    /// The message body.
    pub body: serde_json::Value,
}

/// Sending alerts (SNS).
pub trait Alerts {
    /// Publishes one alert.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// How many reverts one key may take in a window before the guardrail only alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Reverts allowed per window.
    pub reverts: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

/// An alert kept in the outbox: its id and when it was deferred (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deferred {
    /// When it was deferred.
    pub at: u64,
    /// Its id (the event id and what the alert is about: a retry never duplicates it).
    pub id: String,
}

/// The store of last known-good policies, of revert budgets, and the outbox of alerts that
/// could not be published after the guardrail acted (DynamoDB).
pub trait Baselines {
    /// The key's last known-good policy, if one was recorded.
    fn last_known_good(
        &self,
        key_arn: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Records `policy` as the key's last known-good.
    fn record_known_good(
        &self,
        key_arn: &str,
        policy: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Takes one revert from the key's budget at `now` (seconds since the epoch); `false`
    /// when the budget for the current window is spent. Atomic across concurrent callers.
    fn take_revert(
        &self,
        key_arn: &str,
        now: u64,
        budget: Budget,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Keeps `alert` in the outbox under `id`, deferred at `now`; `false` when one is already
    /// kept under that id (a conditional write: a retry never duplicates it).
    fn defer_alert(
        &self,
        id: &str,
        alert: &Alert,
        now: u64,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// The outbox's entries, oldest first.
    fn deferred_alerts(&self) -> impl Future<Output = Result<Vec<Deferred>, PortError>> + Send;
    /// The alert kept under `entry`, if it is still there.
    fn deferred_alert(
        &self,
        entry: &Deferred,
    ) -> impl Future<Output = Result<Option<Alert>, PortError>> + Send;
    /// Removes a delivered entry.
    fn remove_deferred(
        &self,
        entry: &Deferred,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Marks the findings of `open` open on the key — each `(rule, seen)` recorded as first
    /// seen at `seen` unless it is open already — and those of `close` closed, in one
    /// write. Says when each of `open` was first seen, and which of `close` were open (and
    /// since when): the findings to resolve.
    fn track_findings(
        &self,
        key_arn: &str,
        open: &[(&str, u64)],
        close: &[&str],
    ) -> impl Future<Output = Result<Tracked, PortError>> + Send;
}

/// What [`Baselines::track_findings`] changed: `(rule id, first seen)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracked {
    /// Every finding asked to be open, with when it was first seen.
    pub opened: Vec<(String, u64)>,
    /// The findings asked to be closed that were open, with when they were first seen.
    pub closed: Vec<(String, u64)>,
}

impl Tracked {
    /// What is known without a store: each of `open` first seen when asked, none closed.
    pub fn untracked(open: &[(&str, u64)]) -> Self {
        Tracked {
            opened: open.iter().map(|&(r, t)| (r.to_owned(), t)).collect(),
            closed: Vec::new(),
        }
    }
}

/// The failure of an outbox without a table.
fn no_table() -> PortError {
    PortError::new(
        ErrorClass::Rejected,
        "NoBaselineTable",
        "no baseline table is configured: there is no outbox",
    )
}

/// No store (`None`: no baseline table configured): nothing is remembered, so remediation
/// strips the offending grants, the revert budget cannot be kept — every revert is
/// allowed; the loop guard still keeps the guardrail from reacting to its own writes. There
/// is no outbox: deferring fails (the alert is logged and the invocation fails), and there
/// is nothing to deliver. No finding is known to be open: findings are imported, never
/// resolved.
impl<B: Baselines + Sync> Baselines for Option<B> {
    async fn last_known_good(&self, key_arn: &str) -> Result<Option<String>, PortError> {
        match self {
            Some(store) => store.last_known_good(key_arn).await,
            None => Ok(None),
        }
    }

    async fn record_known_good(
        &self,
        key_arn: &str,
        policy: &str,
        event_id: &str,
    ) -> Result<(), PortError> {
        match self {
            Some(store) => store.record_known_good(key_arn, policy, event_id).await,
            None => Ok(()),
        }
    }

    async fn take_revert(
        &self,
        key_arn: &str,
        now: u64,
        budget: Budget,
    ) -> Result<bool, PortError> {
        match self {
            Some(store) => store.take_revert(key_arn, now, budget).await,
            None => Ok(true),
        }
    }

    async fn defer_alert(&self, id: &str, alert: &Alert, now: u64) -> Result<bool, PortError> {
        match self {
            Some(store) => store.defer_alert(id, alert, now).await,
            None => Err(no_table()),
        }
    }

    async fn deferred_alerts(&self) -> Result<Vec<Deferred>, PortError> {
        match self {
            Some(store) => store.deferred_alerts().await,
            None => Ok(Vec::new()),
        }
    }

    async fn deferred_alert(&self, entry: &Deferred) -> Result<Option<Alert>, PortError> {
        match self {
            Some(store) => store.deferred_alert(entry).await,
            None => Ok(None),
        }
    }

    async fn remove_deferred(&self, entry: &Deferred) -> Result<(), PortError> {
        match self {
            Some(store) => store.remove_deferred(entry).await,
            None => Err(no_table()),
        }
    }

    async fn track_findings(
        &self,
        key_arn: &str,
        open: &[(&str, u64)],
        close: &[&str],
    ) -> Result<Tracked, PortError> {
        match self {
            Some(store) => store.track_findings(key_arn, open, close).await,
            None => Ok(Tracked::untracked(open)),
        }
    }
}

/// Where a sweep keeps its place between runs (DynamoDB, in the baseline table under
/// `sweep#<region>`).
pub trait Checkpoints {
    /// The sweep checkpoint stored under `scope` (opaque text), if any.
    fn sweep_checkpoint(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Stores `checkpoint` under `scope`, replacing what was there.
    fn save_sweep_checkpoint(
        &self,
        scope: &str,
        checkpoint: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// No store: a sweep cannot resume, it has no checkpoint (each run starts over).
impl<C: Checkpoints + Sync> Checkpoints for Option<C> {
    async fn sweep_checkpoint(&self, scope: &str) -> Result<Option<String>, PortError> {
        match self {
            Some(store) => store.sweep_checkpoint(scope).await,
            None => Ok(None),
        }
    }

    async fn save_sweep_checkpoint(&self, scope: &str, checkpoint: &str) -> Result<(), PortError> {
        match self {
            Some(store) => store.save_sweep_checkpoint(scope, checkpoint).await,
            None => Ok(()),
        }
    }
}

/// No topic: the alert is written to the log (warning level, whole body).
impl<A: Alerts + Sync> Alerts for Option<A> {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        match self {
            Some(topic) => topic.publish(alert).await,
            None => {
                tracing::warn!(
                    subject = %alert.subject,
                    severity = %alert.severity,
                    action = %alert.action,
                    body = %alert.body,
                    "alert (no topic configured)"
                );
                Ok(())
            }
        }
    }
}

/// Where findings go besides alerts (Security Hub): one finding per (key, rule), imported
/// in the key's own account and region.
pub trait Findings {
    /// Whether findings are published at all (`false`: nothing is imported, and which
    /// findings are open is not tracked).
    fn enabled(&self) -> bool {
        true
    }
    /// Imports `findings`, creating or updating each by its id.
    fn import(
        &self,
        findings: &[super::findings::KeyFinding],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Not configured (`GUARDRAIL_SECURITY_HUB` off): no finding is published.
impl<F: Findings + Sync> Findings for Option<F> {
    fn enabled(&self) -> bool {
        self.as_ref().is_some_and(Findings::enabled)
    }

    async fn import(&self, findings: &[super::findings::KeyFinding]) -> Result<(), PortError> {
        match self {
            Some(hub) => hub.import(findings).await,
            None => Ok(()),
        }
    }
}

/// Every capability the guardrail and the sweep use, as one type they are generic over.
pub trait Ports: Sync {
    /// KMS.
    type Keys: KeyPolicies + Sync;
    /// SNS.
    type Alerts: Alerts + Sync;
    /// Last known-good policies and revert budgets.
    type Baselines: Baselines + Sync;
    /// Sweep checkpoints.
    type Checkpoints: Checkpoints + Sync;
    /// Security Hub.
    type Findings: Findings + Sync;
    /// KMS.
    fn keys(&self) -> &Self::Keys;
    /// SNS.
    fn alerts(&self) -> &Self::Alerts;
    /// Last known-good policies and revert budgets.
    fn baselines(&self) -> &Self::Baselines;
    /// Sweep checkpoints.
    fn checkpoints(&self) -> &Self::Checkpoints;
    /// Security Hub.
    fn findings(&self) -> &Self::Findings;
}

/// The ports as one adapter per capability. Findings go nowhere unless `F` says otherwise.
#[derive(Debug, Default)]
pub struct Adapters<K, A, B, C, F = Option<NoFindings>> {
    /// KMS.
    pub keys: K,
    /// SNS.
    pub alerts: A,
    /// Last known-good policies and revert budgets.
    pub baselines: B,
    /// Sweep checkpoints.
    pub checkpoints: C,
    /// Security Hub.
    pub findings: F,
}

/// A findings port that is never configured (the default `Adapters::findings`: `None`).
#[derive(Debug)]
pub enum NoFindings {}

impl Findings for NoFindings {
    async fn import(&self, _: &[super::findings::KeyFinding]) -> Result<(), PortError> {
        match *self {}
    }
}

impl<K, A, B, C, F> Ports for Adapters<K, A, B, C, F>
where
    K: KeyPolicies + Sync,
    A: Alerts + Sync,
    B: Baselines + Sync,
    C: Checkpoints + Sync,
    F: Findings + Sync,
{
    type Keys = K;
    type Alerts = A;
    type Baselines = B;
    type Checkpoints = C;
    type Findings = F;

    fn keys(&self) -> &K {
        &self.keys
    }

    fn alerts(&self) -> &A {
        &self.alerts
    }

    fn baselines(&self) -> &B {
        &self.baselines
    }

    fn checkpoints(&self) -> &C {
        &self.checkpoints
    }

    fn findings(&self) -> &F {
        &self.findings
    }
}
