//! allot: one native engine for feature flags and experiments.
//!
//! Architecture, one module per layer:
//! - [`ffi`]: the C ABI (`allot_*` exports), JSON in and out, panics and bad input caught;
//! - [`registry`]: opaque `u64` handles for clients;
//! - [`client`]: the provider-independent client interface and construction;
//! - [`config`]: configuration parsing helpers shared by providers;
//! - [`amplitude`]: Amplitude Experiment flags: model → compiled snapshot → evaluator;
//! - [`eppo`]: Eppo flags (UFC): model → compiled snapshot → assignment, details, events;
//! - [`transport`]: the HTTP layer shared by networked clients;
//! - [`events`]: delivering analytics events from a background thread;
//! - [`process`]: fork detection;
//! - [`error`]: errors with stable codes.

pub mod amplitude;
pub mod client;
pub mod config;
pub mod eppo;
pub mod error;
pub mod events;
pub mod ffi;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod process;
pub mod registry;
pub mod transport;
