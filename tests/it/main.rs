//! The one integration-test binary of the guardrail: the real CLI binary, events, the handler
//! over in-memory ports and SDK mocks, the sweep, and the real SDK against moto.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests and benchmarks fail loudly on a broken fixture"
)]

mod cli;
mod coverage;
mod events;
mod faults;
mod findings;
mod grants;
mod handler;
mod moto;
mod soak;
mod sweep;
mod template;
