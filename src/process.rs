//! The process we run in: fork detection compares pids.

/// The current process id.
pub fn current_pid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    u32::try_from(pid).unwrap_or(0)
}
