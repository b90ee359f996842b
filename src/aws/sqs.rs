//! [`UnitQueue`] over `aws-sdk-sqs`: the organization sweep's units as messages,
//! `SendMessageBatch` ten at a time; an entry SQS refuses fails the batch (the coordinator's
//! start is retried, and recording units is idempotent).

use super::classify;
use crate::guardrail::ports::{ErrorClass, PortError};
use crate::sweep::org::fanout::UnitQueue;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// The sweep's queue.
#[derive(Debug)]
pub struct SqsUnitQueue {
    client: Client,
    queue_url: String,
}

impl SqsUnitQueue {
    /// Sends to `queue_url` with `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsUnitQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl UnitQueue for SqsUnitQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), PortError> {
        for batch in bodies.chunks(crate::sweep::org::fanout::BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| {
                            PortError::new(ErrorClass::Rejected, "InvalidRequest", e.to_string())
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(&e))?;
            if let Some(failed) = out.failed().first() {
                let class = if failed.sender_fault() {
                    ErrorClass::Rejected
                } else {
                    ErrorClass::Transient
                };
                return Err(PortError::new(
                    class,
                    failed.code(),
                    format!(
                        "{} of {} messages were not sent: {}",
                        out.failed().len(),
                        batch.len(),
                        failed.message().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }
}
