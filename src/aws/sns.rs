//! [`Alerts`] over `aws-sdk-sns`: the JSON body as the message, the subject, and `severity`,
//! `action` and `account` message attributes for subscription filter policies (a team can
//! subscribe to its own accounts only).

use super::classify;
use crate::guardrail::ports::{Alert, Alerts, ErrorClass, PortError};
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

/// Alerts published to an SNS topic.
#[derive(Debug)]
pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
}

impl SnsAlerts {
    /// Publishes to `topic_arn` with `client`.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsAlerts {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::new(ErrorClass::Rejected, "InvalidAttribute", e.to_string()))
}

impl Alerts for SnsAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(serde_json::to_string_pretty(&alert.body).unwrap_or_default())
            .message_attributes("severity", attribute(&alert.severity)?)
            .message_attributes("action", attribute(&alert.action)?);
        if let Some(account) = alert.account.as_deref().filter(|a| !a.is_empty()) {
            publish = publish.message_attributes("account", attribute(account)?);
        }
        publish.send().await.map_err(|e| classify(&e))?;
        Ok(())
    }
}
