//! The Eppo configuration of `allot_init`: validation, defaults and the configuration
//! given at init.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::bandit;
use super::compile::Snapshot;
use super::events::AssignmentCache;
use crate::clock::now_millis_signed;
use crate::config::{from_object, read_config_file, BaseUrl, MAX_DURATION};
use crate::error::{Error, ErrorCode, Result};
use crate::transport::{query_value, ApiKey};

/// The document of `"provider": "eppo"`, as sent; defaults are applied afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EppoConfig {
    /// Checked by `provider_name`.
    #[serde(rename = "provider")]
    _provider: IgnoredAny,
    api_key: Option<String>,
    base_url: Option<String>,
    /// Absent: the default; `null`: no polling.
    #[serde(default, deserialize_with = "present")]
    poll_interval_seconds: Option<Option<f64>>,
    /// Absent: the default; `null` is refused.
    #[serde(default, deserialize_with = "given")]
    poll_jitter_seconds: Option<f64>,
    /// An object or its JSON text, moved out of the document afterwards.
    #[serde(rename = "initial_configuration")]
    _initial_configuration: Option<IgnoredAny>,
    configuration_path: Option<String>,
    assignment_cache: Option<CacheConfig>,
    /// An object or its JSON text, moved out of the document afterwards.
    #[serde(rename = "initial_bandits")]
    _initial_bandits: Option<IgnoredAny>,
    bandits_path: Option<String>,
}

/// Keeps an explicit `null` as `Some(None)` (a missing field stays `None`).
fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(deserializer).map(Some)
}

/// A field that may be missing (`None`) but not `null`.
fn given<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<f64>, D::Error> {
    f64::deserialize(deserializer).map(Some)
}

/// Eppo's default API base URL.
pub const DEFAULT_BASE_URL: &str = "https://fscdn.eppo.cloud/api";

/// The validated Eppo configuration. Its `Debug` output never shows the API key.
#[derive(Clone, PartialEq)]
pub struct SyncSettings {
    /// The SDK key (secret).
    pub api_key: ApiKey,
    /// The API base URL, without a trailing slash.
    pub base_url: BaseUrl,
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
#[serde(deny_unknown_fields)]
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
            query_value(self.api_key.expose()),
            env!("CARGO_PKG_VERSION")
        )
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// `seconds` as a duration: positive (or zero when `allow_zero`) and at most a year,
/// else an `invalid_config` error naming `field`.
fn seconds(seconds: f64, field: &str, allow_zero: bool) -> Result<Duration> {
    Some(seconds)
        .filter(|s| if allow_zero { *s >= 0.0 } else { *s > 0.0 })
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| {
            let bound = if allow_zero {
                "a non-negative"
            } else {
                "a positive"
            };
            invalid(format!(
                "\"{field}\" must be {bound} number of seconds, at most {} (a year)",
                MAX_DURATION.as_secs()
            ))
        })
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
    /// Validates the configuration and loads `initial_configuration` / `configuration_path`
    /// (a configuration given as an object is moved out of `config`, not copied).
    pub fn parse(mut config: Map<String, Value>) -> Result<Settings> {
        let raw: EppoConfig = from_object(&config, "the Eppo configuration")?;
        let api_key = ApiKey::parse(raw.api_key.as_deref(), "\"api_key\" (the Eppo SDK key)")?;
        let base_url = BaseUrl::parse(raw.base_url.as_deref(), DEFAULT_BASE_URL, "\"base_url\"")?;
        let poll_interval = match raw.poll_interval_seconds {
            None => Some(Duration::from_secs(30)),
            Some(None) => None,
            Some(Some(interval)) => Some(seconds(interval, "poll_interval_seconds", false)?),
        };
        let poll_jitter = match (raw.poll_jitter_seconds, poll_interval) {
            (None, interval) => {
                interval.map_or(Duration::from_secs(3), |i| i.min(Duration::from_secs(3)))
            }
            (Some(jitter), interval) => {
                let jitter = seconds(jitter, "poll_jitter_seconds", true)?;
                if interval.is_some_and(|interval| jitter > interval) {
                    return Err(invalid(
                        "\"poll_jitter_seconds\" must not exceed \"poll_interval_seconds\"",
                    ));
                }
                jitter
            }
        };
        let cache = match raw.assignment_cache {
            None => None,
            Some(section) => {
                let capacity = NonZeroUsize::new(section.capacity).ok_or_else(|| {
                    invalid("\"assignment_cache\".\"capacity\" must be at least 1")
                })?;
                let ttl = match section.ttl_seconds {
                    None => None,
                    Some(ttl) => Some(
                        Duration::try_from_secs_f64(ttl)
                            .ok()
                            .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
                            .ok_or_else(|| invalid("\"assignment_cache\".\"ttl_seconds\" must be a positive number"))?,
                    ),
                };
                Some(AssignmentCache::new(capacity, ttl))
            }
        };
        let snapshot =
            match (
                config.remove("initial_configuration"),
                raw.configuration_path,
            ) {
                (Some(_), Some(_)) => return Err(invalid(
                    "\"initial_configuration\" and \"configuration_path\" are exclusive; give one",
                )),
                (Some(ufc @ Value::Object(_)), None) => {
                    Some(Snapshot::from_value(ufc, now_millis_signed())?)
                }
                (Some(Value::String(text)), None) => {
                    Some(Snapshot::from_json(&text, now_millis_signed())?)
                }
                (Some(_), None) => {
                    return Err(invalid(
                        "\"initial_configuration\" must be a UFC JSON object (or its JSON text)",
                    ))
                }
                (None, Some(path)) => {
                    let text = read_config_file(&path, "configuration_path")?;
                    Some(Snapshot::from_json(&text, now_millis_signed())?)
                }
                (None, None) => None,
            };
        let models = bandit::config::initial_models(
            config.remove("initial_bandits"),
            raw.bandits_path.as_deref(),
            snapshot.is_some(),
        )?;
        let snapshot = match models {
            Some(models) => snapshot.map(|s| s.with_bandit_models(Arc::new(models))),
            None => snapshot,
        };
        let offline = snapshot.is_some() && raw.base_url.is_none();
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
