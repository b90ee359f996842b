//! The handler's own overhead per event, excluding AWS: the whole decision (intake,
//! evaluation, plan, safety check, write, read-back, alert) over in-memory ports.
//! Target (README, "Performance"): ≤ 1 ms.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use kms_guardrail::engine::RuleSet;
use kms_guardrail::guardrail::memory::{
    InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
};
use kms_guardrail::guardrail::ports::Adapters;
use kms_guardrail::guardrail::{Guardrail, Mode, Settings};
use serde_json::Value;
use std::hint::black_box;
use std::path::Path;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("fixture")
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::from_document(&read("examples/rules.yaml")).expect("rules");
    let compliant = read("crates/engine/tests/fixtures/policies/real-world/typical-2kb.json");
    let public =
        read("crates/engine/tests/fixtures/policies/real-world/public-decrypt-incident.json");
    let public_event: Value =
        serde_json::from_str(&read("events/put-key-policy-public.json")).expect("event");
    let compliant_event: Value =
        serde_json::from_str(&read("events/put-key-policy-compliant.json")).expect("event");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let guardrail = |mode| Guardrail {
        ports: Adapters {
            keys: InMemoryKeyPolicies::default(),
            alerts: RecordingAlerts::default(),
            baselines: InMemoryBaselines::default(),
            checkpoints: InMemoryCheckpoints::default(),
            findings: None::<kms_guardrail::guardrail::ports::NoFindings>,
        },
        settings: Settings {
            mode,
            budget: kms_guardrail::guardrail::ports::Budget {
                reverts: u32::MAX,
                window_secs: 3600,
            },
            ..Settings::default()
        },
    };
    let g = guardrail(Mode::Enforce);
    c.bench_function("handler/compliant-event", |b| {
        g.ports.keys.insert(KEY, &compliant);
        b.iter(|| runtime.block_on(g.handle(black_box(&compliant_event), &rules, 1_795_000_000)))
    });
    let g = guardrail(Mode::Enforce);
    c.bench_function("handler/revert-event", |b| {
        b.iter(|| {
            g.ports.keys.insert(KEY, &public);
            runtime.block_on(g.handle(black_box(&public_event), &rules, 1_795_000_000))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
