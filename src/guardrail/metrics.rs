//! CloudWatch Embedded Metric Format: one JSON line per invocation that CloudWatch Logs turns
//! into counts — evaluations, violations, remediations, remediation failures, accounts not
//! covered, grant violations and revocations, alerts deferred to and delivered from the
//! outbox — and, for a sweep run, the keys it saw and skipped and its duration. Every
//! record is dimensioned by the key's account.

use super::{Action, Outcome, Status};
use crate::sweep::Counts;
use serde_json::{Value, json};

/// The metrics namespace.
pub const NAMESPACE: &str = "KmsGuardrail";

/// The value of the `Guardrail` dimension: every record is also counted under it, so one
/// alarm watches every account of an organization (the `Account` dimension splits them).
pub const ALL_ACCOUNTS: &str = "kms-guardrail";

/// Where the keys a record counts live: the account is a dimension, the region a property
/// (searchable in the log line; a dimension per region would multiply the metrics an
/// organization pays for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    /// The keys' account.
    pub account: &'a str,
    /// The keys' region.
    pub region: &'a str,
}

/// An EMF record at `timestamp_ms`, dimensioned by account and by [`ALL_ACCOUNTS`], with
/// `values` (name, unit, value).
fn record(at: Location<'_>, timestamp_ms: u64, values: &[(&str, &str, u64)]) -> Value {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Account"], ["Guardrail"]],
                "Metrics": metrics,
            }],
        },
        "Account": at.account,
        "Region": at.region,
        "Guardrail": ALL_ACCOUNTS,
    });
    if let Some(members) = line.as_object_mut() {
        for (name, _, value) in values {
            members.insert((*name).to_owned(), json!(value));
        }
    }
    line
}

/// The EMF record for one outcome, at `timestamp_ms`, for the key's location `at`.
pub fn emf(out: &Outcome, at: Location<'_>, timestamp_ms: u64) -> Value {
    let evaluated = matches!(out.status, Status::Compliant | Status::Violating);
    let violating = out.status == Status::Violating;
    let remediated = out.action == Action::Reverted;
    record(
        at,
        timestamp_ms,
        &[
            ("Evaluations", "Count", u64::from(evaluated)),
            ("Violations", "Count", u64::from(violating)),
            ("Remediations", "Count", u64::from(remediated)),
            ("RemediationFailures", "Count", u64::from(out.failed())),
            (
                "NotCovered",
                "Count",
                u64::from(out.status == Status::NotCovered),
            ),
            (
                "GrantViolations",
                "Count",
                out.grants.iter().filter(|v| !v.findings.is_empty()).count() as u64,
            ),
            (
                "GrantRevocations",
                "Count",
                out.grants
                    .iter()
                    .filter(|v| v.action == Action::Reverted)
                    .count() as u64,
            ),
            ("AlertsDeferred", "Count", u64::from(out.alerts_deferred)),
            ("AlertsDelivered", "Count", u64::from(out.alerts_delivered)),
        ],
    )
}

/// The EMF record for an account a sweep could not reach (its member role could not be
/// assumed), at `timestamp_ms`.
pub fn not_covered_emf(at: Location<'_>, timestamp_ms: u64) -> Value {
    record(
        at,
        timestamp_ms,
        &[
            ("NotCovered", "Count", 1),
            ("RemediationFailures", "Count", 1),
        ],
    )
}

/// The EMF record for one sweep run: the same counts as events (so alarms and dashboards
/// see both), plus the keys it saw and skipped and its duration.
pub fn sweep_emf(run: &Counts, duration_ms: u64, at: Location<'_>, timestamp_ms: u64) -> Value {
    record(
        at,
        timestamp_ms,
        &[
            ("Evaluations", "Count", run.compliant + run.violating),
            ("Violations", "Count", run.violating),
            ("Remediations", "Count", run.remediated),
            ("RemediationFailures", "Count", run.failed),
            ("GrantViolations", "Count", run.grant_violations),
            ("GrantRevocations", "Count", run.grants_revoked),
            ("AlertsDeferred", "Count", run.alerts_deferred),
            ("AlertsDelivered", "Count", run.alerts_delivered),
            ("SweepKeys", "Count", run.keys_seen),
            ("SweepSkipped", "Count", run.skipped_total()),
            ("SweepDuration", "Milliseconds", duration_ms),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Location<'static> = Location {
        account: "111122223333",
        region: "us-east-1",
    };

    fn outcome(status: Status, action: Action) -> Outcome {
        Outcome {
            action,
            ..Outcome::new(None, None, status)
        }
    }

    #[test]
    fn counts_follow_the_outcome() {
        let v = emf(
            &outcome(Status::Violating, Action::Reverted),
            Location {
                account: "111122223333",
                region: "eu-west-1",
            },
            5,
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(v["_aws"]["Timestamp"], 5);
        assert_eq!(v["Account"], "111122223333");
        assert_eq!(v["Guardrail"], ALL_ACCOUNTS);
        assert_eq!(v["Region"], "eu-west-1");
        assert_eq!(
            (
                &v["Evaluations"],
                &v["Violations"],
                &v["Remediations"],
                &v["RemediationFailures"]
            ),
            (&json!(1), &json!(1), &json!(1), &json!(0))
        );
        let failed = emf(&outcome(Status::Violating, Action::RevertFailed), HERE, 0);
        assert_eq!(
            (&failed["Remediations"], &failed["RemediationFailures"]),
            (&json!(0), &json!(1))
        );
        let ignored = emf(&outcome(Status::Ignored, Action::None), HERE, 0);
        assert_eq!(ignored["Evaluations"], 0);
    }

    #[test]
    fn a_sweep_run_counts_its_keys() {
        let mut run = Counts::default();
        run.add(&outcome(Status::Violating, Action::Reverted));
        run.add(&outcome(Status::Compliant, Action::BaselineRecorded));
        run.add(&Outcome {
            skip: Some(super::super::Skip::AwsManaged),
            ..outcome(Status::Skipped, Action::None)
        });
        let v = sweep_emf(&run, 1234, HERE, 9);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().expect("name"))
            .collect();
        for name in &names {
            assert!(v.get(*name).is_some(), "{name} has no value");
        }
        assert_eq!(
            (
                &v["SweepKeys"],
                &v["Evaluations"],
                &v["Remediations"],
                &v["SweepSkipped"],
                &v["SweepDuration"]
            ),
            (&json!(3), &json!(2), &json!(1), &json!(1), &json!(1234))
        );
    }
}
