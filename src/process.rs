//! The process we run in: fork detection by pid, and [`PerProcess`], the holder of a
//! background worker that belongs to the process that started it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::error::Result;

/// The current process id.
pub fn current_pid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    u32::try_from(pid).unwrap_or(0)
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
