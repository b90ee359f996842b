//! A 10,000-key sweep over in-memory ports, so the figure is the sweep's own cost and not an
//! emulator's: listing, pacing machinery, the decision per key (1 % of keys violating and
//! reverted, with read-back and alert), the summary and a checkpoint per page. The pacing
//! rates are lifted (what they cost in wall time is by design: keys ÷ the GetKeyPolicy
//! rate); the lanes, semaphore and concurrency are all still in the path.
//!
//! No baseline store: in production it is a remote table, and an in-memory one would hold a
//! copy of every policy and dwarf what the sweep itself keeps.
//!
//! Before the timing, one sweep is run alone and the process's peak RSS growth is printed.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

use criterion::{BatchSize, Criterion, criterion_group};
use kms_guardrail::engine::RuleSet;
use kms_guardrail::guardrail::memory::{
    InMemoryBaselines, InMemoryCheckpoints, InMemoryKeyPolicies, RecordingAlerts,
};
use kms_guardrail::guardrail::ports::{Adapters, Budget};
use kms_guardrail::guardrail::{Guardrail, Mode, Settings};
use kms_guardrail::sweep::pace::{Paced, Pacing};
use kms_guardrail::sweep::{Limits, Request, SweepSettings, Sweeper};
use std::path::Path;

const KEYS: usize = 10_000;

type Memory = Sweeper<
    Adapters<
        Paced<InMemoryKeyPolicies>,
        RecordingAlerts,
        Option<InMemoryBaselines>,
        Option<InMemoryCheckpoints>,
    >,
>;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("fixture")
}

/// A sweeper over `KEYS` keys: typical console-style policies, every 100th one public.
fn sweeper(compliant: &str, public: &str) -> Memory {
    let keys = InMemoryKeyPolicies::default();
    for i in 0..KEYS {
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-{i:012}");
        keys.insert(&arn, if i % 100 == 0 { public } else { compliant });
    }
    let pacing = Pacing {
        rates: [f64::INFINITY; kms_guardrail::sweep::pace::Op::ALL.len()],
        ..Pacing::default()
    };
    Sweeper {
        guardrail: Guardrail {
            ports: Adapters {
                keys: Paced::new(keys, pacing),
                alerts: RecordingAlerts::default(),
                baselines: None,
                checkpoints: Default::default(),
                findings: None,
            },
            settings: Settings {
                mode: Mode::Enforce,
                budget: Budget {
                    reverts: u32::MAX,
                    window_secs: 3600,
                },
                ..Settings::default()
            },
        },
        settings: SweepSettings::for_region("us-east-1"),
    }
}

fn sweep(runtime: &tokio::runtime::Runtime, s: &Memory, rules: &RuleSet) -> u64 {
    let request = Request::Start {
        id: "bench".to_owned(),
    };
    let report = runtime
        .block_on(s.run(&request, rules, Limits::default(), &mut |_| {}))
        .expect("the sweep runs");
    report.summary.expect("a summary").counts.keys_seen
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::from_document(&read("examples/rules.yaml")).expect("rules");
    let compliant = read("crates/engine/tests/fixtures/policies/real-world/typical-2kb.json");
    let public =
        read("crates/engine/tests/fixtures/policies/real-world/public-decrypt-incident.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let (before, _) = memory();
    let s = sweeper(&compliant, &public);
    let (loaded, _) = memory();
    assert_eq!(sweep(&runtime, &s, &rules), KEYS as u64);
    let (_, peak) = memory();
    println!(
        "sweep/10k-keys memory: keys and policies in memory {} KiB; peak RSS growth over them during the sweep {} KiB",
        loaded.saturating_sub(before),
        peak.saturating_sub(loaded)
    );
    drop(s);

    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.bench_function("10k-keys-in-memory", |b| {
        b.iter_batched(
            || sweeper(&compliant, &public),
            |s| sweep(&runtime, &s, &rules),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
