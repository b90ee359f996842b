//! Runs the evaluator on a benchmark policy a given number of times, for counting its
//! instructions under callgrind: unlike wall time on a shared VM, the count repeats exactly
//! (`scripts/bench` runs it twice, 0 and N times, and prints the difference ÷ N).
//!
//! `instructions <typical|maximum> <check|parse|evaluate|validate|serde> <N>` — `validate`
//! is the JSON reader alone (the text checked as JSON, nothing built), `serde` is
//! serde_json's own scan of the same text (`IgnoredAny`, nothing built): together they say
//! how much of a parse is reading JSON at all.

#![allow(
    clippy::expect_used,
    reason = "a measuring tool: a bad argument stops it with a message"
)]

#[path = "../benches/inputs/mod.rs"]
mod inputs;

use engine::{KeyContext, Policy, check, evaluate};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, stage, runs] = args.as_slice() else {
        eprintln!(
            "usage: instructions <typical|maximum> <check|parse|evaluate|validate|serde> <N>"
        );
        std::process::exit(2);
    };
    let text = match policy.as_str() {
        "typical" => inputs::typical(),
        "maximum" => inputs::maximum(),
        other => {
            eprintln!("unknown policy `{other}`: typical or maximum");
            std::process::exit(2);
        }
    };
    let runs: usize = runs.parse().expect("N: a number of runs");
    let rules = inputs::rules();
    let ctx = KeyContext::for_account(Some(inputs::OWNER));
    let parsed = Policy::parse(&text).expect("valid policy");
    for _ in 0..runs {
        match stage.as_str() {
            "check" => drop(black_box(check(black_box(&text), &rules, &ctx))),
            "parse" => drop(black_box(Policy::parse(black_box(&text)))),
            "evaluate" => drop(black_box(evaluate(black_box(&parsed), &rules, &ctx))),
            "validate" => drop(black_box(engine::policy::json::validate(black_box(&text)))),
            "serde" => drop(black_box(serde_json::from_str::<serde::de::IgnoredAny>(
                black_box(&text),
            ))),
            other => {
                eprintln!("unknown stage `{other}`: check, parse, evaluate, validate or serde");
                std::process::exit(2);
            }
        }
    }
}
