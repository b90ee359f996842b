//! [`KeyPolicies`] over `aws-sdk-kms`: one client per region, built on first use from the
//! shared configuration (a replica lives in another region than its primary).

use super::classify;
use crate::guardrail::ports::{KeyInfo, KeyPage, KeyPolicies, PortError};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::types::KeyManagerType;
use std::collections::HashMap;
use std::sync::Mutex;

/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";

/// KMS key policies through the AWS SDK.
#[derive(Debug)]
pub struct KmsKeyPolicies {
    clients: Clients,
}

#[derive(Debug)]
enum Clients {
    /// Built from the shared configuration, one per region, on first use.
    PerRegion {
        base: Box<aws_config::SdkConfig>,
        cache: Mutex<HashMap<String, Client>>,
    },
    /// One client for every region.
    Fixed(Client),
}

impl KmsKeyPolicies {
    /// Builds clients from `config`, one per region as keys are met.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        KmsKeyPolicies {
            clients: Clients::PerRegion {
                base: Box::new(config.clone()),
                cache: Mutex::new(HashMap::new()),
            },
        }
    }

    /// Uses `client` for every region (a test double's client, a single-region tool).
    pub fn with_client(client: Client) -> Self {
        KmsKeyPolicies {
            clients: Clients::Fixed(client),
        }
    }

    fn client(&self, region: &str) -> Client {
        match &self.clients {
            Clients::Fixed(client) => client.clone(),
            Clients::PerRegion { base, cache } => {
                let mut cache = cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache
                    .entry(region.to_owned())
                    .or_insert_with(|| {
                        let mut builder = aws_sdk_kms::config::Builder::from(&**base);
                        builder.set_region(Some(Region::new(region.to_owned())));
                        Client::from_conf(builder.build())
                    })
                    .clone()
            }
        }
    }
}

impl KeyPolicies for KmsKeyPolicies {
    async fn describe_key(&self, region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        let out = self
            .client(region)
            .describe_key()
            .key_id(key_arn)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let meta = out.key_metadata();
        Ok(KeyInfo {
            arn: meta.and_then(|m| m.arn()).unwrap_or(key_arn).to_owned(),
            aws_managed: meta.and_then(|m| m.key_manager()) == Some(&KeyManagerType::Aws),
            state: meta
                .and_then(|m| m.key_state())
                .map_or("Unknown", |s| s.as_str())
                .to_owned(),
        })
    }

    async fn get_key_policy(&self, region: &str, key_arn: &str) -> Result<String, PortError> {
        let out = self
            .client(region)
            .get_key_policy()
            .key_id(key_arn)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.policy().unwrap_or_default().to_owned())
    }

    async fn list_aliases(&self, region: &str, key_arn: &str) -> Result<Vec<String>, PortError> {
        let mut names = Vec::new();
        let mut pages = self
            .client(region)
            .list_aliases()
            .key_id(key_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e))?;
            names.extend(
                page.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name())
                    .map(str::to_owned),
            );
        }
        Ok(names)
    }

    async fn list_keys(
        &self,
        region: &str,
        marker: Option<&str>,
        limit: i32,
    ) -> Result<KeyPage, PortError> {
        let out = self
            .client(region)
            .list_keys()
            .set_marker(marker.map(str::to_owned))
            .limit(limit)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(KeyPage {
            keys: out
                .keys()
                .iter()
                .filter_map(|k| k.key_arn())
                .map(str::to_owned)
                .collect(),
            next: out
                .truncated()
                .then(|| out.next_marker().map(str::to_owned))
                .flatten(),
        })
    }

    async fn put_key_policy(
        &self,
        region: &str,
        key_arn: &str,
        policy: &str,
    ) -> Result<(), PortError> {
        // INVARIANT: BypassPolicyLockoutSafetyCheck is never set; KMS's own lock-out check
        // stays on as a last line behind `remediate::check_safe`.
        self.client(region)
            .put_key_policy()
            .key_id(key_arn)
            .policy_name(POLICY_NAME)
            .policy(policy)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}
