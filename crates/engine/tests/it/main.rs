//! The engine's one integration-test binary: data-driven policy fixtures and property tests
//! of the evaluator's invariants. Builds without the AWS SDK.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

mod fixtures;
mod properties;
