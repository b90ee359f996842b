//! The sweep through the real app and SDK against moto: a few dozen keys of every kind moto
//! can hold (compliant, public, cross-account, pending deletion; AWS-managed keys are in
//! `faults.rs`), the remediations and alerts, a second sweep that changes nothing, and a sweep
//! stopped every few keys that resumes from its checkpoint in DynamoDB and visits every key
//! exactly once.

use super::{
    ACCOUNT, app, baseline_table, config, fresh, good_policy, new_key, notifications, policy_of,
    public_policy, sdk, statements, sweep_command, topic_with_queue,
};
use aws_config::SdkConfig;
use kms_guardrail::app::App;
use kms_guardrail::guardrail::{Mode, Skip};
use kms_guardrail::sweep::{Limits, Request, RunEnd, RunReport};
use serde_json::Value;
use std::collections::BTreeSet;

/// The compliant policy plus a grant of decryption to another, untrusted account.
fn cross_account_policy() -> String {
    good_policy().replace(
        "]}",
        r#",
  {"Sid":"partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
    )
}

/// The keys of a sweep test.
struct Keys {
    compliant: Vec<String>,
    violating: Vec<String>,
    pending: Vec<String>,
}

/// `n` keys of each kind: compliant (twice as many), public, cross-account, and public keys
/// pending deletion.
async fn keys(sdk: &SdkConfig, n: usize) -> Keys {
    let mut k = Keys {
        compliant: Vec::new(),
        violating: Vec::new(),
        pending: Vec::new(),
    };
    for _ in 0..n {
        k.compliant.push(new_key(sdk, &good_policy()).await);
        k.compliant.push(new_key(sdk, &good_policy()).await);
        k.violating.push(new_key(sdk, &public_policy()).await);
        k.violating
            .push(new_key(sdk, &cross_account_policy()).await);
        let pending = new_key(sdk, &public_policy()).await;
        aws_sdk_kms::Client::new(sdk)
            .schedule_key_deletion()
            .key_id(pending.rsplit('/').next().expect("key id"))
            .pending_window_in_days(7)
            .send()
            .await
            .expect("schedule deletion");
        k.pending.push(pending);
    }
    k
}

/// The app in enforce mode with the alert topic and the baseline table; returns it and
/// the queue the topic delivers to.
async fn enforcing(sdk: &SdkConfig) -> (App, String) {
    let (topic, queue) = topic_with_queue(sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(sdk).await);
    (app(cfg, sdk).await, queue)
}

/// Runs one sweep request; returns the report and the keys it decided, in order.
async fn sweep(app: &App, request: &Request, limits: Limits) -> (RunReport, Vec<String>) {
    let mut seen = Vec::new();
    let report = app
        .sweep(request, limits, &mut |o| {
            seen.push(o.key_arn.clone().unwrap_or_default())
        })
        .await
        .expect("the sweep runs");
    (report, seen)
}

fn start(id: &str) -> Request {
    Request::Start { id: id.to_owned() }
}

/// The alerts' `action` attributes, in order.
pub(super) fn actions(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            a["MessageAttributes"]["action"]["Value"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_sweep_reverts_what_violates_and_a_second_changes_nothing() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let k = keys(&sdk, 6).await;
    let (app, queue) = enforcing(&sdk).await;

    let (report, seen) = sweep(&app, &start("2026-11-23T03:00:00Z"), Limits::default()).await;
    assert_eq!(report.end, RunEnd::Finished);
    let summary = report.summary.expect("a summary");
    let c = &summary.counts;
    assert_eq!(
        (
            c.keys_seen,
            c.compliant,
            c.violating,
            c.remediated,
            c.failed
        ),
        (30, 12, 12, 12, 0),
        "{summary:?}"
    );
    assert_eq!(c.skipped.get(&Skip::PendingDeletion), Some(&6));
    assert_eq!(summary.account.as_deref(), Some(ACCOUNT));
    assert_eq!(seen.len(), 30);
    assert_eq!(
        summary.violating_keys.iter().collect::<BTreeSet<_>>(),
        k.violating.iter().collect::<BTreeSet<_>>()
    );
    // Every violating key lost its offending statement and kept the rest; the compliant and
    // pending-deletion keys were not written.
    for key in &k.violating {
        assert_eq!(
            statements(&policy_of(&sdk, key).await),
            ["Enable IAM User Permissions", "App"],
            "{key}"
        );
    }
    for key in &k.compliant {
        assert_eq!(policy_of(&sdk, key).await, good_policy(), "{key}");
    }
    for key in &k.pending {
        assert_eq!(policy_of(&sdk, key).await, public_policy(), "{key}");
    }
    // One alert per reverted key, and the summary.
    let alerts = notifications(&sdk, &queue).await;
    let mut kinds = actions(&alerts);
    kinds.sort();
    let mut expected = vec!["reverted".to_owned(); 12];
    expected.push("sweep-summary".to_owned());
    assert_eq!(kinds, expected);
    let summary_alert = alerts
        .iter()
        .find(|a| a["MessageAttributes"]["action"]["Value"] == "sweep-summary")
        .expect("the summary alert");
    let body: Value = serde_json::from_str(summary_alert["Message"].as_str().expect("message"))
        .expect("a JSON summary");
    assert_eq!(
        (body["keys_seen"].as_u64(), body["remediated"].as_u64()),
        (Some(30), Some(12))
    );

    // The next day's sweep finds everything compliant and writes and alerts nothing.
    let before: Vec<String> = {
        let mut v = Vec::new();
        for key in k.violating.iter().chain(&k.compliant) {
            v.push(policy_of(&sdk, key).await);
        }
        v
    };
    let (again, _) = sweep(&app, &start("2026-11-24T03:00:00Z"), Limits::default()).await;
    let c = again.summary.expect("a summary").counts;
    assert_eq!(
        (c.keys_seen, c.compliant, c.violating, c.remediated),
        (30, 24, 0, 0)
    );
    assert!(!again.alerted);
    let mut after = Vec::new();
    for key in k.violating.iter().chain(&k.compliant) {
        after.push(policy_of(&sdk, key).await);
    }
    assert_eq!(before, after);
    assert!(notifications(&sdk, &queue).await.is_empty());
}

#[tokio::test]
async fn a_stopped_sweep_resumes_from_its_checkpoint_and_visits_every_key_once() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let k = keys(&sdk, 5).await;
    let all: BTreeSet<&String> = k
        .compliant
        .iter()
        .chain(&k.violating)
        .chain(&k.pending)
        .collect();
    let (first_app, queue) = enforcing(&sdk).await;
    let limits = Limits {
        deadline: None,
        max_keys: Some(7),
    };
    let (first, mut seen) = sweep(&first_app, &start("resume-test"), limits).await;
    assert_eq!(first.end, RunEnd::Stopped);
    let mut runs = 1;
    loop {
        // A fresh app each time, as a new Lambda instance would be: the place is in DynamoDB.
        let mut cfg = config(Mode::Enforce);
        cfg.baseline_table = Some("kms-guardrail-baselines".to_owned());
        let fresh_app = app(cfg, &sdk).await;
        let (report, more) = sweep(&fresh_app, &Request::Resume, limits).await;
        runs += 1;
        seen.extend(more);
        if report.end == RunEnd::Finished {
            let summary = report.summary.expect("a summary");
            assert_eq!(summary.runs, runs);
            assert_eq!(summary.counts.keys_seen, 25);
            assert_eq!(summary.counts.remediated, 10);
            break;
        }
        assert_eq!(report.end, RunEnd::Stopped);
        assert!(runs < 10, "the sweep never finishes");
    }
    assert_eq!(runs, 4, "25 keys, 7 per run");
    assert_eq!(seen.len(), 25, "no key twice: {seen:?}");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>(), all, "every key");
    // Nothing left to resume, and the first app's topic saw the reverts it made.
    let (after, _) = sweep(&first_app, &Request::Resume, limits).await;
    assert_eq!(after.end, RunEnd::NothingToDo);
    assert!(actions(&notifications(&sdk, &queue).await).contains(&"reverted".to_owned()));
}

#[tokio::test]
async fn the_command_line_sweep_is_monitor_only_unless_told_to_enforce() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let good = new_key(&sdk, &good_policy()).await;
    let public = new_key(&sdk, &public_policy()).await;
    let run = |args: &[&str], mode: &str| {
        sweep_command(args)
            .env("GUARDRAIL_MODE", mode)
            .output()
            .expect("the sweep runs")
    };
    // GUARDRAIL_MODE=enforce alone does not make the command write.
    let monitor = run(&[], "enforce");
    assert_eq!(
        monitor.status.code(),
        Some(1),
        "violations: {}",
        String::from_utf8_lossy(&monitor.stderr)
    );
    let summary: Value = serde_json::from_slice(&monitor.stdout).expect("the summary is JSON");
    assert_eq!(summary["mode"], "monitor");
    assert_eq!(
        (
            &summary["keys_seen"],
            &summary["violating"],
            &summary["would_remediate"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert_eq!(summary["violating_keys"], serde_json::json!([public]));
    assert_eq!(policy_of(&sdk, &public).await, public_policy());

    let enforce = run(&["--enforce"], "monitor");
    assert_eq!(
        enforce.status.code(),
        Some(1),
        "the sweep found a violation"
    );
    let summary: Value = serde_json::from_slice(&enforce.stdout).expect("the summary is JSON");
    assert_eq!(summary["remediated"], 1);
    assert_eq!(
        statements(&policy_of(&sdk, &public).await),
        ["Enable IAM User Permissions", "App"]
    );
    assert_eq!(policy_of(&sdk, &good).await, good_policy());

    let clean = run(&[], "monitor");
    assert_eq!(clean.status.code(), Some(0), "everything complies now");

    let bad = run(&["--enforce"], "enforcing");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("GUARDRAIL_MODE"));
}
