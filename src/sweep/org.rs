//! The organization sweep's units and their combined summary, free of AWS: an
//! (account, region) [`Unit`], what sweeping it came to ([`UnitResult`]), and the
//! [`OrgSummary`] of all units with its one alert. The command line runs units in-process
//! (`crate::app::org`); the queue-driven sweep records each unit's result as it comes in
//! ([`fanout`]).

pub mod fanout;
pub mod simulation;

use super::{Counts, Failure, NAMED, Summary};
use crate::guardrail::Mode;
use crate::guardrail::ports::Alert;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// One account and region of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unit {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
}

/// What sweeping one unit came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum UnitResult {
    /// Swept to the end.
    Swept(Box<Summary>),
    /// Its account could not be reached (the member role could not be assumed).
    NotCovered(UnitProblem),
    /// It failed for another reason.
    Failed(UnitProblem),
}

/// A unit the sweep could not finish: not covered, or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitProblem {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// Why.
    pub reason: String,
}

/// The combined summary of a sweep of many accounts and regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgSummary {
    /// The sweep's id.
    pub sweep_id: String,
    /// The mode it ran in.
    pub mode: Mode,
    /// The units asked for.
    pub units: usize,
    /// Every unit's keys together.
    #[serde(flatten)]
    pub totals: Counts,
    /// Counts per account (all its regions).
    pub accounts: BTreeMap<String, Counts>,
    /// Accounts (and regions) whose member role could not be assumed: blind spots.
    pub not_covered: Vec<UnitProblem>,
    /// Units that failed for another reason (keys could not be listed, …).
    pub failed_units: Vec<UnitProblem>,
    /// The first [`NAMED`] violating keys of all units.
    pub violating_keys: Vec<String>,
    /// The first [`NAMED`] key failures of all units.
    pub failures: Vec<Failure>,
    /// Each unit's own summary.
    pub regions: Vec<Summary>,
    /// Whether the summary alert was published.
    pub alerted: bool,
}

impl OrgSummary {
    /// An empty summary of the sweep `sweep_id` of `units` units in `mode`.
    pub fn new(sweep_id: &str, mode: Mode, units: usize) -> Self {
        OrgSummary {
            sweep_id: sweep_id.to_owned(),
            mode,
            units,
            totals: Counts::default(),
            accounts: BTreeMap::new(),
            not_covered: Vec::new(),
            failed_units: Vec::new(),
            violating_keys: Vec::new(),
            failures: Vec::new(),
            regions: Vec::new(),
            alerted: false,
        }
    }

    /// Whether anything needs a person: violations, failures, blind spots.
    pub fn needs_attention(&self) -> bool {
        self.totals.has_violations()
            || self.totals.failed > 0
            || !self.not_covered.is_empty()
            || !self.failed_units.is_empty()
    }

    /// Adds one unit's result.
    pub fn record(&mut self, unit: &Unit, result: UnitResult) {
        match result {
            UnitResult::Swept(summary) => self.add(unit, *summary),
            UnitResult::NotCovered(problem) => self.not_covered.push(problem),
            UnitResult::Failed(problem) => self.failed_units.push(problem),
        }
    }

    fn add(&mut self, unit: &Unit, summary: Summary) {
        let c = &summary.counts;
        self.totals.merge(c);
        self.accounts
            .entry(unit.account.clone())
            .or_default()
            .merge(c);
        let room = NAMED.saturating_sub(self.violating_keys.len());
        self.violating_keys
            .extend(summary.violating_keys.iter().take(room).cloned());
        let room = NAMED.saturating_sub(self.failures.len());
        self.failures
            .extend(summary.failures.iter().take(room).cloned());
        self.regions.push(summary);
    }

    /// The one alert for the whole sweep: counts, blind spots and the first keys by name
    /// (each unit's full summary stays in the log and the command's output).
    pub fn alert(&self) -> Alert {
        let t = &self.totals;
        let subject = format!(
            "KMS guardrail: sweep of {} accounts: {} violating, {} violating grants, {} failed, {} not covered",
            self.accounts.len() + self.not_covered.len(),
            t.violating,
            t.grant_violations,
            t.failed,
            self.not_covered.len()
        );
        let body = json!({
            "sweep_id": self.sweep_id,
            "mode": self.mode,
            "totals": t,
            "accounts": self.accounts,
            "not_covered": self.not_covered,
            "failed_units": self.failed_units,
            "violating_keys": self.violating_keys,
            "failures": self.failures,
        });
        Alert {
            subject: crate::guardrail::alert::truncate(
                &subject,
                crate::guardrail::alert::MAX_SUBJECT,
            ),
            severity: if t.has_violations() || !self.not_covered.is_empty() {
                "high"
            } else {
                "medium"
            }
            .to_owned(),
            account: None,
            action: "sweep-summary".to_owned(),
            body,
        }
    }
}
