//! The Eppo configuration of `allot_init`: validation, defaults and the configuration
//! given at init.

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::compile::Snapshot;
use super::events::AssignmentCache;
use crate::clock::now_millis_signed;
use crate::config::{check_known_fields, parse_section, read_config_file};
use crate::error::{Error, ErrorCode, Result};
use crate::transport::query_value;

/// The fields `allot_init` accepts for `"provider": "eppo"`.
const CONFIG_FIELDS: &[&str] = &[
    "provider",
    "api_key",
    "base_url",
    "poll_interval_seconds",
    "poll_jitter_seconds",
    "initial_configuration",
    "configuration_path",
    "assignment_cache",
];

/// Eppo's default API base URL.
pub const DEFAULT_BASE_URL: &str = "https://fscdn.eppo.cloud/api";

/// The validated Eppo configuration. Its `Debug` output never shows the API key.
#[derive(Clone, PartialEq)]
pub struct SyncSettings {
    /// The SDK key (secret).
    pub api_key: String,
    /// The API base URL, without a trailing slash.
    pub base_url: String,
    /// How often to poll for the configuration; `None` disables polling.
    pub poll_interval: Option<Duration>,
    /// The largest random amount subtracted from each poll interval.
    pub poll_jitter: Duration,
    /// Serve the given configuration without any network: a configuration was given
    /// (`initial_configuration` / `configuration_path`) and no `base_url`.
    pub offline: bool,
}

impl fmt::Debug for SyncSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSettings")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("poll_interval", &self.poll_interval)
            .field("poll_jitter", &self.poll_jitter)
            .finish()
    }
}

/// `assignment_cache`: `{"capacity": N, "ttl_seconds"?: N}`.
#[derive(Deserialize)]
struct CacheConfig {
    capacity: usize,
    #[serde(default)]
    ttl_seconds: Option<f64>,
}

impl SyncSettings {
    /// `{base_url}/flag-config/v1/config?apiKey=…&sdkName=allot&sdkVersion=…` (secret:
    /// it holds the key).
    pub fn config_url(&self) -> String {
        format!(
            "{}/flag-config/v1/config?apiKey={}&sdkName=allot&sdkVersion={}",
            self.base_url,
            query_value(&self.api_key),
            env!("CARGO_PKG_VERSION")
        )
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

fn seconds(
    config: &Map<String, Value>,
    field: &str,
    default: f64,
    allow_zero: bool,
) -> Result<Option<Duration>> {
    let bound = if allow_zero {
        "a non-negative"
    } else {
        "a positive"
    };
    match config.get(field) {
        None => Ok(Some(Duration::from_secs_f64(default))),
        Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|s| if allow_zero { *s >= 0.0 } else { *s > 0.0 })
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("\"{field}\" must be {bound} number of seconds"))),
        Some(_) => Err(invalid(format!(
            "\"{field}\" must be {bound} number of seconds or null"
        ))),
    }
}

/// A validated Eppo configuration: the synchronisation settings, the assignment cache
/// and the configuration given at init.
pub struct Settings {
    /// Where and how often the configuration is fetched.
    pub sync: SyncSettings,
    /// The assignment cache, when configured.
    pub cache: Option<AssignmentCache>,
    /// `initial_configuration` / `configuration_path`, loaded.
    pub bootstrap: Option<Snapshot>,
}

impl Settings {
    /// Validates the configuration and loads `initial_configuration` / `configuration_path`.
    pub fn parse(config: &Map<String, Value>) -> Result<Settings> {
        check_known_fields(config, CONFIG_FIELDS, "the Eppo configuration")?;
        let api_key = match config.get("api_key") {
            Some(Value::String(key)) if !key.trim().is_empty() => key.clone(),
            Some(_) => return Err(invalid("\"api_key\" must be a non-empty string")),
            None => return Err(invalid("missing field \"api_key\" (the Eppo SDK key)")),
        };
        let base_url = match config.get("base_url") {
            None => DEFAULT_BASE_URL.to_owned(),
            Some(Value::String(url))
                if url.starts_with("https://") || url.starts_with("http://") =>
            {
                url.trim_end_matches('/').to_owned()
            }
            Some(_) => return Err(invalid("\"base_url\" must be an http:// or https:// URL")),
        };
        let poll_interval = seconds(config, "poll_interval_seconds", 30.0, false)?;
        let explicit_jitter = config.contains_key("poll_jitter_seconds");
        let poll_jitter = match seconds(config, "poll_jitter_seconds", 3.0, true)? {
            Some(jitter) => jitter,
            None => {
                return Err(invalid(
                    "\"poll_jitter_seconds\" must be a non-negative number of seconds",
                ))
            }
        };
        let poll_jitter = match poll_interval {
            Some(interval) if poll_jitter > interval && explicit_jitter => {
                return Err(invalid(
                    "\"poll_jitter_seconds\" must not exceed \"poll_interval_seconds\"",
                ))
            }
            Some(interval) => poll_jitter.min(interval),
            None => poll_jitter,
        };
        let cache = match config.get("assignment_cache") {
            None | Some(Value::Null) => None,
            Some(Value::Object(section)) => {
                let section: CacheConfig = parse_section(
                    section,
                    &["capacity", "ttl_seconds"],
                    "\"assignment_cache\"",
                )?;
                let capacity = NonZeroUsize::new(section.capacity).ok_or_else(|| {
                    invalid("\"assignment_cache\".\"capacity\" must be at least 1")
                })?;
                let ttl = match section.ttl_seconds {
                    None => None,
                    Some(ttl) => Some(
                        Duration::try_from_secs_f64(ttl)
                            .ok()
                            .filter(|d| !d.is_zero())
                            .ok_or_else(|| invalid("\"assignment_cache\".\"ttl_seconds\" must be a positive number"))?,
                    ),
                };
                Some(AssignmentCache::new(capacity, ttl))
            }
            Some(_) => {
                return Err(invalid(
                    "\"assignment_cache\" must be an object {\"capacity\": N, \"ttl_seconds\"?: N}",
                ))
            }
        };
        let snapshot =
            match (
                config.get("initial_configuration"),
                config.get("configuration_path"),
            ) {
                (Some(_), Some(_)) => return Err(invalid(
                    "\"initial_configuration\" and \"configuration_path\" are exclusive; give one",
                )),
                (Some(Value::Object(ufc)), None) => Some(Snapshot::from_value(
                    Value::Object(ufc.clone()),
                    now_millis_signed(),
                )),
                (Some(Value::String(text)), None) => {
                    Some(Snapshot::from_json(text, now_millis_signed()))
                }
                (Some(_), None) => {
                    return Err(invalid(
                        "\"initial_configuration\" must be a UFC JSON object (or its JSON text)",
                    ))
                }
                (None, Some(Value::String(path))) => {
                    let text = read_config_file(path, "configuration_path")?;
                    Some(Snapshot::from_json(&text, now_millis_signed()))
                }
                (None, Some(_)) => return Err(invalid("\"configuration_path\" must be a string")),
                (None, None) => None,
            }
            .transpose()?;
        let offline = snapshot.is_some() && !config.contains_key("base_url");
        Ok(Settings {
            sync: SyncSettings {
                api_key,
                base_url,
                poll_interval,
                poll_jitter,
                offline,
            },
            cache,
            bootstrap: snapshot,
        })
    }
}
