//! SDK clients one per (account, region), built on first use and kept: a key's calls go to
//! its own region (a replica lives in another region than its primary) and, in organization
//! mode, to its own account through the member role ([`MemberAccess`]). Or one fixed client
//! for every call (a test double's client, a single-region tool).

use super::member::MemberAccess;
use crate::guardrail::ports::PortError;
use aws_config::SdkConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where a service's clients come from.
#[derive(Debug)]
pub enum Clients<C> {
    /// Built on first use, one per (account, region): from the shared configuration, or —
    /// with `members` — from the configuration of the account.
    PerLocation {
        /// The function's own configuration.
        base: Box<SdkConfig>,
        /// Organization mode: how other accounts are reached.
        members: Option<Arc<MemberAccess>>,
        /// The clients built so far.
        cache: Mutex<HashMap<(String, String), C>>,
        /// Builds a client from an account's configuration, for a region.
        build: fn(&SdkConfig, &str) -> C,
    },
    /// One client for every call.
    Fixed(C),
}

impl<C: Clone> Clients<C> {
    /// Clients built with `build` from `base` — or, for another account, from `members`'
    /// configuration of it (`None`: every call with the function's own credentials).
    pub fn per_location(
        base: &SdkConfig,
        members: Option<Arc<MemberAccess>>,
        build: fn(&SdkConfig, &str) -> C,
    ) -> Self {
        Clients::PerLocation {
            base: Box::new(base.clone()),
            members,
            cache: Mutex::new(HashMap::new()),
            build,
        }
    }

    /// The client for calls in `account` (`None`: the function's own) and `region`.
    pub async fn get(&self, account: Option<&str>, region: &str) -> Result<C, PortError> {
        let (base, members, cache, build) = match self {
            Clients::Fixed(client) => return Ok(client.clone()),
            Clients::PerLocation {
                base,
                members,
                cache,
                build,
            } => (base, members, cache, build),
        };
        let account = account.filter(|_| members.is_some()).unwrap_or_default();
        let slot = (account.to_owned(), region.to_owned());
        if let Some(client) = lock(cache).get(&slot) {
            return Ok(client.clone());
        }
        let config = match members {
            Some(members) if !account.is_empty() => members.config_for(account).await?,
            _ => (**base).clone(),
        };
        Ok(lock(cache)
            .entry(slot)
            .or_insert_with(|| build(&config, region))
            .clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
