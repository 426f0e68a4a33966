//! The Amplitude local evaluation client behind a handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::compile::Snapshot;
use super::evaluate::EvaluateRequest;
use crate::client::{Client, Provider};
use crate::config::{check_known_fields, parse_section};
use crate::error::{Error, ErrorCode, Result};

/// Every field an Amplitude client configuration may contain.
const CONFIG_FIELDS: &[&str] = &[
    "provider",
    "mode",
    "api_key",
    "flags",
    "flags_path",
    "debug",
];

/// The client configuration (`provider` is `"amplitude"`).
#[derive(Deserialize)]
struct LocalConfig {
    #[serde(default = "default_mode")]
    mode: String,
    /// The deployment key; kept out of every message and status document.
    #[serde(default, rename = "api_key")]
    _api_key: Option<String>,
    #[serde(default)]
    flags: Option<Vec<Value>>,
    #[serde(default)]
    flags_path: Option<String>,
}

fn default_mode() -> String {
    "local".into()
}

/// Builds an Amplitude client from its configuration object.
pub fn create(config: &Map<String, Value>) -> Result<Client> {
    check_known_fields(config, CONFIG_FIELDS, "the amplitude configuration")?;
    let config: LocalConfig = parse_section(config, CONFIG_FIELDS, "the amplitude configuration")?;
    if config.mode != "local" {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("mode \"{}\" is not available; use \"local\"", config.mode),
        ));
    }
    let bootstrap = match (config.flags, config.flags_path) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                "give either \"flags\" or \"flags_path\", not both",
            ))
        }
        (Some(flags), None) => Some(Snapshot::compile(&flags)?),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    ErrorCode::InvalidConfig,
                    format!("cannot read flags_path \"{path}\": {e}"),
                )
            })?;
            Some(Snapshot::from_json(&text)?)
        }
        (None, None) => None,
    };
    Ok(Arc::new(LocalClient {
        started: AtomicBool::new(false),
        snapshot: ArcSwapOption::from(bootstrap.map(Arc::new)),
    }))
}

/// A local evaluation client: the current snapshot, swapped whole on every update.
struct LocalClient {
    started: AtomicBool,
    snapshot: ArcSwapOption<Snapshot>,
}

impl Provider for LocalClient {
    fn start(&self, _timeout: Duration) -> Result<String> {
        if self.snapshot.load().is_none() {
            return Err(Error::new(
                ErrorCode::Unsupported,
                "fetching flags from a server is not available yet; configure \"flags\" or \"flags_path\"",
            ));
        }
        self.started.store(true, Ordering::Release);
        self.status()
    }

    fn evaluate(&self, request_json: &str) -> Result<String> {
        if !self.started.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before evaluating",
            ));
        }
        let request = EvaluateRequest::parse(request_json)?;
        let snapshot = self.snapshot.load();
        Ok(match snapshot.as_deref() {
            Some(snapshot) => snapshot
                .evaluate(&request.user, request.flag_keys.as_deref())
                .to_json(),
            None => "{\"variants\":{}}".to_owned(),
        })
    }

    fn fetch(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "remote evaluation is not supported by a local evaluation client",
        ))
    }

    fn status(&self) -> Result<String> {
        let snapshot = self.snapshot.load();
        let status = json!({
            "provider": "amplitude",
            "mode": "local",
            "started": self.started.load(Ordering::Acquire),
            "initialized": snapshot.is_some(),
            "flag_count": snapshot.as_ref().map_or(0, |s| s.flag_count()),
            "source": snapshot.as_ref().map(|_| "bootstrap"),
            "flag_errors": snapshot.as_ref().map_or(&[][..], |s| s.errors()),
        });
        Ok(status.to_string())
    }
}
