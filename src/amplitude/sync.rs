//! Keeping a local client's flags current: one background thread per client (per
//! process, see [`crate::transport::poller`]) that polls the flag endpoint, or follows
//! the stream and polls while it is down. Every update is compiled completely before the
//! snapshot is swapped whole; every failure keeps the last good snapshot and is recorded
//! in the [`poller::Progress`].

use std::sync::Arc;
use std::time::Instant;

use super::cohorts::sync::CohortSync;
use super::compile::Snapshot;
use super::config::SyncSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::transport::poller::{self, PollControl, PollLoop, Polled, Poller, Source};
use crate::transport::sse::{Event, EventReader};
use crate::transport::{jittered, Http};

/// The state shared by the client, its evaluating threads and its worker.
pub type Served = poller::Served<Snapshot>;

/// Keeps one local client's flags current: polling, streaming, and restarting both in
/// a forked child.
pub struct Updater {
    settings: Arc<SyncSettings>,
    served: Arc<Served>,
    poller: Poller<Snapshot>,
    cohorts: Option<Arc<CohortSync>>,
}

impl Updater {
    /// Prepares synchronisation; nothing runs before [`Updater::ensure_running`]. With
    /// `cohorts`, the cohorts a new configuration targets are loaded before it is served.
    pub fn new(
        settings: SyncSettings,
        served: Arc<Served>,
        cohorts: Option<Arc<CohortSync>>,
    ) -> Updater {
        Updater {
            settings: Arc::new(settings),
            poller: Poller::new(Arc::clone(&served), "allot-amplitude-sync"),
            served,
            cohorts,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// The background thread, its connections and the loop it runs; after a fork, the
    /// inherited stream is forgotten first.
    fn launch(&self, forked: bool) -> (Http, PollLoop) {
        if forked {
            self.served.update(|p| p.streaming = false);
            log(
                &self.settings,
                "fork detected: restarting the background thread",
            );
        }
        let https = self.settings.server_url.is_https()
            || self
                .settings
                .stream
                .as_ref()
                .is_some_and(|s| s.server_url.is_https());
        let context = Context {
            settings: Arc::clone(&self.settings),
            served: Arc::clone(&self.served),
            cohorts: self.cohorts.clone(),
        };
        let http = Http::new(
            &self.settings.api_key,
            self.settings.max_response_bytes,
            https,
        );
        (http, Box::new(move |control| context.sync_loop(control)))
    }

    /// Starts the worker if this process has none: the first call, or the first call in
    /// a forked child.
    pub fn ensure_running(&self) -> Result<()> {
        self.poller.ensure_running(|forked| self.launch(forked))
    }

    /// Restarts the worker after a fork; a failure is recorded for `allot_status`.
    pub fn follow_fork(&self) {
        self.poller.follow_fork(|forked| self.launch(forked));
    }

    /// Waits up to `timeout` for a configuration; the error says why there is none.
    pub fn await_configuration(&self, timeout: std::time::Duration) -> Result<()> {
        let retry = format!(
            "the client keeps trying every {} ms",
            self.settings.poll_interval.as_millis()
        );
        self.poller.await_configuration(timeout, &retry)
    }

    /// Stops synchronising for good; the last configuration keeps serving.
    pub fn stop(&self) {
        self.poller.stop();
    }

    /// Whether a background thread is synchronising in this process.
    pub fn running(&self) -> bool {
        self.poller.running()
    }
}

/// What the worker thread owns.
struct Context {
    settings: Arc<SyncSettings>,
    served: Arc<Served>,
    cohorts: Option<Arc<CohortSync>>,
}

/// How a stream connection ended.
enum StreamEnd {
    /// Stop requested.
    Stopped,
    /// The connection reached its maximum age: reconnect at once.
    Recycle,
    /// It failed (or never connected): poll until the retry.
    Failed(Error),
}

impl Context {
    fn sync_loop(&self, control: &PollControl) {
        let start = Instant::now();
        let mut next_poll = start;
        let mut next_stream = start;
        loop {
            if control.stopped() || self.served.progress.load().unauthorized {
                return;
            }
            if let Some(stream) = &self.settings.stream {
                if Instant::now() >= next_stream {
                    match self.follow_stream(control) {
                        StreamEnd::Stopped => return,
                        StreamEnd::Recycle => continue,
                        StreamEnd::Failed(error) => {
                            log(&self.settings, &format!("stream down: {error}"));
                            self.served.update(|p| p.streaming = false);
                            self.served.record_error(&error);
                            if error.code == ErrorCode::Unauthorized {
                                control.wake();
                                return;
                            }
                            next_stream = Instant::now()
                                + jittered(stream.retry_interval, stream.retry_jitter);
                            next_poll = Instant::now();
                        }
                    }
                }
            }
            if Instant::now() >= next_poll {
                self.poll(control);
                next_poll = Instant::now() + self.settings.poll_interval;
            }
            let wake = match &self.settings.stream {
                Some(_) => next_poll.min(next_stream),
                None => next_poll,
            };
            if !control.sleep_until(wake) {
                return;
            }
        }
    }

    /// One poll of the flag endpoint.
    fn poll(&self, control: &PollControl) {
        let polled = poller::poll(
            control,
            &self.served,
            &self.settings.flags_url,
            self.settings.request_timeout,
            |text| self.compile(text),
        );
        match polled {
            Polled::NotModified => log(&self.settings, "poll: not modified"),
            Polled::Updated => self.loaded(Source::Poll),
            Polled::Failed(error) => log(&self.settings, &format!("update failed: {error}")),
            Polled::Stopped => {}
        }
    }

    /// Compiles a configuration sent by the server and loads the cohorts it targets
    /// that are not held yet, so that it is never served without them when they can be
    /// had.
    fn compile(&self, text: &str) -> Result<Snapshot> {
        let snapshot = compile(text)?;
        if let Some(cohorts) = &self.cohorts {
            cohorts.load_new(snapshot.cohort_targets());
        }
        Ok(snapshot)
    }

    /// Logs the size of the configuration just loaded, and forgets the cohorts it no
    /// longer targets.
    fn loaded(&self, source: Source) {
        let snapshot = self.served.snapshot.load();
        if let (Some(cohorts), Some(snapshot)) = (&self.cohorts, snapshot.as_deref()) {
            cohorts.retain(snapshot.cohort_targets());
        }
        let count = snapshot.as_ref().map_or(0, |s| s.flag_count());
        log(
            &self.settings,
            &format!("{}: {count} flags loaded", source.as_str()),
        );
    }

    /// Connects the stream and applies its events until it ends.
    fn follow_stream(&self, control: &PollControl) -> StreamEnd {
        let Some(stream) = &self.settings.stream else {
            return StreamEnd::Stopped;
        };
        let reader = match control.http().open_stream(
            &stream.url,
            stream.connect_timeout,
            stream.keepalive_timeout,
        ) {
            Ok(reader) => reader,
            Err(failure) if control.stopped() => {
                drop(failure);
                return StreamEnd::Stopped;
            }
            Err(failure) => return StreamEnd::Failed(failure.error),
        };
        let max_event = usize::try_from(self.settings.max_response_bytes).unwrap_or(usize::MAX);
        let recycle_at = Instant::now().checked_add(jittered(
            stream.max_connection,
            stream.max_connection_jitter,
        ));
        let mut events = EventReader::new(reader, max_event, stream.keepalive_timeout, recycle_at);
        self.served.update(|p| p.streaming = true);
        log(&self.settings, "stream connected");
        loop {
            let event = events.next_event();
            if control.stopped() {
                return StreamEnd::Stopped;
            }
            match event {
                Ok(Some(Event::Data(data))) if !data.trim().is_empty() => {
                    match self.compile(&data) {
                        Ok(snapshot) => {
                            self.served.install(snapshot, Source::Stream, |_| {});
                            self.loaded(Source::Stream);
                        }
                        Err(error) => {
                            log(&self.settings, &format!("update failed: {error}"));
                            self.served.record_error(&error);
                        }
                    }
                    self.served.update(|p| p.first_round_done = true);
                    control.wake();
                }
                Ok(Some(Event::MaxAge)) => {
                    log(&self.settings, "stream recycled");
                    return StreamEnd::Recycle;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return StreamEnd::Failed(Error::new(
                        ErrorCode::Network,
                        "the stream was closed by the server",
                    ))
                }
                Err(error) => return StreamEnd::Failed(control.http().redact_error(error)),
            }
        }
    }
}

/// Compiles a configuration sent by the server; anything unusable but a dependency
/// cycle is `invalid_response`.
fn compile(text: &str) -> Result<Snapshot> {
    Snapshot::from_json(text).map_err(|e| match e.code {
        ErrorCode::DependencyCycle => e,
        _ => Error::new(
            ErrorCode::InvalidResponse,
            format!("the server sent an unusable configuration: {}", e.message),
        ),
    })
}

/// Writes a debug line to stderr when `debug` is on (messages never contain the key).
fn log(settings: &SyncSettings, message: &str) {
    if settings.debug {
        eprintln!(
            "[allot] amplitude: {}",
            crate::transport::redact(message, settings.api_key.expose())
        );
    }
}
