//! Background work, one way for every job (polling, streaming, sending events, and any
//! later loader): a [`Worker`] is one thread per process with its [`Control`] (wake-ups,
//! stop, the thread's HTTP client and its state), and [`Health`] is what the status
//! document reports about a job's successes and failures.
//!
//! Fork safety: a worker belongs to the process that started it
//! ([`crate::process::PerProcess`]). A forked child's next call abandons the parent's
//! worker without touching its locks or sockets and starts its own, on a thread started
//! without std's process-wide thread registry (see `thread`).

mod health;
mod thread;
mod worker;

pub use health::Health;
pub use thread::fan_out;
pub use worker::{Control, Launch, Worker};
