//! [`Alerts`] over `aws-sdk-sns`: the JSON body as the message, the subject, and `severity`
//! and `action` message attributes for subscription filter policies. Also [`LogAlerts`],
//! the sink when no topic is configured.

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
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(serde_json::to_string_pretty(&alert.body).unwrap_or_default())
            .message_attributes("severity", attribute(&alert.severity)?)
            .message_attributes("action", attribute(&alert.action)?)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}
