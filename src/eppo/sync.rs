//! Keeping an Eppo client's configuration current: one background thread per client
//! (per process, see [`crate::transport::poller`]) that polls the configuration endpoint.
//! Every update is compiled completely before the snapshot is swapped whole; every
//! failure keeps the last good snapshot and is recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bandit;
use super::compile::Snapshot;
use super::config::SyncSettings;
use crate::clock::now_millis_signed;
use crate::error::{Error, ErrorCode, Result};
use crate::transport::poller::{self, PollControl, PollLoop, Polled, Poller};
use crate::transport::{jittered, Http};

/// Each configuration request's time budget (connecting, sending, the whole answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest configuration accepted from the server.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The state shared by the client, its evaluating threads and its worker.
pub type Served = poller::Served<Snapshot>;

/// Keeps one Eppo client's configuration current: polling, and restarting it in a
/// forked child.
pub struct Updater {
    settings: Arc<SyncSettings>,
    served: Arc<Served>,
    poller: Poller<Snapshot>,
}

impl Updater {
    /// Prepares synchronisation; nothing runs before [`Updater::ensure_running`].
    pub fn new(settings: Arc<SyncSettings>, served: Arc<Served>) -> Updater {
        Updater {
            settings,
            poller: Poller::new(Arc::clone(&served), "allot-eppo-poll"),
            served,
        }
    }

    /// The polling thread's connections and loop (the same in a forked child).
    fn launch(&self) -> (Http, PollLoop) {
        let https = self.settings.base_url.is_https();
        let http =
            Http::new(&self.settings.api_key, MAX_RESPONSE_BYTES, https).without_key_header();
        let settings = Arc::clone(&self.settings);
        let served = Arc::clone(&self.served);
        (
            http,
            Box::new(move |control| poll_loop(control, &settings, &served)),
        )
    }

    /// Starts the worker if this process has none: the first call, or the first call in
    /// a forked child.
    pub fn ensure_running(&self) -> Result<()> {
        self.poller.ensure_running(|_| self.launch())
    }

    /// Restarts the worker after a fork; a failure is recorded for `allot_status`.
    pub fn follow_fork(&self) {
        self.poller.follow_fork(|_| self.launch());
    }

    /// Waits up to `timeout` for a configuration; the error says why there is none.
    pub fn await_configuration(&self, timeout: Duration) -> Result<()> {
        let retry = match self.settings.poll_interval {
            Some(interval) => {
                format!("the client keeps polling every {} ms", interval.as_millis())
            }
            None => "the client fetches only once (\"poll_interval_seconds\" is null)".to_owned(),
        };
        self.poller.await_configuration(timeout, &retry)
    }

    /// Stops synchronising for good; the last configuration keeps serving.
    pub fn stop(&self) {
        self.poller.stop();
    }

    /// Whether a background thread is polling in this process.
    pub fn running(&self) -> bool {
        self.settings.poll_interval.is_some() && self.poller.running()
    }
}

/// Fetches the configuration at once, then every `poll_interval` minus a random jitter
/// of up to `poll_jitter`, until stopped, after `unauthorized`, or after the one fetch
/// when polling is off.
fn poll_loop(control: &PollControl, settings: &SyncSettings, served: &Served) {
    let url = settings.config_url();
    let bandits_url =
        bandit::sync::bandits_url(settings.base_url.as_str(), settings.api_key.expose());
    let compile = |text: &str| {
        let current = served.snapshot.load();
        let http = control.http();
        bandit::sync::attach_models(
            compile(text)?,
            current.as_deref(),
            http,
            &bandits_url,
            REQUEST_TIMEOUT,
        )
    };
    loop {
        let polled = poller::poll(control, served, &url, REQUEST_TIMEOUT, compile);
        if matches!(polled, Polled::Stopped) || served.progress.load().unauthorized {
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
    Snapshot::from_json(text, now_millis_signed()).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("the server sent an unusable configuration: {}", e.message),
        )
    })
}
