//! The one integration-test binary: data-driven policy fixtures, the real CLI binary, and
//! property tests of the evaluator's invariants.

mod cli;
mod events;
mod faults;
mod fixtures;
mod handler;
mod moto;
mod properties;
mod sweep;
mod template;
