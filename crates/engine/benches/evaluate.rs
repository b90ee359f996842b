//! Parse + evaluate throughput on a typical (~2 KB) console-style policy and on a
//! maximum-size (32 KB) policy of many statements. Targets (README, "Performance"): ≤ 5 µs, ≤ 50 µs.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

mod inputs;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::{KeyContext, Policy, check, evaluate};
use inputs::{OWNER, maximum, rules, typical};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rules = rules();
    let ctx = KeyContext::for_account(Some(OWNER));
    for (name, text) in [("typical-2kb", typical()), ("maximum-32kb", maximum())] {
        let report = check(&text, &rules, &ctx).expect("valid policy");
        let statements = Policy::parse(&text).expect("valid policy").statements.len();
        eprintln!(
            "{name}: {} bytes, {statements} statements, {} findings",
            text.len(),
            report.findings.len()
        );
        c.bench_function(&format!("check/{name}"), |b| {
            b.iter(|| check(black_box(&text), black_box(&rules), black_box(&ctx)))
        });
        c.bench_function(&format!("parse/{name}"), |b| {
            b.iter(|| Policy::parse(black_box(&text)))
        });
        c.bench_function(&format!("json-validate/{name}"), |b| {
            b.iter(|| engine::policy::json::validate(black_box(&text)))
        });
        // Yardstick for this machine: serde_json reading the same text into a `Value`.
        c.bench_function(&format!("baseline-serde-json-value/{name}"), |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&text)))
        });
        let policy = Policy::parse(&text).expect("valid policy");
        c.bench_function(&format!("evaluate/{name}"), |b| {
            b.iter(|| evaluate(black_box(&policy), black_box(&rules), black_box(&ctx)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
