//! Background threads started with `pthread_create` directly.
//!
//! `std::thread::spawn` takes a process-wide mutex as every thread starts and ends (the
//! stack-overflow handler's thread registry). A process that forks while one of its
//! threads is starting or ending leaves that mutex locked in the child forever, and
//! every `std::thread::spawn` in the child then hangs. allot's workers start in forked
//! children, so they are started here, without that registry (a stack overflow on them
//! still crashes, without std's message).

use std::ffi::{c_void, CString};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The stack size of a worker thread.
const STACK_BYTES: usize = 2 << 20;

/// A running thread, joined with [`Thread::join`].
pub struct Thread {
    handle: libc::pthread_t,
    finished: Arc<AtomicBool>,
}

type Body = Box<dyn FnOnce() + Send>;

struct Start {
    body: Body,
    finished: Arc<AtomicBool>,
}

extern "C" fn run(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Box<Start>` leaked by `spawn`, handed over to this thread.
    let start = unsafe { Box::from_raw(arg.cast::<Start>()) };
    let Start { body, finished } = *start;
    // No unwinding across this extern "C" frame: a panic ends the thread.
    let _ = catch_unwind(AssertUnwindSafe(body));
    finished.store(true, Ordering::Release);
    std::ptr::null_mut()
}

impl Thread {
    /// Starts `body` on a new thread named `name` (the name is best effort).
    pub fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<Thread> {
        let finished = Arc::new(AtomicBool::new(false));
        let start = Box::into_raw(Box::new(Start {
            body: Box::new(body),
            finished: Arc::clone(&finished),
        }));
        // SAFETY: plain pthread calls on local storage; `start` is handed to the thread
        // only if pthread_create succeeds, and reclaimed here otherwise.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_attr_init(&mut attr) != 0 {
                drop(Box::from_raw(start));
                return Err(io::Error::other("pthread_attr_init failed"));
            }
            libc::pthread_attr_setstacksize(&mut attr, STACK_BYTES);
            let mut handle: libc::pthread_t = std::mem::zeroed();
            let rc = libc::pthread_create(&mut handle, &attr, run, start.cast());
            libc::pthread_attr_destroy(&mut attr);
            if rc != 0 {
                drop(Box::from_raw(start));
                return Err(io::Error::from_raw_os_error(rc));
            }
            name_thread(handle, name);
            Ok(Thread { handle, finished })
        }
    }

    /// Whether the thread's body returned.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Waits for the thread to end.
    pub fn join(self) {
        // SAFETY: `handle` is a joinable thread of this process, joined once (by value).
        unsafe { libc::pthread_join(self.handle, std::ptr::null_mut()) };
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn name_thread(handle: libc::pthread_t, name: &str) {
    // Linux thread names are at most 15 bytes.
    let short: String = name.chars().take(15).collect();
    if let Ok(name) = CString::new(short) {
        // SAFETY: a live thread handle and a NUL-terminated name.
        unsafe { libc::pthread_setname_np(handle, name.as_ptr()) };
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn name_thread(_handle: libc::pthread_t, name: &str) {
    // Other platforms name only the calling thread; names are cosmetic.
    let _ = CString::new(name);
}

/// Runs `body` on the calling thread and on up to `helpers` more threads (started like
/// [`Thread::spawn`], so a forked child can use it), and returns the results of the runs
/// that finished, once every helper has ended. A helper that cannot be started leaves its
/// share of the work to the others; a helper's panic loses only its own result.
pub fn fan_out<R: Send + 'static>(
    name: &str,
    helpers: usize,
    body: &(dyn Fn() -> R + Sync),
) -> Vec<R> {
    struct Shared<'a, R> {
        body: &'a (dyn Fn() -> R + Sync),
        results: std::sync::Mutex<Vec<R>>,
    }
    /// Joins the helpers when dropped, also while the calling thread unwinds, so that no
    /// helper outlives `Shared`.
    struct JoinAll(Vec<Thread>);
    impl Drop for JoinAll {
        fn drop(&mut self) {
            for thread in self.0.drain(..) {
                thread.join();
            }
        }
    }
    let shared = Shared {
        body,
        results: std::sync::Mutex::new(Vec::new()),
    };
    let address = &shared as *const Shared<'_, R> as usize;
    let mut running = JoinAll(Vec::with_capacity(helpers));
    for _ in 0..helpers {
        let helper = move || {
            // SAFETY: `shared` lives on the spawning frame until `running` has joined
            // this thread (JoinAll joins before the frame ends, even when unwinding).
            let shared = unsafe { &*(address as *const Shared<'_, R>) };
            let result = (shared.body)();
            if let Ok(mut results) = shared.results.lock() {
                results.push(result);
            }
        };
        if let Ok(thread) = Thread::spawn(name, helper) {
            running.0.push(thread);
        }
    }
    let own = body();
    drop(running);
    let mut results = shared
        .results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.push(own);
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fan_out_runs_the_body_on_every_helper_and_the_caller() {
        let runs = AtomicUsize::new(0);
        let body = || runs.fetch_add(1, Ordering::Relaxed);
        let mut results = fan_out("allot-test", 3, &body);
        results.sort_unstable();
        assert_eq!(results, vec![0, 1, 2, 3]);
        assert_eq!(runs.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_panicking_helper_loses_only_its_result() {
        let caller = std::thread::current().id();
        let body = || {
            if std::thread::current().id() != caller {
                panic!("helper fails");
            }
            7
        };
        assert_eq!(fan_out("allot-test", 2, &body), vec![7]);
    }
}
