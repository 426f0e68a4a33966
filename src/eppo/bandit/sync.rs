//! Fetching bandit models with the flags: after a new flags configuration compiles, the
//! models are fetched (`GET {base}/flag-config/v1/bandits?apiKey=…&sdkName=allot
//! &sdkVersion=…`) only when it references bandits whose model versions the served models
//! lack; otherwise the served models carry over. Flags and models are installed together,
//! so a failed model fetch keeps the last good pair.

use std::sync::Arc;
use std::time::Duration;

use crate::eppo::bandit::compile::BanditModels;
use crate::eppo::compile::Snapshot;
use crate::error::{Error, ErrorCode, Result};
use crate::transport::{query_value, Http, Outcome, Request};

/// `{base_url}/flag-config/v1/bandits?apiKey=…&sdkName=allot&sdkVersion=…` (secret: it
/// holds the key).
pub fn bandits_url(base_url: &str, api_key: &str) -> String {
    format!(
        "{base_url}/flag-config/v1/bandits?apiKey={}&sdkName=allot&sdkVersion={}",
        query_value(api_key),
        env!("CARGO_PKG_VERSION")
    )
}

/// Gives `snapshot` its bandit models: those of `served` when they have every referenced
/// version, else fetched from `url`.
pub fn attach_models(
    snapshot: Snapshot,
    served: Option<&Snapshot>,
    http: &Http,
    url: &str,
    timeout: Duration,
) -> Result<Snapshot> {
    let current = served.map_or_else(Arc::default, |s| Arc::clone(&s.bandit_models));
    if !snapshot.bandit_links.needs_models(&current) {
        return Ok(snapshot.with_bandit_models(current));
    }
    let request = Request {
        url,
        headers: Vec::new(),
        body: None,
        timeout,
        etag: None,
    };
    let bytes = match http.send(&request) {
        Ok(Outcome::Body { bytes, .. }) => bytes,
        Ok(Outcome::NotModified) => return Ok(snapshot.with_bandit_models(current)),
        Err(failure) => {
            let error = failure.error;
            return Err(Error::new(
                error.code,
                format!("fetching the bandit models: {}", error.message),
            ));
        }
    };
    let models = std::str::from_utf8(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| BanditModels::from_json(text).map_err(|e| e.message))
        .map_err(|message| {
            Error::new(
                ErrorCode::InvalidResponse,
                format!("the server sent unusable bandit models: {message}"),
            )
        })?;
    Ok(snapshot.with_bandit_models(Arc::new(models)))
}
