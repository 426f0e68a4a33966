//! Amplitude Experiment: flag model → compiled snapshot → evaluator, and the clients
//! (local evaluation kept current over the network, and remote evaluation).

pub mod client;
pub mod cohorts;
pub mod compile;
pub mod condition;
pub mod config;
pub mod cookie;
pub mod evaluate;
pub mod events;
pub mod model;
pub mod remote;
pub mod sync;
pub mod tracking;
pub mod user;
pub mod version;
