//! Keeping a configuration current from a background thread, for every provider: one
//! thread per client per process, its stop signal and condition variable, conditional
//! fetches that swap a compiled snapshot in whole, the [`Health`] record the status
//! document reports, and fork handling.
//!
//! Fork safety: everything an evaluating thread touches is lock-free (`ArcSwap`s and
//! atomics). The thread, its connections and its condition variable belong to the
//! process that started them; a forked child notices the pid change on its next call,
//! forgets the parent's worker without touching it, and starts its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::process::PerProcess;
use crate::transport::{now_millis, Http, Outcome, Request};

/// What the status document reports about synchronisation; replaced whole on change.
/// `X` holds what only one provider tracks.
#[derive(Debug, Clone, Default)]
pub struct Health<X> {
    /// When the last fetch (or 304, or pushed update) succeeded, in ms since the epoch.
    pub last_success_at: Option<u64>,
    /// The last failure and when it happened (ms since the epoch); cleared by a success.
    pub last_error: Option<(Error, u64)>,
    /// The `ETag` of the served configuration, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// The server rejected the key: synchronisation stopped for good.
    pub unauthorized: bool,
    /// The first fetch finished (either way), or a configuration arrived.
    pub first_round_done: bool,
    /// Provider-specific fields.
    pub extra: X,
}

impl<X> Health<X> {
    /// The status document's `"last_error"`: `{"code", "message", "at"}` or `null`.
    pub fn last_error_json(&self) -> Value {
        match &self.last_error {
            Some((error, at)) => json!({
                "code": error.code.as_str(),
                "message": error.message,
                "at": at,
            }),
            None => Value::Null,
        }
    }
}

/// The state shared by a client, its evaluating threads and its worker: the snapshot
/// being served (`T`) and the synchronisation health.
#[derive(Debug)]
pub struct State<T, X> {
    /// The configuration being served.
    pub snapshot: ArcSwapOption<T>,
    /// Synchronisation health.
    pub health: ArcSwap<Health<X>>,
}

impl<T, X: Default> Default for State<T, X> {
    fn default() -> Self {
        State {
            snapshot: ArcSwapOption::empty(),
            health: ArcSwap::from_pointee(Health::default()),
        }
    }
}

impl<T, X: Clone> State<T, X> {
    /// Applies `change` to a copy of the health and publishes it.
    pub fn update(&self, change: impl Fn(&mut Health<X>)) {
        self.health.rcu(|current| {
            let mut next = Health::clone(current);
            change(&mut next);
            next
        });
    }

    /// Records a failure (an `unauthorized` one stops synchronisation).
    pub fn record_error(&self, error: &Error) {
        let at = now_millis();
        self.update(|h| {
            h.last_error = Some((error.clone(), at));
            if error.code == ErrorCode::Unauthorized {
                h.unauthorized = true;
            }
        });
    }

    /// Serves `snapshot` from now on and records the success; `change` adjusts the rest
    /// of the health in the same update.
    pub fn install(&self, snapshot: T, change: impl Fn(&mut Health<X>)) {
        self.snapshot.store(Some(Arc::new(snapshot)));
        let at = now_millis();
        self.update(|h| {
            h.last_success_at = Some(at);
            h.last_error = None;
            h.first_round_done = true;
            change(h);
        });
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

/// The stop signal, the progress notification and the connections of one worker.
pub struct Control {
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

    /// The worker's HTTP client.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Whether the owner asked the worker to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps until `deadline` or a stop; `false` when stopped.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
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
    pub fn notify(&self) {
        let _guard = self.guard();
        self.changed.notify_all();
    }

    /// One conditional `GET` of `url` (`If-None-Match` with the stored `ETag`). A 304
    /// keeps the snapshot; a body that `compile` accepts is swapped in whole with its
    /// `ETag` and `mark` applied to the health; any failure is recorded and keeps the
    /// snapshot. The first round counts as done either way and waiters are woken.
    pub fn poll<T, X: Clone>(
        &self,
        state: &State<T, X>,
        url: &str,
        timeout: Duration,
        compile: impl FnOnce(&str) -> Result<T>,
        mark: impl Fn(&mut Health<X>),
    ) -> Polled {
        let etag = state.health.load().etag.clone();
        let request = Request {
            url,
            headers: Vec::new(),
            body: None,
            timeout,
            etag: etag.as_deref(),
        };
        let polled = match self.http.send(&request) {
            Ok(Outcome::NotModified) => {
                let at = now_millis();
                state.update(|h| {
                    h.last_success_at = Some(at);
                    h.last_error = None;
                });
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
                        state.install(snapshot, |h| {
                            h.etag = etag.clone();
                            mark(h);
                        });
                        Polled::Updated
                    }
                    Err(error) => self.fail(state, self.http.redact_error(error)),
                }
            }
            Err(failure) => self.fail(state, failure.error),
        };
        state.update(|h| h.first_round_done = true);
        self.notify();
        polled
    }

    /// Records a failure, unless it is the shutdown interrupting the request.
    fn fail<T, X: Clone>(&self, state: &State<T, X>, error: Error) -> Polled {
        if self.stopped() {
            return Polled::Stopped;
        }
        state.record_error(&error);
        Polled::Failed(error)
    }
}

/// What a new worker needs: its connections and the loop it runs.
pub struct Launch {
    /// The worker's HTTP client, built in the process that runs it.
    pub http: Http,
    /// The loop; it returns when [`Control::stopped`] or when it has nothing more to do.
    pub run: Box<dyn FnOnce(&Control) + Send>,
}

/// A running background thread, owned by the process that started it.
struct Worker {
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The background synchronisation of one client: at most one worker per process,
/// stopped and joined on drop.
pub struct Poller<T, X> {
    state: Arc<State<T, X>>,
    thread_name: &'static str,
    worker: PerProcess<Worker>,
}

impl<T, X> Poller<T, X>
where
    T: Send + Sync + 'static,
    X: Clone + Send + Sync + 'static,
{
    /// Prepares synchronisation of `state`; nothing runs before
    /// [`Poller::ensure_running`].
    pub fn new(state: Arc<State<T, X>>, thread_name: &'static str) -> Poller<T, X> {
        Poller {
            state,
            thread_name,
            worker: PerProcess::default(),
        }
    }

    /// Starts the worker if this process has none: the first call, or the first call in
    /// a forked child (whose parent's thread and connections are gone or not its own).
    /// `launch` is called only then, with `true` in a forked child, before the thread
    /// starts.
    pub fn ensure_running(&self, launch: impl FnOnce(bool) -> Launch) -> Result<()> {
        self.worker.ensure(|forked| {
            let Launch { http, run } = launch(forked);
            let control = Arc::new(Control {
                stop: AtomicBool::new(false),
                lock: Mutex::new(()),
                changed: Condvar::new(),
                http,
            });
            let state = Arc::clone(&self.state);
            let thread_control = Arc::clone(&control);
            let thread = std::thread::Builder::new()
                .name(self.thread_name.into())
                .spawn(move || {
                    let body = std::panic::AssertUnwindSafe(|| run(&thread_control));
                    if std::panic::catch_unwind(body).is_err() {
                        state.record_error(&Error::new(
                            ErrorCode::Internal,
                            "the background thread stopped after an internal error",
                        ));
                        state.update(|h| h.first_round_done = true);
                    }
                    thread_control.notify();
                })
                .map_err(|e| {
                    Error::new(
                        ErrorCode::Internal,
                        format!("cannot start the background thread: {e}"),
                    )
                })?;
            Ok(Worker {
                control,
                thread: Mutex::new(Some(thread)),
            })
        })
    }

    /// [`Poller::ensure_running`] from an evaluating or status call: a failure to
    /// restart after a fork is recorded for `allot_status`; the old snapshot keeps
    /// serving.
    pub fn follow_fork(&self, launch: impl FnOnce(bool) -> Launch) {
        if let Err(error) = self.ensure_running(launch) {
            self.state.record_error(&error);
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
            match self.worker.current() {
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

    /// Waits up to `timeout` for a configuration (see [`Poller::wait_first_round`]).
    /// Without one: `timeout` when the first fetch did not finish in time, else the first
    /// fetch's error (`unauthorized` as is; others with `retry`, which says what the
    /// worker does next, appended).
    pub fn await_configuration(&self, timeout: Duration, retry: &str) -> Result<()> {
        let finished = self.wait_first_round(timeout);
        if self.state.snapshot.load().is_some() {
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
        match self.state.health.load().last_error.as_ref() {
            Some((error, _)) if error.code == ErrorCode::Unauthorized => Err(error.clone()),
            Some((error, _)) => Err(Error::new(
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
        self.worker.owned_here() && !self.state.health.load().unauthorized
    }
}

impl<T, X> Drop for Poller<T, X> {
    fn drop(&mut self) {
        let Some(worker) = self.worker.take_own() else {
            return;
        };
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
