//! Acting in member accounts (organization mode): the SDK configuration for an account — the
//! function's own for the hub account, else credentials of the member role assumed with the
//! SDK's own [`AssumeRoleProvider`]. Each account's provider is built once and shared by
//! every client of that account (all regions, events and sweeps), so the configuration's
//! identity cache keeps its credentials across invocations and refreshes them shortly before
//! they expire: nothing here caches credentials itself.
//!
//! A role that cannot be assumed surfaces as the failure of the KMS call that needed it;
//! [`super::classify`] finds STS's answer under it and calls the account not covered.

use super::classify;
use crate::guardrail::Membership;
use crate::guardrail::ports::{ErrorClass, PortError};
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use engine::arn::{Arn, is_account_id};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// The session name the guardrail's member-role sessions carry (CloudTrail shows it in
/// `userIdentity.arn`), so a reader of a member account's trail recognises the guardrail.
pub const SESSION_NAME: &str = "kms-guardrail";

/// How the guardrail reaches keys in other accounts of the organization.
#[derive(Debug)]
pub struct MemberAccess {
    /// The member role's name (the same in every account).
    role_name: String,
    /// The function's own configuration.
    base: SdkConfig,
    /// The account the function runs in (keys there use `base` as it is) and its
    /// partition (member roles are in the same one).
    hub: OnceCell<Hub>,
    /// One configuration per member account, built on first use.
    members: Mutex<HashMap<String, SdkConfig>>,
    /// The organization the members form, as last learned (read by the grant rules).
    membership: Membership,
}

#[derive(Debug)]
struct Hub {
    account: String,
    partition: String,
}

impl Hub {
    fn from_arn(arn: &str) -> Option<Hub> {
        Arn::parse(arn)
            .filter(|a| is_account_id(a.account))
            .map(|a| Hub {
                account: a.account.to_owned(),
                partition: a.partition.to_owned(),
            })
    }
}

impl MemberAccess {
    /// Reaches member accounts through the role `role_name`, with `base`'s credentials
    /// (and its identity cache) behind the assume-role calls. `own_role_arn`, when known
    /// (`GUARDRAIL_ROLE_ARN`), names the hub's account and partition and saves a
    /// `GetCallerIdentity` call.
    pub fn new(role_name: &str, base: &SdkConfig, own_role_arn: Option<&str>) -> Self {
        let hub = OnceCell::new();
        if let Some(known) = own_role_arn.and_then(Hub::from_arn) {
            let _ = hub.set(known);
        }
        MemberAccess {
            role_name: role_name.to_owned(),
            base: base.clone(),
            hub,
            members: Mutex::new(HashMap::new()),
            membership: Membership::default(),
        }
    }

    /// The organization the members form, as last learned.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The member role's name.
    pub fn role_name(&self) -> &str {
        &self.role_name
    }

    async fn hub(&self) -> Result<&Hub, PortError> {
        self.hub
            .get_or_try_init(|| async {
                let out = aws_sdk_sts::Client::new(&self.base)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                out.arn().and_then(Hub::from_arn).ok_or_else(|| {
                    PortError::new(
                        ErrorClass::Rejected,
                        "GetCallerIdentity",
                        "STS named no account",
                    )
                })
            })
            .await
    }

    /// The account the guardrail runs in (asked of STS once when not configured).
    pub async fn hub_account(&self) -> Result<&str, PortError> {
        Ok(self.hub().await?.account.as_str())
    }

    /// The configuration for calls in `account`: the function's own in the hub account,
    /// else the member role's.
    pub async fn config_for(&self, account: &str) -> Result<SdkConfig, PortError> {
        let hub = self.hub().await?;
        if account == hub.account {
            return Ok(self.base.clone());
        }
        if !is_account_id(account) {
            return Err(PortError::new(
                ErrorClass::Rejected,
                "InvalidAccount",
                format!("`{account}` is not an account id"),
            ));
        }
        if let Some(config) = self.members_lock().get(account) {
            return Ok(config.clone());
        }
        let role_arn = self.role_arn(&hub.partition, account);
        let provider = AssumeRoleProvider::builder(&role_arn)
            .session_name(SESSION_NAME)
            .configure(&self.base)
            .build()
            .await;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        // Two first uses may race; the first stored wins, so every client of the account
        // shares one provider (and so one cache entry).
        Ok(self
            .members_lock()
            .entry(account.to_owned())
            .or_insert(config)
            .clone())
    }

    /// `arn:<partition>:iam::<account>:role/<member role name>`.
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }

    fn members_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SdkConfig>> {
        self.members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
