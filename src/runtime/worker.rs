//! [`Worker`]: one background thread per process for a job, with its [`Control`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::thread::Thread;
use crate::error::{Error, ErrorCode, Result};
use crate::process::{lock, PerProcess};
use crate::transport::Http;

/// What a worker thread shares with its owner: the job's state `T` behind a mutex
/// (held only to read or change it, never across the network), a condition variable
/// for wake-ups, the stop signal and the thread's HTTP client.
pub struct Control<T> {
    state: Mutex<T>,
    changed: Condvar,
    stop: AtomicBool,
    /// When a stop was asked with a grace period: the end of that period.
    finish_by: OnceLock<Instant>,
    http: Http,
}

impl<T> Control<T> {
    /// The job's state, locked.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.state)
    }

    /// Waits on `guard` until woken or `deadline`; gives the guard back, and `true` when
    /// the deadline passed.
    pub fn wait_until<'g>(
        &self,
        guard: MutexGuard<'g, T>,
        deadline: Instant,
    ) -> (MutexGuard<'g, T>, bool) {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return (guard, true);
        }
        let (guard, result) = self
            .changed
            .wait_timeout(guard, wait)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, result.timed_out() && Instant::now() >= deadline)
    }

    /// Wakes every waiter, from a thread that holds the state's lock (`guard`).
    pub fn notify_locked(&self, _guard: &MutexGuard<'_, T>) {
        self.changed.notify_all();
    }

    /// Wakes every waiter: the thread's sleeps and the owner's waits. Takes the lock, so
    /// a waiter that checked a condition kept outside the state under it cannot miss it.
    pub fn wake(&self) {
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// Sleeps until `deadline`, a wake-up that comes with a stop, or a stop; `false`
    /// when stopped.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = self.lock();
        while !self.stopped() {
            if Instant::now() >= deadline {
                return true;
            }
            guard = self.wait_until(guard, deadline).0;
        }
        false
    }

    /// Whether the owner asked the thread to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// When stopping: the end of the grace period the owner gave the thread to finish
    /// its work (sending what is queued); past it the thread's requests are interrupted.
    pub fn finish_by(&self) -> Option<Instant> {
        self.finish_by.get().copied()
    }

    /// The thread's HTTP client (built in the process that runs it).
    pub fn http(&self) -> &Http {
        &self.http
    }
}

/// A worker thread's loop.
pub type Run<T> = Box<dyn FnOnce(&Control<T>) + Send>;

/// What a worker thread does if its loop panicked.
pub type OnPanic<T> = Box<dyn FnOnce(&Control<T>, Error) + Send>;

/// What a new worker needs: its HTTP client, the job's initial state and the loop.
pub struct Launch<T> {
    /// The thread's HTTP client.
    pub http: Http,
    /// The job's initial state.
    pub state: T,
    /// The loop; it returns when [`Control::stopped`] or when it has nothing more to do.
    pub run: Run<T>,
    /// Called on the thread if `run` panicked (with an `internal` error), so that the
    /// job's health reports it; no background thread's panic reaches the host.
    pub on_panic: OnPanic<T>,
}

/// A running thread.
struct Running<T> {
    control: Arc<Control<T>>,
    thread: Mutex<Option<Thread>>,
}

/// A job's background thread: at most one per process, started on demand, stopped and
/// joined when the worker is dropped (or by [`Worker::stop`]).
pub struct Worker<T> {
    name: &'static str,
    running: PerProcess<Running<T>>,
}

impl<T: Send + 'static> Worker<T> {
    /// A worker whose thread, once started, is named `name`.
    pub fn new(name: &'static str) -> Worker<T> {
        Worker {
            name,
            running: PerProcess::default(),
        }
    }

    /// Starts the thread if this process has none: the first call, or the first call in
    /// a forked child (whose parent's thread and connections are not its own). `launch`
    /// is called only then, with `true` in a forked child, before the thread starts.
    pub fn ensure(&self, launch: impl FnOnce(bool) -> Launch<T>) -> Result<()> {
        self.running.ensure(|forked| self.spawn(launch(forked)))
    }

    /// This process's thread's control, starting the thread first if needed.
    pub fn get_or_start(&self, launch: impl Fn(bool) -> Launch<T>) -> Result<Arc<Control<T>>> {
        let running = self
            .running
            .get_or_start(|forked| self.spawn(launch(forked)))?;
        Ok(Arc::clone(&running.control))
    }

    fn spawn(&self, launch: Launch<T>) -> Result<Running<T>> {
        let Launch {
            http,
            state,
            run,
            on_panic,
        } = launch;
        let control = Arc::new(Control {
            state: Mutex::new(state),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            finish_by: OnceLock::new(),
            http,
        });
        let for_thread = Arc::clone(&control);
        let thread = Thread::spawn(self.name, move || {
            let body = std::panic::AssertUnwindSafe(|| run(&for_thread));
            if std::panic::catch_unwind(body).is_err() {
                let error = Error::new(
                    ErrorCode::Internal,
                    "the background thread stopped after an internal error",
                );
                // A second panic is contained too: the thread just ends.
                let report = std::panic::AssertUnwindSafe(|| on_panic(&for_thread, error));
                let _ = std::panic::catch_unwind(report);
            }
            for_thread.wake();
        })
        .map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot start the background thread: {e}"),
            )
        })?;
        Ok(Running {
            control,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl<T> Worker<T> {
    /// This process's thread's control, if it started one.
    pub fn current(&self) -> Option<Arc<Control<T>>> {
        self.running.current().map(|r| Arc::clone(&r.control))
    }

    /// Whether this process started (or is starting) the thread.
    pub fn started_here(&self) -> bool {
        self.running.owned_here()
    }

    /// Stops this process's thread: asks it to stop, gives it up to `grace` to finish
    /// (for example to send what is queued), then interrupts its requests and joins it.
    /// A thread inherited across a fork is left alone.
    pub fn stop(&self, grace: Duration) {
        let Some(running) = self.running.take_own() else {
            return;
        };
        let control = &running.control;
        let _ = control.finish_by.set(Instant::now() + grace);
        control.stop.store(true, Ordering::Release);
        control.wake();
        let Some(thread) = lock(&running.thread).take() else {
            return;
        };
        let deadline = Instant::now() + grace;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        // Interrupts a request or stream read in flight; a connect in progress ends
        // within its own timeout.
        control.http.shutdown();
        thread.join();
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
