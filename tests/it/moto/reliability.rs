//! Reliability against moto: an alert that cannot be published after a revert (its topic does
//! not exist) waits in the outbox in DynamoDB and a later invocation with a working topic
//! delivers it once; a sweep over keys it cannot read sends a bounded number of per-key alerts
//! and one summary that names the rest.

use super::refusing::Refusing;
use super::{
    ACCOUNT, app, baseline_table, config, event_for, fresh, new_key, notifications, public_policy,
    sdk, topic_with_queue,
};
use kms_guardrail::guardrail::{Action, Mode, Status};
use kms_guardrail::sweep::{Limits, Request};
use serde_json::Value;

/// The alerts' `action` attributes, sorted.
fn actions(alerts: &[Value]) -> Vec<String> {
    let mut actions = super::sweep::actions(alerts);
    actions.sort();
    actions
}

fn body(alert: &Value) -> Value {
    serde_json::from_str(alert["Message"].as_str().expect("message")).expect("JSON body")
}

#[tokio::test]
async fn a_revert_whose_topic_is_gone_waits_in_the_outbox_and_goes_out_once_later() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    let table = baseline_table(&sdk).await;
    let first = new_key(&sdk, &public_policy()).await;
    let mut broken = config(Mode::Enforce);
    broken.baseline_table = Some(table.clone());
    broken.topic_arn = Some(format!("arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"));
    let broken = app(broken, &sdk).await;
    let event = event_for("put-key-policy-public.json", &first, &public_policy());
    let out = broken.invoke(&event).await.expect("handled");
    assert_eq!(
        (out.status, out.action, out.alerts_deferred),
        (Status::Violating, Action::Reverted, 1),
        "{}",
        out.message
    );
    // A retry of the same event finds the key compliant and keeps nothing more.
    broken.invoke(&event).await.expect("handled");
    let index = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&table)
        .key(
            "key_arn",
            aws_sdk_dynamodb::types::AttributeValue::S("outbox".to_owned()),
        )
        .send()
        .await
        .expect("read");
    let pending = index
        .item()
        .and_then(|i| i.get("pending"))
        .and_then(|v| v.as_ss().ok())
        .map_or(0, Vec::len);
    assert_eq!(pending, 1);

    // The topic works (a new deployment): the next invocation that alerts delivers it.
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut working = config(Mode::Enforce);
    working.baseline_table = Some(table);
    working.topic_arn = Some(topic);
    let working = app(working, &sdk).await;
    let second = new_key(&sdk, &public_policy()).await;
    let mut later = event_for("put-key-policy-public.json", &second, &public_policy());
    later["id"] = "a-later-event".into();
    let out = working.invoke(&later).await.expect("handled");
    assert_eq!((out.alerted, out.alerts_delivered), (true, 1));
    let alerts = notifications(&sdk, &queue).await;
    assert_eq!(actions(&alerts), ["reverted", "reverted"]);
    let keys: Vec<Value> = alerts.iter().map(|a| body(a)["key_arn"].clone()).collect();
    assert!(keys.contains(&Value::String(first.clone())), "{keys:?}");

    // Delivered once: a sweep run's pass finds nothing left.
    let report = working
        .sweep(&Request::Resume, Limits::default(), &mut |_| {})
        .await
        .expect("runs");
    assert_eq!((report.outbox.delivered, report.outbox.pending), (0, 0));
    assert!(notifications(&sdk, &queue).await.is_empty());
}

#[tokio::test]
async fn a_sweep_over_keys_it_cannot_read_sends_a_bounded_number_of_alerts() {
    let _serial = fresh().await;
    let sdk = sdk().await;
    for _ in 0..12 {
        new_key(&sdk, &public_policy()).await;
    }
    // Every GetKeyPolicy is refused, as KMS refuses a role without kms:GetKeyPolicy.
    let denied = sdk
        .to_builder()
        .http_client(Refusing::client(|request, _| {
            (request.headers().get("x-amz-target") == Some("TrentService.GetKeyPolicy")).then(
                || {
                    Refusing::answer(
                        400,
                        r#"{"__type":"AccessDeniedException","message":"not authorized to perform kms:GetKeyPolicy"}"#,
                    )
                },
            )
        }))
        .build();
    let (topic, queue) = topic_with_queue(&sdk).await;
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(&sdk).await);
    cfg.sweep_key_alerts = 3;
    let app = app(cfg, &denied).await;
    let report = app
        .sweep(
            &Request::Start {
                id: "denied".to_owned(),
            },
            Limits::default(),
            &mut |_| {},
        )
        .await
        .expect("runs");
    let summary = report.summary.expect("a summary");
    assert_eq!(
        (
            summary.counts.failed,
            summary.counts.alerts_withheld,
            summary.key_alerts_sent
        ),
        (12, 9, 3)
    );
    let alerts = notifications(&sdk, &queue).await;
    let per_key = actions(&alerts)
        .iter()
        .filter(|a| *a == "could-not-check")
        .count();
    assert_eq!(per_key, 3);
    let summaries: Vec<Value> = alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["action"]["Value"] == "sweep-summary")
        .map(body)
        .collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["alerts_withheld"], 9);
    assert_eq!(summaries[0]["failures"].as_array().map(Vec::len), Some(12));
}
