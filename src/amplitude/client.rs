//! Amplitude clients (placeholder while the engine is written).

use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, ErrorCode, Result};

/// Builds an Amplitude client from its configuration.
pub fn create(_config: &Map<String, Value>) -> Result<Client> {
    Err(Error::new(ErrorCode::Unsupported, "amplitude engine under construction"))
}
