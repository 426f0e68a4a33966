//! Test helpers that drive allot through its C ABI exactly as a C caller would:
//! NUL-terminated JSON in, caller-owned JSON out, freed with `allot_string_free`.
#![allow(dead_code)]

pub mod marshal;
pub mod server;

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;

use serde_json::Value;

/// The read-only shared material beside the repository (`../shared`).
pub fn shared_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative)
}

/// Reads and parses a JSON file from `../shared`.
pub fn shared_json(relative: &str) -> Value {
    let path = shared_path(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Takes ownership of a string returned by the library: copies it, frees it, parses it.
pub fn take(ptr: *mut c_char) -> Value {
    assert!(!ptr.is_null(), "allot returned NULL");
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .expect("UTF-8 response")
        .to_owned();
    unsafe { allot::ffi::allot_string_free(ptr) };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("response is not JSON ({e}): {text}"))
}

/// `allot_init` with a JSON document: the handle, or the error envelope.
pub fn init(config: &Value) -> Result<u64, Value> {
    init_raw(&config.to_string())
}

/// `allot_init` with raw text.
pub fn init_raw(config: &str) -> Result<u64, Value> {
    let c = CString::new(config).unwrap();
    let mut error: *mut c_char = std::ptr::null_mut();
    let handle = unsafe { allot::ffi::allot_init(c.as_ptr(), &mut error) };
    if handle == 0 {
        Err(take(error))
    } else {
        assert!(error.is_null(), "error_json must be NULL on success");
        Ok(handle)
    }
}

/// `allot_init` that must succeed.
pub fn init_ok(config: &Value) -> u64 {
    init(config).unwrap_or_else(|e| panic!("allot_init failed: {e}"))
}

/// `allot_start`, parsed.
pub fn start(handle: u64, timeout_ms: u32) -> Value {
    take(allot::ffi::allot_start(handle, timeout_ms))
}

/// `allot_evaluate` with a JSON request, parsed.
pub fn evaluate(handle: u64, request: &Value) -> Value {
    evaluate_raw(handle, &request.to_string())
}

/// `allot_evaluate` with raw text, parsed.
pub fn evaluate_raw(handle: u64, request: &str) -> Value {
    let c = CString::new(request).unwrap();
    take(unsafe { allot::ffi::allot_evaluate(handle, c.as_ptr()) })
}

/// `allot_fetch` with a JSON request, parsed.
pub fn fetch(handle: u64, request: &Value) -> Value {
    let c = CString::new(request.to_string()).unwrap();
    take(unsafe { allot::ffi::allot_fetch(handle, c.as_ptr()) })
}

/// `allot_status`, parsed.
pub fn status(handle: u64) -> Value {
    take(allot::ffi::allot_status(handle))
}

/// The `ok` member of an envelope; panics with the whole envelope otherwise.
pub fn ok(envelope: Value) -> Value {
    match envelope.get("ok") {
        Some(v) => v.clone(),
        None => panic!("expected ok, got {envelope}"),
    }
}

/// The error code of an error envelope; panics with the whole envelope otherwise.
pub fn error_code(envelope: &Value) -> String {
    envelope["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected error, got {envelope}"))
        .to_owned()
}

/// Polls `condition` every 5 ms until it holds (`true`) or `limit` passes (`false`).
pub fn wait_until(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Forks; the child runs `body` and exits at once, with status 0 when it returned `Ok`
/// (else it prints the message and exits with 1). Returns the child's pid to the parent.
pub fn fork_child(body: impl FnOnce() -> Result<(), String>) -> libc::pid_t {
    // SAFETY: the child only calls allot and async-signal-safe functions until _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match body() {
            Ok(()) => 0,
            Err(message) => {
                eprintln!("child: {message}");
                1
            }
        };
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits (up to 20 s) for a forked child to exit and asserts it exited with status 0;
/// a child that hangs (a deadlock after fork) is killed and fails the test.
pub fn wait_for_child(pid: libc::pid_t) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut wait_status = 0;
    loop {
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut wait_status, libc::WNOHANG) } == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: killing our own child that hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("child {pid} hung (deadlock?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(wait_status),
        "child {pid} did not exit normally"
    );
    assert_eq!(libc::WEXITSTATUS(wait_status), 0, "child {pid} failed");
}

// The fast lane (allot_evaluate_compact, allot_result_json), as a binding drives it.

/// Calls a fast-lane export with a buffer that grows until the answer fits: the answer's
/// bytes, or the parsed error document.
pub fn call(mut export: impl FnMut(*mut u8, usize) -> i64) -> Result<Vec<u8>, Value> {
    let mut buffer = vec![0u8; 16];
    loop {
        let n = export(buffer.as_mut_ptr(), buffer.len());
        let length = usize::try_from(n.unsigned_abs()).unwrap();
        if length > buffer.len() {
            buffer.resize(length, 0);
            continue;
        }
        buffer.truncate(length);
        return if n >= 0 {
            Ok(buffer)
        } else {
            Err(serde_json::from_slice(&buffer).expect("error documents are JSON"))
        };
    }
}

pub fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// `allot_evaluate_compact`: the snapshot id and the result ids.
pub fn compact(handle: u64, user: &Value, keys: Option<&Value>) -> Result<(u64, Vec<u32>), Value> {
    let user = c(&user.to_string());
    let keys = keys.map(|k| c(&k.to_string()));
    let keys_ptr = keys.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
    let bytes = call(|out, capacity| unsafe {
        allot::ffi::allot_evaluate_compact(handle, user.as_ptr(), keys_ptr, out, capacity)
    })?;
    let snapshot = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let count = u32_at(&bytes, 8) as usize;
    assert_eq!(bytes.len(), 12 + 4 * count, "answer length");
    let ids = (0..count).map(|i| u32_at(&bytes, 12 + 4 * i)).collect();
    Ok((snapshot, ids))
}

/// `allot_result_json`: the parsed document, or `None` for a snapshot no longer current.
pub fn result_json(handle: u64, snapshot: u64, id: u32) -> Result<Option<Value>, Value> {
    let bytes = call(|out, capacity| unsafe {
        allot::ffi::allot_result_json(handle, snapshot, id, out, capacity)
    })?;
    Ok((!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap()))
}

/// The variants the fast lane gives, in the shape of `allot_evaluate`'s `"variants"`.
pub fn fast_variants(handle: u64, user: &Value, keys: Option<&Value>) -> Value {
    let (snapshot, ids) = compact(handle, user, keys).unwrap();
    let mut variants = serde_json::Map::new();
    for id in ids {
        let result = result_json(handle, snapshot, id).unwrap().expect("current");
        let key = result["flag_key"].as_str().unwrap().to_owned();
        variants.insert(key, result["variant"].clone());
    }
    Value::Object(variants)
}
