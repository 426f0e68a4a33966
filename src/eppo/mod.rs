//! Eppo: Universal Flag Configuration → compiled snapshot → typed assignments, with
//! evaluation details, assignment events and the C-ABI client.
//!
//! - [`model`]: the UFC as served (serde);
//! - [`compile`]: the immutable compiled [`compile::Snapshot`] (plain and obfuscated formats);
//! - [`evaluate`]: assignment (the pure Rust API: [`evaluate::assign`]);
//! - [`details`]: the evaluation-details document;
//! - [`events`]: assignment events and their deduplication cache;
//! - [`request`]: the `allot_evaluate` request;
//! - [`client`]: the [`crate::client::Provider`] behind an `allot_init` handle;
//! - [`time`]: RFC 3339 parsing and formatting.

pub mod client;
pub mod compile;
pub mod details;
pub mod evaluate;
pub mod events;
pub mod model;
pub mod request;
pub mod time;
