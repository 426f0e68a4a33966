//! The Amplitude clients behind a handle: local evaluation (offline, or kept current by
//! polling and streaming) and remote evaluation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::cohorts::sync::CohortSync;
use super::compile::Snapshot;
use super::config::{Bootstrap, Settings};
use super::evaluate::{CompactOptions, EvaluateRequest};
use super::remote::RemoteClient;
use super::sync::{Served, Updater};
use super::tracking::{TrackOptions, Trackers};
use super::user::User;
use crate::client::{Client, Provider, UserInput};
use crate::clock::now_millis;
use crate::config::read_config_file;
use crate::error::{Error, ErrorCode, Result};
use crate::events::reports::Reports;
use crate::marshal;
use crate::transport::poller::LocalStatus;

/// Builds an Amplitude client from its configuration object.
pub fn create(config: Map<String, Value>) -> Result<Client> {
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
            let served = Arc::new(Served::new(snapshot));
            let mut cohorts = None;
            let updater = sync.map(|mut settings| {
                cohorts = settings
                    .cohorts
                    .take()
                    .map(|c| Arc::new(CohortSync::new(*c, Arc::clone(&served))));
                Updater::new(settings, Arc::clone(&served), cohorts.clone())
            });
            Ok(Arc::new(LocalClient {
                started: AtomicBool::new(false),
                served,
                cohorts,
                updater,
                trackers: Trackers::new(*tracking),
            }))
        }
    }
}

/// A local evaluation client: the current snapshot, swapped whole on every update, its
/// cohort sync (when configured), its updater (`None` when offline), and its event
/// tracking.
struct LocalClient {
    started: AtomicBool,
    served: Arc<Served>,
    cohorts: Option<Arc<CohortSync>>,
    updater: Option<Updater>,
    trackers: Trackers,
}

impl Drop for LocalClient {
    /// Stops cohort sync first: a cohort download on the flag thread is interrupted, so
    /// the flag thread stops at once too.
    fn drop(&mut self) {
        if let Some(cohorts) = &self.cohorts {
            cohorts.close();
        }
    }
}

impl LocalClient {
    /// Restarts the background thread after a fork (a no-op otherwise).
    fn follow_fork(&self) {
        if let Some(updater) = &self.updater {
            if self.started.load(Ordering::Acquire) {
                updater.follow_fork();
                if let Some(cohorts) = &self.cohorts {
                    cohorts.follow_fork();
                }
            }
        }
    }
}

impl LocalClient {
    /// `not_started` until `allot_start` was called.
    fn check_started(&self) -> Result<()> {
        if self.started.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before evaluating",
            ))
        }
    }
}

impl Provider for LocalClient {
    fn start(&self, timeout: Duration) -> Result<String> {
        let Some(updater) = &self.updater else {
            // Offline: the bootstrap configuration is all there is.
            self.started.store(true, Ordering::Release);
            return self.status();
        };
        updater.ensure_running()?;
        if let Some(cohorts) = &self.cohorts {
            cohorts.ensure_running()?;
        }
        self.started.store(true, Ordering::Release);
        // Fetched, or bootstrapped (served until a fetch succeeds).
        updater.await_configuration(timeout)?;
        self.status()
    }

    fn evaluate(&self, request_json: &str) -> Result<String> {
        self.check_started()?;
        self.follow_fork();
        let mut request = EvaluateRequest::parse(request_json)?;
        let snapshot = self.served.snapshot.load();
        let Some(snapshot) = snapshot.as_deref() else {
            return Ok("{\"variants\":{}}".to_owned());
        };
        if let Some(cohorts) = &self.cohorts {
            cohorts.enrich(&mut request.user, snapshot.cohort_targets());
        }
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

    fn evaluate_compact(
        &self,
        user: UserInput<'_>,
        options_json: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.check_started()?;
        self.follow_fork();
        let mut user: User = match user {
            UserInput::Json(text) => serde_json::from_str(text)
                .map_err(|e| Error::from_json(&e, "user", ErrorCode::InvalidArgument))?,
            UserInput::Marshal(bytes) => marshal::from_bytes(bytes)?,
        };
        let options = options_json
            .map(CompactOptions::parse)
            .transpose()?
            .unwrap_or_default();
        let snapshot = self.served.snapshot.load();
        let Some(snapshot) = snapshot.as_deref() else {
            out.extend_from_slice(&0u64.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            return Ok(());
        };
        if !snapshot.has_narrow_result_ids() {
            return Err(Error::new(
                ErrorCode::Unsupported,
                "this configuration has more results than the fast lane's 32-bit result ids; use allot_evaluate",
            ));
        }
        if let Some(cohorts) = &self.cohorts {
            cohorts.enrich(&mut user, snapshot.cohort_targets());
        }
        let evaluation = snapshot.evaluate(&user, options.flag_keys.as_deref());
        let track = TrackOptions {
            assignment: options.tracks_assignment,
            exposure: options.tracks_exposure,
        };
        self.trackers
            .track(&user, &evaluation, track, now_millis())?;
        out.extend_from_slice(&snapshot.id().to_le_bytes());
        let count_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        let count = evaluation.write_result_ids(out);
        out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        Ok(())
    }

    fn result_json(&self, snapshot_id: u64, result_id: u32, out: &mut Vec<u8>) -> Result<()> {
        let snapshot = self.served.snapshot.load();
        let Some(snapshot) = snapshot.as_deref().filter(|s| s.id() == snapshot_id) else {
            return Ok(());
        };
        let (key_json, result) = snapshot.result(result_id).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!("snapshot {snapshot_id} has no result {result_id}"),
            )
        })?;
        out.extend_from_slice(b"{\"flag_key\":");
        out.extend_from_slice(key_json.as_bytes());
        out.extend_from_slice(b",\"variant\":");
        out.extend_from_slice(result.as_bytes());
        out.push(b'}');
        Ok(())
    }

    fn delivery_reports(&self) -> Result<Arc<Reports>> {
        Ok(self.trackers.reports())
    }

    fn flush(&self, timeout: Duration) -> Result<String> {
        self.trackers.flush(timeout)?;
        Ok(Value::Object(self.trackers.status()).to_string())
    }

    fn stop(&self, timeout: Duration) -> Result<String> {
        if let Some(updater) = &self.updater {
            updater.stop();
        }
        self.trackers.flush(timeout)?;
        self.status()
    }

    fn fetch(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "remote evaluation needs a client with \"mode\": \"remote\"",
        ))
    }

    fn status(&self) -> Result<String> {
        self.follow_fork();
        let snapshot = self.served.snapshot.load();
        let progress = self.served.progress.load();
        let settings = self.updater.as_ref().map(Updater::settings);
        let mut extra = self.trackers.status();
        let cohort_status = match &self.cohorts {
            Some(cohorts) => serde_json::to_value(cohorts.status()).map_err(|e| {
                Error::new(ErrorCode::Internal, format!("serializing the status: {e}"))
            })?,
            None => Value::Null,
        };
        extra.insert("cohort_sync".to_owned(), cohort_status);
        let status = LocalStatus {
            provider: "amplitude",
            started: self.started.load(Ordering::Acquire),
            snapshot: snapshot.as_deref().map(|s| (s.flag_keys(), s.errors())),
            progress: &progress,
            server_url: settings.map(|s| s.server_url.as_str()),
            stream_server_url: settings
                .and_then(|s| s.stream.as_ref())
                .map(|s| s.server_url.as_str()),
            polling: self.updater.as_ref().is_some_and(Updater::running),
            extra,
        };
        status.to_json()
    }
}
