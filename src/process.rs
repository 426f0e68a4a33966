//! The process we run in: fork detection by pid, [`PerProcess`], the holder of state
//! (a background worker, a cache) that belongs to the process that started it, and
//! [`lock`], how allot takes every mutex.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use arc_swap::ArcSwapOption;

use crate::error::Result;

/// This process's id, kept in memory: evaluating threads check it on every call, and a
/// `getpid` system call each time would cost more than a small evaluation. A
/// `pthread_atfork` child handler refreshes it in a forked child.
static PID: AtomicU32 = AtomicU32::new(0);
static FORK_HANDLER: Once = Once::new();

fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    u32::try_from(unsafe { libc::getpid() }).unwrap_or(0)
}

extern "C" fn refresh_pid_in_child() {
    // Runs in the child right after fork(): only async-signal-safe work (getpid, a store).
    PID.store(getpid(), Ordering::Release);
}

/// The current process id.
pub fn current_pid() -> u32 {
    let pid = PID.load(Ordering::Acquire);
    if pid != 0 {
        return pid;
    }
    FORK_HANDLER.call_once(|| {
        // SAFETY: registers a handler that only calls getpid and stores an atomic. If
        // registration fails, the cache is not used: every call asks getpid.
        let registered =
            unsafe { libc::pthread_atfork(None, None, Some(refresh_pid_in_child)) } == 0;
        if registered {
            PID.store(getpid(), Ordering::Release);
        }
    });
    match PID.load(Ordering::Acquire) {
        0 => getpid(),
        pid => pid,
    }
}

/// Locks a std mutex, ignoring poisoning (a panic while holding it was contained; the
/// data is still usable). allot uses std's futex-based mutexes and condition variables
/// only: unlike `parking_lot`'s, they keep no process-wide table whose internal locks a
/// forked child could inherit held by a thread that does not exist in it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A worker (thread, connections, locks) owned by one process. After `fork()` the
/// child's first [`PerProcess::ensure`] abandons the parent's worker without touching
/// it — it may hold locked mutexes and its sockets are shared with the parent — and
/// starts its own. Lookups are lock-free.
pub struct PerProcess<W> {
    /// The pid that owns `worker` (0: none started yet).
    owner_pid: AtomicU32,
    worker: ArcSwapOption<W>,
}

impl<W> Default for PerProcess<W> {
    fn default() -> Self {
        PerProcess {
            owner_pid: AtomicU32::new(0),
            worker: ArcSwapOption::empty(),
        }
    }
}

impl<W> PerProcess<W> {
    /// Starts a worker if this process has none, with `start(forked)` (`forked` is true
    /// in a child whose parent had one). When another thread of this process is
    /// starting it, returns at once; [`PerProcess::current`] may briefly be `None`.
    pub fn ensure(&self, start: impl FnOnce(bool) -> Result<W>) -> Result<()> {
        let me = current_pid();
        let owner = self.owner_pid.load(Ordering::Acquire);
        if owner == me
            || self
                .owner_pid
                .compare_exchange(owner, me, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Ok(());
        }
        if owner != 0 {
            if let Some(inherited) = self.worker.swap(None) {
                std::mem::forget(inherited);
            }
        }
        match start(owner != 0) {
            Ok(worker) => {
                self.worker.store(Some(Arc::new(worker)));
                Ok(())
            }
            Err(error) => {
                self.owner_pid.store(0, Ordering::Release);
                Err(error)
            }
        }
    }

    /// The worker of this process, started with `start` if there is none yet (waiting
    /// for another thread that is starting it).
    pub fn get_or_start(&self, start: impl Fn(bool) -> Result<W>) -> Result<Arc<W>> {
        loop {
            self.ensure(&start)?;
            if let Some(worker) = self.current() {
                return Ok(worker);
            }
            std::thread::yield_now();
        }
    }

    /// The worker of this process, if one was started here.
    pub fn current(&self) -> Option<Arc<W>> {
        if self.owned_here() {
            self.worker.load_full()
        } else {
            None
        }
    }

    /// Whether this process started (or is starting) the worker.
    pub fn owned_here(&self) -> bool {
        self.owner_pid.load(Ordering::Acquire) == current_pid()
    }

    /// Takes this process's worker to stop it; a worker inherited across a fork is
    /// forgotten instead (it is not ours to stop or join).
    pub fn take_own(&self) -> Option<Arc<W>> {
        let worker = self.worker.swap(None)?;
        if self.owned_here() {
            Some(worker)
        } else {
            std::mem::forget(worker);
            None
        }
    }
}

impl<W> Drop for PerProcess<W> {
    /// A worker inherited across a fork is forgotten, never dropped; this process's own
    /// worker is dropped normally (owners stop it first with [`PerProcess::take_own`]).
    fn drop(&mut self) {
        if !self.owned_here() {
            if let Some(inherited) = self.worker.swap(None) {
                std::mem::forget(inherited);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_pid_is_the_process_id() {
        assert_eq!(current_pid(), std::process::id());
        assert_eq!(current_pid(), std::process::id());
    }
}
