//! Delivering the outbox: alerts that could not be published after the guardrail acted wait
//! in the baseline table; an invocation whose own alert went out, and every sweep run,
//! delivers the oldest of them — at most [`DELIVERIES_PER_RUN`] — and removes each once
//! published. An entry older than [`STALE_AFTER_SECS`] is counted so the next sweep summary
//! reports it.

use super::Guardrail;
use super::ports::{Alerts, Baselines, Ports};
use serde::{Deserialize, Serialize};

/// The most outbox entries one invocation or sweep run delivers.
pub const DELIVERIES_PER_RUN: usize = 10;

/// An entry older than this (a day, in seconds) is reported as stale.
pub const STALE_AFTER_SECS: u64 = 24 * 3600;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Entries published and removed.
    pub delivered: u32,
    /// Entries still waiting afterwards.
    pub pending: u32,
    /// Of those, entries older than a day.
    pub stale: u32,
}

impl<P: Ports> Guardrail<P> {
    /// Delivers the oldest outbox entries, at most [`DELIVERIES_PER_RUN`]; stops at the first
    /// that cannot be published (the topic is still failing). A store that cannot be read is
    /// logged: the entries wait for the next pass.
    pub async fn deliver_deferred(&self, now: u64) -> Delivery {
        let store = self.ports.baselines();
        let entries = match store.deferred_alerts().await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(error = %error, "the outbox could not be read");
                return Delivery::default();
            }
        };
        let mut delivered = 0;
        // Entries before `next` are gone (delivered, or no longer there).
        let mut next = 0;
        for entry in entries.iter().take(DELIVERIES_PER_RUN) {
            let alert = match store.deferred_alert(entry).await {
                Ok(Some(alert)) => alert,
                // Gone (delivered by another invocation, or expired): drop its listing.
                Ok(None) => {
                    let _ = store.remove_deferred(entry).await;
                    next += 1;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(error = %error, outbox_id = %entry.id, "an outbox entry could not be read");
                    break;
                }
            };
            if let Err(error) = self.ports.alerts().publish(&alert).await {
                tracing::warn!(error = %error, outbox_id = %entry.id, "the outbox is still undeliverable");
                break;
            }
            // Published: removing it is what keeps it from going out twice. A failed removal
            // is logged; the entry would go out once more on a later pass.
            if let Err(error) = store.remove_deferred(entry).await {
                tracing::error!(error = %error, outbox_id = %entry.id, "a delivered outbox entry could not be removed");
            }
            tracing::info!(outbox_id = %entry.id, deferred_at = entry.at, "delivered from the outbox");
            delivered += 1;
            next += 1;
        }
        let left = entries.get(next..).unwrap_or_default();
        Delivery {
            delivered,
            pending: u32::try_from(left.len()).unwrap_or(u32::MAX),
            stale: u32::try_from(
                left.iter()
                    .filter(|d| now.saturating_sub(d.at) > STALE_AFTER_SECS)
                    .count(),
            )
            .unwrap_or(u32::MAX),
        }
    }
}
