//! Keeping a local client's flags current: one background thread per client (per
//! process) that polls the flag endpoint, or follows the stream and polls while it is
//! down. Every update is compiled completely before the snapshot is swapped whole;
//! every failure keeps the last good snapshot and is recorded in [`Health`].
//!
//! Fork safety: everything an evaluating thread touches is lock-free (`ArcSwap`s and
//! atomics). The thread, its connections and its condition variable belong to the
//! process that started them ([`Worker`]); a forked child notices the pid change on its
//! next call, forgets the parent's worker without touching it, and starts its own.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use super::compile::Snapshot;
use super::config::SyncSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::process::current_pid;
use crate::transport::sse::{Event, EventReader};
use crate::transport::{jittered, now_millis, Http, Outcome, Request};

/// Where the configuration being served came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `flags` / `flags_path` at init.
    Bootstrap,
    /// A poll of the flag endpoint.
    Poll,
    /// An event of the stream.
    Stream,
}

impl Source {
    /// The status document's name of the source.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bootstrap => "bootstrap",
            Source::Poll => "poll",
            Source::Stream => "stream",
        }
    }
}

/// What the status document reports about synchronisation; replaced whole on change.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Where the served configuration came from.
    pub source: Option<Source>,
    /// When the last fetch (or 304, or stream event) succeeded, in ms since the epoch.
    pub last_success_at: Option<u64>,
    /// The last failure and when it happened (ms since the epoch); cleared by a success.
    pub last_error: Option<(Error, u64)>,
    /// The `ETag` of the served configuration, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// The server rejected the key: synchronisation stopped.
    pub unauthorized: bool,
    /// A stream is connected.
    pub streaming: bool,
    /// The first fetch finished (either way), or a configuration arrived.
    pub first_round_done: bool,
}

/// The state shared by the client, its evaluating threads and its worker.
#[derive(Debug, Default)]
pub struct State {
    /// The configuration being served.
    pub snapshot: ArcSwapOption<Snapshot>,
    /// Synchronisation health.
    pub health: ArcSwap<Health>,
}

impl State {
    fn update(&self, change: impl Fn(&mut Health)) {
        self.health.rcu(|current| {
            let mut next = Health::clone(current);
            change(&mut next);
            next
        });
    }

    fn record_error(&self, error: &Error) {
        let at = now_millis();
        self.update(|h| {
            h.last_error = Some((error.clone(), at));
            if error.code == ErrorCode::Unauthorized {
                h.unauthorized = true;
            }
        });
    }
}

/// The stop signal, the progress notification and the connections of one worker.
struct Control {
    stop: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
    http: Http,
}

impl Control {
    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps until `deadline` or a stop; `false` when stopped.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = self.guard();
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = match self.changed.wait_timeout(guard, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Wakes everyone waiting: `allot_start` callers and the worker's sleeps.
    fn notify(&self) {
        let _guard = self.guard();
        self.changed.notify_all();
    }
}

/// A running background thread, owned by the process that started it.
struct Worker {
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The synchronisation of one local client.
pub struct Sync {
    settings: Arc<SyncSettings>,
    state: Arc<State>,
    /// The pid that owns `worker` (0: none started yet).
    owner_pid: AtomicU32,
    worker: ArcSwapOption<Worker>,
}

impl Sync {
    /// Prepares synchronisation; nothing runs before [`Sync::ensure_running`].
    pub fn new(settings: SyncSettings, state: Arc<State>) -> Sync {
        Sync {
            settings: Arc::new(settings),
            state,
            owner_pid: AtomicU32::new(0),
            worker: ArcSwapOption::empty(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Starts the worker if this process has none: the first call, or the first call in
    /// a forked child (whose parent's thread and connections are gone or not its own).
    pub fn ensure_running(&self) -> Result<()> {
        let me = current_pid();
        let owner = self.owner_pid.load(Ordering::Acquire);
        if owner == me {
            return Ok(());
        }
        if self
            .owner_pid
            .compare_exchange(owner, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Another thread of this process is starting it.
            return Ok(());
        }
        if owner != 0 {
            // A forked child. The parent's worker may hold locked mutexes and its sockets
            // are shared with the parent: never touch it, never drop it.
            if let Some(inherited) = self.worker.swap(None) {
                std::mem::forget(inherited);
            }
            self.state.update(|h| h.streaming = false);
            log(
                &self.settings,
                "fork detected: restarting the background thread",
            );
        }
        let https = self.settings.server_url.starts_with("https")
            || self
                .settings
                .stream
                .as_ref()
                .is_some_and(|s| s.server_url.starts_with("https"));
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            http: Http::new(
                &self.settings.api_key,
                self.settings.max_response_bytes,
                https,
            ),
        });
        let context = Context {
            settings: Arc::clone(&self.settings),
            state: Arc::clone(&self.state),
            control: Arc::clone(&control),
        };
        let spawned = std::thread::Builder::new()
            .name("allot-amplitude-sync".into())
            .spawn(move || context.run());
        match spawned {
            Ok(thread) => {
                self.worker.store(Some(Arc::new(Worker {
                    control,
                    thread: Mutex::new(Some(thread)),
                })));
                Ok(())
            }
            Err(e) => {
                self.owner_pid.store(0, Ordering::Release);
                Err(Error::new(
                    ErrorCode::Internal,
                    format!("cannot start the background thread: {e}"),
                ))
            }
        }
    }

    /// Waits until the first fetch finished or a configuration arrived (`true`), or
    /// `timeout` passed (`false`).
    pub fn wait_first_round(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.health.load().first_round_done {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.worker.load_full() {
                Some(worker) => {
                    let control = &worker.control;
                    let guard = control.guard();
                    // Re-checked under the lock the worker takes to notify: no lost wakeup.
                    if self.state.health.load().first_round_done {
                        return true;
                    }
                    let wait = (deadline - now).min(Duration::from_millis(100));
                    drop(control.changed.wait_timeout(guard, wait));
                }
                // Another thread is starting the worker right now.
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Whether a background thread is synchronising in this process.
    pub fn running(&self) -> bool {
        self.owner_pid.load(Ordering::Acquire) == current_pid()
            && !self.state.health.load().unauthorized
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        let Some(worker) = self.worker.swap(None) else {
            return;
        };
        if self.owner_pid.load(Ordering::Acquire) != current_pid() {
            // Inherited from the parent across a fork: not ours to stop or join.
            std::mem::forget(worker);
            return;
        }
        worker.control.stop.store(true, Ordering::Release);
        worker.control.notify();
        // Interrupts a request or stream read in flight; a connect in progress ends
        // within its own timeout.
        worker.control.http.shutdown();
        let thread = worker
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            // A panic in the worker was already contained there; nothing to report.
            let _ = thread.join();
        }
    }
}

/// What the worker thread owns.
struct Context {
    settings: Arc<SyncSettings>,
    state: Arc<State>,
    control: Arc<Control>,
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
    fn run(self) {
        let body = std::panic::AssertUnwindSafe(|| self.sync_loop());
        if std::panic::catch_unwind(body).is_err() {
            self.state.record_error(&Error::new(
                ErrorCode::Internal,
                "the background thread stopped after an internal error",
            ));
            self.control.notify();
        }
    }

    fn sync_loop(&self) {
        let start = Instant::now();
        let mut next_poll = start;
        let mut next_stream = start;
        loop {
            if self.control.stopped() || self.state.health.load().unauthorized {
                return;
            }
            if let Some(stream) = &self.settings.stream {
                if Instant::now() >= next_stream {
                    match self.follow_stream() {
                        StreamEnd::Stopped => return,
                        StreamEnd::Recycle => continue,
                        StreamEnd::Failed(error) => {
                            log(&self.settings, &format!("stream down: {error}"));
                            self.state.update(|h| h.streaming = false);
                            if error.code == ErrorCode::Unauthorized {
                                self.state.record_error(&error);
                                self.control.notify();
                                return;
                            }
                            self.state.record_error(&error);
                            next_stream = Instant::now()
                                + jittered(stream.retry_interval, stream.retry_jitter);
                            next_poll = Instant::now();
                        }
                    }
                }
            }
            if Instant::now() >= next_poll {
                self.poll();
                next_poll = Instant::now() + self.settings.poll_interval;
            }
            let wake = match &self.settings.stream {
                Some(_) => next_poll.min(next_stream),
                None => next_poll,
            };
            if !self.control.sleep_until(wake) {
                return;
            }
        }
    }

    /// One poll of the flag endpoint.
    fn poll(&self) {
        let etag = self.state.health.load().etag.clone();
        let request = Request {
            url: &self.settings.flags_url,
            headers: Vec::new(),
            body: None,
            timeout: self.settings.request_timeout,
            etag: etag.as_deref(),
        };
        match self.control.http.send(&request) {
            Ok(Outcome::NotModified) => {
                let at = now_millis();
                self.state.update(|h| {
                    h.last_success_at = Some(at);
                    h.last_error = None;
                    h.first_round_done = true;
                });
                log(&self.settings, "poll: not modified");
            }
            Ok(Outcome::Body { bytes, etag }) => {
                if let Err(error) = self.apply(&bytes, Source::Poll, etag) {
                    self.fail(&error);
                }
            }
            Err(failure) => self.fail(&failure.error),
        }
        self.state.update(|h| h.first_round_done = true);
        self.control.notify();
    }

    fn fail(&self, error: &Error) {
        if self.control.stopped() {
            // The failure is the shutdown interrupting the request.
            return;
        }
        log(&self.settings, &format!("update failed: {error}"));
        self.state.record_error(error);
    }

    /// Compiles a configuration and, only when it compiled, swaps it in whole.
    fn apply(&self, bytes: &[u8], source: Source, etag: Option<String>) -> Result<()> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::new(
                ErrorCode::InvalidResponse,
                format!("the flag configuration is not UTF-8: {e}"),
            )
        })?;
        let snapshot = Snapshot::from_json(text).map_err(|e| match e.code {
            ErrorCode::DependencyCycle => e,
            _ => Error::new(
                ErrorCode::InvalidResponse,
                format!("the server sent an unusable configuration: {}", e.message),
            ),
        })?;
        let count = snapshot.flag_count();
        self.state.snapshot.store(Some(Arc::new(snapshot)));
        let at = now_millis();
        self.state.update(|h| {
            h.source = Some(source);
            h.last_success_at = Some(at);
            h.last_error = None;
            h.first_round_done = true;
            if source == Source::Poll {
                h.etag = etag.clone();
            }
        });
        log(
            &self.settings,
            &format!("{}: {count} flags loaded", source.as_str()),
        );
        Ok(())
    }

    /// Connects the stream and applies its events until it ends.
    fn follow_stream(&self) -> StreamEnd {
        let Some(stream) = &self.settings.stream else {
            return StreamEnd::Stopped;
        };
        let reader = match self.control.http.open_stream(
            &stream.url,
            stream.connect_timeout,
            stream.keepalive_timeout,
        ) {
            Ok(reader) => reader,
            Err(failure) if self.control.stopped() => {
                drop(failure);
                return StreamEnd::Stopped;
            }
            Err(failure) => return StreamEnd::Failed(failure.error),
        };
        let max_event = usize::try_from(self.settings.max_response_bytes).unwrap_or(usize::MAX);
        let mut events = EventReader::new(reader, max_event);
        let recycle_at =
            Instant::now() + jittered(stream.max_connection, stream.max_connection_jitter);
        self.state.update(|h| h.streaming = true);
        log(&self.settings, "stream connected");
        loop {
            let event = events.next_event();
            if self.control.stopped() {
                return StreamEnd::Stopped;
            }
            match event {
                Ok(Some(Event::Data(data))) if !data.trim().is_empty() => {
                    if let Err(error) = self.apply(data.as_bytes(), Source::Stream, None) {
                        self.fail(&error);
                    }
                    self.state.update(|h| h.first_round_done = true);
                    self.control.notify();
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return StreamEnd::Failed(Error::new(
                        ErrorCode::Network,
                        "the stream was closed by the server",
                    ))
                }
                Err(error) => return StreamEnd::Failed(self.control.http.redact_error(error)),
            }
            if Instant::now() >= recycle_at {
                log(&self.settings, "stream recycled");
                return StreamEnd::Recycle;
            }
        }
    }
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
