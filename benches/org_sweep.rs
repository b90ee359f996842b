//! The organization sweep at scale, simulated on tokio's paused clock over in-memory ports
//! (`kms_guardrail::sweep::org::simulation`): 1,000 accounts × 17 regions × 24 keys (2 %
//! public) at the default quota share (10 %), with 10 workers (the template's default) and
//! more, and fewer accounts — the simulated wall time, worker runs, the real time the model
//! took, and the peak memory growth (an upper bound on a worker's: the model holds every
//! running worker's unit at once). `cargo bench --bench org_sweep`; skipped under
//! `cargo test`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

use kms_guardrail::engine::RuleSet;
use kms_guardrail::sweep::org::simulation::{self, Knobs, Organization};
use std::path::Path;
use std::time::Duration;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("fixture")
}

/// `VmHWM` (peak RSS) of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("org_sweep: a simulation for `cargo bench`; skipped under `cargo test`");
        return;
    }
    let rules = RuleSet::from_document(&read("examples/rules.yaml")).expect("rules");
    let base = Organization {
        accounts: 1000,
        regions: 17,
        keys_per_unit: 24,
        public_every: 50,
        compliant: read("crates/engine/tests/fixtures/policies/real-world/typical-2kb.json"),
        public: read(
            "crates/engine/tests/fixtures/policies/real-world/public-decrypt-incident.json",
        ),
    };
    let knobs = Knobs {
        workers: 10,
        quota_percent: 10.0,
        concurrency: 8,
        worker_budget: Duration::from_secs(840),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let before = peak_kib();
    for (accounts, workers) in [(1000, 10), (1000, 50), (1000, 200), (250, 10), (500, 10)] {
        let org = Organization {
            accounts,
            ..base.clone()
        };
        let knobs = Knobs { workers, ..knobs };
        let began = std::time::Instant::now();
        let report = runtime.block_on(simulation::run(&org, knobs, &rules));
        let t = &report.summary.totals;
        assert_eq!(t.keys_seen, (accounts * 17 * 24) as u64, "every key once");
        println!(
            "org_sweep/{accounts}x17x24 keys, {workers} workers: simulated {:.0} s ({:.1} min), {} worker runs, {} keys, {} reverted; model ran {:.1} s; peak RSS growth {} KiB",
            report.simulated.as_secs_f64(),
            report.simulated.as_secs_f64() / 60.0,
            report.deliveries,
            t.keys_seen,
            t.remediated,
            began.elapsed().as_secs_f64(),
            peak_kib().saturating_sub(before)
        );
    }
}
