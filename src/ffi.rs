//! The C ABI: every `allot_*` export. Each one runs inside `catch_unwind`, checks every
//! pointer and string it is given, and answers with a JSON envelope that the caller owns,
//! or (the fast lane: `allot_evaluate_compact`, `allot_evaluate_compact_marshal`,
//! `allot_result_json`, `allot_eppo_assign`, `allot_eppo_assign_marshal`) with a compact
//! answer written into a buffer the caller owns.

use std::cell::Cell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::amplitude::cookie;
use crate::client::{self, TypedAssignment, UserInput};
use crate::eppo::attributes::BorrowedAttributes;
use crate::eppo::model::VariationType;
use crate::error::{Error, ErrorCode, Result};
use crate::{marshal, registry};

/// Largest configuration document `allot_init` accepts, in bytes (64 MiB); also the
/// default cap on a configuration the server sends.
pub const MAX_CONFIG_BYTES: usize = 64 << 20;

/// Largest request document `allot_evaluate` and `allot_fetch` accept, in bytes (1 MiB);
/// also the cap on every other string argument.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Largest output of one `allot_evaluate` call, in bytes (16 MiB): an Eppo batch whose
/// result would be larger (each item repeats its `default` and, in its event,
/// `subject_attributes`), or an Amplitude request whose exposure events would repeat the
/// user's ids and context more, is refused with `input_too_large` instead.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

/// Runs `body`, turning a panic into an `internal` error.
fn guarded<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::new(
            ErrorCode::Internal,
            format!("internal error caught at the C boundary: {detail}"),
        ))
    })
}

/// Wraps a result into the `{"ok": …}` / `{"error": …}` envelope.
fn envelope(result: Result<String>) -> String {
    match result {
        // `ok` is JSON text serde already wrote; as a `RawValue` member it would be parsed
        // again (`RawValue::from_string` validates), a cost that grows with the answer.
        Ok(ok) => {
            let mut out = String::with_capacity(ok.len() + 7);
            out.push_str("{\"ok\":");
            out.push_str(&ok);
            out.push('}');
            out
        }
        Err(err) => serde_json::json!({ "error": err }).to_string(),
    }
}

/// Hands a string to the caller as a heap C string (freed with `allot_string_free`).
fn into_c_string(s: String) -> *mut c_char {
    // JSON text never contains a NUL byte (serde escapes it as \u0000), so this only
    // falls back for a string built elsewhere by mistake.
    CString::new(s)
        .unwrap_or_else(|_| {
            CString::new(
                r#"{"error":{"code":"internal","message":"response contained a NUL byte"}}"#,
            )
            .expect("static text has no NUL")
        })
        .into_raw()
}

/// Runs an export that answers with an envelope.
fn respond(body: impl FnOnce() -> Result<String>) -> *mut c_char {
    into_c_string(envelope(guarded(body)))
}

/// Reads a caller's NUL-terminated string, checking NULL, the size cap and UTF-8.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that stays valid for `'a`.
unsafe fn read_str<'a>(ptr: *const c_char, name: &str, max_bytes: usize) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.len() > max_bytes {
        return Err(Error::new(
            ErrorCode::InputTooLarge,
            format!(
                "{name} is {} bytes; the limit is {max_bytes} bytes",
                bytes.len()
            ),
        ));
    }
    marshal::utf8(bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidUtf8,
            format!(
                "{name} is not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Creates a client from a JSON configuration and returns its handle.
///
/// `config_json`: a NUL-terminated UTF-8 JSON object of at most 64 MiB, borrowed for the
/// duration of the call. `{"provider": "amplitude", "mode": "local" | "remote",
/// "api_key": "…", "flags": [ … ] | "flags_path": "…", "server_url"?, "server_zone"?,
/// "cohort_sync"?: {"api_key", "secret_key", "max_cohort_size"?,
/// "cohort_polling_interval_millis"?, "cohort_server_url"?, …}, …}`; see
/// docs/amplitude.md and docs/eppo.md for every field. Keys and secrets never appear in
/// errors, logs or the status. `flags_path` / `configuration_path` must name a regular
/// file of at most 64 MiB (`input_too_large` beyond; a FIFO, device or directory is
/// `invalid_config`, read without blocking). A flag whose regex compiles to more than
/// 1 MiB, or past the configuration's 16 MiB budget for compiled patterns, is left out and
/// listed in `flag_errors` (`invalid_flag`).
///
/// Returns a non-zero handle on success. On failure returns 0 and, when `error_json` is
/// not NULL, stores in `*error_json` a `{"error": {"code", "message"}}` document that the
/// caller owns and frees with `allot_string_free` (on success `*error_json` is set to NULL).
///
/// Thread-safe: may be called from any thread at any time.
///
/// # Safety
/// `config_json` must be NULL or a NUL-terminated string valid for the duration of the
/// call; `error_json` must be NULL or point to writable storage for one `char *`.
#[no_mangle]
pub unsafe extern "C" fn allot_init(
    config_json: *const c_char,
    error_json: *mut *mut c_char,
) -> u64 {
    let result = guarded(|| {
        // SAFETY: the caller's contract for config_json.
        let text = unsafe { read_str(config_json, "config_json", MAX_CONFIG_BYTES) }?;
        let client = client::create(text)?;
        Ok(registry::insert(client))
    });
    let (handle, error) = match result {
        Ok(handle) => (handle, std::ptr::null_mut()),
        Err(err) => (0, into_c_string(envelope(Err(err)))),
    };
    if error_json.is_null() {
        if !error.is_null() {
            // SAFETY: `error` was just produced by CString::into_raw.
            drop(unsafe { CString::from_raw(error) });
        }
    } else {
        // SAFETY: the caller passed a writable `char **`.
        unsafe { *error_json = error };
    }
    handle
}

/// Starts the client, waiting at most `timeout_ms` milliseconds.
///
/// Offline local clients (only `flags`/`flags_path`) are ready at once. Networked local
/// clients fetch `{server_url}/sdk/v2/flags?v=0` (or follow the stream) and return once
/// the first fetch finished; then a background thread keeps the flags current. Without
/// a bootstrap configuration, a first fetch that failed gives its error (`network`,
/// `http_status`, `unauthorized`, …) and no answer within the timeout gives `timeout`;
/// the background thread keeps trying either way (except after `unauthorized`). With a
/// bootstrap configuration it is served meanwhile and the call succeeds. Remote clients
/// have nothing to load. Eppo clients start polling `{base_url}/flag-config/v1/config`;
/// with `initial_configuration`/`configuration_path` the call returns at once, without
/// one it waits for the first fetch in the same way.
///
/// Returns `{"ok": <status document>}` (see `allot_status`) or an error envelope; never
/// NULL. The caller owns the result and frees it with `allot_string_free`. Calling it
/// again is harmless. Thread-safe.
#[no_mangle]
pub extern "C" fn allot_start(client: u64, timeout_ms: u32) -> *mut c_char {
    respond(|| registry::get(client)?.start(Duration::from_millis(u64::from(timeout_ms))))
}

/// Evaluates flags locally.
///
/// `request_json`: a NUL-terminated UTF-8 JSON object of at most 1 MiB, borrowed for the
/// call.
///
/// Amplitude: `{"user": {<User fields>}, "flag_keys"?: ["…"], "tracks_assignment"?: bool,
/// "tracks_exposure"?: bool, "timestamp_millis"?: N}` →
/// `{"ok": {"variants": {"<flag>": {"key", "value"?, "payload"?, "metadata"?}}}}` with every
/// evaluated variant, defaults and dependency parents included.
///
/// Eppo: `{"flag_key", "subject_key", "subject_attributes"?: {…}, "variation_type":
/// "STRING"|"INTEGER"|"NUMERIC"|"BOOLEAN"|"JSON", "default", "details"?: bool,
/// "now"?: "<RFC 3339>"}` → `{"ok": {"value", "variation_key", "code", "allocation_key",
/// "events": [...], "details"?}}`; a batch `{"assignments": [<request>, …], <shared
/// fields>}` → `{"ok": {"assignments": [<result>, …]}}`; a batch whose result would exceed
/// 16 MiB is `input_too_large`, and `now` must lie in the years 0001–9999 (UTC).
/// Evaluation problems return the default with a code; only malformed requests are errors.
/// Regex conditions (both providers) do not search values longer than 8 KiB: such a value
/// matches no pattern. Cost is linear in the request and the flags evaluated (with their
/// dependencies), not in the whole configuration.
///
/// Eppo bandit (a request with `actions`): `{"flag_key", "subject_key",
/// "subject_attributes"?: <attributes>, "actions": {"<action key>": <attributes>, …},
/// "default": "<string>", "details"?: bool, "now"?}`, where `<attributes>` is a plain
/// object (numbers are numeric attributes, strings and booleans categorical, nulls missing)
/// or `{"numeric_attributes": {…}, "categorical_attributes": {…}}` → `{"ok": {"variation",
/// "action": "…"|null, "code", "bandit_key", "action_probability", "optimality_gap",
/// "events": [<assignment event>], "bandit_events": [<bandit event>], "details"?}}`. The
/// flag is assigned as a STRING flag; when the variation served is a bandit with a model
/// and actions are given, the bandit chooses an action. See docs/eppo.md.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`. Any
/// number of threads may call it at once; they share no lock, except for a few map
/// operations when recording events (Amplitude tracking, Eppo `assignment_cache`). Those
/// locks belong to one process: a forked child starts with fresh ones.
/// # Safety
/// `request_json` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_evaluate(client: u64, request_json: *const c_char) -> *mut c_char {
    respond(|| {
        let client = registry::get(client)?;
        // SAFETY: the caller's contract for request_json.
        let request = unsafe { read_str(request_json, "request_json", MAX_REQUEST_BYTES) }?;
        client.evaluate(request)
    })
}

/// Evaluates flags remotely (Amplitude `"mode": "remote"`).
///
/// `request_json`: `{"user": {…}, "flag_keys"?: ["…"], "tracks_assignment"?: bool,
/// "tracks_exposure"?: bool}` (at most 1 MiB). Sends `POST {server_url}/sdk/v2/vardata?v=0`
/// with retries as configured. Returns `{"ok": {"variants": {…}}}` or an error envelope
/// (`network`, `timeout`, `http_status`, `unauthorized`, `invalid_response`; `unsupported`
/// for local clients); never NULL. Blocks the calling thread for the request and its
/// retries. The caller owns the result and frees it with `allot_string_free`. Thread-safe.
/// # Safety
/// `request_json` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_fetch(client: u64, request_json: *const c_char) -> *mut c_char {
    respond(|| {
        let client = registry::get(client)?;
        // SAFETY: the caller's contract for request_json.
        let request = unsafe { read_str(request_json, "request_json", MAX_REQUEST_BYTES) }?;
        client.fetch(request)
    })
}

/// Describes the client. A local client (Amplitude `"mode": "local"` and Eppo, the same
/// shape): `{"ok": {"provider", "mode": "local", "started", "initialized", "flag_count",
/// "flag_keys": [<sorted keys>], "source": "bootstrap"|"poll"|"stream"|null, "loaded_at":
/// <ms since the epoch>|null, "last_success_at": <ms>|null, "last_error": {"code",
/// "message", "at"}|null, "etag", "server_url", "stream_server_url", "polling",
/// "streaming", "flag_errors": [{"flag_key", "index"?, "code", "message"}], …}}`;
/// Amplitude adds `"assignment_events"` and `"exposure_events"` (see `allot_flush`) and
/// `"cohort_sync"`: `null`, or `{"server_url", "polling", "polling_interval_millis",
/// "cohorts": {<id>: {"group_type", "size", "member_count", "last_modified",
/// "last_success_at", "last_error"}}}`; Eppo
/// `"environment"` and `"published_at"` (ms). A remote client: `{"ok": {"provider",
/// "mode": "remote", "started", "server_url", "last_success_at", "last_error"}}`. Keys
/// never appear in it.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn allot_status(client: u64) -> *mut c_char {
    respond(|| registry::get(client)?.status())
}

/// Sends the client's queued analytics events (Amplitude `assignment_config` /
/// `exposure_config`), waiting at most `timeout_ms` milliseconds.
///
/// Returns `{"ok": {"assignment_events": {"queued", "sent", "dropped", "last_success_at",
/// "last_error"} | null,
/// "exposure_events": … | null}}` once the queues are empty, or a `timeout` error with
/// the number of events still queued (they stay queued). Clients without event tracking
/// answer `{"ok": {}}` at once. Never NULL; the caller owns the result and frees it with
/// `allot_string_free`. Thread-safe.
#[no_mangle]
pub extern "C" fn allot_flush(client: u64, timeout_ms: u32) -> *mut c_char {
    respond(|| registry::get(client)?.flush(Duration::from_millis(u64::from(timeout_ms))))
}

/// Stops a client's background work for good: polling and streaming end (the thread is
/// joined), and queued analytics events are sent, waiting at most `timeout_ms`
/// milliseconds. The client keeps answering `allot_evaluate` with the last
/// configuration it loaded (as the vendors' SDKs do after `stop()`/`shutdown()`); a
/// later `allot_start` does not restart the work. Returns the status document, or a
/// `timeout` error when events are still queued (they stay queued). Idempotent.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn allot_stop(client: u64, timeout_ms: u32) -> *mut c_char {
    respond(|| registry::get(client)?.stop(Duration::from_millis(u64::from(timeout_ms))))
}

/// Frees a client. Idempotent: zero, unknown and already freed handles are ignored.
/// Calls already running on the handle finish normally; later calls get `unknown_handle`.
/// A networked client's background thread is stopped (a request in flight is
/// interrupted) and joined before the last reference goes away. Thread-safe.
#[no_mangle]
pub extern "C" fn allot_free(client: u64) {
    // Dropping a client stops its work; nothing useful can be reported from here, and a
    // panic must not cross the boundary.
    let _ = guarded(|| {
        drop(registry::remove(client));
        Ok(())
    });
}

/// Frees a string returned by any `allot_*` function. NULL is ignored. Each string must
/// be freed exactly once, and only with this function.
///
/// # Safety
/// `s` must be NULL or a string returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn allot_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: by contract `s` came from CString::into_raw in this library.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Runs a fast-lane export: `body` appends its answer to a scratch buffer, which is
/// copied into the caller's `out` when it fits. Returns the answer's length (written when
/// at most `capacity`, otherwise nothing is written), or on error minus the length of the
/// `{"error": {"code", "message"}}` document (written under the same rule).
///
/// # Safety
/// `out` must be NULL or point to `capacity` writable bytes.
unsafe fn answer_into(
    out: *mut u8,
    capacity: usize,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> i64 {
    let mut answer = ANSWER.take();
    answer.clear();
    let result = guarded(|| {
        if out.is_null() && capacity > 0 {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                "out is NULL but capacity is not 0",
            ));
        }
        body(&mut answer)
    });
    let error;
    let (bytes, sign) = match result {
        Ok(()) => (answer.as_slice(), 1),
        Err(err) => {
            error = envelope(Err(err));
            (error.as_bytes(), -1)
        }
    };
    if bytes.len() <= capacity && !bytes.is_empty() {
        // SAFETY: `out` has `capacity` writable bytes (checked non-NULL above, as
        // capacity > 0) and cannot overlap our own buffer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
    }
    let length = sign * i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    if answer.capacity() <= KEPT_ANSWER_BYTES {
        ANSWER.set(answer);
    }
    length
}

/// The largest answer buffer a thread keeps for its next fast-lane call.
const KEPT_ANSWER_BYTES: usize = 64 * 1024;

thread_local! {
    /// The fast lane's answer buffer, reused by the thread's next call (an allocation
    /// less per call; plain data, never handed out).
    static ANSWER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Reads an optional string argument: NULL gives `None`.
///
/// # Safety
/// As [`read_str`].
unsafe fn read_optional_str<'a>(
    ptr: *const c_char,
    name: &str,
    max_bytes: usize,
) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: the caller's contract.
        unsafe { read_str(ptr, name, max_bytes) }.map(Some)
    }
}

/// Fast lane: evaluates Amplitude flags locally and answers with result ids instead of
/// JSON.
///
/// `user_json`: the user object (the `"user"` member of an `allot_evaluate` request), at
/// most 1 MiB. `options_json`: NULL for every flag and the default tracking; a JSON array
/// of flag keys (their dependencies are evaluated too); or an object with any of the
/// `allot_evaluate` request's `flag_keys`, `tracks_assignment` and `tracks_exposure`
/// (other members are refused). Both NUL-terminated UTF-8, borrowed for the call.
/// Assignment and exposure events are tracked as by `allot_evaluate` with those options.
///
/// The answer, written into the caller's buffer `out` of `capacity` bytes, is binary,
/// little-endian: a `uint64_t` snapshot id, a `uint32_t` count, then `count` `uint32_t`
/// result ids, one per flag that produced a variant, parents first (12 + 4·count bytes).
/// The snapshot id is unique in the process and changes whenever the configuration is
/// swapped; 0 means no configuration is loaded yet (count is then 0). A result id stands
/// for one flag and one pre-serialized variant within its snapshot: look it up once with
/// `allot_result_json` and cache it under `(snapshot id, result id)`; drop the cache when
/// the snapshot id changes.
///
/// Returns the length of the answer. When it is larger than `capacity`, nothing is
/// written: call again with at least that capacity (`out` may be NULL when `capacity` is
/// 0). A negative value is an error: minus the length of a `{"error": {"code", "message"}}`
/// document (`unknown_handle`, `not_started`, `invalid_argument`, `invalid_json`,
/// `invalid_utf8`, `input_too_large`, `unsupported` for Eppo and remote clients), written
/// into `out` under the same rule. No memory is handed to the caller.
///
/// Lock-free with respect to other evaluating threads; any number of threads may call it
/// at once.
///
/// # Safety
/// `user_json` must be NULL or a NUL-terminated string, `options_json` likewise, both
/// valid for the call; `out` must be NULL or point to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn allot_evaluate_compact(
    client: u64,
    user_json: *const c_char,
    options_json: *const c_char,
    out: *mut u8,
    capacity: usize,
) -> i64 {
    // SAFETY: the caller's contract for out and capacity.
    unsafe {
        answer_into(out, capacity, |answer| {
            let client = registry::get(client)?;
            // SAFETY: the caller's contract for the two strings.
            let user = read_str(user_json, "user_json", MAX_REQUEST_BYTES)?;
            let options = read_optional_str(options_json, "options_json", MAX_REQUEST_BYTES)?;
            client.evaluate_compact(UserInput::Json(user), options, answer)
        })
    }
}

/// Fast lane: `allot_evaluate_compact` with the user given in a compact binary form,
/// `user_len` bytes at `user` (at most 1 MiB): CPython's `marshal.dumps(fields, 2)` of a
/// tuple of exactly 21 items, the fields of the Python SDK's `User` in this order:
/// `device_id`, `user_id`, `country`, `city`, `region`, `dma`, `language`, `platform`,
/// `version`, `os`, `device_manufacturer`, `device_brand`, `device_model`, `carrier`,
/// `library`, `ip_address`, `user_properties`, `groups`, `group_properties`,
/// `group_cohort_ids`, `cohort_ids`. `None` is an absent field. Each item has the type
/// the same member of a JSON user has; values are None, bool, int (at most 64 bits),
/// float (finite), str, list, tuple or dict with str keys. Anything else (another
/// length, type or encoding) is refused with `invalid_argument`: send the user as JSON
/// with `allot_evaluate_compact` instead, which answers the same user identically.
///
/// `options_json`, the answer, its length, the errors, ownership and thread safety are
/// those of `allot_evaluate_compact`.
///
/// # Safety
/// `user` must be NULL or point to `user_len` readable bytes, `options_json` NULL or a
/// NUL-terminated string, both valid for the call; `out` must be NULL or point to
/// `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn allot_evaluate_compact_marshal(
    client: u64,
    user: *const u8,
    user_len: usize,
    options_json: *const c_char,
    out: *mut u8,
    capacity: usize,
) -> i64 {
    // SAFETY: the caller's contract for out and capacity.
    unsafe {
        answer_into(out, capacity, |answer| {
            let client = registry::get(client)?;
            // SAFETY: the caller's contract for the user bytes and the keys.
            let user = read_bytes(user, user_len, "user")?;
            let options = read_optional_str(options_json, "options_json", MAX_REQUEST_BYTES)?;
            client.evaluate_compact(UserInput::Marshal(user), options, answer)
        })
    }
}

/// Reads a caller's byte array of `len` bytes, checking NULL and the size cap.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay valid for `'a`.
unsafe fn read_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("{name} is NULL"),
        ));
    }
    if len > MAX_REQUEST_BYTES {
        return Err(Error::new(
            ErrorCode::InputTooLarge,
            format!("{name} is {len} bytes; the limit is {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    // SAFETY: non-null, `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Fast lane: the JSON of one result id of `allot_evaluate_compact`:
/// `{"flag_key": "…", "variant": {"key", "value"?, "payload"?, "metadata"?}}`, the same
/// variant `allot_evaluate` gives.
///
/// Returns the length written into `out` (or needed, nothing written, when larger than
/// `capacity`). Returns 0 when `snapshot_id` is no longer the client's current snapshot:
/// evaluate again and use the new ids. A negative value is an error written as for
/// `allot_evaluate_compact` (`unknown_handle`; `invalid_argument` for a result id the
/// snapshot does not have; `unsupported` for Eppo and remote clients). No memory is
/// handed to the caller. Thread-safe and lock-free.
///
/// # Safety
/// `out` must be NULL or point to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn allot_result_json(
    client: u64,
    snapshot_id: u64,
    result_id: u32,
    out: *mut u8,
    capacity: usize,
) -> i64 {
    // SAFETY: the caller's contract for out and capacity.
    unsafe {
        answer_into(out, capacity, |answer| {
            registry::get(client)?.result_json(snapshot_id, result_id, answer)
        })
    }
}

/// Fast lane: one typed Eppo assignment, answered without a JSON envelope.
///
/// `flag_key`, `subject_key`: NUL-terminated UTF-8 strings; `subject_attributes_json`: a
/// JSON object of attributes, or NULL for none (each at most 1 MiB, borrowed for the
/// call). `variation_type`: 0 `STRING`, 1 `INTEGER`, 2 `NUMERIC`, 3 `BOOLEAN`, 4 `JSON`.
/// `wants_event`: whether the answer should carry the assignment event (the
/// deduplication cache, when configured, is consulted either way, as by `allot_evaluate`).
///
/// The answer written into `out` is binary. A field is a little-endian `uint32_t` length
/// then that many UTF-8 bytes. Byte 0 holds flags: bit 0 set when a variation is served,
/// bit 1 set when an event is carried. When bit 1 is set, the field `timestamp` (RFC 3339)
/// comes first. Then the field `code` (the flag evaluation code, such as `MATCH` or
/// `FLAG_UNRECOGNIZED_OR_DISABLED`: a binding reports errors and warnings from it when no
/// variation is served). When bit 0 is set: `value` (for `STRING` the string itself,
/// otherwise its JSON text), `variation_key`, `allocation_key`; when it is clear the
/// caller's default applies. When bit 1 is set, last: `extra_logging` (a JSON object, or
/// empty for none). Everything after the timestamp is the same for every call served by
/// the same split, so a binding may cache what it decodes under those bytes. The
/// event `allot_evaluate` gives is then `{"featureFlag": flag_key, "allocation":
/// allocation_key, "experiment": flag_key + "-" + allocation_key, "variation":
/// variation_key, "subject": subject_key, "subjectAttributes": <the attributes>,
/// "timestamp", "metaData": {"sdkName": "allot", "sdkVersion": allot_version(),
/// "coreVersion": allot_version()}, …extra_logging}`.
///
/// Returns the length as `allot_evaluate_compact` does (an answer too long for `out` is
/// not handed out, and `assignment_cache` does not count its event as logged), with
/// errors (`unknown_handle`,
/// `not_started`, `invalid_argument`, `invalid_json`, `invalid_utf8`, `input_too_large`,
/// `unsupported` for Amplitude clients) as minus the length of an error document. No
/// memory is handed to the caller. Any number of threads may call it at once.
///
/// # Safety
/// Each string must be NULL or NUL-terminated and valid for the call; `out` must be NULL
/// or point to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn allot_eppo_assign(
    client: u64,
    flag_key: *const c_char,
    subject_key: *const c_char,
    subject_attributes_json: *const c_char,
    variation_type: u32,
    wants_event: bool,
    out: *mut u8,
    capacity: usize,
) -> i64 {
    // SAFETY: the caller's contract for the strings, out and capacity.
    unsafe {
        eppo_assign(
            client,
            flag_key,
            subject_key,
            variation_type,
            wants_event,
            out,
            capacity,
            || {
                let text = read_optional_str(
                    subject_attributes_json,
                    "subject_attributes_json",
                    MAX_REQUEST_BYTES,
                )?;
                text.map_or(Ok(BorrowedAttributes::default()), |text| {
                    BorrowedAttributes::from_json(text).map_err(|e| {
                        Error::from_json(
                            &e,
                            "subject_attributes_json must be a JSON object",
                            ErrorCode::InvalidArgument,
                        )
                    })
                })
            },
        )
    }
}

/// Fast lane: `allot_eppo_assign` with the subject attributes given in a compact binary
/// form, `attributes_len` bytes at `attributes` (NULL for none): CPython's
/// `marshal.dumps(attributes, 2)` of a dict with str keys whose values are None, bool,
/// int (at most 64 bits), float (finite), str, list, tuple or such a dict. Anything else
/// is refused with `invalid_argument` (send JSON with `allot_eppo_assign` instead). The
/// answer, its length and every other argument are those of `allot_eppo_assign`.
///
/// # Safety
/// Each string must be NULL or NUL-terminated and valid for the call; `attributes` NULL
/// or pointing to `attributes_len` readable bytes; `out` NULL or pointing to `capacity`
/// writable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn allot_eppo_assign_marshal(
    client: u64,
    flag_key: *const c_char,
    subject_key: *const c_char,
    attributes: *const u8,
    attributes_len: usize,
    variation_type: u32,
    wants_event: bool,
    out: *mut u8,
    capacity: usize,
) -> i64 {
    // SAFETY: the caller's contract for the strings, out and capacity.
    unsafe {
        eppo_assign(
            client,
            flag_key,
            subject_key,
            variation_type,
            wants_event,
            out,
            capacity,
            || {
                if attributes.is_null() {
                    return Ok(BorrowedAttributes::default());
                }
                // SAFETY: the caller's contract for attributes.
                let bytes = read_bytes(attributes, attributes_len, "attributes")?;
                marshal::read_attributes(bytes)?.ok_or_else(|| {
                    Error::new(
                        ErrorCode::InvalidArgument,
                        "attributes must be a marshalled dict",
                    )
                })
            },
        )
    }
}

/// What both Eppo fast-lane exports do once `attributes` has read the attributes.
///
/// # Safety
/// As `allot_eppo_assign`.
#[allow(clippy::too_many_arguments)]
unsafe fn eppo_assign<'a>(
    client: u64,
    flag_key: *const c_char,
    subject_key: *const c_char,
    variation_type: u32,
    wants_event: bool,
    out: *mut u8,
    capacity: usize,
    attributes: impl FnOnce() -> Result<BorrowedAttributes<'a>>,
) -> i64 {
    // SAFETY: the caller's contract for out and capacity.
    unsafe {
        answer_into(out, capacity, |answer| {
            let client = registry::get(client)?;
            // SAFETY: the caller's contract for the strings.
            let flag_key = read_str(flag_key, "flag_key", MAX_REQUEST_BYTES)?;
            let subject_key = read_str(subject_key, "subject_key", MAX_REQUEST_BYTES)?;
            let subject_attributes = attributes()?;
            let variation_type = VariationType::from_index(variation_type).ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidArgument,
                    format!("variation_type {variation_type} is not 0 to 4"),
                )
            })?;
            client.assign_typed(
                &TypedAssignment {
                    flag_key,
                    subject_key,
                    subject_attributes: &subject_attributes,
                    variation_type,
                    wants_event,
                    capacity,
                },
                answer,
            )
        })
    }
}

/// murmur3_x86_32 of a string, as allot buckets users: `{"input": "…", "seed"?: 0}` →
/// `{"ok": {"hash": <unsigned 32-bit>}}`. For checking bucketing from other languages.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
/// # Safety
/// `request_json` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_murmur3(request_json: *const c_char) -> *mut c_char {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct HashRequest {
        input: String,
        #[serde(default)]
        seed: u32,
    }
    respond(|| {
        // SAFETY: the caller's contract for request_json.
        let text = unsafe { read_str(request_json, "request_json", MAX_REQUEST_BYTES) }?;
        let request: HashRequest = serde_json::from_str(text)
            .map_err(|e| Error::from_json(&e, "murmur3 request", ErrorCode::InvalidArgument))?;
        let hash = crate::amplitude::evaluate::murmur3_32(request.input.as_bytes(), request.seed);
        Ok(format!("{{\"hash\":{hash}}}"))
    })
}

/// The Amplitude cookie name for an API key: `{"ok": "amp_xxxxxx"}` (classic format, the
/// first 6 characters) or `{"ok": "AMP_xxxxxxxxxx"}` (`new_format`, the first 10); a
/// shorter key is an `invalid_argument` error.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
///
/// # Safety
/// `api_key` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_cookie_name(
    api_key: *const c_char,
    new_format: bool,
) -> *mut c_char {
    respond(|| {
        // SAFETY: the caller's contract for api_key.
        let key = unsafe { read_str(api_key, "api_key", MAX_REQUEST_BYTES) }?;
        json_string(&cookie::cookie_name(key, new_format)?)
    })
}

/// Parses an Amplitude cookie value into a user: `{"ok": {"device_id"?, "user_id"?}}`.
/// A value that does not decode gives `{"ok": {}}`, not an error.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
///
/// # Safety
/// `value` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_cookie_parse(value: *const c_char, new_format: bool) -> *mut c_char {
    respond(|| {
        // SAFETY: the caller's contract for value.
        let value = unsafe { read_str(value, "value", MAX_REQUEST_BYTES) }?;
        serde_json::to_string(&cookie::parse(value, new_format))
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))
    })
}

/// An Amplitude cookie value for a device id: `{"ok": "<value>"}`.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
///
/// # Safety
/// `device_id` must be NULL or a NUL-terminated string valid for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn allot_cookie_generate(
    device_id: *const c_char,
    new_format: bool,
) -> *mut c_char {
    respond(|| {
        // SAFETY: the caller's contract for device_id.
        let device_id = unsafe { read_str(device_id, "device_id", MAX_REQUEST_BYTES) }?;
        json_string(&cookie::generate(device_id, new_format))
    })
}

/// A Rust string as a JSON string literal.
fn json_string(text: &str) -> Result<String> {
    serde_json::to_string(text).map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))
}

/// The library version, e.g. `"0.1.0"`: a static NUL-terminated string, never freed.
#[no_mangle]
pub extern "C" fn allot_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The configuration an Eppo client serves now, as it was loaded (given at init or
/// fetched from the server, whichever is current): `{"ok": {"flags": <the UFC document>,
/// "bandits": <the bandit models document> | null}}`, or `{"ok": {"flags": null,
/// "bandits": null}}` before the first configuration. The documents are the JSON the
/// client loaded (up to 64 MiB each). Reads the served snapshot without a lock: evaluating
/// threads are never held up. Other clients answer `unsupported`.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn allot_configuration(client: u64) -> *mut c_char {
    respond(|| registry::get(client)?.configuration())
}

/// Takes the delivery reports of an Amplitude local client's analytics events, waiting at
/// most `timeout_ms` milliseconds for one: the Analytics SDK's per-event `callback(event,
/// code, message)` as data the host takes, so the library never calls into the host.
///
/// Only the streams whose `assignment_config` / `exposure_config` has `"delivery_reports":
/// true` report. Every event of those streams is reported once, when its fate is settled:
/// `{"ok": {"reports": [{"stream": "assignment"|"exposure", "event": {<the event as sent>},
/// "code": N, "message": "…"}], "dropped": N, "closed": bool}}`. Sent: `code` is the
/// answer's `code` (else 200) and the message `"Event sent successfully."`; a batch that
/// failed `flush_max_retries` times (network errors, timeouts, 429, 5xx): the last status,
/// 408 for a timeout or -1 without an answer, and `"Event reached max retry times N."`; a
/// rejected batch (other statuses): the status and the answer's `missing_field` (`"Request
/// missing required field <field>"`) or `error`, else the error's message; dropped unsent
/// (queue overflow, not sent before `allot_free`): -1 and the reason. Reports wait for the
/// host in a queue of at most 16,384 reports and 32 MiB of events, the oldest dropped
/// beyond (`dropped` counts them since the last call). A call waiting while the client is
/// freed gets the reports made by `allot_free` (the events it sent or dropped) with
/// `"closed": true`; later calls get `unknown_handle`. A wait holds
/// no reference to the client (freeing it ends the wait) and no lock an evaluating thread
/// needs. Other clients answer `unsupported`. In a forked child, reports start anew.
///
/// Never NULL; the caller owns the result and frees it with `allot_string_free`.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn allot_delivery_reports(client: u64, timeout_ms: u32) -> *mut c_char {
    respond(|| {
        let reports = registry::get(client)?.delivery_reports()?;
        reports.take(Duration::from_millis(u64::from(timeout_ms)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error_envelope() {
        let answer = envelope(guarded(|| -> Result<String> { panic!("boom") }));
        let parsed: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(parsed["error"]["code"], "internal");
        assert!(parsed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("boom"));
    }
}
