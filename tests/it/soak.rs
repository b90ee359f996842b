//! The fault soak: thousands of events over in-memory ports on a paused clock — duplicates,
//! out-of-order redeliveries, keys flapping between public and compliant — while KMS, SNS
//! and DynamoDB fail at random (throttling, timeouts, 5xx, access denied). A failed
//! invocation is retried as Lambda would (twice, then the dead-letter queue). Afterwards, with
//! the outbox delivered:
//!
//! - every revert's alert went out (directly or through the outbox), except where the topic
//!   and the outbox both failed for it — then the invocation failed with the alert in its
//!   error log line (counted);
//! - no policy was written that fails `check_safe`;
//! - no key was written more than twice its budget in any window (fixed windows: at most the
//!   budget in each);
//! - no acknowledged event lost its work: a violation was reverted or alerted (or deferred),
//!   a key that could not be checked was alerted or its alert coalesced.
//!
//! The counts are printed (`cargo test --test it soak -- --nocapture`).

use kms_guardrail::engine::remediate::check_safe;
use kms_guardrail::engine::{KeyContext, RuleSet};
use kms_guardrail::guardrail::memory::{
    Call, InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
};
use kms_guardrail::guardrail::ports::{Adapters, ErrorClass, NoFindings, PortError};
use kms_guardrail::guardrail::{Action, Guardrail, HandlerError, Mode, Settings, Status};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

const KEYS: usize = 40;
const STEPS: usize = 4_000;
const STEP_SECS: u64 = 20;
const START: u64 = 1_795_000_000;

/// A small deterministic generator (xorshift64*), so every run soaks the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn key(i: usize) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-{i:012}")
}

fn policy(public: bool) -> String {
    let mut statements = vec![
        r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#,
        r#"{"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:Decrypt","kms:Encrypt"],"Resource":"*"}"#,
    ];
    if public {
        statements.push(r#"{"Sid":"backup","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}"#);
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// A `PutKeyPolicy` event `id` for key `i` carrying `text`.
fn put_event(template: &Value, id: &str, i: usize, text: &str) -> Value {
    let mut e = template.clone();
    e["id"] = id.into();
    e["detail"]["eventID"] = format!("ct-{id}").into();
    e["detail"]["requestParameters"]["keyId"] = key(i).into();
    e["detail"]["requestParameters"]["policy"] = text.into();
    e["detail"]["resources"][0]["ARN"] = key(i).into();
    e
}

fn fault(rng: &mut Rng) -> PortError {
    let (class, code) = match rng.below(4) {
        0 => (ErrorClass::Transient, "ThrottlingException"),
        1 => (ErrorClass::Transient, "RequestTimeout"),
        2 => (ErrorClass::Transient, "InternalServerError"),
        _ => (ErrorClass::AccessDenied, "AccessDeniedException"),
    };
    PortError::new(class, code, "injected")
}

#[derive(Debug, Default)]
struct Tally {
    events: u64,
    duplicates: u64,
    invocations: u64,
    failed_invocations: u64,
    dead_lettered: u64,
    reverts: u64,
    revert_alerts: u64,
    logged_only: u64,
    deferred: u64,
    delivered_later: u64,
    coalesced: u64,
    kms_faults: u64,
    sns_faults: u64,
    dynamodb_faults: u64,
}

#[tokio::test(start_paused = true)]
async fn the_guardrail_keeps_its_promises_while_aws_fails_at_random() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/put-key-policy-public.json")).expect("event"),
    )
    .expect("JSON");
    let rules = RuleSet::from_document(
        &std::fs::read_to_string(root.join("examples/rules.yaml")).expect("rules"),
    )
    .expect("valid");
    let g = Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: InMemoryCheckpoints::default(),
            findings: None::<NoFindings>,
        },
        settings: Settings {
            mode: Mode::Enforce,
            ..Settings::default()
        },
    };
    let budget = g.settings.budget;
    for i in 0..KEYS {
        g.ports.keys.insert(&key(i), &policy(false));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut t = Tally::default();
    let mut sent: Vec<Value> = Vec::new();
    // Redeliveries waiting: (deliver at step, event, attempt).
    let mut retries: VecDeque<(usize, Value, u32)> = VecDeque::new();
    // Per key, the times of the guardrail's writes.
    let mut writes: BTreeMap<String, Vec<u64>> = BTreeMap::new();

    for step in 0..STEPS {
        let now = START + step as u64 * STEP_SECS;
        // The next delivery: a due retry, a duplicate or late copy of an earlier event, or a
        // new change (flapping keys: mostly public).
        let (event, attempt) = match retries.front() {
            Some((due, _, _)) if *due <= step => {
                let (_, e, a) = retries.pop_front().expect("a retry");
                (e, a)
            }
            _ if !sent.is_empty() && rng.chance(15) => {
                t.duplicates += 1;
                (sent[rng.below(sent.len())].clone(), 0)
            }
            _ => {
                let i = rng.below(KEYS);
                let text = policy(rng.chance(70));
                g.ports.keys.insert(&key(i), &text);
                t.events += 1;
                let e = put_event(&template, &format!("ev-{step}"), i, &text);
                sent.push(e.clone());
                (e, 0)
            }
        };
        // Faults for this invocation's calls (left-over ones hit later calls).
        if rng.chance(12) {
            let call = [Call::Describe, Call::Get, Call::Put, Call::Aliases][rng.below(4)];
            g.ports.keys.fail_next(call, fault(&mut rng));
            t.kms_faults += 1;
        }
        if rng.chance(15) {
            g.ports.alerts.fail_next(fault(&mut rng));
            t.sns_faults += 1;
        }
        if rng.chance(10) {
            let e = fault(&mut rng);
            // DynamoDB's refusals are transient here: a refused budget store lets a revert
            // through by design (a missed revert is the worse failure).
            let e = PortError::new(ErrorClass::Transient, e.code, e.message);
            g.ports.baselines.fail_next_after(rng.below(3), e);
            t.dynamodb_faults += 1;
        }
        let puts_before = g.ports.keys.puts().len();
        t.invocations += 1;
        let result = g.handle(&event, &rules, now).await;
        let puts = g.ports.keys.puts();
        for (k, _) in puts.iter().skip(puts_before) {
            writes.entry(k.clone()).or_default().push(now);
        }
        t.reverts += (puts.len() - puts_before) as u64;
        match result {
            Ok(out) => {
                t.deferred += u64::from(out.alerts_deferred);
                t.delivered_later += u64::from(out.alerts_delivered);
                t.coalesced += u64::from(out.alert_withheld);
                // Nothing acknowledged loses its work.
                match out.status {
                    Status::Violating => assert!(
                        out.alerted || out.alerts_deferred > 0,
                        "step {step}: a violation acknowledged unalerted: {out:?}"
                    ),
                    Status::CouldNotCheck => assert!(
                        out.alerted || out.alert_withheld,
                        "step {step}: an unchecked key acknowledged unalerted: {out:?}"
                    ),
                    _ => {}
                }
                if out.action == Action::Reverted {
                    assert_eq!(
                        puts.len(),
                        puts_before + 1,
                        "step {step}: a revert writes once"
                    );
                }
            }
            Err(err) => {
                t.failed_invocations += 1;
                if puts.len() > puts_before {
                    // Written, then neither the topic nor the outbox took the alert.
                    assert!(
                        matches!(
                            err,
                            HandlerError::Transient {
                                step: "Publish",
                                ..
                            }
                        ),
                        "step {step}: {err}"
                    );
                    t.logged_only += 1;
                }
                if attempt < 2 {
                    retries.push_back((step + 1 + rng.below(3), event, attempt + 1));
                } else {
                    t.dead_lettered += 1;
                }
            }
        }
    }
    // The topic works again: the sweep's schedule drains the outbox.
    let end = START + STEPS as u64 * STEP_SECS;
    loop {
        let d = g.deliver_deferred(end).await;
        t.delivered_later += u64::from(d.delivered);
        if d.pending == 0 {
            break;
        }
        assert!(d.delivered > 0, "the outbox drains once the topic works");
    }
    assert!(g.ports.baselines.outbox().is_empty());
    t.revert_alerts = g
        .ports
        .alerts
        .sent()
        .iter()
        .filter(|a| a.action == "reverted")
        .count() as u64;
    eprintln!("soak: {t:#?}");

    // Every revert's alert went out, or was logged whole by a failed invocation.
    assert!(t.reverts > 100, "the soak reverted too little: {t:?}");
    assert!(
        t.revert_alerts + t.logged_only >= t.reverts,
        "alerts lost: {t:?}"
    );
    assert!(
        t.deferred > 0 && t.delivered_later > 0,
        "the outbox was exercised: {t:?}"
    );
    // No unsafe write.
    let ctx = KeyContext::for_account(Some("111122223333"));
    for (k, text) in g.ports.keys.puts() {
        assert!(
            check_safe(&text, &rules, &ctx).is_ok(),
            "{k}: unsafe write {text}"
        );
    }
    // No key written more than its budget allows: at most the budget in a fixed window, so
    // at most twice it in any window.
    for (k, times) in &writes {
        for (i, start) in times.iter().enumerate() {
            let within = times[i..]
                .iter()
                .take_while(|w| **w < start + budget.window_secs)
                .count();
            assert!(
                within <= 2 * budget.reverts as usize,
                "{k}: {within} writes within {} s of {start}",
                budget.window_secs
            );
        }
    }
}
