//! The rules document from SSM Parameter Store, so operators change rules without a
//! rebuild. Cached across warm invocations for a short time.

use super::classify;
use crate::guardrail::ports::{ErrorClass, PortError};
use aws_sdk_ssm::Client;
use engine::rules::RuleSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Reads and caches a rules document kept in one SSM parameter.
#[derive(Debug)]
pub struct SsmRules {
    client: Client,
    name: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, RuleSet)>>,
}

impl SsmRules {
    /// Reads parameter `name` through `client`, keeping a copy for `ttl`.
    pub fn new(client: Client, name: impl Into<String>, ttl: Duration) -> Self {
        SsmRules {
            client,
            name: name.into(),
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The rules: the cached copy while fresh, else the parameter's current value. An
    /// invalid document is a `Rejected` error naming the field.
    pub async fn get(&self) -> Result<RuleSet, PortError> {
        if let Some((at, rules)) = &*self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            && at.elapsed() < self.ttl
        {
            return Ok(rules.clone());
        }
        let out = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        let rules = RuleSet::from_document(text).map_err(|e| {
            PortError::new(
                ErrorClass::Rejected,
                "InvalidRules",
                format!("parameter `{}`: {e}", self.name),
            )
        })?;
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), rules.clone()));
        Ok(rules)
    }
}
