//! A sweep of many accounts and regions (organization mode): `kms-guardrail sweep --account
//! … --region … --organization`. Each (account, region) is one unit, swept to the end with its
//! own pacer (quotas are per account and region) through the member role unless the account
//! is the guardrail's own; a unit whose role cannot be assumed is reported not covered, never
//! passed. One combined summary (totals, per-account counts, accounts not covered) and one
//! summary alert close the sweep ([`crate::sweep::org`] holds those, free of AWS).

use super::{App, InvokeError, sweeper};
use crate::guardrail::ports::{Alerts, ErrorClass, PortError, Ports};
use crate::guardrail::{Outcome, metrics, now_secs};
use crate::sweep::org::{OrgSummary, Unit, UnitProblem, UnitResult};
use crate::sweep::{Limits, Request, SweepError};
use aws_sdk_organizations::types::AccountStatus;
use engine::Organization;
use engine::rules::RuleSet;
use futures_util::StreamExt;

/// How long a learned organization membership is used before it is read again, in seconds.
pub const MEMBERSHIP_TTL_SECS: u64 = 900;

/// Which accounts and regions to sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Accounts named on the command line.
    pub accounts: Vec<String>,
    /// Regions named on the command line (none: the configured region).
    pub regions: Vec<String>,
    /// Add every active account of the organization (AWS Organizations).
    pub organization: bool,
}

/// Why an organization sweep could not start.
#[derive(Debug, thiserror::Error)]
pub enum OrgSweepError {
    /// The rules could not be read.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// Another account was asked for, but no member role is configured.
    #[error(
        "account {0} is not the caller's own: sweeping it needs GUARDRAIL_MEMBER_ROLE (the member role's name)"
    )]
    NoMemberRole(String),
    /// No region to sweep.
    #[error("no region to sweep: pass --region or set AWS_REGION")]
    NoRegion,
    /// The caller's account, or the organization's accounts, could not be read.
    #[error("{0}")]
    Lookup(String),
}

impl App {
    /// The caller's own account: the member access's, else `GUARDRAIL_ROLE_ARN`'s, else STS
    /// `GetCallerIdentity`'s.
    pub(super) async fn own_account(&self) -> Result<String, OrgSweepError> {
        let lookup = |e: PortError| OrgSweepError::Lookup(format!("GetCallerIdentity: {e}"));
        if let Some(members) = &self.members {
            return members
                .hub_account()
                .await
                .map(str::to_owned)
                .map_err(lookup);
        }
        if let Some(own) = self
            .config
            .role_arn
            .as_deref()
            .and_then(engine::arn::Arn::parse)
        {
            return Ok(own.account.to_owned());
        }
        let out = aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| lookup(crate::aws::classify(&e)))?;
        out.account()
            .map(str::to_owned)
            .ok_or_else(|| OrgSweepError::Lookup("GetCallerIdentity named no account".to_owned()))
    }

    /// The organization's active accounts (`ListAccounts`, every page).
    pub(super) async fn organization_accounts(&self) -> Result<Vec<String>, OrgSweepError> {
        Ok(self.organization().await?.accounts)
    }

    /// The organization: its id (read from its accounts' ARNs,
    /// `arn:aws:organizations::<management>:account/<o-id>/<account>`) and its active
    /// accounts (`ListAccounts`, every page).
    async fn organization(&self) -> Result<Organization, OrgSweepError> {
        let client = aws_sdk_organizations::Client::new(&self.sdk);
        let mut pages = client.list_accounts().into_paginator().send();
        let mut org = Organization::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                OrgSweepError::Lookup(format!("ListAccounts: {}", crate::aws::classify(&e)))
            })?;
            for account in page.accounts() {
                if org.id.is_empty()
                    && let Some(id) = account
                        .arn()
                        .and_then(engine::arn::Arn::parse)
                        .and_then(|a| a.resource.split('/').nth(1))
                {
                    id.clone_into(&mut org.id);
                }
                if let (Some(&AccountStatus::Active), Some(id)) = (account.status(), account.id()) {
                    org.accounts.push(id.to_owned());
                }
            }
        }
        Ok(org)
    }

    /// Learns the organization's membership, or refreshes it once it is
    /// [`MEMBERSHIP_TTL_SECS`] old, when a grant verdict may hang on it: organization mode,
    /// a grant rule on, and rules that trust organizations. A failure is logged, the last
    /// membership kept and the call not repeated for as long (a hub that may not list the
    /// organization does not ask on every event); with none, a grant finding that hangs on
    /// it only alerts.
    pub(super) async fn learn_membership(&self, rules: &RuleSet) {
        let Some(members) = &self.members else {
            return;
        };
        let now = now_secs();
        let fresh = members
            .membership()
            .learned_at()
            .is_some_and(|at| now.saturating_sub(at) < MEMBERSHIP_TTL_SECS);
        if !rules.judges_grants() || rules.trusted_organizations.is_empty() || fresh {
            return;
        }
        match self.organization().await {
            Ok(org) => {
                tracing::info!(
                    organization = %org.id,
                    accounts = org.accounts.len(),
                    "organization membership learned"
                );
                members.membership().set(org, now);
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "organization membership unknown: grant findings that depend on it only alert"
                );
                members.membership().failed(now);
            }
        }
    }

    /// The units `scope` names: its accounts (plus the organization's; the caller's own when
    /// none) × its regions (the configured one when none), in a stable order.
    pub async fn units(&self, scope: &Scope) -> Result<Vec<Unit>, OrgSweepError> {
        let own = self.own_account().await?;
        let mut accounts = scope.accounts.clone();
        if scope.organization {
            accounts.extend(self.organization_accounts().await?);
        }
        if accounts.is_empty() {
            accounts.push(own.clone());
        }
        accounts.sort();
        accounts.dedup();
        if self.members.is_none()
            && let Some(other) = accounts.iter().find(|a| **a != own)
        {
            return Err(OrgSweepError::NoMemberRole(other.clone()));
        }
        let mut regions = scope.regions.clone();
        if regions.is_empty() {
            regions.extend(self.sdk.region().map(ToString::to_string));
        }
        regions.sort();
        regions.dedup();
        if regions.is_empty() {
            return Err(OrgSweepError::NoRegion);
        }
        Ok(accounts
            .iter()
            .flat_map(|account| {
                regions.iter().map(|region| Unit {
                    account: account.clone(),
                    region: region.clone(),
                })
            })
            .collect())
    }

    /// Sweeps every unit to the end as the sweep `id` (no checkpoint), `parallel` units at a
    /// time (each paced on its own: quotas are per account and region), then publishes one
    /// summary alert when anything needs attention. `on_key` sees every key's outcome.
    pub async fn sweep_units(
        &self,
        id: &str,
        units: &[Unit],
        parallel: usize,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> Result<OrgSummary, OrgSweepError> {
        let rules = self.rules().await?;
        self.learn_membership(&rules).await;
        let own = self.own_account().await?;
        let on_key = std::sync::Mutex::new(on_key);
        let mut results: Vec<(usize, UnitResult)> =
            futures_util::stream::iter(units.iter().enumerate())
                .map(|(i, unit)| {
                    let (rules, own, on_key) = (&rules, own.as_str(), &on_key);
                    async move {
                        let mut shared = |out: &Outcome| {
                            let mut f = on_key
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            (*f)(out);
                        };
                        (i, self.sweep_unit(id, unit, own, rules, &mut shared).await)
                    }
                })
                .buffer_unordered(parallel.max(1))
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        let mut summary = OrgSummary::new(id, self.config.mode, units.len());
        for ((_, result), unit) in results.into_iter().zip(units) {
            summary.record(unit, result);
        }
        if summary.needs_attention() {
            let alert = summary.alert();
            match self.guardrail.ports.alerts().publish(&alert).await {
                Ok(()) => summary.alerted = true,
                Err(error) => tracing::error!(
                    error = %error,
                    subject = %alert.subject,
                    body = %alert.body,
                    "the sweep summary could not be published; this line holds it"
                ),
            }
        }
        Ok(summary)
    }

    /// Sweeps one unit to the end: its summary, or why it is not covered or failed.
    async fn sweep_unit(
        &self,
        id: &str,
        unit: &Unit,
        own: &str,
        rules: &RuleSet,
        on_key: &mut (dyn FnMut(&Outcome) + Send),
    ) -> UnitResult {
        let account = (unit.account != own).then(|| unit.account.clone());
        let unit_sweeper = sweeper(
            &self.config,
            &self.sdk,
            self.members.clone(),
            account,
            unit.region.clone(),
            false,
            None::<crate::aws::dynamodb::DynamoBaselines>,
        );
        let request = Request::Once { id: id.to_owned() };
        let result = self
            .run_sweep(&unit_sweeper, &request, rules, Limits::default(), on_key)
            .await;
        let problem = |reason: String| UnitProblem {
            account: unit.account.clone(),
            region: unit.region.clone(),
            reason,
        };
        match result {
            Ok(report) => match report.summary {
                Some(mut unit_summary) => {
                    unit_summary
                        .account
                        .get_or_insert_with(|| unit.account.clone());
                    UnitResult::Swept(Box::new(unit_summary))
                }
                None => UnitResult::Failed(problem("the sweep produced no summary".to_owned())),
            },
            Err(InvokeError::Sweep(SweepError::List(e))) if e.class == ErrorClass::NotCovered => {
                tracing::warn!(account = %unit.account, region = %unit.region, error = %e, "account not covered");
                self.print_metrics(&metrics::not_covered_emf(
                    metrics::Location {
                        account: &unit.account,
                        region: &unit.region,
                    },
                    now_secs().saturating_mul(1000),
                ));
                UnitResult::NotCovered(problem(e.to_string()))
            }
            Err(e) => UnitResult::Failed(problem(e.to_string())),
        }
    }
}
