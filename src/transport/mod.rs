//! The HTTP layer shared by every provider, one idea per module:
//! - [`http`]: the client (ureq with rustls, timeouts, gzip, ETags, size caps, TLS roots);
//! - [`proxy`]: proxies from the environment and `NO_PROXY`;
//! - [`failure`]: every failure mapped to a stable [`crate::error::ErrorCode`];
//! - [`redact`]: keys kept out of every message;
//! - [`retry`]: retries with backoff, and jitter;
//! - [`poller`]: keeping a configuration current; [`sse`]: server-sent events.

pub mod failure;
pub mod http;
pub mod poller;
pub mod proxy;
pub mod redact;
pub mod retry;
pub mod sse;

pub use failure::{io_code, Failure};
pub use http::{Http, Outcome, Request, LIBRARY};
pub use redact::{query_value, redact, ApiKey};
pub use retry::{jittered, RetryPolicy};
