//! The Amplitude client configuration: the Python SDK's field names and defaults, plus
//! the timings allot makes configurable (mostly so tests run fast).

use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::cohorts::settings::{CohortSettings, CohortSyncConfig};
use crate::config::{bounded, from_object, has_field, BaseUrl};
use crate::error::{Error, ErrorCode, Result};
use crate::events::sender::SenderSettings;
use crate::ffi::MAX_CONFIG_BYTES;
use crate::transport::ApiKey;

/// The analytics ingestion server, US and EU.
const ANALYTICS_URL: [&str; 2] = ["https://api2.amplitude.com", "https://api.eu.amplitude.com"];

/// The flag server for local evaluation, US and EU.
const FLAGS_URL: [&str; 2] = [
    "https://api.lab.amplitude.com",
    "https://flag.lab.eu.amplitude.com",
];
/// The stream server, US and EU.
const STREAM_URL: [&str; 2] = [
    "https://stream.lab.amplitude.com",
    "https://stream.lab.eu.amplitude.com",
];
/// The remote evaluation server, US and EU.
const REMOTE_URL: [&str; 2] = [
    "https://api.lab.amplitude.com",
    "https://api.lab.eu.amplitude.com",
];

/// The document of `"mode": "local"` (the default), as sent; defaults are applied
/// afterwards. Its first seven fields are those of every mode, repeated in
/// [`RemoteConfig`] (`deny_unknown_fields` does not combine with `flatten`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalConfig {
    /// Checked by `provider_name`.
    #[serde(rename = "provider")]
    _provider: IgnoredAny,
    /// Read before the mode's document is.
    #[serde(rename = "mode", default)]
    _mode: IgnoredAny,
    api_key: Option<String>,
    #[serde(default)]
    debug: bool,
    server_url: Option<String>,
    server_zone: Option<String>,
    max_response_bytes: Option<u64>,
    /// Moved out of the document afterwards, not copied.
    #[serde(rename = "flags")]
    _flags: Option<IgnoredAny>,
    flags_path: Option<String>,
    flag_config_polling_interval_millis: Option<u64>,
    flag_config_poller_request_timeout_millis: Option<u64>,
    #[serde(default)]
    stream_updates: bool,
    stream_server_url: Option<String>,
    stream_flag_conn_timeout: Option<u64>,
    stream_keepalive_timeout_millis: Option<u64>,
    stream_retry_interval_millis: Option<u64>,
    stream_retry_jitter_millis: Option<u64>,
    stream_max_connection_millis: Option<u64>,
    stream_max_connection_jitter_millis: Option<u64>,
    assignment_config: Option<TrackingConfig>,
    exposure_config: Option<TrackingConfig>,
    cohort_sync: Option<CohortSyncConfig>,
}

/// The document of `"mode": "remote"`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteConfig {
    /// Checked by `provider_name`.
    #[serde(rename = "provider")]
    _provider: IgnoredAny,
    /// Read before the mode's document is.
    #[serde(rename = "mode")]
    _mode: IgnoredAny,
    api_key: Option<String>,
    #[serde(default)]
    debug: bool,
    server_url: Option<String>,
    server_zone: Option<String>,
    max_response_bytes: Option<u64>,
    fetch_timeout_millis: Option<u64>,
    fetch_retries: Option<u32>,
    fetch_retry_backoff_min_millis: Option<u64>,
    fetch_retry_backoff_max_millis: Option<u64>,
    fetch_retry_backoff_scalar: Option<f64>,
    fetch_retry_timeout_millis: Option<u64>,
}

/// `assignment_config` / `exposure_config`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackingConfig {
    api_key: Option<String>,
    cache_capacity: Option<u64>,
    server_url: Option<String>,
    server_zone: Option<String>,
    flush_queue_size: Option<u64>,
    flush_interval_millis: Option<u64>,
    #[serde(default)]
    send_evaluated_props: bool,
    max_queue_size: Option<u64>,
    max_queue_bytes: Option<u64>,
    request_timeout_millis: Option<u64>,
    retry_backoff_min_millis: Option<u64>,
    retry_backoff_max_millis: Option<u64>,
    shutdown_timeout_millis: Option<u64>,
    #[serde(default)]
    use_batch: bool,
    flush_max_retries: Option<u64>,
    min_id_length: Option<u64>,
    plan: Option<Map<String, Value>>,
    ingestion_metadata: Option<Map<String, Value>>,
    #[serde(default)]
    delivery_reports: bool,
}

/// Event tracking settings (`assignment_config` or `exposure_config`).
#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// Where and how events are delivered.
    pub sender: SenderSettings,
    /// De-duplication cache capacity.
    pub cache_capacity: usize,
    /// Copy the user's context fields (country, platform, …) into each event.
    pub send_evaluated_props: bool,
    /// `plan` and `ingestion_metadata`, set on every event.
    pub event_fields: Map<String, Value>,
    /// Keep each event's delivery outcome for `allot_delivery_reports`.
    pub delivery_reports: bool,
}

impl TrackingSettings {
    fn parse(raw: TrackingConfig, name: &str) -> Result<TrackingSettings> {
        let api_key = ApiKey::parse(
            raw.api_key.as_deref(),
            &format!("{name}.\"api_key\" (the analytics API key)"),
        )?;
        let server_url = BaseUrl::parse(
            raw.server_url.as_deref(),
            ANALYTICS_URL[zone_index(raw.server_zone.as_deref())?],
            &format!("{name}.server_url"),
        )?;
        let count = |value: Option<u64>, default: u64, field: &str| {
            positive(value, default, &format!("{name}.{field}"))
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        };
        let ms = |value: Option<u64>, default: u64, field: &str| {
            millis(value, default, &format!("{name}.{field}"))
        };
        let endpoint = if raw.use_batch { "batch" } else { "2/httpapi" };
        let min_id_length = match raw.min_id_length {
            Some(0) => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    format!("{name}.min_id_length must be positive"),
                ))
            }
            other => other,
        };
        let mut event_fields = Map::new();
        for (field, value) in [
            ("plan", raw.plan),
            ("ingestion_metadata", raw.ingestion_metadata),
        ] {
            if let Some(value) = value {
                event_fields.insert(field.to_owned(), Value::Object(value));
            }
        }
        Ok(TrackingSettings {
            sender: SenderSettings {
                url: format!("{server_url}/{endpoint}"),
                api_key,
                flush_queue_size: count(raw.flush_queue_size, 200, "flush_queue_size")?,
                flush_interval: ms(raw.flush_interval_millis, 10_000, "flush_interval_millis")?,
                max_queue_size: count(raw.max_queue_size, 16_384, "max_queue_size")?,
                max_queue_bytes: count(raw.max_queue_bytes, 32 << 20, "max_queue_bytes")?,
                request_timeout: ms(raw.request_timeout_millis, 10_000, "request_timeout_millis")?,
                retry_min: ms(
                    raw.retry_backoff_min_millis,
                    500,
                    "retry_backoff_min_millis",
                )?,
                retry_max: ms(
                    raw.retry_backoff_max_millis,
                    30_000,
                    "retry_backoff_max_millis",
                )?,
                shutdown_timeout: ms(
                    raw.shutdown_timeout_millis,
                    3_000,
                    "shutdown_timeout_millis",
                )?,
                max_retries: usize::try_from(raw.flush_max_retries.unwrap_or(12))
                    .unwrap_or(usize::MAX),
                options: min_id_length.map(|n| json!({"min_id_length": n})),
            },
            cache_capacity: count(raw.cache_capacity, 65_536, "cache_capacity")?,
            send_evaluated_props: raw.send_evaluated_props,
            event_fields,
            delivery_reports: raw.delivery_reports,
        })
    }
}

/// Assignment and exposure tracking of a local client.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    /// `assignment_config`.
    pub assignment: Option<TrackingSettings>,
    /// `exposure_config`.
    pub exposure: Option<TrackingSettings>,
}

/// Where flags come from at init, before any fetch.
#[derive(Debug)]
pub enum Bootstrap {
    /// No bootstrap: wait for the server.
    None,
    /// A `flags` array.
    Flags(Vec<Value>),
    /// A `flags_path` file.
    Path(String),
}

/// Streaming settings (`stream_updates: true`).
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// `{stream_server_url}/sdk/stream/v1/flags`.
    pub url: String,
    /// The stream server, as configured or defaulted.
    pub server_url: BaseUrl,
    /// Connecting and receiving the response headers.
    pub connect_timeout: Duration,
    /// Longest silence (no event, no keep-alive) before the stream counts as down.
    pub keepalive_timeout: Duration,
    /// Wait before retrying a failed stream, and its jitter (±).
    pub retry_interval: Duration,
    /// The jitter (±) of `retry_interval`.
    pub retry_jitter: Duration,
    /// Connections are recycled after this long, and its jitter (±).
    pub max_connection: Duration,
    /// The jitter (±) of `max_connection`.
    pub max_connection_jitter: Duration,
}

/// Networked local evaluation settings.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The deployment key (never printed).
    pub api_key: ApiKey,
    /// The flag server, as configured or defaulted.
    pub server_url: BaseUrl,
    /// `{server_url}/sdk/v2/flags?v=0`.
    pub flags_url: String,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Each poll's request timeout.
    pub request_timeout: Duration,
    /// Streaming, when enabled.
    pub stream: Option<StreamSettings>,
    /// The response (and stream event) size cap in bytes.
    pub max_response_bytes: u64,
    /// Log to stderr.
    pub debug: bool,
    /// Cohort sync (`cohort_sync`), when configured.
    pub cohorts: Option<Box<CohortSettings>>,
}

/// Remote evaluation settings.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// The deployment key (never printed).
    pub api_key: ApiKey,
    /// The evaluation server, as configured or defaulted.
    pub server_url: BaseUrl,
    /// `{server_url}/sdk/v2/vardata?v=0`.
    pub fetch_url: String,
    /// The response size cap in bytes.
    pub max_response_bytes: u64,
    /// Retries and timeouts.
    pub retry: crate::transport::RetryPolicy,
    /// Log to stderr.
    pub debug: bool,
}

/// A parsed Amplitude configuration.
#[derive(Debug)]
pub enum Settings {
    /// `"mode": "local"`: bootstrap flags, and network settings unless offline.
    Local {
        /// The bootstrap configuration.
        bootstrap: Bootstrap,
        /// `None` for an offline client (only `flags`/`flags_path`, no server given).
        sync: Option<SyncSettings>,
        /// Assignment and exposure events.
        tracking: Box<Tracking>,
    },
    /// `"mode": "remote"`.
    Remote(RemoteSettings),
}

impl Settings {
    /// Parses and checks an Amplitude configuration object (the bootstrap `flags` are
    /// moved out of it, not copied).
    pub fn parse(mut config: Map<String, Value>) -> Result<Settings> {
        let mode = match config.get("mode") {
            None => "local",
            Some(Value::String(mode)) if mode == "local" || mode == "remote" => mode,
            Some(other) => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    format!("mode {other} is not available; use \"local\" or \"remote\""),
                ))
            }
        };
        let context = "the amplitude configuration";
        if mode == "remote" {
            misplaced::<RemoteConfig, LocalConfig>(&config, "local")?;
            return remote(from_object(&config, context)?).map(Settings::Remote);
        }
        misplaced::<LocalConfig, RemoteConfig>(&config, "remote")?;
        let raw: LocalConfig = from_object(&config, context)?;
        let zone = zone_index(raw.server_zone.as_deref())?;
        let max_response_bytes = positive(
            raw.max_response_bytes,
            MAX_CONFIG_BYTES as u64,
            "max_response_bytes",
        )?;
        let bootstrap = match (config.remove("flags"), raw.flags_path) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    "give either \"flags\" or \"flags_path\", not both",
                ))
            }
            (Some(Value::Array(flags)), None) => Bootstrap::Flags(flags),
            (Some(_), None) => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    "\"flags\" must be a JSON array of flags",
                ))
            }
            (None, Some(path)) => Bootstrap::Path(path),
            (None, None) => Bootstrap::None,
        };
        let offline = !matches!(bootstrap, Bootstrap::None)
            && raw.server_url.is_none()
            && raw.server_zone.is_none()
            && !raw.stream_updates
            && raw.cohort_sync.is_none();
        let tracking = Box::new(Tracking {
            assignment: raw
                .assignment_config
                .map(|c| TrackingSettings::parse(c, "assignment_config"))
                .transpose()?,
            exposure: raw
                .exposure_config
                .map(|c| TrackingSettings::parse(c, "exposure_config"))
                .transpose()?,
        });
        if offline {
            return Ok(Settings::Local {
                bootstrap,
                sync: None,
                tracking,
            });
        }
        let api_key = required_key(raw.api_key.as_deref(), "fetching flags")?;
        let server_url = BaseUrl::parse(raw.server_url.as_deref(), FLAGS_URL[zone], "server_url")?;
        let stream = if raw.stream_updates {
            let stream_server_url = BaseUrl::parse(
                raw.stream_server_url.as_deref(),
                STREAM_URL[zone],
                "stream_server_url",
            )?;
            Some(StreamSettings {
                url: format!("{stream_server_url}/sdk/stream/v1/flags"),
                server_url: stream_server_url,
                connect_timeout: millis(
                    raw.stream_flag_conn_timeout,
                    1_500,
                    "stream_flag_conn_timeout",
                )?,
                keepalive_timeout: millis(
                    raw.stream_keepalive_timeout_millis,
                    17_000,
                    "stream_keepalive_timeout_millis",
                )?,
                retry_interval: millis(
                    raw.stream_retry_interval_millis,
                    15_000,
                    "stream_retry_interval_millis",
                )?,
                retry_jitter: any_millis(
                    raw.stream_retry_jitter_millis,
                    1_000,
                    "stream_retry_jitter_millis",
                )?,
                max_connection: millis(
                    raw.stream_max_connection_millis,
                    900_000,
                    "stream_max_connection_millis",
                )?,
                max_connection_jitter: any_millis(
                    raw.stream_max_connection_jitter_millis,
                    5_000,
                    "stream_max_connection_jitter_millis",
                )?,
            })
        } else if raw.stream_server_url.is_some() {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                "stream_server_url is set but stream_updates is not true",
            ));
        } else {
            None
        };
        Ok(Settings::Local {
            bootstrap,
            sync: Some(SyncSettings {
                api_key,
                flags_url: format!("{server_url}/sdk/v2/flags?v=0"),
                server_url,
                poll_interval: millis(
                    raw.flag_config_polling_interval_millis,
                    30_000,
                    "flag_config_polling_interval_millis",
                )?,
                request_timeout: millis(
                    raw.flag_config_poller_request_timeout_millis,
                    10_000,
                    "flag_config_poller_request_timeout_millis",
                )?,
                stream,
                max_response_bytes,
                debug: raw.debug,
                cohorts: raw
                    .cohort_sync
                    .map(|c| {
                        CohortSettings::parse(c, zone, max_response_bytes, raw.debug).map(Box::new)
                    })
                    .transpose()?,
            }),
            tracking,
        })
    }
}

/// Checks a remote configuration and applies its defaults.
fn remote(raw: RemoteConfig) -> Result<RemoteSettings> {
    let zone = zone_index(raw.server_zone.as_deref())?;
    let max_response_bytes = positive(
        raw.max_response_bytes,
        MAX_CONFIG_BYTES as u64,
        "max_response_bytes",
    )?;
    let api_key = required_key(raw.api_key.as_deref(), "remote evaluation")?;
    let server_url = BaseUrl::parse(raw.server_url.as_deref(), REMOTE_URL[zone], "server_url")?;
    let scalar = raw.fetch_retry_backoff_scalar.unwrap_or(1.5);
    if !scalar.is_finite() || scalar < 1.0 {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            "fetch_retry_backoff_scalar must be a number of at least 1",
        ));
    }
    let retry = crate::transport::RetryPolicy {
        retries: raw.fetch_retries.unwrap_or(0),
        first_timeout: millis(raw.fetch_timeout_millis, 10_000, "fetch_timeout_millis")?,
        retry_timeout: millis(
            raw.fetch_retry_timeout_millis,
            10_000,
            "fetch_retry_timeout_millis",
        )?,
        backoff_min: any_millis(
            raw.fetch_retry_backoff_min_millis,
            500,
            "fetch_retry_backoff_min_millis",
        )?,
        backoff_max: any_millis(
            raw.fetch_retry_backoff_max_millis,
            10_000,
            "fetch_retry_backoff_max_millis",
        )?,
        backoff_scalar: scalar,
    };
    Ok(RemoteSettings {
        api_key,
        fetch_url: format!("{server_url}/sdk/v2/vardata?v=0"),
        server_url,
        max_response_bytes,
        retry,
        debug: raw.debug,
    })
}

/// Rejects a field of `config` that `Mode` lacks but `Other` has: it belongs to
/// `"mode": other_mode`.
fn misplaced<'de, Mode: Deserialize<'de>, Other: Deserialize<'de>>(
    config: &Map<String, Value>,
    other_mode: &str,
) -> Result<()> {
    match config
        .keys()
        .find(|field| !has_field::<Mode>(field) && has_field::<Other>(field))
    {
        Some(field) => Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("field \"{field}\" only applies to \"mode\": \"{other_mode}\""),
        )),
        None => Ok(()),
    }
}

fn required_key(key: Option<&str>, purpose: &str) -> Result<ApiKey> {
    ApiKey::parse(
        key,
        &format!("\"api_key\" (the deployment key, for {purpose})"),
    )
}

/// 0 for `us` (the default), 1 for `eu`.
fn zone_index(zone: Option<&str>) -> Result<usize> {
    match zone.map(str::to_ascii_lowercase).as_deref() {
        None | Some("us") => Ok(0),
        Some("eu") => Ok(1),
        Some(z) => Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("server_zone \"{z}\" is not valid; use \"us\" or \"eu\""),
        )),
    }
}

/// A positive number, or the default.
fn positive(value: Option<u64>, default: u64, name: &str) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(0) => Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("{name} must be greater than 0"),
        )),
        Some(v) => Ok(v),
    }
}

/// A positive number of milliseconds (at most a year), or the default.
fn millis(value: Option<u64>, default: u64, name: &str) -> Result<Duration> {
    bounded(Duration::from_millis(positive(value, default, name)?), name)
}

/// A number of milliseconds, zero allowed (at most a year), or the default.
fn any_millis(value: Option<u64>, default: u64, name: &str) -> Result<Duration> {
    bounded(Duration::from_millis(value.unwrap_or(default)), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_document;

    fn parse(text: &str) -> Result<Settings> {
        Settings::parse(parse_document(text).unwrap())
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let settings =
            parse(r#"{"provider":"amplitude","api_key":"server-secret-key","server_zone":"us"}"#)
                .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("server-secret-key"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn zones_pick_the_documented_hosts() {
        let Settings::Local { sync: Some(eu), .. } = parse(
            r#"{"provider":"amplitude","api_key":"k","server_zone":"EU","stream_updates":true}"#,
        )
        .unwrap() else {
            panic!("expected a networked local client")
        };
        assert_eq!(
            eu.flags_url,
            "https://flag.lab.eu.amplitude.com/sdk/v2/flags?v=0"
        );
        let stream = eu.stream.unwrap();
        assert_eq!(
            stream.url,
            "https://stream.lab.eu.amplitude.com/sdk/stream/v1/flags"
        );
        assert_eq!(stream.keepalive_timeout, Duration::from_millis(17_000));
        assert_eq!(stream.retry_interval, Duration::from_millis(15_000));
        assert_eq!(eu.poll_interval, Duration::from_millis(30_000));
        assert_eq!(eu.request_timeout, Duration::from_millis(10_000));
        let Settings::Remote(remote) =
            parse(r#"{"provider":"amplitude","mode":"remote","api_key":"k","server_zone":"eu"}"#)
                .unwrap()
        else {
            panic!("expected remote")
        };
        assert_eq!(
            remote.fetch_url,
            "https://api.lab.eu.amplitude.com/sdk/v2/vardata?v=0"
        );
        assert_eq!(remote.retry.retries, 0);
        assert_eq!(remote.retry.backoff_min, Duration::from_millis(500));
        assert_eq!(remote.retry.backoff_scalar, 1.5);
    }

    #[test]
    fn bootstrap_alone_is_offline_and_fields_must_fit_the_mode() {
        assert!(matches!(
            parse(r#"{"provider":"amplitude","flags":[]}"#).unwrap(),
            Settings::Local { sync: None, .. }
        ));
        let err = parse(r#"{"provider":"amplitude","fetch_retries":2}"#).unwrap_err();
        assert!(err.message.contains("only applies"), "{}", err.message);
        let err = parse(r#"{"provider":"amplitude","mode":"remote","api_key":"k","flags":[]}"#)
            .unwrap_err();
        assert_eq!(
            err.message,
            "field \"flags\" only applies to \"mode\": \"local\""
        );
        let err =
            parse(r#"{"provider":"amplitude","server_zone":"mars","api_key":"k"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        let err = parse(r#"{"provider":"amplitude"}"#).unwrap_err();
        assert!(err.message.contains("api_key"), "{}", err.message);
        let err =
            parse(r#"{"provider":"amplitude","api_key":"k","server_url":"ftp://x"}"#).unwrap_err();
        assert!(err.message.contains("server_url"), "{}", err.message);
    }

    #[test]
    fn errors_name_the_field_path() {
        let err = parse(
            r#"{"provider":"amplitude","flags":[],"assignment_config":{"api_key":"k","flush_size":1}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert_eq!(
            err.message,
            "unknown field \"flush_size\" in assignment_config; did you mean \"flush_queue_size\"?"
        );
        let err = parse(
            r#"{"provider":"amplitude","api_key":"k","cohort_sync":{"max_cohort_size":"big"}}"#,
        )
        .unwrap_err();
        assert!(
            err.message.starts_with(
                "the amplitude configuration: cohort_sync.max_cohort_size: invalid type"
            ),
            "{}",
            err.message
        );
        let err = parse(r#"{"provider":"amplitude","flags":{}}"#).unwrap_err();
        assert!(err.message.contains("\"flags\""), "{}", err.message);
        let err = parse(r#"{"provider":"amplitude","mode":7}"#).unwrap_err();
        assert!(err.message.contains("mode 7"), "{}", err.message);
    }
}
