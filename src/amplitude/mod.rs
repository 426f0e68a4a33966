//! Amplitude Experiment: flag model, compiled snapshot, evaluator and clients.

pub mod client;
