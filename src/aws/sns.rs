//! [`Alerts`] over `aws-sdk-sns`: the JSON body as the message — or, in the chat format,
//! the chat applications' custom notification ([`alert::chat`]) — the subject, and
//! `severity`, `action` and `account` message attributes for subscription filter policies
//! (a team can subscribe to its own accounts only), in either format.

use super::classify;
use crate::config::AlertFormat;
use crate::guardrail::alert;
use crate::guardrail::ports::{Alert, Alerts, ErrorClass, PortError};
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

/// Alerts published to an SNS topic.
#[derive(Debug)]
pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
    format: AlertFormat,
}

impl SnsAlerts {
    /// Publishes to `topic_arn` with `client`, the JSON body as the message.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsAlerts {
            client,
            topic_arn: topic_arn.into(),
            format: AlertFormat::Json,
        }
    }

    /// Writes the messages in `format`.
    pub fn with_format(self, format: AlertFormat) -> Self {
        SnsAlerts { format, ..self }
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
            .message(
                match self.format {
                    AlertFormat::Json => serde_json::to_string_pretty(&alert.body),
                    AlertFormat::Chat => serde_json::to_string(&alert::chat(alert)),
                }
                .unwrap_or_default(),
            )
            .message_attributes("severity", attribute(&alert.severity)?)
            .message_attributes("action", attribute(&alert.action)?);
        if let Some(account) = alert.account.as_deref().filter(|a| !a.is_empty()) {
            publish = publish.message_attributes("account", attribute(account)?);
        }
        publish.send().await.map_err(|e| classify(&e))?;
        Ok(())
    }
}
