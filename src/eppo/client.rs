//! The Eppo client behind an `allot_init` handle: configuration, lifecycle, polling of
//! the configuration endpoint, and the JSON-in/JSON-out evaluation path.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client::{Client, Provider};
use crate::config::{check_known_fields, parse_section};
use crate::eppo::bandit;
use crate::eppo::compile::Snapshot;
use crate::eppo::details::{self, DetailsInput};
use crate::eppo::evaluate::{self, Subject};
use crate::eppo::events::{self, AssignmentCache};
use crate::eppo::request::{self, AssignmentRequest, Request};
use crate::eppo::time;
use crate::error::{Error, ErrorCode, Result, INVALID_FLAG};
use crate::transport::poller::{self, Control, Launch, Polled, Poller};
use crate::transport::{jittered, query_value, ApiKey, Http};

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

/// Each configuration request's time budget (connecting, sending, the whole answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest configuration accepted from the server.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The snapshot being served and the polling health (nothing Eppo-specific in it).
type State = poller::State<Snapshot, ()>;

/// The validated Eppo configuration. Its `Debug` output never shows the API key.
#[derive(Clone, PartialEq)]
pub struct EppoSettings {
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

impl fmt::Debug for EppoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EppoSettings")
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

impl EppoSettings {
    /// `{base_url}/flag-config/v1/config?apiKey=…&sdkName=allot&sdkVersion=…` (secret:
    /// it holds the key).
    fn config_url(&self) -> String {
        format!(
            "{}/flag-config/v1/config?apiKey={}&sdkName=allot&sdkVersion={}",
            self.base_url,
            query_value(&self.api_key),
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// An Eppo client: immutable settings, a swappable configuration snapshot that evaluating
/// threads read without locking, its poller, and the optional assignment cache.
pub struct EppoClient {
    settings: Arc<EppoSettings>,
    state: Arc<State>,
    poller: Poller<Snapshot, ()>,
    started: AtomicBool,
    cache: Option<AssignmentCache>,
}

/// Builds an Eppo client from its `allot_init` configuration.
pub fn create(config: &Map<String, Value>) -> Result<Client> {
    Ok(Arc::new(EppoClient::new(config)?))
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

impl EppoClient {
    /// Validates the configuration and loads `initial_configuration` / `configuration_path`.
    pub fn new(config: &Map<String, Value>) -> Result<EppoClient> {
        let fields = [CONFIG_FIELDS, bandit::config::FIELDS].concat();
        check_known_fields(config, &fields, "the Eppo configuration")?;
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
        let snapshot = match (
            config.get("initial_configuration"),
            config.get("configuration_path"),
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "\"initial_configuration\" and \"configuration_path\" are exclusive; give one",
                ))
            }
            (Some(Value::Object(ufc)), None) => Some(Snapshot::from_value(
                Value::Object(ufc.clone()),
                time::now_ms(),
            )),
            (Some(Value::String(text)), None) => Some(Snapshot::from_json(text, time::now_ms())),
            (Some(_), None) => {
                return Err(invalid(
                    "\"initial_configuration\" must be a UFC JSON object (or its JSON text)",
                ))
            }
            (None, Some(Value::String(path))) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(format!(
                        "\"configuration_path\": cannot read \"{path}\": {e}"
                    ))
                })?;
                Some(Snapshot::from_json(&text, time::now_ms()))
            }
            (None, Some(_)) => return Err(invalid("\"configuration_path\" must be a string")),
            (None, None) => None,
        }
        .transpose()?;
        let snapshot = match bandit::config::initial_models(config, snapshot.is_some())? {
            Some(models) => snapshot.map(|s| s.with_bandit_models(Arc::new(models))),
            None => snapshot,
        };
        let offline = snapshot.is_some() && !config.contains_key("base_url");
        let state = Arc::new(State::default());
        state.snapshot.store(snapshot.map(Arc::new));
        Ok(EppoClient {
            settings: Arc::new(EppoSettings {
                api_key,
                base_url,
                poll_interval,
                poll_jitter,
                offline,
            }),
            poller: Poller::new(Arc::clone(&state), "allot-eppo-poll"),
            state,
            started: AtomicBool::new(false),
            cache,
        })
    }

    /// The validated settings.
    pub fn settings(&self) -> &EppoSettings {
        &self.settings
    }

    /// The polling thread's connections and loop (the same in a forked child).
    fn launch(&self) -> Launch {
        let https = self.settings.base_url.starts_with("https");
        let http = Http::new(
            &ApiKey::new(&self.settings.api_key),
            MAX_RESPONSE_BYTES,
            https,
        )
        .without_key_header();
        let settings = Arc::clone(&self.settings);
        let state = Arc::clone(&self.state);
        Launch {
            http,
            run: Box::new(move |control| poll_loop(control, &settings, &state)),
        }
    }

    /// Restarts the polling thread in a forked child (a no-op otherwise).
    fn follow_fork(&self) {
        if self.started.load(Ordering::Acquire) && !self.settings.offline {
            self.poller.follow_fork(|_| self.launch());
        }
    }

    /// Evaluates a request document and writes the `ok` payload.
    fn evaluate_document(&self, text: &str) -> Result<String> {
        if bandit::request::is_bandit_request(text) {
            let guard = self.state.snapshot.load();
            return bandit::request::evaluate(text, guard.as_deref(), self.cache.as_ref());
        }
        let document = request::parse_document(text)?;
        let empty = Map::new();
        let request = document.resolve(&empty)?;
        let guard = self.state.snapshot.load();
        let snapshot = guard.as_deref();
        let mut out = String::with_capacity(512);
        match request {
            Request::Single(request) => self.write_result(&mut out, snapshot, &request)?,
            Request::Batch(requests) => {
                out.push_str("{\"assignments\":[");
                for (i, request) in requests.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_result(&mut out, snapshot, request)?;
                }
                out.push_str("]}");
            }
        }
        Ok(out)
    }

    /// Writes `{"value", "variation_key", "code", "allocation_key", "events", "details"?}`.
    fn write_result(
        &self,
        out: &mut String,
        snapshot: Option<&Snapshot>,
        request: &AssignmentRequest<'_>,
    ) -> Result<()> {
        let now_ms = request.now_ms.unwrap_or_else(time::now_ms);
        let subject = Subject {
            key: request.subject_key,
            attributes: request.subject_attributes,
        };
        let mut trace = Vec::new();
        let assignment = evaluate::assign(
            snapshot,
            request.flag_key,
            subject,
            request.variation_type,
            now_ms,
            request.details.then_some(&mut trace),
        );
        let variation = assignment.variation();
        let matched = assignment.matched.filter(|_| variation.is_some());
        out.push_str("{\"value\":");
        out.push_str(variation.map_or(request.default, |v| v.value_json.as_str()));
        out.push_str(",\"variation_key\":");
        match variation {
            Some(v) => events::write_json_str(out, &v.key),
            None => out.push_str("null"),
        }
        out.push_str(",\"code\":\"");
        out.push_str(assignment.code.as_str());
        out.push_str("\",\"allocation_key\":");
        match matched {
            Some(m) => events::write_json_str(out, &m.allocation.key),
            None => out.push_str("null"),
        }
        out.push_str(",\"events\":[");
        let mut timestamp = String::new();
        if let Some(m) = matched.filter(|_| assignment.should_log()) {
            let log = self.cache.as_ref().map_or(true, |cache| {
                cache.should_log(
                    request.flag_key,
                    request.subject_key,
                    &m.allocation.key,
                    &m.split.variation_key,
                )
            });
            if log {
                time::write_rfc3339(&mut timestamp, now_ms);
                events::write_event(
                    out,
                    request.flag_key,
                    &m,
                    request.subject_key,
                    request.subject_attributes,
                    &timestamp,
                );
            }
        }
        out.push(']');
        if request.details {
            if timestamp.is_empty() {
                time::write_rfc3339(&mut timestamp, now_ms);
            }
            let input = DetailsInput {
                snapshot,
                flag_key: request.flag_key,
                subject_key: request.subject_key,
                subject_attributes: request.subject_attributes,
                expected: request.variation_type,
                timestamp: &timestamp,
                trace: &trace,
            };
            let document = details::build(&input, &assignment);
            let json = serde_json::to_string(&document).map_err(|e| {
                Error::new(
                    ErrorCode::Internal,
                    format!("serializing evaluation details: {e}"),
                )
            })?;
            out.push_str(",\"details\":");
            out.push_str(&json);
        }
        out.push('}');
        Ok(())
    }

    fn status_json(&self) -> Value {
        let guard = self.state.snapshot.load();
        let snapshot = guard.as_deref();
        let health = self.state.health.load();
        let started = self.started.load(Ordering::Acquire);
        let (bandit_keys, bandit_errors) =
            snapshot.map_or_else(|| (json!([]), json!([])), Snapshot::bandit_status);
        json!({
            "provider": "eppo",
            "started": started,
            "initialized": snapshot.is_some(),
            "flag_count": snapshot.map_or(0, Snapshot::flag_count),
            "configFetchedAt": snapshot.map(|s| s.fetched_at.as_str()),
            "configPublishedAt": snapshot.and_then(|s| s.published_at.as_deref()),
            "environment": snapshot.and_then(|s| s.environment.as_deref()),
            "last_success_at": health.last_success_at,
            "last_error": health.last_error_json(),
            "polling": started && !self.settings.offline && self.settings.poll_interval.is_some() && self.poller.running(),
            "flag_keys": snapshot.map_or_else(Vec::new, Snapshot::flag_keys),
            "flag_errors": snapshot.map_or_else(Vec::new, |s| s
                .flag_errors
                .iter()
                .map(|e| json!({"flag_key": e.flag_key, "code": INVALID_FLAG, "message": e.message}))
                .collect()),
            "bandit_keys": bandit_keys,
            "bandit_errors": bandit_errors,
        })
    }
}

/// Fetches the configuration at once, then every `poll_interval` minus a random jitter
/// of up to `poll_jitter`, until stopped, after `unauthorized`, or after the one fetch
/// when polling is off.
fn poll_loop(control: &Control, settings: &EppoSettings, state: &State) {
    let url = settings.config_url();
    let bandits_url = bandit::sync::bandits_url(&settings.base_url, &settings.api_key);
    let compile = |text: &str| {
        let served = state.snapshot.load();
        let http = control.http();
        bandit::sync::attach_models(
            compile(text)?,
            served.as_deref(),
            http,
            &bandits_url,
            REQUEST_TIMEOUT,
        )
    };
    loop {
        let polled = control.poll(state, &url, REQUEST_TIMEOUT, compile, |_| {});
        if matches!(polled, Polled::Stopped) || state.health.load().unauthorized {
            return;
        }
        let Some(interval) = settings.poll_interval else {
            return;
        };
        // `jittered` spreads both ways: centre it half a jitter below the interval.
        let half = settings.poll_jitter / 2;
        if !control.sleep_until(Instant::now() + jittered(interval - half, half)) {
            return;
        }
    }
}

/// Compiles a configuration sent by the server; a document that does not load is
/// `invalid_response`.
fn compile(text: &str) -> Result<Snapshot> {
    Snapshot::from_json(text, time::now_ms()).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("the server sent an unusable configuration: {}", e.message),
        )
    })
}

impl Provider for EppoClient {
    fn start(&self, timeout: Duration) -> Result<String> {
        if !self.settings.offline {
            self.poller.ensure_running(|_| self.launch())?;
        }
        self.started.store(true, Ordering::Release);
        if self.state.snapshot.load().is_none() {
            let retry = match self.settings.poll_interval {
                Some(interval) => {
                    format!("the client keeps polling every {} ms", interval.as_millis())
                }
                None => {
                    "the client fetches only once (\"poll_interval_seconds\" is null)".to_owned()
                }
            };
            self.poller.await_configuration(timeout, &retry)?;
        }
        Ok(self.status_json().to_string())
    }

    fn evaluate(&self, request_json: &str) -> Result<String> {
        if !self.started.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before allot_evaluate",
            ));
        }
        self.follow_fork();
        self.evaluate_document(request_json)
    }

    fn fetch(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "Eppo clients evaluate locally; use allot_evaluate",
        ))
    }

    fn status(&self) -> Result<String> {
        self.follow_fork();
        Ok(self.status_json().to_string())
    }
}
