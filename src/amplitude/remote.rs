//! The remote evaluation client: `POST {server_url}/sdk/v2/vardata?v=0` with retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::RemoteSettings;
use super::user::User;
use crate::client::Provider;
use crate::config::from_text;
use crate::error::{Error, ErrorCode, Result};
use crate::process::PerProcess;
use crate::runtime::Health;
use crate::transport::{Failure, Http, Outcome, Request};

/// User bodies above this size cannot be cached by Amplitude's CDN (logged in debug).
const CACHEABLE_USER_BYTES: usize = 8 * 1024;

/// The `allot_fetch` request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchRequest {
    user: Map<String, Value>,
    #[serde(default)]
    flag_keys: Option<Vec<String>>,
    #[serde(default)]
    tracks_assignment: Option<bool>,
    #[serde(default)]
    tracks_exposure: Option<bool>,
}

/// A remote evaluation client.
pub struct RemoteClient {
    settings: RemoteSettings,
    started: AtomicBool,
    /// This process's connections (a forked child builds its own, lazily).
    http: PerProcess<Http>,
    health: ArcSwap<Health>,
}

impl RemoteClient {
    /// Builds the client; nothing is sent before `allot_fetch`.
    pub fn new(settings: RemoteSettings) -> RemoteClient {
        RemoteClient {
            settings,
            started: AtomicBool::new(false),
            http: PerProcess::default(),
            health: ArcSwap::from_pointee(Health::default()),
        }
    }

    fn record(&self, result: &Result<String>) {
        self.health.rcu(|h| {
            let mut next = Health::clone(h);
            match result {
                Ok(_) => next.succeeded(),
                Err(error) => next.failed(error),
            }
            next
        });
    }

    fn fetch_variants(&self, request_json: &str) -> Result<String> {
        let request: FetchRequest =
            from_text(request_json, "fetch request", ErrorCode::InvalidArgument)?;
        User::deserialize(Value::Object(request.user.clone())).map_err(|e| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!("fetch request: user: {e}"),
            )
        })?;
        let body = Value::Object(request.user).to_string();
        if self.settings.debug && body.len() > CACHEABLE_USER_BYTES {
            eprintln!(
                "[allot] amplitude: the user is {} bytes; above {CACHEABLE_USER_BYTES} bytes remote evaluation cannot be cached",
                body.len()
            );
        }
        let mut headers = vec![("Content-Type", "application/json;charset=utf-8".to_owned())];
        if let Some(keys) = request.flag_keys.filter(|k| !k.is_empty()) {
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Value::from(keys).to_string());
            headers.push(("X-Amp-Exp-Flag-Keys", encoded));
        }
        let track = |on: bool| if on { "track" } else { "no-track" }.to_owned();
        if let Some(on) = request.tracks_assignment {
            headers.push(("X-Amp-Exp-Track", track(on)));
        }
        if let Some(on) = request.tracks_exposure {
            headers.push(("X-Amp-Exp-Exposure-Track", track(on)));
        }
        let http = self.http.get_or_start(|_| Ok(new_http(&self.settings)))?;
        let variants = self
            .settings
            .retry
            .run("remote evaluation", |timeout: Duration| {
                let outcome = http.send(&Request {
                    url: &self.settings.fetch_url,
                    headers: headers.clone(),
                    body: Some(body.as_bytes()),
                    timeout,
                    etag: None,
                })?;
                parse_variants(outcome).map_err(|error| Failure {
                    error,
                    retryable: true,
                    status: None,
                    body: None,
                })
            })?;
        Ok(format!("{{\"variants\":{variants}}}"))
    }
}

/// The answer must be a JSON object of variant objects.
fn parse_variants(outcome: Outcome) -> Result<String> {
    let Outcome::Body { bytes, .. } = outcome else {
        return Err(Error::new(
            ErrorCode::InvalidResponse,
            "the server answered 304 Not Modified to a fetch",
        ));
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("the server's answer is not valid JSON: {e}"),
        )
    })?;
    match &value {
        Value::Object(map) if map.values().all(Value::is_object) => Ok(value.to_string()),
        _ => Err(Error::new(
            ErrorCode::InvalidResponse,
            "the server's answer is not an object of variants",
        )),
    }
}

fn new_http(settings: &RemoteSettings) -> Http {
    Http::new(
        &settings.api_key,
        settings.max_response_bytes,
        settings.server_url.is_https(),
    )
}

impl Provider for RemoteClient {
    fn start(&self, _timeout: Duration) -> Result<String> {
        self.started.store(true, Ordering::Release);
        self.status()
    }

    fn evaluate(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "a remote evaluation client evaluates with allot_fetch",
        ))
    }

    fn fetch(&self, request_json: &str) -> Result<String> {
        let result = self.fetch_variants(request_json);
        if !matches!(&result, Err(e) if e.code == ErrorCode::InvalidArgument || e.code == ErrorCode::InvalidJson)
        {
            self.record(&result);
        }
        result
    }

    fn status(&self) -> Result<String> {
        #[derive(serde::Serialize)]
        struct RemoteStatus<'a> {
            provider: &'static str,
            mode: &'static str,
            started: bool,
            server_url: &'a str,
            #[serde(flatten)]
            health: &'a Health,
        }
        let health = self.health.load();
        let status = RemoteStatus {
            provider: "amplitude",
            mode: "remote",
            started: self.started.load(Ordering::Acquire),
            server_url: self.settings.server_url.as_str(),
            health: &health,
        };
        serde_json::to_string(&status)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("serializing the status: {e}")))
    }
}
