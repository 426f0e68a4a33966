//! Amplitude Experiment: flag model → compiled snapshot → evaluator, and the clients.

pub mod client;
pub mod compile;
pub mod condition;
pub mod cookie;
pub mod evaluate;
pub mod events;
pub mod model;
pub mod user;
pub mod version;
