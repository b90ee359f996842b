//! CloudWatch Embedded Metric Format: one JSON line per invocation that CloudWatch Logs turns
//! into counts — evaluations, violations, remediations, remediation failures.

use super::{Action, Outcome, Status};
use serde_json::{Value, json};

/// The metrics namespace.
pub const NAMESPACE: &str = "KmsGuardrail";

/// The EMF record for one outcome, at `timestamp_ms`, dimensioned by account.
pub fn emf(out: &Outcome, account: &str, timestamp_ms: u64) -> Value {
    let evaluated = matches!(out.status, Status::Compliant | Status::Violating);
    let violating = out.status == Status::Violating;
    let remediated = out.action == Action::Reverted;
    let failed = matches!(out.action, Action::RevertFailed | Action::NotRemediated)
        || out.status == Status::CouldNotCheck;
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Account"]],
                "Metrics": [
                    {"Name": "Evaluations", "Unit": "Count"},
                    {"Name": "Violations", "Unit": "Count"},
                    {"Name": "Remediations", "Unit": "Count"},
                    {"Name": "RemediationFailures", "Unit": "Count"},
                ],
            }],
        },
        "Account": account,
        "Evaluations": u8::from(evaluated),
        "Violations": u8::from(violating),
        "Remediations": u8::from(remediated),
        "RemediationFailures": u8::from(failed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "111122223333",
            5,
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(v["_aws"]["Timestamp"], 5);
        assert_eq!(v["Account"], "111122223333");
        assert_eq!(
            (
                &v["Evaluations"],
                &v["Violations"],
                &v["Remediations"],
                &v["RemediationFailures"]
            ),
            (&json!(1), &json!(1), &json!(1), &json!(0))
        );
        let failed = emf(&outcome(Status::Violating, Action::RevertFailed), "a", 0);
        assert_eq!(
            (&failed["Remediations"], &failed["RemediationFailures"]),
            (&json!(0), &json!(1))
        );
        let ignored = emf(&outcome(Status::Ignored, Action::None), "a", 0);
        assert_eq!(ignored["Evaluations"], 0);
    }
}
