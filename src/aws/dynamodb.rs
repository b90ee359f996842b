//! [`Baselines`] over `aws-sdk-dynamodb`: one item per key (partition key `key_arn`) holding
//! the last known-good policy, the revert budget's window and its open findings
//! (`finding#<rule>`: when each was first seen), one item per sweep scope
//! (partition key `sweep#<region>`, which no key ARN can be) holding its checkpoint, and the
//! organization sweep's ledger (`orgsweep#…`), and the outbox of alerts that could not be
//! published (`outbox#<id>` entries, listed by the `outbox` item). Writes are conditional, so concurrent
//! invocations and out-of-order deliveries cannot undo each other: a baseline is
//! only replaced by a newer one, and a revert is only taken while the window has room.

use super::classify;
use crate::guardrail::now_secs;
use crate::guardrail::ports::{
    Alert, Baselines, Budget, Checkpoints, Deferred, ErrorClass, PortError, Tracked,
};
use crate::sweep::org::Unit;
use crate::sweep::org::fanout::{Ledger, Opening, Plan, Progress};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};
use std::collections::HashMap;

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
    /// The item `key` (a consistent read).
    async fn item(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.item().cloned())
    }

    /// The string `attribute` of the item `key` (a consistent read).
    async fn read_string(&self, key: &str, attribute: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .item(key)
            .await?
            .and_then(|item| item.get(attribute).and_then(|v| v.as_s().ok()).cloned()))
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
        if budget.reverts == 0 {
            return Ok(false);
        }
        let window_floor = now.saturating_sub(budget.window_secs);
        // Most keys are never reverted, or not lately: open a new window with this revert
        // first (one call on the exposure window), and only when one is open count within it.
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
            Ok(_) => return Ok(true),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(e),
        }
        // The window is open: within it, while it has room.
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
            Ok(_) => Ok(true),
            // The window is open and full.
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn defer_alert(&self, id: &str, alert: &Alert, now: u64) -> Result<bool, PortError> {
        let invalid = |e: String| PortError::new(ErrorClass::Rejected, "InvalidRequest", e);
        let text = serde_json::to_string(alert).map_err(|e| invalid(e.to_string()))?;
        let entry = Deferred {
            at: now,
            id: id.to_owned(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(&outbox_item(id)))
            .item("alert", s(&text))
            .item("deferred_at", n(now))
            .item("expires_at", n(now + OUTBOX_TTL_SECS))
            .condition_expression("attribute_not_exists(key_arn)")
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let index = Update::builder()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(OUTBOX_INDEX))
            .update_expression("ADD pending :entry")
            .expression_attribute_values(":entry", AttributeValue::Ss(vec![index_entry(&entry)]))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(index).build())
            .send()
            .await
            .map_err(|e| classify(&e));
        match written {
            Ok(_) => Ok(true),
            // Cancelled because the entry is already kept (a retry), or a real failure.
            Err(e) if e.code == "TransactionCanceledException" => {
                if self.item(&outbox_item(id)).await?.is_some() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn deferred_alerts(&self) -> Result<Vec<Deferred>, PortError> {
        let index = self.item(OUTBOX_INDEX).await?.unwrap_or_default();
        let mut entries: Vec<Deferred> = index
            .get("pending")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let (at, id) = e.split_once('#')?;
                Some(Deferred {
                    at: at.parse().ok()?,
                    id: id.to_owned(),
                })
            })
            .collect();
        entries.sort();
        Ok(entries)
    }

    async fn deferred_alert(&self, entry: &Deferred) -> Result<Option<Alert>, PortError> {
        let Some(text) = self.read_string(&outbox_item(&entry.id), "alert").await? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            PortError::new(ErrorClass::Rejected, "UnreadableOutboxEntry", e.to_string())
        })
    }

    async fn remove_deferred(&self, entry: &Deferred) -> Result<(), PortError> {
        let invalid = |e: String| PortError::new(ErrorClass::Rejected, "InvalidRequest", e);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(&outbox_item(&entry.id)))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let index = Update::builder()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(OUTBOX_INDEX))
            .update_expression("DELETE pending :entry")
            .expression_attribute_values(":entry", AttributeValue::Ss(vec![index_entry(entry)]))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().update(index).build())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn track_findings(
        &self,
        key_arn: &str,
        open: &[(&str, u64)],
        close: &[&str],
    ) -> Result<Tracked, PortError> {
        if open.is_empty() && close.is_empty() {
            return Ok(Tracked::default());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(key_arn))
            .return_values(ReturnValue::AllOld);
        let mut sets = Vec::new();
        for (i, &(rule, seen)) in open.iter().enumerate() {
            sets.push(format!("#o{i} = if_not_exists(#o{i}, :o{i})"));
            update = update
                .expression_attribute_names(format!("#o{i}"), finding_attribute(rule))
                .expression_attribute_values(format!(":o{i}"), n(seen));
        }
        let mut removes = Vec::new();
        for (i, &rule) in close.iter().enumerate() {
            removes.push(format!("#c{i}"));
            update = update.expression_attribute_names(format!("#c{i}"), finding_attribute(rule));
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression = format!("SET {}", sets.join(", "));
        }
        if !removes.is_empty() {
            expression = format!("{expression} REMOVE {}", removes.join(", "));
            // Only closing: a key with no item has nothing open (and gets no item).
            if sets.is_empty() {
                update = update.condition_expression("attribute_exists(key_arn)");
            }
        }
        let old = match update
            .update_expression(expression.trim_start())
            .send()
            .await
            .map_err(|e| classify(&e))
        {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if condition_failed(&e) => return Ok(Tracked::default()),
            Err(e) => return Err(e),
        };
        let was_open = |rule: &str| {
            old.get(&finding_attribute(rule))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Ok(Tracked {
            opened: open
                .iter()
                .map(|&(rule, seen)| (rule.to_owned(), was_open(rule).unwrap_or(seen)))
                .collect(),
            closed: close
                .iter()
                .filter_map(|&rule| was_open(rule).map(|first| (rule.to_owned(), first)))
                .collect(),
        })
    }
}

/// The attribute of a key's item that says `rule`'s finding is open (and since when).
fn finding_attribute(rule: &str) -> String {
    format!("finding#{rule}")
}

/// The item listing the outbox's entries (a string set of `<deferred_at>#<id>`), so
/// delivery never scans the table.
const OUTBOX_INDEX: &str = "outbox";

/// How long an undelivered outbox entry is kept (TTL `expires_at`): 30 days.
const OUTBOX_TTL_SECS: u64 = 30 * 24 * 3600;

/// The item of one outbox entry.
fn outbox_item(id: &str) -> String {
    format!("outbox#{id}")
}

/// An entry as the index lists it: the time zero-padded, so the set sorts oldest first.
fn index_entry(entry: &Deferred) -> String {
    format!("{:012}#{}", entry.at, entry.id)
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

/// How long organization sweep records are kept (the table's TTL attribute `expires_at`).
const SWEEP_RECORD_SECS: u64 = 30 * 24 * 3600;

fn sweep_item(sweep_id: &str) -> String {
    format!("orgsweep#{sweep_id}")
}

fn unit_item(sweep_id: &str, unit: &Unit) -> String {
    format!("orgsweep#{sweep_id}#{}#{}", unit.account, unit.region)
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Organization sweeps under `orgsweep#<id>` (the plan, units planned and recorded, whether
/// all were sent, when it completed) and their units under `orgsweep#<id>#<account>#<region>`
/// (the result), both expiring after 30 days. A unit is recorded and counted in one
/// transaction, conditional on its item not existing, so a redelivered message counts once.
impl Ledger for DynamoBaselines {
    async fn open(&self, plan: &Plan) -> Result<Opening, PortError> {
        let total = (plan.accounts.len() * plan.regions.len()) as u64;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(&sweep_item(&plan.sweep_id)))
            .item("plan", s(&serde_json::to_string(plan).unwrap_or_default()))
            .item("total", n(total))
            .item("recorded", n(0))
            .item("sent", AttributeValue::Bool(false))
            .item("expires_at", n(now_secs() + SWEEP_RECORD_SECS))
            .condition_expression("attribute_not_exists(key_arn)")
            .send()
            .await
            .map_err(|e| classify(&e));
        match put {
            Ok(_) => Ok(Opening::New),
            Err(e) if condition_failed(&e) => {
                let sent = self
                    .item(&sweep_item(&plan.sweep_id))
                    .await?
                    .and_then(|i| i.get("sent").and_then(|v| v.as_bool().ok()).copied())
                    .unwrap_or(false);
                Ok(if sent { Opening::Sent } else { Opening::Unsent })
            }
            Err(e) => Err(e),
        }
    }

    async fn mark_sent(&self, sweep_id: &str) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(&sweep_item(sweep_id)))
            .update_expression("SET sent = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn record(
        &self,
        sweep_id: &str,
        unit: &Unit,
        result: &str,
    ) -> Result<Option<Progress>, PortError> {
        let unit_key = unit_item(sweep_id, unit);
        let put = Put::builder()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, s(&unit_key))
            .item("result", s(result))
            .item("expires_at", n(now_secs() + SWEEP_RECORD_SECS))
            .condition_expression("attribute_not_exists(key_arn)")
            .build()
            .map_err(|e| PortError::new(ErrorClass::Rejected, "InvalidRequest", e.to_string()))?;
        let count = Update::builder()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(&sweep_item(sweep_id)))
            .update_expression("ADD recorded :one")
            .condition_expression("attribute_exists(key_arn)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| PortError::new(ErrorClass::Rejected, "InvalidRequest", e.to_string()))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await
            .map_err(|e| classify(&e));
        if let Err(e) = written {
            // Cancelled: the unit is already recorded (a redelivered message), or the sweep
            // is unknown; anything else is the call's own failure.
            if e.code != "TransactionCanceledException" {
                return Err(e);
            }
            if self.item(&unit_key).await?.is_some() {
                return Ok(None);
            }
            return Err(PortError::new(
                ErrorClass::Rejected,
                "UnknownSweep",
                format!("organization sweep `{sweep_id}` is not recorded"),
            ));
        }
        let sweep = self.item(&sweep_item(sweep_id)).await?.unwrap_or_default();
        Ok(Some(Progress {
            recorded: number(&sweep, "recorded"),
            total: number(&sweep, "total"),
        }))
    }

    async fn claim_completion(&self, sweep_id: &str) -> Result<bool, PortError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, s(&sweep_item(sweep_id)))
            .update_expression("SET completed_at = :now")
            .condition_expression(
                "attribute_exists(key_arn) AND attribute_not_exists(completed_at)",
            )
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await
            .map_err(|e| classify(&e));
        match claimed {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn plan(&self, sweep_id: &str) -> Result<Option<Plan>, PortError> {
        Ok(self
            .read_string(&sweep_item(sweep_id), "plan")
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    async fn results(
        &self,
        sweep_id: &str,
        units: &[Unit],
    ) -> Result<Vec<Option<String>>, PortError> {
        let mut found: HashMap<String, String> = HashMap::new();
        for chunk in units.chunks(100) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|u| HashMap::from([(KEY_ATTRIBUTE.to_owned(), s(&unit_item(sweep_id, u)))]))
                .collect();
            // BatchGetItem may leave keys unprocessed under load: ask again for those.
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| {
                        PortError::new(ErrorClass::Rejected, "InvalidRequest", e.to_string())
                    })?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let (Some(key), Some(result)) = (
                        item.get(KEY_ATTRIBUTE).and_then(|v| v.as_s().ok()),
                        item.get("result").and_then(|v| v.as_s().ok()),
                    ) {
                        found.insert(key.clone(), result.clone());
                    }
                }
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
        }
        Ok(units
            .iter()
            .map(|u| found.remove(&unit_item(sweep_id, u)))
            .collect())
    }
}
