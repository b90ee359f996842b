//! [`KeyPolicies`] over `aws-sdk-kms`: one client per (account, region), built on first use
//! ([`Clients`]). A key's account is its ARN's.

use super::classify;
use super::clients::Clients;
use super::member::MemberAccess;
use crate::guardrail::ports::{GrantPage, KeyInfo, KeyPage, KeyPolicies, PortError};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::types::{GrantListEntry, KeyManagerType};
use engine::arn::Arn;
use engine::key_grant::{Constraints, KeyGrant};
use std::sync::Arc;

/// The most grants `ListGrants` returns in one page.
const GRANTS_PER_PAGE: i32 = 100;

/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";

/// KMS key policies through the AWS SDK.
#[derive(Debug)]
pub struct KmsKeyPolicies {
    clients: Clients<Client>,
    /// The account `ListKeys` lists (`None`: the function's own).
    list_account: Option<String>,
}

/// A KMS client for `region` from an account's configuration.
fn regional_client(config: &aws_config::SdkConfig, region: &str) -> Client {
    let mut builder = aws_sdk_kms::config::Builder::from(config);
    builder.set_region(Some(Region::new(region.to_owned())));
    Client::from_conf(builder.build())
}

impl KmsKeyPolicies {
    /// Builds clients from `config`, one per region as keys are met: every call is made
    /// with the function's own credentials (single-account mode).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        KmsKeyPolicies::with_members(config, None, None)
    }

    /// Builds clients one per (account, region) as keys are met: a key outside the hub
    /// account is reached through `members` (organization mode; `None` is single-account
    /// mode). `ListKeys` lists `list_account` (the hub's own when `None`).
    pub fn with_members(
        config: &aws_config::SdkConfig,
        members: Option<Arc<MemberAccess>>,
        list_account: Option<String>,
    ) -> Self {
        KmsKeyPolicies {
            clients: Clients::per_location(config, members, regional_client),
            list_account,
        }
    }

    /// Uses `client` for every region (a test double's client, a single-region tool).
    pub fn with_client(client: Client) -> Self {
        KmsKeyPolicies {
            clients: Clients::Fixed(client),
            list_account: None,
        }
    }

    /// The client for calls on `key_arn` (in its ARN's account) in `region`.
    async fn key_client(&self, region: &str, key_arn: &str) -> Result<Client, PortError> {
        let account = Arn::parse(key_arn).map(|a| a.account);
        self.clients.get(account, region).await
    }
}

impl KeyPolicies for KmsKeyPolicies {
    async fn describe_key(&self, region: &str, key_arn: &str) -> Result<KeyInfo, PortError> {
        let out = self
            .key_client(region, key_arn)
            .await?
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
            .key_client(region, key_arn)
            .await?
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
            .key_client(region, key_arn)
            .await?
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
            .clients
            .get(self.list_account.as_deref(), region)
            .await?
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
        self.key_client(region, key_arn)
            .await?
            .put_key_policy()
            .key_id(key_arn)
            .policy_name(POLICY_NAME)
            .policy(policy)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn list_grants(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: Option<&str>,
        marker: Option<&str>,
    ) -> Result<GrantPage, PortError> {
        let out = self
            .key_client(region, key_arn)
            .await?
            .list_grants()
            .key_id(key_arn)
            .set_grant_id(grant_id.map(str::to_owned))
            .set_marker(marker.map(str::to_owned))
            .limit(GRANTS_PER_PAGE)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(GrantPage {
            grants: out.grants().iter().map(key_grant).collect(),
            next: out
                .truncated()
                .then(|| out.next_marker().map(str::to_owned))
                .flatten(),
        })
    }

    async fn revoke_grant(
        &self,
        region: &str,
        key_arn: &str,
        grant_id: &str,
    ) -> Result<(), PortError> {
        self.key_client(region, key_arn)
            .await?
            .revoke_grant()
            .key_id(key_arn)
            .grant_id(grant_id)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}

/// The engine's view of one `ListGrants` entry.
fn key_grant(entry: &GrantListEntry) -> KeyGrant {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    KeyGrant {
        grant_id: entry.grant_id().unwrap_or_default().to_owned(),
        key_id: owned(entry.key_id()),
        name: owned(entry.name()).filter(|n| !n.is_empty()),
        grantee_principal: owned(entry.grantee_principal()),
        grantee_service_principal: owned(entry.grantee_service_principal()),
        retiring_principal: owned(entry.retiring_principal()),
        retiring_service_principal: owned(entry.retiring_service_principal()),
        issuing_account: owned(entry.issuing_account()),
        operations: entry
            .operations()
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
        constraints: entry.constraints().map(|c| Constraints {
            encryption_context_subset: c
                .encryption_context_subset()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default(),
            encryption_context_equals: c
                .encryption_context_equals()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default(),
            source_arn: owned(c.source_arn()),
        }),
    }
}
