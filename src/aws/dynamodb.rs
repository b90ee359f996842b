//! [`Baselines`] over `aws-sdk-dynamodb`: one item per key (partition key `key_arn`) holding
//! the last known-good policy and the revert budget's window, and one item per sweep scope
//! (partition key `sweep#<region>`, which no key ARN can be) holding its checkpoint. Writes are conditional, so
//! concurrent invocations and out-of-order deliveries cannot undo each other: a baseline is
//! only replaced by a newer one, and a revert is only taken while the window has room.

use super::classify;
use crate::guardrail::now_secs;
use crate::guardrail::ports::{Baselines, Budget, Checkpoints, PortError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

/// The table's partition key.
pub const KEY_ATTRIBUTE: &str = "key_arn";

/// The baseline table.
#[derive(Debug)]
pub struct DynamoBaselines {
    client: Client,
    table: String,
}

impl DynamoBaselines {
    /// Uses `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoBaselines {
            client,
            table: table.into(),
        }
    }
}

impl DynamoBaselines {
    /// The string `attribute` of the item `key` (a consistent read).
    async fn read_string(&self, key: &str, attribute: &str) -> Result<Option<String>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out
            .item()
            .and_then(|item| item.get(attribute))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Whether the failure is a condition that did not hold (not an error for the caller).
fn condition_failed(e: &PortError) -> bool {
    e.code == "ConditionalCheckFailedException"
}

impl Baselines for DynamoBaselines {
    async fn last_known_good(&self, key_arn: &str) -> Result<Option<String>, PortError> {
        self.read_string(key_arn, "policy").await
    }

    async fn record_known_good(
        &self,
        key_arn: &str,
        policy: &str,
        event_id: &str,
    ) -> Result<(), PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key_arn))
            .update_expression("SET #policy = :policy, event_id = :event, recorded_at = :now")
            .condition_expression("attribute_not_exists(recorded_at) OR recorded_at <= :now")
            .expression_attribute_names("#policy", "policy")
            .expression_attribute_values(":policy", s(policy))
            .expression_attribute_values(":event", s(event_id))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await;
        match result.map_err(|e| classify(&e)) {
            Ok(_) => Ok(()),
            // A newer baseline is already there.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn take_revert(
        &self,
        key_arn: &str,
        now: u64,
        budget: Budget,
    ) -> Result<bool, PortError> {
        let window_floor = now.saturating_sub(budget.window_secs);
        // Within the current window, while it has room.
        let within = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key_arn))
            .update_expression("SET revert_count = revert_count + :one")
            .condition_expression("revert_window_start > :floor AND revert_count < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":floor", n(window_floor))
            .expression_attribute_values(":max", n(u64::from(budget.reverts)))
            .send()
            .await
            .map_err(|e| classify(&e));
        match within {
            Ok(_) => return Ok(true),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(e),
        }
        if budget.reverts == 0 {
            return Ok(false);
        }
        // No window yet, or it has passed: open a new one with this revert.
        let fresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key_arn))
            .update_expression("SET revert_window_start = :now, revert_count = :one")
            .condition_expression(
                "attribute_not_exists(revert_window_start) OR revert_window_start <= :floor",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":floor", n(window_floor))
            .send()
            .await
            .map_err(|e| classify(&e));
        match fresh {
            Ok(_) => Ok(true),
            // The window is open and full.
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Checkpoints for DynamoBaselines {
    async fn sweep_checkpoint(&self, scope: &str) -> Result<Option<String>, PortError> {
        self.read_string(scope, "checkpoint").await
    }

    async fn save_sweep_checkpoint(&self, scope: &str, checkpoint: &str) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(scope))
            .update_expression("SET checkpoint = :checkpoint, updated_at = :now")
            .expression_attribute_values(":checkpoint", s(checkpoint))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}
