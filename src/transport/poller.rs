//! Keeping a configuration current, for every provider: a [`Poller`] runs one
//! [`Worker`] per client per process (polling, following a stream), conditional fetches
//! swap a compiled snapshot in whole, and [`Progress`] is what the status document
//! reports about it.
//!
//! Fork safety: everything an evaluating thread touches is lock-free (`ArcSwap`s and
//! atomics); the thread belongs to the process that started it (see [`crate::runtime`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::now_millis;
use crate::error::{Error, ErrorCode, FlagError, Result};
use crate::runtime::{Control, Health, Launch, Worker};
use crate::transport::{Http, Outcome, Request};

/// Where the configuration being served came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Given at init (`flags`, `flags_path`, `initial_configuration`, ...).
    Bootstrap,
    /// A poll of the configuration endpoint.
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

/// What the status document reports about keeping the configuration current; replaced
/// whole on change. Serialized (flattened into the status) as `{"source", "loaded_at",
/// "last_success_at", "last_error", "etag", "streaming"}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    /// Where the served configuration came from.
    pub source: Option<Source>,
    /// When the served configuration was loaded, in ms since the epoch.
    pub loaded_at: Option<u64>,
    /// The last fetch (a 304 or a pushed update counts as a success).
    #[serde(flatten)]
    pub health: Health,
    /// The `ETag` of the served configuration, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// A stream is connected.
    pub streaming: bool,
    /// The server rejected the key: synchronisation stopped for good.
    #[serde(skip)]
    pub unauthorized: bool,
    /// The first fetch finished (either way), or a configuration arrived.
    #[serde(skip)]
    pub first_round_done: bool,
}

/// The state shared by a client, its evaluating threads and its worker: the snapshot
/// being served (`T`) and the [`Progress`].
#[derive(Debug)]
pub struct Served<T> {
    /// The configuration being served.
    pub snapshot: ArcSwapOption<T>,
    /// How keeping it current goes.
    pub progress: ArcSwap<Progress>,
}

impl<T> Served<T> {
    /// Serves `bootstrap` (a configuration given at init), if any.
    pub fn new(bootstrap: Option<T>) -> Served<T> {
        // A bootstrap configuration is not a fetch: the first round is still to come.
        let progress = Progress {
            source: bootstrap.as_ref().map(|_| Source::Bootstrap),
            loaded_at: bootstrap.as_ref().map(|_| now_millis()),
            ..Progress::default()
        };
        Served {
            snapshot: ArcSwapOption::new(bootstrap.map(Arc::new)),
            progress: ArcSwap::from_pointee(progress),
        }
    }

    /// Applies `change` to a copy of the progress and publishes it.
    pub fn update(&self, change: impl Fn(&mut Progress)) {
        self.progress.rcu(|current| {
            let mut next = Progress::clone(current);
            change(&mut next);
            next
        });
    }

    /// Records a failure (an `unauthorized` one stops synchronisation).
    pub fn record_error(&self, error: &Error) {
        self.update(|p| {
            p.health.failed(error);
            if error.code == ErrorCode::Unauthorized {
                p.unauthorized = true;
            }
        });
    }

    /// Serves `snapshot` from now on and records the success; `change` adjusts the rest
    /// of the progress in the same update.
    pub fn install(&self, snapshot: T, source: Source, change: impl Fn(&mut Progress)) {
        self.snapshot.store(Some(Arc::new(snapshot)));
        let at = now_millis();
        self.update(|p| {
            p.health.succeeded();
            p.source = Some(source);
            p.loaded_at = Some(at);
            p.first_round_done = true;
            change(p);
        });
    }
}

/// The status document of a local client, the same shape for every provider:
/// `{"provider", "mode": "local", "started", "initialized", "flag_count", "flag_keys",
/// "source", "loaded_at", "last_success_at", "last_error", "etag", "streaming",
/// "server_url", "stream_server_url", "polling", "flag_errors", …provider fields}`.
#[derive(Serialize)]
pub struct LocalStatus<'a> {
    /// `"amplitude"` or `"eppo"`.
    pub provider: &'static str,
    /// `allot_start` was called.
    pub started: bool,
    /// The keys and flag errors of the configuration served, if any.
    #[serde(skip)]
    pub snapshot: Option<(Vec<&'a str>, &'a [FlagError])>,
    /// Where the configuration came from and how keeping it current goes.
    #[serde(flatten)]
    pub progress: &'a Progress,
    /// The configuration server, when the client has one.
    pub server_url: Option<&'a str>,
    /// The stream server, when the client streams.
    pub stream_server_url: Option<&'a str>,
    /// A background thread keeps the configuration current in this process.
    pub polling: bool,
    /// Provider-specific fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl LocalStatus<'_> {
    /// The document's JSON text.
    pub fn to_json(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Document<'s, 'a> {
            mode: &'static str,
            initialized: bool,
            flag_count: usize,
            flag_keys: &'s [&'a str],
            flag_errors: &'a [FlagError],
            #[serde(flatten)]
            status: &'s LocalStatus<'a>,
        }
        let (flag_keys, flag_errors) = match &self.snapshot {
            Some((keys, errors)) => (keys.as_slice(), *errors),
            None => (&[][..], &[][..]),
        };
        let document = Document {
            mode: "local",
            initialized: self.snapshot.is_some(),
            flag_count: flag_keys.len(),
            flag_keys,
            flag_errors,
            status: self,
        };
        serde_json::to_string(&document)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("serializing the status: {e}")))
    }
}

/// How one poll ended.
#[derive(Debug)]
pub enum Polled {
    /// `304 Not Modified`: the snapshot stays.
    NotModified,
    /// A new snapshot is being served.
    Updated,
    /// The fetch or the configuration failed (recorded); the snapshot stays.
    Failed(Error),
    /// A stop interrupted the request.
    Stopped,
}

/// A poller's worker thread: its control (no state of its own beyond [`Served`]).
pub type PollControl = Control<()>;

/// A poller thread's loop.
pub type PollLoop = Box<dyn FnOnce(&PollControl) + Send>;

/// One conditional `GET` of `url` (`If-None-Match` with the stored `ETag`). A 304 keeps
/// the snapshot; a body that `compile` accepts is swapped in whole with its `ETag`; any
/// failure is recorded and keeps the snapshot. The first round counts as done either way
/// and waiters are woken.
pub fn poll<T>(
    control: &PollControl,
    served: &Served<T>,
    url: &str,
    timeout: Duration,
    compile: impl FnOnce(&str) -> Result<T>,
) -> Polled {
    let etag = served.progress.load().etag.clone();
    let request = Request {
        url,
        headers: Vec::new(),
        body: None,
        timeout,
        etag: etag.as_deref(),
    };
    let http = control.http();
    let polled = match http.send(&request) {
        Ok(Outcome::NotModified) => {
            served.update(|p| p.health.succeeded());
            Polled::NotModified
        }
        Ok(Outcome::Body { bytes, etag }) => {
            let compiled = std::str::from_utf8(&bytes)
                .map_err(|e| {
                    Error::new(
                        ErrorCode::InvalidResponse,
                        format!("the configuration is not UTF-8: {e}"),
                    )
                })
                .and_then(compile);
            match compiled {
                Ok(snapshot) => {
                    served.install(snapshot, Source::Poll, |p| p.etag.clone_from(&etag));
                    Polled::Updated
                }
                Err(error) => fail(control, served, http.redact_error(error)),
            }
        }
        Err(failure) => fail(control, served, failure.error),
    };
    served.update(|p| p.first_round_done = true);
    control.wake();
    polled
}

/// Records a failure, unless it is the shutdown interrupting the request.
fn fail<T>(control: &PollControl, served: &Served<T>, error: Error) -> Polled {
    if control.stopped() {
        return Polled::Stopped;
    }
    served.record_error(&error);
    Polled::Failed(error)
}

/// The background synchronisation of one client: at most one worker per process,
/// stopped and joined on drop.
pub struct Poller<T> {
    served: Arc<Served<T>>,
    worker: Worker<()>,
    /// Set by [`Poller::stop`]: the worker never starts again.
    stopped: AtomicBool,
}

impl<T: Send + Sync + 'static> Poller<T> {
    /// Prepares synchronisation of `served`; nothing runs before [`Poller::ensure_running`].
    pub fn new(served: Arc<Served<T>>, thread_name: &'static str) -> Poller<T> {
        Poller {
            served,
            worker: Worker::new(thread_name),
            stopped: AtomicBool::new(false),
        }
    }

    /// Stops synchronisation for good (the last snapshot keeps serving): joins this
    /// process's worker, and no later call starts one.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.worker.stop(Duration::ZERO);
    }

    /// Starts the worker if this process has none: the first call, or the first call in
    /// a forked child. `launch` gives the thread's HTTP client and loop, with `true` in
    /// a forked child; a panic in the loop is recorded as an `internal` error.
    pub fn ensure_running(&self, launch: impl FnOnce(bool) -> (Http, PollLoop)) -> Result<()> {
        if self.stopped.load(Ordering::Acquire) {
            return Ok(());
        }
        self.worker.ensure(|forked| {
            let (http, run) = launch(forked);
            let served = Arc::clone(&self.served);
            Launch {
                http,
                state: (),
                run,
                on_panic: Box::new(move |_, error| {
                    served.record_error(&error);
                    served.update(|p| p.first_round_done = true);
                }),
            }
        })
    }

    /// [`Poller::ensure_running`] from an evaluating or status call: a failure to
    /// restart after a fork is recorded for `allot_status`; the old snapshot keeps
    /// serving.
    pub fn follow_fork(&self, launch: impl FnOnce(bool) -> (Http, PollLoop)) {
        if let Err(error) = self.ensure_running(launch) {
            self.served.record_error(&error);
        }
    }

    /// Waits until the first fetch finished or a configuration arrived (`true`), or
    /// `timeout` passed (`false`).
    pub fn wait_first_round(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.served.progress.load().first_round_done {
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            let wait = deadline.map_or(Duration::from_millis(100), |d| {
                (d - now).min(Duration::from_millis(100))
            });
            match self.worker.current() {
                Some(control) => {
                    let guard = control.lock();
                    // Re-checked under the lock the worker takes to wake us: no lost wakeup.
                    if self.served.progress.load().first_round_done {
                        return true;
                    }
                    drop(control.wait_until(guard, now + wait));
                }
                // Another thread is starting the worker right now.
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Waits up to `timeout` for a configuration (see [`Poller::wait_first_round`]).
    /// Without one: `timeout` when the first fetch did not finish in time, else the first
    /// fetch's error (`unauthorized` as is; others with `retry`, which says what the
    /// worker does next, appended).
    pub fn await_configuration(&self, timeout: Duration, retry: &str) -> Result<()> {
        let finished = self.wait_first_round(timeout);
        if self.served.snapshot.load().is_some() {
            return Ok(());
        }
        if !finished {
            return Err(Error::new(
                ErrorCode::Timeout,
                format!(
                    "no configuration within {} ms; {retry}",
                    timeout.as_millis()
                ),
            ));
        }
        match self.served.progress.load().health.error() {
            Some(error) if error.code == ErrorCode::Unauthorized => Err(error.clone()),
            Some(error) => Err(Error::new(
                error.code,
                format!("{}; {retry}", error.message),
            )),
            None => Err(Error::new(
                ErrorCode::Internal,
                "the first fetch finished without a configuration or an error",
            )),
        }
    }

    /// Whether a background thread is synchronising in this process.
    pub fn running(&self) -> bool {
        !self.stopped.load(Ordering::Acquire)
            && self.worker.started_here()
            && !self.served.progress.load().unauthorized
    }
}
