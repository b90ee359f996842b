//! In-memory ports: keys, alerts, baselines, checkpoints, findings, the organization sweep's ledger and
//! queue held in maps, with failures that can be injected per call. For fault paths a real
//! service cannot be made to produce on demand, for benchmarks of the handler's own overhead,
//! and for the organization sweep's capacity model.

use super::findings::KeyFinding;
use super::ports::{
    Alert, Alerts, Baselines, Budget, Checkpoints, Deferred, ErrorClass, Findings, GrantPage,
    KeyInfo, KeyPage, KeyPolicies, PortError, Tracked,
};
use crate::sweep::org::Unit;
use crate::sweep::org::fanout::{Ledger, Opening, Plan, Progress, UnitQueue};
use engine::KeyGrant;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Which call a fault is injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `DescribeKey`.
    Describe,
    /// `GetKeyPolicy`.
    Get,
    /// `ListAliases`.
    Aliases,
    /// `PutKeyPolicy`.
    Put,
    /// `ListKeys`.
    List,
    /// `ListGrants`.
    ListGrants,
    /// `RevokeGrant`.
    Revoke,
}

#[derive(Debug, Default)]
struct Keys {
    /// How long every call takes (virtual time in a paused-clock test), as a network would.
    latency: Option<std::time::Duration>,
    /// By ARN: `ListKeys` pages through them in this order.
    keys: BTreeMap<String, (KeyInfo, String)>,
    faults: HashMap<Call, VecDeque<PortError>>,
    aliases: HashMap<String, Vec<String>>,
    /// Policies served by the next `GetKeyPolicy` calls before the stored one (stale reads).
    stale: VecDeque<String>,
    puts: Vec<(String, String)>,
    /// Each key's grants, in creation order.
    grants: HashMap<String, Vec<KeyGrant>>,
    /// Revoked grants still listed by the next this-many `ListGrants` calls (eventual
    /// consistency), with the key they were on.
    lingering: Vec<(String, KeyGrant)>,
    linger_reads: usize,
    revokes: Vec<(String, String)>,
}

/// KMS keys in memory.
#[derive(Debug, Default)]
pub struct InMemoryKeyPolicies {
    inner: Mutex<Keys>,
}

impl InMemoryKeyPolicies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds (or replaces) a customer-managed, enabled key.
    pub fn insert(&self, key_arn: &str, policy: &str) {
        self.insert_with(key_arn, policy, false, "Enabled");
    }

    /// Adds a key with the given manager and state.
    pub fn insert_with(&self, key_arn: &str, policy: &str, aws_managed: bool, state: &str) {
        let info = KeyInfo {
            arn: key_arn.to_owned(),
            aws_managed,
            state: state.to_owned(),
        };
        self.lock()
            .keys
            .insert(key_arn.to_owned(), (info, policy.to_owned()));
    }

    /// Gives the key an alias (`alias/name`).
    pub fn add_alias(&self, key_arn: &str, alias: &str) {
        self.lock()
            .aliases
            .entry(key_arn.to_owned())
            .or_default()
            .push(alias.to_owned());
    }

    /// The key's current policy.
    pub fn policy(&self, key_arn: &str) -> Option<String> {
        self.lock().keys.get(key_arn).map(|(_, p)| p.clone())
    }

    /// Makes the next call of `call` fail with `error` (queued: several faults fail
    /// several calls in order).
    pub fn fail_next(&self, call: Call, error: PortError) {
        self.lock().faults.entry(call).or_default().push_back(error);
    }

    /// Makes the next `GetKeyPolicy` calls return `policies` in order (an eventually
    /// consistent read), before the stored policy again.
    pub fn serve_stale(&self, policies: &[&str]) {
        self.lock()
            .stale
            .extend(policies.iter().map(|p| (*p).to_owned()));
    }

    /// Removes the key (as if deleted and gone).
    pub fn remove(&self, key_arn: &str) {
        self.lock().keys.remove(key_arn);
    }

    /// Every `PutKeyPolicy` made: (key ARN, policy).
    pub fn puts(&self) -> Vec<(String, String)> {
        self.lock().puts.clone()
    }

    /// Gives the key a grant.
    pub fn add_grant(&self, key_arn: &str, grant: KeyGrant) {
        self.lock()
            .grants
            .entry(key_arn.to_owned())
            .or_default()
            .push(grant);
    }

    /// The key's grants.
    pub fn grants(&self, key_arn: &str) -> Vec<KeyGrant> {
        self.lock().grants.get(key_arn).cloned().unwrap_or_default()
    }

    /// Keeps a revoked grant listed by the next `reads` calls of `ListGrants`.
    pub fn linger_revoked(&self, reads: usize) {
        self.lock().linger_reads = reads;
    }

    /// Every `RevokeGrant` made: (key ARN, grant id).
    pub fn revokes(&self) -> Vec<(String, String)> {
        self.lock().revokes.clone()
    }

    /// Makes every call take `latency` first, as a network round trip would.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = Some(latency);
    }

    /// One call: its latency, then the store (or the fault injected into `call`).
    async fn enter(&self, call: Call) -> Result<std::sync::MutexGuard<'_, Keys>, PortError> {
        let latency = self.lock().latency;
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        let mut keys = self.lock();
        match keys.faults.get_mut(&call).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(keys),
        }
    }
}

fn not_found(key_arn: &str) -> PortError {
    PortError::new(
        ErrorClass::NotFound,
        "NotFoundException",
        format!("Key '{key_arn}' does not exist"),
    )
}

impl KeyPolicies for InMemoryKeyPolicies {
    async fn describe_key(&self, _region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        let keys = self.enter(Call::Describe).await?;
        keys.keys
            .get(key_arn)
            .map(|(i, _)| i.clone())
            .ok_or_else(|| not_found(key_arn))
    }

    async fn get_key_policy(&self, _region: &str, key_arn: &str) -> Result<String, PortError> {
        let mut keys = self.enter(Call::Get).await?;
        if let Some(stale) = keys.stale.pop_front() {
            return Ok(stale);
        }
        keys.keys
            .get(key_arn)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| not_found(key_arn))
    }

    async fn list_aliases(&self, _region: &str, key_arn: &str) -> Result<Vec<String>, PortError> {
        let keys = self.enter(Call::Aliases).await?;
        Ok(keys.aliases.get(key_arn).cloned().unwrap_or_default())
    }

    async fn list_keys(
        &self,
        _region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, PortError> {
        use std::ops::Bound;
        let keys = self.enter(Call::List).await?;
        let start = marker.map_or(Bound::Unbounded, |m| Bound::Excluded(m.to_owned()));
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        let page: Vec<String> = keys
            .keys
            .range((start, Bound::Unbounded))
            .take(limit + 1)
            .map(|(arn, _)| arn.clone())
            .collect();
        let more = page.len() > limit;
        let page: Vec<String> = page.into_iter().take(limit).collect();
        Ok(KeyPage {
            next: if more { page.last().cloned() } else { None },
            keys: page,
        })
    }

    async fn put_key_policy(
        &self,
        _region: &str,
        key_arn: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        let mut keys = self.enter(Call::Put).await?;
        let entry = keys
            .keys
            .get_mut(key_arn)
            .ok_or_else(|| not_found(key_arn))?;
        entry.1 = policy.to_owned();
        keys.puts.push((key_arn.to_owned(), policy.to_owned()));
        Ok(())
    }

    /// One page holds every grant (the paging is the AWS adapter's and the pacer's).
    async fn list_grants(
        &self,
        _region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        _marker: Option<&str>,
    ) -> Result<GrantPage, PortError> {
        let mut keys = self.enter(Call::ListGrants).await?;
        if !keys.keys.contains_key(key_arn) {
            return Err(not_found(key_arn));
        }
        let mut grants = keys.grants.get(key_arn).cloned().unwrap_or_default();
        if keys.linger_reads > 0 {
            keys.linger_reads -= 1;
            grants.extend(
                keys.lingering
                    .iter()
                    .filter(|(k, _)| k == key_arn)
                    .map(|(_, g)| g.clone()),
            );
        } else {
            keys.lingering.clear();
        }
        grants.retain(|g| grant_id.is_none_or(|id| g.grant_id == id));
        Ok(GrantPage { grants, next: None })
    }

    async fn revoke_grant(
        &self,
        _region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> Result<(), PortError> {
        let mut keys = self.enter(Call::Revoke).await?;
        let grants = keys.grants.entry(key_arn.to_owned()).or_default();
        let Some(at) = grants.iter().position(|g| g.grant_id == grant_id) else {
            return Err(PortError::new(
                ErrorClass::NotFound,
                "NotFoundException",
                format!("Grant ID {grant_id} not found"),
            ));
        };
        let grant = grants.remove(at);
        keys.lingering.push((key_arn.to_owned(), grant));
        keys.revokes.push((key_arn.to_owned(), grant_id.to_owned()));
        Ok(())
    }
}

/// What a port was given, kept in a list; each call can be made to fail.
#[derive(Debug)]
pub struct Recorder<T> {
    sent: Mutex<Vec<T>>,
    faults: Mutex<VecDeque<PortError>>,
}

/// Alerts kept in a list.
pub type RecordingAlerts = Recorder<Alert>;

/// Security Hub findings kept in a list.
pub type RecordingFindings = Recorder<KeyFinding>;

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder {
            sent: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T: Clone> Recorder<T> {
    /// Everything published, in order.
    pub fn sent(&self) -> Vec<T> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes the next call fail with `error`.
    pub fn fail_next(&self, error: PortError) {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(error);
    }

    /// One call: the fault injected next, or `items` kept.
    fn record<'a>(&self, items: impl IntoIterator<Item = &'a T>) -> Result<(), PortError>
    where
        T: 'a,
    {
        if let Some(e) = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
        {
            return Err(e);
        }
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(items.into_iter().cloned());
        Ok(())
    }
}

impl Alerts for RecordingAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        self.record([alert])
    }
}

impl Findings for RecordingFindings {
    async fn import(&self, findings: &[KeyFinding]) -> Result<(), PortError> {
        self.record(findings)
    }
}

#[derive(Debug, Default)]
struct Store {
    /// How long every call takes (virtual time in a paused-clock test), as a network would.
    latency: Option<std::time::Duration>,
    known_good: HashMap<String, String>,
    /// Per key: (window start, reverts taken in it).
    reverts: HashMap<String, (u64, u32)>,
    /// The outbox, by entry.
    outbox: BTreeMap<Deferred, Alert>,
    /// Per key: its open findings' rules, with when each was first seen.
    open_findings: HashMap<String, BTreeMap<String, u64>>,
    /// The next calls' fates, whatever they are: `None` succeeds, `Some` fails.
    faults: VecDeque<Option<PortError>>,
}

/// Baselines, budgets and the outbox in memory.
#[derive(Debug, Default)]
pub struct InMemoryBaselines {
    store: Mutex<Store>,
}

impl InMemoryBaselines {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the next call (of any method) fail with `error` (queued).
    pub fn fail_next(&self, error: PortError) {
        self.fail_next_after(0, error);
    }

    /// Lets `calls` more calls succeed, then fails the next with `error` (queued).
    pub fn fail_next_after(&self, calls: usize, error: PortError) {
        let mut store = self.lock();
        store.faults.extend(std::iter::repeat_n(None, calls));
        store.faults.push_back(Some(error));
    }

    /// The alerts in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<Alert> {
        self.lock().outbox.values().cloned().collect()
    }

    /// The store, or the next injected failure.
    /// Makes every call take `latency` first, as a network round trip would.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = Some(latency);
    }

    /// One call: its latency, then the store (or the fault injected next).
    async fn store(&self) -> Result<std::sync::MutexGuard<'_, Store>, PortError> {
        let latency = self.lock().latency;
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        let mut store = self.lock();
        match store.faults.pop_front().flatten() {
            Some(e) => Err(e),
            None => Ok(store),
        }
    }
}

impl Baselines for InMemoryBaselines {
    async fn last_known_good(&self, key_arn: &str) -> Result<Option<String>, PortError> {
        Ok(self.store().await?.known_good.get(key_arn).cloned())
    }

    async fn record_known_good(
        &self,
        key_arn: &str,
        policy: &str,
        _event_id: &str,
    ) -> Result<(), PortError> {
        self.store()
            .await?
            .known_good
            .insert(key_arn.to_owned(), policy.to_owned());
        Ok(())
    }

    async fn take_revert(
        &self,
        key_arn: &str,
        now: u64,
        budget: Budget,
    ) -> Result<bool, PortError> {
        let mut store = self.store().await?;
        let entry = store.reverts.entry(key_arn.to_owned()).or_insert((now, 0));
        if now >= entry.0 + budget.window_secs {
            *entry = (now, 0);
        }
        if entry.1 >= budget.reverts {
            return Ok(false);
        }
        entry.1 += 1;
        Ok(true)
    }

    async fn defer_alert(&self, id: &str, alert: &Alert, now: u64) -> Result<bool, PortError> {
        let mut store = self.store().await?;
        if store.outbox.keys().any(|d| d.id == id) {
            return Ok(false);
        }
        let entry = Deferred {
            at: now,
            id: id.to_owned(),
        };
        store.outbox.insert(entry, alert.clone());
        Ok(true)
    }

    async fn deferred_alerts(&self) -> Result<Vec<Deferred>, PortError> {
        Ok(self.store().await?.outbox.keys().cloned().collect())
    }

    async fn deferred_alert(&self, entry: &Deferred) -> Result<Option<Alert>, PortError> {
        Ok(self.store().await?.outbox.get(entry).cloned())
    }

    async fn remove_deferred(&self, entry: &Deferred) -> Result<(), PortError> {
        self.store().await?.outbox.remove(entry);
        Ok(())
    }

    async fn track_findings(
        &self,
        key_arn: &str,
        open: &[(&str, u64)],
        close: &[&str],
    ) -> Result<Tracked, PortError> {
        let mut store = self.store().await?;
        let open_now = store.open_findings.entry(key_arn.to_owned()).or_default();
        let mut tracked = Tracked::default();
        for &(rule, seen) in open {
            let first = *open_now.entry(rule.to_owned()).or_insert(seen);
            tracked.opened.push((rule.to_owned(), first));
        }
        for &rule in close {
            if let Some(first) = open_now.remove(rule) {
                tracked.closed.push((rule.to_owned(), first));
            }
        }
        Ok(tracked)
    }
}

/// Sweep checkpoints in memory.
#[derive(Debug, Default)]
pub struct InMemoryCheckpoints {
    store: Mutex<HashMap<String, String>>,
}

impl Checkpoints for InMemoryCheckpoints {
    async fn sweep_checkpoint(&self, scope: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(scope)
            .cloned())
    }

    async fn save_sweep_checkpoint(&self, scope: &str, checkpoint: &str) -> Result<(), PortError> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(scope.to_owned(), checkpoint.to_owned());
        Ok(())
    }
}

/// The organization sweep ledger in memory: plans, sent flags, recorded unit results.
#[derive(Debug, Default)]
pub struct InMemoryLedger {
    inner: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    plans: HashMap<String, (Plan, bool, bool)>,
    results: HashMap<(String, Unit), String>,
}

impl InMemoryLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Ledger for InMemoryLedger {
    async fn open(&self, plan: &Plan) -> Result<Opening, PortError> {
        let mut state = self.lock();
        Ok(match state.plans.get(&plan.sweep_id) {
            Some((_, true, _)) => Opening::Sent,
            Some(_) => Opening::Unsent,
            None => {
                state
                    .plans
                    .insert(plan.sweep_id.clone(), (plan.clone(), false, false));
                Opening::New
            }
        })
    }

    async fn mark_sent(&self, sweep_id: &str) -> Result<(), PortError> {
        if let Some(entry) = self.lock().plans.get_mut(sweep_id) {
            entry.1 = true;
        }
        Ok(())
    }

    async fn record(
        &self,
        sweep_id: &str,
        unit: &Unit,
        result: &str,
    ) -> Result<Option<Progress>, PortError> {
        let mut state = self.lock();
        let slot = (sweep_id.to_owned(), unit.clone());
        if state.results.contains_key(&slot) {
            return Ok(None);
        }
        state.results.insert(slot, result.to_owned());
        let recorded = state
            .results
            .keys()
            .filter(|(id, _)| id == sweep_id)
            .count() as u64;
        let total = state
            .plans
            .get(sweep_id)
            .map_or(0, |(p, _, _)| (p.accounts.len() * p.regions.len()) as u64);
        Ok(Some(Progress { recorded, total }))
    }

    async fn claim_completion(&self, sweep_id: &str) -> Result<bool, PortError> {
        Ok(self
            .lock()
            .plans
            .get_mut(sweep_id)
            .is_some_and(|entry| !std::mem::replace(&mut entry.2, true)))
    }

    async fn plan(&self, sweep_id: &str) -> Result<Option<Plan>, PortError> {
        Ok(self.lock().plans.get(sweep_id).map(|(p, _, _)| p.clone()))
    }

    async fn results(
        &self,
        sweep_id: &str,
        units: &[Unit],
    ) -> Result<Vec<Option<String>>, PortError> {
        let state = self.lock();
        Ok(units
            .iter()
            .map(|u| {
                state
                    .results
                    .get(&(sweep_id.to_owned(), u.clone()))
                    .cloned()
            })
            .collect())
    }
}

/// A unit queue that keeps what is sent, for the test to deliver.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    sent: Mutex<VecDeque<String>>,
}

impl InMemoryQueue {
    /// Takes the oldest message, if any.
    pub fn pop(&self) -> Option<String> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl UnitQueue for InMemoryQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), PortError> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(bodies.iter().cloned());
        Ok(())
    }
}
