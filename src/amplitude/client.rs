//! The Amplitude clients behind a handle: local evaluation (offline, or kept current by
//! polling and streaming) and remote evaluation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::compile::Snapshot;
use super::config::{Bootstrap, Settings};
use super::evaluate::EvaluateRequest;
use super::remote::RemoteClient;
use super::sync::{Feed, Health, Source, State, Sync};
use super::tracking::{TrackOptions, Trackers};
use crate::client::{Client, Provider};
use crate::config::read_config_file;
use crate::error::{Error, ErrorCode, Result};
use crate::transport::now_millis;

/// Builds an Amplitude client from its configuration object.
pub fn create(config: &Map<String, Value>) -> Result<Client> {
    match Settings::parse(config)? {
        Settings::Remote(settings) => Ok(Arc::new(RemoteClient::new(settings))),
        Settings::Local {
            bootstrap,
            sync,
            tracking,
        } => {
            let snapshot = match bootstrap {
                Bootstrap::None => None,
                Bootstrap::Flags(flags) => Some(Snapshot::compile(&flags)?),
                Bootstrap::Path(path) => {
                    let text = read_config_file(&path, "flags_path")?;
                    Some(Snapshot::from_json(&text)?)
                }
            };
            let state = Arc::new(State::default());
            if let Some(snapshot) = snapshot {
                state.snapshot.store(Some(Arc::new(snapshot)));
                state.health.store(Arc::new(Health {
                    extra: Feed {
                        source: Some(Source::Bootstrap),
                        streaming: false,
                    },
                    ..Health::default()
                }));
            }
            let sync = sync.map(|settings| Sync::new(settings, Arc::clone(&state)));
            Ok(Arc::new(LocalClient {
                started: AtomicBool::new(false),
                state,
                sync,
                trackers: Trackers::new(*tracking),
            }))
        }
    }
}

/// A local evaluation client: the current snapshot, swapped whole on every update, and
/// its synchronisation (`None` when offline), and its event tracking.
struct LocalClient {
    started: AtomicBool,
    state: Arc<State>,
    sync: Option<Sync>,
    trackers: Trackers,
}

impl LocalClient {
    /// Restarts the background thread after a fork (a no-op otherwise).
    fn follow_fork(&self) {
        if let Some(sync) = &self.sync {
            if self.started.load(Ordering::Acquire) {
                sync.follow_fork();
            }
        }
    }
}

impl Provider for LocalClient {
    fn start(&self, timeout: Duration) -> Result<String> {
        let Some(sync) = &self.sync else {
            // Offline: the bootstrap configuration is all there is.
            self.started.store(true, Ordering::Release);
            return self.status();
        };
        sync.ensure_running()?;
        self.started.store(true, Ordering::Release);
        // Fetched, or bootstrapped (served until a fetch succeeds).
        sync.await_configuration(timeout)?;
        self.status()
    }

    fn evaluate(&self, request_json: &str) -> Result<String> {
        if !self.started.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before evaluating",
            ));
        }
        self.follow_fork();
        let request = EvaluateRequest::parse(request_json)?;
        let snapshot = self.state.snapshot.load();
        let Some(snapshot) = snapshot.as_deref() else {
            return Ok("{\"variants\":{}}".to_owned());
        };
        let evaluation = snapshot.evaluate(&request.user, request.flag_keys.as_deref());
        let options = TrackOptions {
            assignment: request.tracks_assignment,
            exposure: request.tracks_exposure,
        };
        let now = request.timestamp_millis.unwrap_or_else(now_millis);
        self.trackers
            .track(&request.user, &evaluation, options, now)?;
        Ok(evaluation.to_json())
    }

    fn flush(&self, timeout: Duration) -> Result<String> {
        self.trackers.flush(timeout)?;
        Ok(Value::Object(self.trackers.status()).to_string())
    }

    fn fetch(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "remote evaluation needs a client with \"mode\": \"remote\"",
        ))
    }

    fn status(&self) -> Result<String> {
        self.follow_fork();
        let snapshot = self.state.snapshot.load();
        let health = self.state.health.load();
        let settings = self.sync.as_ref().map(Sync::settings);
        let mut status = json!({
            "provider": "amplitude",
            "mode": "local",
            "started": self.started.load(Ordering::Acquire),
            "initialized": snapshot.is_some(),
            "flag_count": snapshot.as_ref().map_or(0, |s| s.flag_count()),
            "source": health.extra.source.map(Source::as_str),
            "last_success_at": health.last_success_at,
            "last_error": health.last_error_json(),
            "etag": health.etag,
            "server_url": settings.map(|s| s.server_url.as_str()),
            "stream_server_url": settings.and_then(|s| s.stream.as_ref()).map(|s| s.server_url.as_str()),
            "polling": self.sync.as_ref().is_some_and(Sync::running),
            "streaming": health.extra.streaming,
            "flag_errors": snapshot.as_ref().map_or(&[][..], |s| s.errors()),
        });
        if let Value::Object(fields) = &mut status {
            fields.extend(self.trackers.status());
        }
        Ok(status.to_string())
    }
}
