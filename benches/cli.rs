//! The CLI over many files, side by side with its yardstick (README, "Performance"): N copies
//! (`KMS_GUARDRAIL_BENCH_COPIES`, default 100) of every fixture policy, checked by the built
//! `kms-guardrail check` with the fixture organization's rules and owner account (as a CI job
//! runs it) in one process per format, against the same files read and parsed
//! into a `serde_json::Value` in one process (this one), on one thread and on every core.
//! Prints policies/s, the ratio to the yardstick and the check's peak RSS (`/usr/bin/time`).
//! Targets: `check --format json` within 1.5× of the yardstick, ≥ 370,000 policies/s, peak
//! RSS ≤ 32 MB whatever N is. Run: `cargo bench --bench cli`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmarks fail loudly on a broken setup"
)]

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs of each measurement; the median is reported.
const RUNS: usize = 7;

fn fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture directory") {
        let path = entry.expect("fixture entry").path();
        if path.is_dir() {
            fixtures(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Writes `copies` copies of every fixture policy under `dir`; returns their names.
fn corpus(dir: &Path, copies: usize) -> Vec<String> {
    let mut sources = Vec::new();
    fixtures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/engine/tests/fixtures/policies"),
        &mut sources,
    );
    sources.sort();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("corpus directory");
    let mut names = Vec::new();
    for copy in 0..copies {
        for (i, source) in sources.iter().enumerate() {
            let name = format!("p{copy}-{i}.json");
            std::fs::copy(source, dir.join(&name)).expect("copy fixture");
            names.push(name);
        }
    }
    eprintln!(
        "corpus: {} fixture policies x {copies} = {} files in {}",
        sources.len(),
        names.len(),
        dir.display()
    );
    names
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// The yardstick: every file read and parsed into a `serde_json::Value`.
fn yardstick(dir: &Path, names: &[String], parallel: bool) -> Duration {
    let read = |name: &String| {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        // Invalid fixtures fail to parse: the work is done either way.
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok())
    };
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let parsed = if parallel {
                    names.par_iter().filter(|n| read(n)).count()
                } else {
                    names.iter().filter(|n| read(n)).count()
                };
                std::hint::black_box(parsed);
                start.elapsed()
            })
            .collect(),
    )
}

/// `kms-guardrail check --format <format>` over every file: its median wall time and its
/// largest peak RSS in KiB.
fn check(dir: &Path, names: &[String], format: &str) -> (Duration, u64) {
    let mut rss = 0;
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M", env!("CARGO_BIN_EXE_kms-guardrail")])
            .args([
                "check",
                "--account",
                "111122223333",
                "--format",
                format,
                "--rules",
            ])
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("crates/engine/tests/fixtures/rules/org.yaml"),
            )
            .args(names)
            .current_dir(dir)
            .output()
            .expect("run kms-guardrail under /usr/bin/time");
        runs.push(start.elapsed());
        // Exit 1: the fixtures hold violations (2 would be a broken setup).
        assert_eq!(out.status.code(), Some(1), "{format}: unexpected exit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kib: u64 = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("peak RSS from /usr/bin/time");
        rss = rss.max(kib);
        assert!(!out.stdout.is_empty(), "{format}: no output");
    }
    (median(runs), rss)
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with neither, and
    // then it only proves it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let copies = std::env::var("KMS_GUARDRAIL_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-corpus");
    let names = corpus(&dir, copies);
    let n = names.len();
    let one = yardstick(&dir, &names, false);
    let all = yardstick(&dir, &names, true);
    println!(
        "yardstick, read + serde_json::Value: {:>9.0} policies/s on one thread, {:>9.0} on {} threads",
        rate(n, one),
        rate(n, all),
        rayon::current_num_threads()
    );
    for format in ["json", "human", "sarif"] {
        let (took, rss) = check(&dir, &names, format);
        println!(
            "check --format {format:<5}: {:>9.0} policies/s ({:.2}x the one-thread yardstick's time, {:.2}x the all-core one's), peak RSS {:.1} MiB",
            rate(n, took),
            took.as_secs_f64() / one.as_secs_f64(),
            took.as_secs_f64() / all.as_secs_f64(),
            rss as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
