//! Quota-aware pacing for the sweep: [`Paced`] wraps a [`KeyPolicies`] port so that each KMS
//! operation stays under its own request rate (calls strictly spaced, never a burst), at most
//! [`Pacing::concurrency`] calls are in flight, and a throttled call halves its operation's
//! rate, waits with exponential back-off and is retried; the rate climbs back as calls
//! succeed. The account's quotas are shared with its real workloads: the sweep takes a
//! small share of each ([`Pacing::share`], 10 % by default).

use crate::guardrail::ports::{GrantPage, KeyInfo, KeyPage, KeyPolicies, PortError};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The KMS operations the sweep makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `ListKeys`.
    ListKeys,
    /// `DescribeKey`.
    DescribeKey,
    /// `GetKeyPolicy`.
    GetKeyPolicy,
    /// `ListAliases` (only when the rules exempt aliases).
    ListAliases,
    /// `PutKeyPolicy` (only in enforce mode).
    PutKeyPolicy,
    /// `ListGrants` (every swept key's grants, paged).
    ListGrants,
    /// `RevokeGrant` (only in enforce mode).
    RevokeGrant,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 7] = [
        Op::ListKeys,
        Op::DescribeKey,
        Op::GetKeyPolicy,
        Op::ListAliases,
        Op::PutKeyPolicy,
        Op::ListGrants,
        Op::RevokeGrant,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::ListKeys => "ListKeys",
            Op::DescribeKey => "DescribeKey",
            Op::GetKeyPolicy => "GetKeyPolicy",
            Op::ListAliases => "ListAliases",
            Op::PutKeyPolicy => "PutKeyPolicy",
            Op::ListGrants => "ListGrants",
            Op::RevokeGrant => "RevokeGrant",
        }
    }

    /// The account's default request quota for the operation, per second and region (AWS KMS
    /// request quotas; `ListAliases` is taken at the lowest listing quota, 100/s).
    pub fn default_quota(self) -> f64 {
        match self {
            Op::ListKeys => 500.0,
            Op::DescribeKey => 2000.0,
            Op::GetKeyPolicy => 1000.0,
            Op::ListAliases => 100.0,
            Op::PutKeyPolicy => 15.0,
            Op::ListGrants => 100.0,
            Op::RevokeGrant => 30.0,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How fast the sweep may call KMS.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    /// Requests per second for each operation, in [`Op::ALL`] order.
    pub rates: [f64; Op::ALL.len()],
    /// Calls in flight at most, all operations together.
    pub concurrency: usize,
    /// How often a throttled call is retried before its failure is reported.
    pub retries: u32,
    /// The wait after a first throttling; it doubles with each further one.
    pub backoff: Duration,
}

impl Pacing {
    /// `percent` of each operation's default quota, with `concurrency` calls in flight.
    pub fn share(percent: f64, concurrency: usize) -> Pacing {
        Pacing {
            rates: Op::ALL.map(|op| op.default_quota() * percent / 100.0),
            concurrency: concurrency.max(1),
            retries: 5,
            backoff: Duration::from_millis(200),
        }
    }

    /// The configured rate of `op`, per second.
    pub fn rate(&self, op: Op) -> f64 {
        // INVARIANT: one rate per operation, in `Op::ALL` order.
        self.rates.get(op.index()).copied().unwrap_or(1.0)
    }
}

impl Default for Pacing {
    /// 10 % of each quota, 8 calls in flight.
    fn default() -> Self {
        Pacing::share(10.0, 8)
    }
}

/// One operation's pace: its current rate, the earliest time of its next call, and how
/// many of its calls in a row were throttled.
#[derive(Debug)]
struct Lane {
    rate: f64,
    next: Instant,
    strikes: u32,
}

/// The time between two calls at `rate` per second, rounded up to the nanosecond so the
/// rate is never exceeded.
fn interval(rate: f64) -> Duration {
    let nanos = (1e9 / rate.max(1e-3)).ceil();
    Duration::from_nanos(nanos.min(u64::MAX as f64) as u64)
}

/// A [`KeyPolicies`] port whose calls are paced.
#[derive(Debug)]
pub struct Paced<K> {
    inner: K,
    pacing: Pacing,
    lanes: Mutex<[Lane; Op::ALL.len()]>,
    permits: Semaphore,
}

impl<K> Paced<K> {
    /// Paces the calls to `inner`.
    pub fn new(inner: K, pacing: Pacing) -> Self {
        let now = Instant::now();
        let lanes = Op::ALL.map(|op| Lane {
            rate: pacing.rate(op),
            next: now,
            strikes: 0,
        });
        Paced {
            inner,
            permits: Semaphore::new(pacing.concurrency.max(1)),
            pacing,
            lanes: Mutex::new(lanes),
        }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &K {
        &self.inner
    }

    /// The configured pace.
    pub fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// Runs `f` on `op`'s lane, under the lock.
    fn with_lane<T>(&self, op: Op, f: impl FnOnce(&mut Lane) -> T) -> Option<T> {
        let mut lanes = self
            .lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lanes.get_mut(op.index()).map(f)
    }

    /// Makes one call of `op`: waits for a place in flight and for the operation's turn, and
    /// retries transient failures with back-off — throttling also slows the operation's
    /// lane. The pacer is the one owner of the sweep's retries: its SDK clients make one
    /// attempt each ([`crate::app::single_attempt`]), so a call is tried at most
    /// `1 + retries` times.
    async fn call<T, F, Fut>(&self, op: Op, call: F) -> Result<T, PortError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, PortError>>,
    {
        let mut attempt = 0;
        loop {
            // The semaphore is never closed; without a permit the call would go unbounded,
            // so a closed one would be a bug worth seeing as a failure.
            let Ok(permit) = self.permits.acquire().await else {
                return Err(PortError::new(
                    crate::guardrail::ports::ErrorClass::Transient,
                    "PacerClosed",
                    "the sweep's pacer was closed",
                ));
            };
            self.turn(op).await;
            let result = call().await;
            drop(permit);
            match result {
                Ok(value) => {
                    self.recover(op);
                    return Ok(value);
                }
                Err(err) if err.class.is_transient() => {
                    if attempt >= self.pacing.retries {
                        return Err(err);
                    }
                    if err.is_throttling() {
                        self.throttled(op);
                        tracing::debug!(op = op.as_str(), attempt, "throttled; backing off");
                    } else {
                        // A timeout or 5xx: wait, but the rate was not the cause.
                        tokio::time::sleep(
                            self.pacing.backoff.saturating_mul(1 << attempt.min(10)),
                        )
                        .await;
                        tracing::debug!(op = op.as_str(), attempt, error = %err, "transient; retrying");
                    }
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Waits until `op` may be called: at least one interval after its previous call.
    async fn turn(&self, op: Op) {
        loop {
            let wait = self.with_lane(op, |lane| {
                let now = Instant::now();
                if now >= lane.next {
                    lane.next = now + interval(lane.rate);
                    None
                } else {
                    Some(lane.next)
                }
            });
            match wait.flatten() {
                None => return,
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// The service throttled `op`: halve its rate (down to a 32nd of the configured one)
    /// and hold all its calls for the back-off, which doubles with each throttling in a row.
    fn throttled(&self, op: Op) {
        let configured = self.pacing.rate(op);
        let backoff = self.pacing.backoff;
        self.with_lane(op, |lane| {
            let hold = backoff.saturating_mul(1 << lane.strikes.min(10));
            lane.strikes += 1;
            lane.rate = (lane.rate / 2.0).max(configured / 32.0);
            lane.next = lane.next.max(Instant::now() + hold);
        });
    }

    /// A call of `op` succeeded: climb back towards the configured rate, a 50th of it at
    /// a time.
    fn recover(&self, op: Op) {
        let configured = self.pacing.rate(op);
        self.with_lane(op, |lane| {
            lane.strikes = 0;
            lane.rate = (lane.rate + configured / 50.0).min(configured);
        });
    }
}

impl<K: KeyPolicies + Sync> KeyPolicies for Paced<K> {
    async fn describe_key(&self, region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        self.call(Op::DescribeKey, || self.inner.describe_key(region, key_arn))
            .await
    }

    async fn get_key_policy(&self, region: &str, key_arn: &str) -> Result<String, PortError> {
        self.call(Op::GetKeyPolicy, || {
            self.inner.get_key_policy(region, key_arn)
        })
        .await
    }

    async fn list_aliases(&self, region: &str, key_arn: &str) -> Result<Vec<String>, PortError> {
        self.call(Op::ListAliases, || self.inner.list_aliases(region, key_arn))
            .await
    }

    async fn list_keys(
        &self,
        region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, PortError> {
        self.call(Op::ListKeys, || self.inner.list_keys(region, marker, limit))
            .await
    }

    async fn put_key_policy(
        &self,
        region: &str,
        key_arn: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        self.call(Op::PutKeyPolicy, || {
            self.inner.put_key_policy(region, key_arn, policy)
        })
        .await
    }

    async fn list_grants(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        marker: Option<&str>,
    ) -> Result<GrantPage, PortError> {
        self.call(Op::ListGrants, || {
            self.inner.list_grants(region, key_arn, grant_id, marker)
        })
        .await
    }

    async fn revoke_grant(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> Result<(), PortError> {
        self.call(Op::RevokeGrant, || {
            self.inner.revoke_grant(region, key_arn, grant_id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_share_is_a_tenth_of_each_quota() {
        let p = Pacing::default();
        assert_eq!(p.rate(Op::GetKeyPolicy), 100.0);
        assert_eq!(p.rate(Op::DescribeKey), 200.0);
        assert_eq!(p.rate(Op::ListKeys), 50.0);
        assert_eq!(p.rate(Op::PutKeyPolicy), 1.5);
    }

    #[test]
    fn intervals_round_up() {
        assert_eq!(interval(100.0), Duration::from_millis(10));
        assert_eq!(interval(1.5), Duration::from_nanos(666_666_667));
    }
}
