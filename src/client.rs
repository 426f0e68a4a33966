//! The provider-independent client: what every handle in the registry points to.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{parse_document, provider_name};
use crate::error::{Error, ErrorCode, Result};

/// One flag provider's client. Every method may be called from any number of threads at
/// once; results are the JSON of the `"ok"` member of the response envelope.
pub trait Provider: Send + Sync {
    /// Loads the configuration (and, for networked clients, waits up to `timeout` for it).
    fn start(&self, timeout: Duration) -> Result<String>;
    /// Evaluates flags locally for the request document.
    fn evaluate(&self, request_json: &str) -> Result<String>;
    /// Evaluates flags remotely for the request document.
    fn fetch(&self, request_json: &str) -> Result<String>;
    /// Describes the client's state as a JSON document.
    fn status(&self) -> Result<String>;
    /// Sends queued analytics events, waiting at most `timeout`; clients that queue
    /// nothing answer at once.
    fn flush(&self, _timeout: Duration) -> Result<String> {
        Ok("{}".to_owned())
    }
    /// Stops background synchronisation for good and sends queued events (waiting at
    /// most `timeout`); evaluation goes on with the last configuration. Answers the
    /// status document.
    fn stop(&self, timeout: Duration) -> Result<String> {
        self.flush(timeout)?;
        self.status()
    }
}

/// A shared, thread-safe client.
pub type Client = Arc<dyn Provider>;

/// Builds a client from an `allot_init` configuration document.
pub fn create(config_json: &str) -> Result<Client> {
    let config = parse_document(config_json)?;
    match provider_name(&config)? {
        "amplitude" => crate::amplitude::client::create(&config),
        "eppo" => crate::eppo::client::create(&config),
        other => Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("unknown provider \"{other}\"; expected \"amplitude\" or \"eppo\""),
        )),
    }
}
