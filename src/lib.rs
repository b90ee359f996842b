//! kms-guardrail: keeps AWS KMS key policies safe.
//!
//! The evaluator is its own crate, [`engine`] (no I/O, no AWS): this crate is everything
//! around it — event intake ([`event`]), the decision over AWS ports ([`guardrail`]), the
//! scheduled [`sweep`], the SDK adapters ([`aws`]), configuration ([`config`]), the wiring
//! shared by the Lambda and the CLI ([`app`]) and the CLI itself ([`cli`]).

pub use engine;
/// Event intake, its own crate (no I/O, no AWS SDK) so it builds and fuzzes on its own.
pub use intake as event;

pub mod app;
pub mod aws;
pub mod cli;
pub mod config;
pub mod guardrail;
pub mod sweep;
