//! The organization sweep on a queue against moto (SQS, DynamoDB, STS, KMS, SNS): the
//! scheduled start coordinates one message per (account, region) and never twice; the queue
//! is drained through the worker — moto has no event source mapping, so the test receives the
//! messages and hands the handler the real SQS event shape — which reverts the violating keys
//! of every unit and sends one organization summary; a worker stopped early continues from
//! its own message and visits each key once; a redelivered message changes no count; an
//! account whose member role STS refuses is listed as not covered (moto's `AssumeRole` never
//! refuses: an HTTP client in front of moto answers that one call as STS would).

use super::org::{MEMBER_A, MEMBER_B, MEMBER_ROLE, OTHER_REGION, is_public, sdk_in};
use super::refusing::Refusing;
use super::{
    ACCOUNT, REGION, app, baseline_table, config, fresh, good_policy_in, new_key, notifications,
    policy_of, public_policy_in, sdk,
};
use aws_config::{Region, SdkConfig};
use kms_guardrail::app::{App, Response};
use kms_guardrail::config::Fanout;
use kms_guardrail::guardrail::Mode;
use kms_guardrail::sweep::Limits;
use serde_json::{Value, json};

/// The hub app in organization mode with a sweep queue over `accounts` × `regions`; returns
/// it, the sweep queue's URL and the alert queue's.
async fn hub(hub: &SdkConfig, accounts: &[&str], regions: &[&str]) -> (App, String, String) {
    hub_with(hub, hub, accounts, regions).await
}

/// [`hub`], the app making its calls with `calls` (the resources are made with `setup`).
async fn hub_with(
    setup: &SdkConfig,
    calls: &SdkConfig,
    accounts: &[&str],
    regions: &[&str],
) -> (App, String, String) {
    let hub = setup;
    let (topic, alerts) = super::topic_with_queue(hub).await;
    let sweep_queue = aws_sdk_sqs::Client::new(hub)
        .create_queue()
        .queue_name("kms-guardrail-sweep")
        .send()
        .await
        .expect("sweep queue")
        .queue_url()
        .expect("URL")
        .to_owned();
    let mut cfg = config(Mode::Enforce);
    cfg.topic_arn = Some(topic);
    cfg.baseline_table = Some(baseline_table(hub).await);
    cfg.member_role = Some(MEMBER_ROLE.to_owned());
    cfg.fanout = Some(Fanout {
        queue_url: sweep_queue.clone(),
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        max_receives: 3,
    });
    (app(cfg, calls).await, sweep_queue, alerts)
}

/// The messages waiting on the queue (received, so invisible until deleted or timed out):
/// (message id, receipt handle, body).
async fn receive(hub: &SdkConfig, queue: &str) -> Vec<(String, String, String)> {
    let out = aws_sdk_sqs::Client::new(hub)
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    out.messages()
        .iter()
        .map(|m| {
            (
                m.message_id().expect("id").to_owned(),
                m.receipt_handle().expect("handle").to_owned(),
                m.body().expect("body").to_owned(),
            )
        })
        .collect()
}

/// One message as Lambda's SQS event source hands it to the function.
fn sqs_event(id: &str, body: &str, received: u32) -> Value {
    json!({"Records": [{
        "messageId": id, "receiptHandle": "r", "body": body,
        "attributes": {"ApproximateReceiveCount": received.to_string(), "SentTimestamp": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:kms-guardrail-sweep"),
        "awsRegion": REGION
    }]})
}

/// Delivers messages to the worker until the queue is empty, as the event source mapping
/// would (a message the worker reports failed stays for another delivery); returns how many
/// deliveries it took.
async fn drain(app: &App, hub: &SdkConfig, queue: &str, limits: Limits) -> usize {
    let sqs = aws_sdk_sqs::Client::new(hub);
    let mut deliveries = 0;
    loop {
        let messages = receive(hub, queue).await;
        if messages.is_empty() {
            return deliveries;
        }
        for (id, handle, body) in messages {
            deliveries += 1;
            assert!(deliveries < 500, "the sweep does not converge");
            let response = app
                .handle(&sqs_event(&id, &body, 1), limits)
                .await
                .expect("the worker runs");
            let Response::Batch(batch) = response else {
                panic!("not a batch response")
            };
            assert!(batch.failures.is_empty(), "{batch:?}");
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
        }
    }
}

fn summaries(alerts: &[Value]) -> Vec<Value> {
    alerts
        .iter()
        .filter(|a| a["MessageAttributes"]["action"]["Value"] == "sweep-summary")
        .map(|a| serde_json::from_str(a["Message"].as_str().expect("message")).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn the_start_sends_one_message_per_unit_and_never_twice() {
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let (app, queue, _) = hub(
        &hub_sdk,
        &[ACCOUNT, MEMBER_A, MEMBER_B],
        &[REGION, OTHER_REGION],
    )
    .await;
    let start = json!({"sweep": "start", "id": "2026-12-01T03:00:00Z"});

    let Response::Coordinated(first) = app
        .handle(&start, Limits::default())
        .await
        .expect("started")
    else {
        panic!("not a coordination")
    };
    assert_eq!((first.units, first.sent), (6, 6));
    let mut units: Vec<(String, String)> = Vec::new();
    loop {
        let batch = receive(&hub_sdk, &queue).await;
        if batch.is_empty() {
            break;
        }
        for (_, _, body) in batch {
            let v: Value = serde_json::from_str(&body).expect("JSON");
            let unit = &v["sweep_unit"];
            assert_eq!(unit["sweep_id"], "2026-12-01T03:00:00Z");
            units.push((
                unit["account"].as_str().expect("account").to_owned(),
                unit["region"].as_str().expect("region").to_owned(),
            ));
        }
    }
    units.sort();
    let mut expected: Vec<(String, String)> = [ACCOUNT, MEMBER_A, MEMBER_B]
        .iter()
        .flat_map(|a| [REGION, OTHER_REGION].map(|r| ((*a).to_owned(), r.to_owned())))
        .collect();
    expected.sort();
    assert_eq!(units, expected, "exactly one message per unit");

    let Response::Coordinated(again) = app
        .handle(&start, Limits::default())
        .await
        .expect("started")
    else {
        panic!("not a coordination")
    };
    assert_eq!(again.sent, 0, "a redelivered start sends nothing");
}

#[tokio::test]
async fn workers_revert_every_unit_and_the_last_sends_one_summary() {
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let mut public = Vec::new();
    for account in [ACCOUNT, MEMBER_A, MEMBER_B] {
        for region in [REGION, OTHER_REGION] {
            let s = if account == ACCOUNT {
                hub_sdk.to_builder().region(Region::new(region)).build()
            } else {
                sdk_in(account, region).await
            };
            public.push((s.clone(), new_key(&s, &public_policy_in(account)).await));
            new_key(&s, &good_policy_in(account)).await;
        }
    }
    let (app, queue, alerts) = hub(
        &hub_sdk,
        &[ACCOUNT, MEMBER_A, MEMBER_B],
        &[REGION, OTHER_REGION],
    )
    .await;
    app.handle(&json!({"sweep": "start", "id": "s-1"}), Limits::default())
        .await
        .expect("started");

    drain(&app, &hub_sdk, &queue, Limits::default()).await;

    for (s, key) in &public {
        assert!(!is_public(&policy_of(s, key).await), "{key} reverted");
    }
    let summaries = summaries(&notifications(&hub_sdk, &alerts).await);
    assert_eq!(summaries.len(), 1, "one organization summary");
    let body = &summaries[0];
    assert_eq!(body["totals"]["keys_seen"], 12);
    assert_eq!(body["totals"]["remediated"], 6);
    assert_eq!(body["accounts"][MEMBER_A]["remediated"], 2);
    assert_eq!(body["not_covered"], json!([]));
}

#[tokio::test]
async fn a_worker_stopped_early_continues_from_its_message_and_visits_each_key_once() {
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let mut keys = Vec::new();
    for i in 0..5 {
        let policy = if i % 2 == 0 {
            public_policy_in(MEMBER_A)
        } else {
            good_policy_in(MEMBER_A)
        };
        keys.push(new_key(&a, &policy).await);
    }
    let (app, queue, alerts) = hub(&hub_sdk, &[MEMBER_A], &[REGION]).await;
    app.handle(&json!({"sweep": "start", "id": "s-2"}), Limits::default())
        .await
        .expect("started");

    // Each delivery may handle two keys, then must hand on.
    let limits = Limits {
        deadline: None,
        max_keys: Some(2),
    };
    let deliveries = drain(&app, &hub_sdk, &queue, limits).await;

    assert_eq!(deliveries, 3, "5 keys, 2 a delivery: two continuations");
    for key in &keys {
        assert!(!is_public(&policy_of(&a, key).await), "{key}");
    }
    let summaries = summaries(&notifications(&hub_sdk, &alerts).await);
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["totals"]["keys_seen"], 5, "each key once");
    assert_eq!(summaries[0]["totals"]["remediated"], 3);
}

#[tokio::test]
async fn a_redelivered_message_changes_no_count() {
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    new_key(&a, &public_policy_in(MEMBER_A)).await;
    let (app, queue, alerts) = hub(&hub_sdk, &[MEMBER_A], &[REGION]).await;
    app.handle(&json!({"sweep": "start", "id": "s-3"}), Limits::default())
        .await
        .expect("started");
    let messages = receive(&hub_sdk, &queue).await;
    assert_eq!(messages.len(), 1);
    let (id, _, body) = &messages[0];

    for received in [1, 2] {
        let Response::Batch(batch) = app
            .handle(&sqs_event(id, body, received), Limits::default())
            .await
            .expect("the worker runs")
        else {
            panic!("not a batch response")
        };
        assert!(batch.failures.is_empty());
    }

    let summaries = summaries(&notifications(&hub_sdk, &alerts).await);
    assert_eq!(
        summaries.len(),
        1,
        "the second delivery completes nothing again"
    );
    assert_eq!(summaries[0]["totals"]["keys_seen"], 1);
    let item = aws_sdk_dynamodb::Client::new(&hub_sdk)
        .get_item()
        .table_name("kms-guardrail-baselines")
        .key(
            "key_arn",
            aws_sdk_dynamodb::types::AttributeValue::S("orgsweep#s-3".to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("get item");
    let recorded = item
        .item()
        .and_then(|i| i.get("recorded"))
        .and_then(|v| v.as_n().ok())
        .cloned();
    assert_eq!(recorded.as_deref(), Some("1"), "counted once");
}

#[tokio::test]
async fn a_malformed_message_is_reported_failed_not_dropped() {
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let (app, _, _) = hub(&hub_sdk, &[ACCOUNT], &[REGION]).await;
    let Response::Batch(batch) = app
        .handle(&sqs_event("m-1", "{\"hello\": 1}", 1), Limits::default())
        .await
        .expect("a batch response")
    else {
        panic!("not a batch response")
    };
    assert_eq!(batch.failures.len(), 1);
    assert_eq!(batch.failures[0].id, "m-1");
}

#[tokio::test]
async fn an_account_whose_role_sts_refuses_is_listed_as_not_covered() {
    const NO_ROLE: &str = "333333333333";
    let _serial = fresh().await;
    let hub_sdk = sdk().await;
    let a = sdk_in(MEMBER_A, REGION).await;
    let key = new_key(&a, &public_policy_in(MEMBER_A)).await;
    let refusing = hub_sdk
        .to_builder()
        .http_client(Refusing::client(|_, body| {
            (body.contains("Action=AssumeRole") && body.contains(NO_ROLE)).then(|| {
                Refusing::answer(
                    403,
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>r</RequestId></ErrorResponse>",
                )
            })
        }))
        .build();
    let (app, queue, alerts) = hub_with(&hub_sdk, &refusing, &[MEMBER_A, NO_ROLE], &[REGION]).await;
    app.handle(&json!({"sweep": "start", "id": "s-4"}), Limits::default())
        .await
        .expect("started");

    drain(&app, &hub_sdk, &queue, Limits::default()).await;

    assert!(
        !is_public(&policy_of(&a, &key).await),
        "the covered member is swept"
    );
    let summaries = summaries(&notifications(&hub_sdk, &alerts).await);
    assert_eq!(summaries.len(), 1);
    let blind = summaries[0]["not_covered"].as_array().expect("not covered");
    assert_eq!(blind.len(), 1, "{}", summaries[0]);
    assert_eq!(blind[0]["account"], NO_ROLE);
    assert!(
        blind[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("AccessDenied"),
        "{}",
        blind[0]
    );
    assert_eq!(summaries[0]["totals"]["remediated"], 1);
}
