//! allot: one native engine for feature flags and experiments.
//!
//! The public surface is the C ABI, [`ffi`]; everything else is internal. Architecture,
//! one module per layer:
//! - [`ffi`]: the C ABI (`allot_*` exports), JSON in and out, panics and bad input caught;
//! - `registry`: opaque `u64` handles for clients;
//! - `client`: the provider-independent client interface and construction;
//! - `config`: configuration parsing helpers shared by providers;
//! - `marshal`: the fast lane's compact binary input (CPython `marshal` version 2);
//! - `amplitude`: Amplitude Experiment flags: model → compiled snapshot → evaluator;
//! - `eppo`: Eppo flags (UFC): model → compiled snapshot → assignment, details, events;
//! - `pattern`: condition regexes with bounded compiled size and match input;
//! - `transport`: the HTTP layer shared by networked clients;
//! - `runtime`: background work (one thread per job per process) and its health;
//! - `events`: delivering analytics events from a background thread;
//! - `process`: fork detection;
//! - `clock`: the wall clock;
//! - `compare`: what both providers' conditions share;
//! - `error`: errors with stable codes.

pub(crate) mod amplitude;
pub(crate) mod client;
pub(crate) mod clock;
pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod eppo;
pub(crate) mod error;
pub(crate) mod events;
pub mod ffi;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod marshal;
pub(crate) mod pattern;
pub(crate) mod process;
pub(crate) mod registry;
pub(crate) mod runtime;
pub(crate) mod transport;

/// What the crate's own tests and benchmarks reach below the C ABI. Not a stable API:
/// users call the [`ffi`] functions (or a binding).
#[doc(hidden)]
pub mod internals {
    pub use crate::error::{Error, ErrorCode};

    /// Amplitude's compiled snapshot, evaluation and events.
    pub mod amplitude {
        pub use crate::amplitude::cohorts::download::Downloaded;
        pub use crate::amplitude::cohorts::members::Members;
        pub use crate::amplitude::cohorts::store::{enrich, Loaded, Store};
        pub use crate::amplitude::compile::Snapshot;
        pub use crate::amplitude::evaluate::{murmur3_32, Assigned};
        pub use crate::amplitude::events::{assignment_event, exposure_events, hash_code};
        pub use crate::amplitude::user::User;
    }

    /// Eppo's compiled snapshot, assignment, settings and timestamps.
    pub mod eppo {
        pub use crate::clock::now_millis_signed as now_ms;
        pub use crate::eppo::client::EppoClient;
        pub use crate::eppo::compile::Snapshot;
        pub use crate::eppo::config::DEFAULT_BASE_URL;
        pub use crate::eppo::evaluate::{assign, Subject};
        pub use crate::eppo::model::VariationType;
        pub use crate::eppo::time::parse_rfc3339;

        /// Contextual bandits: models and action selection.
        pub mod bandit {
            pub use crate::eppo::bandit::compile::BanditModels;
            pub use crate::eppo::bandit::evaluate::{bandit_action, Action, ContextAttributes};
        }
    }
}
