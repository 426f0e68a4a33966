//! What every fuzz target shares: calling allot through its C ABI exactly as a C caller
//! would, and checking each answer. Properties checked on every call: no panic (libFuzzer
//! aborts on one, even if allot would catch it), the answer is UTF-8 JSON of the form
//! `{"ok": …}` or `{"error": {"code", "message"}}` with a code from include/allot.h (never
//! `internal`), and the same input gives the same answer.

use std::ffi::{c_char, CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;

use allot::ffi;
use serde_json::{json, Value};

/// The stable error codes, read from the header's "Error codes (stable):" list.
fn known_codes() -> &'static [&'static str] {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        let header = include_str!("../../include/allot.h");
        let list = header
            .split_once("Error codes (stable):")
            .and_then(|(_, rest)| rest.split_once("*/"))
            .expect("include/allot.h lists the error codes")
            .0;
        let codes: Vec<&str> = list
            .lines()
            .filter_map(|line| {
                line.trim_start_matches([' ', '*'])
                    .split_whitespace()
                    .next()
            })
            .collect();
        assert!(
            codes.len() >= 10,
            "error codes not found in include/allot.h"
        );
        codes
    })
}

/// The bytes as a C string: up to the first NUL, as a C caller's `char *` would end.
pub fn c_string(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).expect("no NUL before the end")
}

/// Takes a string allot returned: checks it is not NULL and is UTF-8, copies and frees it.
/// Only for what an allot export just returned (the targets pass calls straight in).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn take(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null(), "allot returned NULL");
    // SAFETY: a NUL-terminated string allot returned and has not been freed.
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .expect("allot answered with invalid UTF-8")
        .to_owned();
    // SAFETY: returned by allot, freed exactly once.
    unsafe { ffi::allot_string_free(ptr) };
    text
}

/// Checks that `text` is a valid envelope and returns it parsed.
pub fn envelope(text: &str) -> Value {
    let value: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text:.300}"));
    let object = value.as_object().expect("answer is a JSON object");
    assert_eq!(object.len(), 1, "envelope has one member: {text:.300}");
    if let Some(error) = object.get("error") {
        let error = error.as_object().expect("error is an object");
        assert_eq!(error.len(), 2, "error has code and message: {text:.300}");
        let code = error["code"].as_str().expect("code is a string");
        let message = error["message"].as_str().expect("message is a string");
        assert!(known_codes().contains(&code), "unknown code {code}");
        assert_ne!(code, "internal", "internal error: {message}");
        assert!(!message.is_empty(), "empty error message");
    } else {
        assert!(
            object.contains_key("ok"),
            "envelope is ok or error: {text:.300}"
        );
    }
    value
}

/// Checks an answer and returns its text.
pub fn checked(ptr: *mut c_char) -> String {
    let text = take(ptr);
    envelope(&text);
    text
}

/// `allot_init`: the handle, or the checked error envelope's text.
pub fn init(config: &CStr) -> Result<u64, String> {
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: a valid C string and a writable pointer.
    let handle = unsafe { ffi::allot_init(config.as_ptr(), &mut error) };
    if handle == 0 {
        let text = checked(error);
        assert!(
            text.starts_with("{\"error\""),
            "allot_init failed without an error"
        );
        Err(text)
    } else {
        assert!(error.is_null(), "error_json must be NULL on success");
        Ok(handle)
    }
}

/// `allot_init` that must succeed (clients the targets build once).
pub fn init_ok(config: &Value) -> u64 {
    let text = c_string(config.to_string().as_bytes());
    init(&text).unwrap_or_else(|e| panic!("allot_init failed: {e}"))
}

/// `allot_evaluate`, checked.
pub fn evaluate(handle: u64, request: &CStr) -> String {
    // SAFETY: a valid C string.
    checked(unsafe { ffi::allot_evaluate(handle, request.as_ptr()) })
}

/// `allot_fetch`, checked.
pub fn fetch(handle: u64, request: &CStr) -> String {
    // SAFETY: a valid C string.
    checked(unsafe { ffi::allot_fetch(handle, request.as_ptr()) })
}

/// `allot_status`, checked.
pub fn status(handle: u64) -> Value {
    envelope(&checked(ffi::allot_status(handle)))
}

/// The conformance data: `$ALLOT_SHARED`, or `../shared` beside the repository.
pub fn shared_json(relative: &str) -> Value {
    let path = shared_path(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (set ALLOT_SHARED)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The Amplitude conformance flags: the generated corpus and the dependency fixture.
pub fn amplitude_flags() -> Value {
    let mut flags = shared_json("conformance/amplitude/generated_corpus.json")["flags"].clone();
    let fixture = shared_json("conformance/amplitude/dependencies_fixture.json");
    let list = flags.as_array_mut().expect("flags array");
    list.extend(
        fixture["flags"]
            .as_array()
            .expect("fixture flags")
            .iter()
            .cloned(),
    );
    flags
}

/// An address that refuses connections (event uploads fail fast and are dropped).
pub const CLOSED_URL: &str = "http://127.0.0.1:9";

/// Analytics settings that keep the queue small and never reach a real server.
pub fn tracking_config() -> Value {
    json!({"api_key": "fuzz-analytics-key", "server_url": CLOSED_URL, "max_queue_size": 256,
           "flush_interval_millis": 60_000, "retry_backoff_min_millis": 1000,
           "shutdown_timeout_millis": 10})
}

/// An Amplitude local client on the conformance flags with assignment and exposure
/// tracking on, built and started (offline) once per process: the fast-lane targets'.
pub fn tracking_amplitude_client() -> u64 {
    static CLIENT: OnceLock<u64> = OnceLock::new();
    *CLIENT.get_or_init(|| {
        let handle = init_ok(
            &json!({"provider": "amplitude", "mode": "local", "api_key": "fuzz-key",
            "flags": amplitude_flags(), "assignment_config": tracking_config(),
            "exposure_config": tracking_config()}),
        );
        start_offline(handle);
        handle
    })
}

/// Removes the members that carry the clock: Eppo events' `timestamp` (the time of the
/// call) and details' `configFetchedAt` (the time the client loaded its configuration).
pub fn without_timestamps(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("timestamp");
            map.remove("configFetchedAt");
            map.values_mut().for_each(without_timestamps);
        }
        Value::Array(items) => items.iter_mut().for_each(without_timestamps),
        _ => {}
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers every request with `body`
/// (`Connection: close`); returns its URL. Runs for the rest of the process.
pub fn fixed_server(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, body);
        }
    });
    url
}

fn answer(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    std::io::copy(
        &mut reader.by_ref().take(length as u64),
        &mut std::io::sink(),
    )?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The JSON documents of one conformance directory (`conformance/<dir>/*.json`), in
/// file-name order.
fn shared_cases(dir: &str) -> Vec<Value> {
    let path = shared_path(&format!("conformance/{dir}"));
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| shared_json(&format!("conformance/{dir}/{name}")))
        .collect()
}

/// The Eppo conformance cases (`tests/*.json`): flag key, variation type and default.
fn eppo_cases() -> &'static [Value] {
    static CASES: OnceLock<Vec<Value>> = OnceLock::new();
    CASES.get_or_init(|| shared_cases("eppo/tests"))
}

/// One Eppo batch request: every conformance flag for one subject, with details.
pub fn eppo_batch_request() -> &'static CStr {
    static REQUEST: OnceLock<CString> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let assignments: Vec<Value> = eppo_cases()
            .iter()
            .map(|case| {
                let mut default = case["defaultValue"].clone();
                if case["variationType"] == "JSON" {
                    default = Value::String(default.to_string());
                }
                json!({"flag_key": case["flag"], "variation_type": case["variationType"],
                       "default": default})
            })
            .collect();
        let request = json!({"assignments": assignments, "subject_key": "alice",
            "subject_attributes": {"email": "alice@example.com", "country": "US", "age": 30,
                                   "version": "1.15.0", "isAdmin": true},
            "details": true});
        c_string(request.to_string().as_bytes())
    })
}

/// One Amplitude request for every flag, with tracking off (nothing leaves the process).
pub fn amplitude_request() -> &'static CStr {
    static REQUEST: OnceLock<CString> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let request = json!({"user": {"user_id": "user-1", "device_id": "device-1",
            "country": "US", "platform": "iOS", "version": "2.0.0", "cohort_ids": ["c1"],
            "user_properties": {"email": "a@example.com", "n": 7, "tags": ["a", "b"]},
            "groups": {"org": ["acme"]}}, "tracks_assignment": false, "tracks_exposure": false});
        c_string(request.to_string().as_bytes())
    })
}

/// What a client built from a fuzzed document reports, normalized for comparison: its
/// status' flag errors and, when `started`, its answers to `requests` (event timestamps
/// aside).
fn probe(handle: u64, started: bool, requests: &[&CStr]) -> Value {
    let flag_errors = status(handle)["ok"]["flag_errors"].clone();
    if !started {
        return flag_errors;
    }
    let answers: Vec<Value> = requests
        .iter()
        .map(|request| {
            let mut answer = envelope(&evaluate(handle, request));
            without_timestamps(&mut answer);
            answer
        })
        .collect();
    json!({"answers": answers, "flag_errors": flag_errors})
}

/// `allot_start` on a client that has no server (it loads at once), checked.
pub fn start_offline(handle: u64) {
    let answer = envelope(&checked(ffi::allot_start(handle, 0)));
    assert!(
        answer.get("ok").is_some(),
        "an offline client did not start: {answer}"
    );
}

/// `allot_init` twice on the same document: both fail with the same error, or both
/// succeed and report the same. With `offline` (a document that names no server), both
/// clients are started and must answer the fixed requests (Amplitude and Eppo alike: a
/// request for the other provider is an error) the same way; otherwise they are never
/// started, so nothing is fetched from a fuzzed URL.
pub fn init_twice(config: &CStr, offline: bool) {
    init_twice_probing(
        config,
        offline,
        &[amplitude_request(), eppo_batch_request()],
    );
}

/// [`init_twice`] with the requests the started clients must answer alike.
pub fn init_twice_probing(config: &CStr, offline: bool, requests: &[&CStr]) {
    match (init(config), init(config)) {
        (Err(first), Err(second)) => assert_eq!(first, second, "allot_init is not deterministic"),
        (Ok(first), Ok(second)) => {
            if offline {
                start_offline(first);
                start_offline(second);
            }
            let answers = (
                probe(first, offline, requests),
                probe(second, offline, requests),
            );
            ffi::allot_free(first);
            ffi::allot_free(second);
            assert_eq!(answers.0, answers.1, "two clients from one document differ");
        }
        (first, second) => panic!("allot_init succeeded once only: {first:?} {second:?}"),
    }
}

/// The init targets: any configuration document, parsed and compiled (never started:
/// the body targets evaluate what compiles). Documents naming a file are skipped (a path
/// such as /dev/stdin would block the fuzzer, not allot's parser); the body targets read
/// their configurations from files.
pub fn init_target(data: &[u8]) {
    if data.windows(5).any(|w| w == b"_path") {
        return;
    }
    init_twice(&c_string(data), false);
}

/// The UFC targets: a configuration body as Eppo's server would send it, compiled,
/// started offline and evaluated.
pub fn ufc_target(data: &[u8]) {
    // The transport hands the compiler text; a body that is not UTF-8 never gets there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = json!({"provider": "eppo", "api_key": "fuzz-key", "initial_configuration": text});
    init_twice(&c_string(config.to_string().as_bytes()), true);
}

/// Calls a fast-lane export (`out`, `capacity`) → `i64` as a C caller would, checking the
/// caller-owned buffer contract: with no buffer it reports the length; a buffer one byte
/// short is left untouched and gets the same length; a buffer of that length receives the
/// answer. Returns the answer, or the error document (checked as an envelope) parsed.
pub fn fast_call(mut export: impl FnMut(*mut u8, usize) -> i64) -> Result<Vec<u8>, Value> {
    let needed = export(std::ptr::null_mut(), 0);
    let length = usize::try_from(needed.unsigned_abs()).expect("length fits usize");
    assert!(length > 0, "a fast-lane answer is never empty");
    let mut short = vec![0xA5u8; length - 1];
    assert_eq!(
        export(short.as_mut_ptr(), short.len()),
        needed,
        "a short buffer got another length"
    );
    assert!(
        short.iter().all(|&b| b == 0xA5),
        "a short buffer was written"
    );
    let mut buffer = vec![0u8; length];
    assert_eq!(
        export(buffer.as_mut_ptr(), buffer.len()),
        needed,
        "an exact buffer got another length"
    );
    if needed >= 0 {
        return Ok(buffer);
    }
    let text = std::str::from_utf8(&buffer).expect("an error document is UTF-8");
    assert!(
        text.starts_with("{\"error\""),
        "a negative length without an error: {text:.300}"
    );
    Err(envelope(text))
}

/// The code of an error document.
pub fn error_code(error: &Value) -> &str {
    error["error"]["code"].as_str().expect("an error code")
}

/// Little-endian `u32` at `at`.
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// `allot_evaluate_compact`, checked: the snapshot id and the result ids.
pub fn compact(handle: u64, user: &CStr, keys: Option<&CStr>) -> Result<(u64, Vec<u32>), Value> {
    let keys = keys.map_or(std::ptr::null(), CStr::as_ptr);
    let bytes = fast_call(|out, capacity| {
        // SAFETY: valid C strings; `out` is NULL or points to `capacity` bytes.
        unsafe { ffi::allot_evaluate_compact(handle, user.as_ptr(), keys, out, capacity) }
    })?;
    Ok(compact_answer(&bytes))
}

/// `allot_evaluate_compact_marshal` (the user as marshal bytes, every flag), checked as
/// [`compact`].
pub fn compact_marshal(handle: u64, user: &[u8]) -> Result<(u64, Vec<u32>), Value> {
    let bytes = fast_call(|out, capacity| {
        // SAFETY: `user.len()` readable bytes; `out` is NULL or points to `capacity` bytes.
        unsafe {
            ffi::allot_evaluate_compact_marshal(
                handle,
                user.as_ptr(),
                user.len(),
                std::ptr::null(),
                out,
                capacity,
            )
        }
    })?;
    Ok(compact_answer(&bytes))
}

/// A compact answer, checked: the snapshot id and the result ids.
fn compact_answer(bytes: &[u8]) -> (u64, Vec<u32>) {
    assert!(bytes.len() >= 12, "a compact answer has a header");
    let snapshot = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
    let count = u32_at(bytes, 8) as usize;
    assert_eq!(bytes.len(), 12 + 4 * count, "compact answer length");
    assert!(snapshot != 0 || count == 0, "results without a snapshot");
    (
        snapshot,
        (0..count).map(|i| u32_at(bytes, 12 + 4 * i)).collect(),
    )
}

/// `allot_result_json`, checked: `None` when the snapshot is no longer current, else the
/// result `{"flag_key", "variant"}` (or the error document).
pub fn result_json(handle: u64, snapshot: u64, id: u32) -> Result<Option<Value>, Value> {
    let needed = {
        // SAFETY: a NULL buffer with no capacity.
        unsafe { ffi::allot_result_json(handle, snapshot, id, std::ptr::null_mut(), 0) }
    };
    if needed == 0 {
        return Ok(None);
    }
    let bytes = fast_call(|out, capacity| {
        // SAFETY: `out` is NULL or points to `capacity` bytes.
        unsafe { ffi::allot_result_json(handle, snapshot, id, out, capacity) }
    })?;
    let result: Value = serde_json::from_slice(&bytes).expect("a result is JSON");
    let object = result.as_object().expect("a result is an object");
    assert_eq!(
        object.len(),
        2,
        "a result has flag_key and variant: {result}"
    );
    assert!(result["flag_key"].is_string(), "flag_key: {result}");
    assert!(result["variant"].is_object(), "variant: {result}");
    Ok(Some(result))
}

/// The Eppo variation types by their fast-lane index.
pub const VARIATION_TYPES: [&str; 5] = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"];

/// One `allot_eppo_assign` call.
pub struct Assign<'a> {
    /// `flag_key`.
    pub flag_key: &'a CStr,
    /// `subject_key`.
    pub subject_key: &'a CStr,
    /// `subject_attributes_json`, or NULL.
    pub attributes: Option<&'a CStr>,
    /// `variation_type` (0 to 4 are valid).
    pub variation_type: u32,
    /// `wants_event`.
    pub wants_event: bool,
}

/// `allot_eppo_assign`, checked and decoded into the shape of an `allot_evaluate` answer's
/// `value` (null when the default applies), `variation_key`, `allocation_key`, `code` and
/// `events` (the event rebuilt as the header describes, without its timestamp, which is
/// checked to be RFC 3339).
pub fn eppo_assign(handle: u64, call: &Assign) -> Result<Value, Value> {
    let attributes = call.attributes.map_or(std::ptr::null(), CStr::as_ptr);
    let bytes = fast_call(|out, capacity| {
        // SAFETY: valid C strings; `out` is NULL or points to `capacity` bytes.
        unsafe {
            ffi::allot_eppo_assign(
                handle,
                call.flag_key.as_ptr(),
                call.subject_key.as_ptr(),
                attributes,
                call.variation_type,
                call.wants_event,
                out,
                capacity,
            )
        }
    })?;
    let flags = bytes[0];
    assert_eq!(flags & !3, 0, "unknown flag bits {flags}");
    let mut at = 1;
    let mut field = || {
        let length = u32_at(&bytes, at) as usize;
        let text = std::str::from_utf8(&bytes[at + 4..at + 4 + length])
            .expect("a field is UTF-8")
            .to_owned();
        at += 4 + length;
        text
    };
    // The event's timestamp comes first, then the code and what is served, then the
    // event's extra logging last.
    let timestamp = (flags & 2 != 0).then(&mut field);
    let code = field();
    let mut answer = json!({"value": null, "variation_key": null, "allocation_key": null, "code": code,
               "events": []});
    if flags & 1 != 0 {
        let value = field();
        answer["value"] = if call.variation_type == 0 {
            Value::String(value)
        } else {
            serde_json::from_str(&value).expect("a served value is JSON text")
        };
        answer["variation_key"] = field().into();
        answer["allocation_key"] = field().into();
    }
    if flags & 2 != 0 {
        assert!(flags & 1 != 0, "an event without a variation");
        assert!(call.wants_event, "an event nobody asked for");
        let timestamp = timestamp.expect("read first");
        assert!(
            allot::internals::eppo::parse_rfc3339(&timestamp).is_some(),
            "event timestamp {timestamp}"
        );
        let flag_key = call.flag_key.to_str().expect("served flags are UTF-8");
        let allocation = answer["allocation_key"]
            .as_str()
            .expect("allocation")
            .to_owned();
        // SAFETY: a static string.
        let version = unsafe { CStr::from_ptr(ffi::allot_version()) }
            .to_str()
            .expect("the version is UTF-8");
        let subject_attributes = match call.attributes {
            Some(text) => serde_json::from_slice(text.to_bytes()).expect("attributes parsed"),
            None => json!({}),
        };
        let mut event = json!({
            "featureFlag": flag_key, "allocation": allocation,
            "experiment": format!("{flag_key}-{allocation}"),
            "variation": answer["variation_key"],
            "subject": call.subject_key.to_str().expect("the subject is UTF-8"),
            "subjectAttributes": subject_attributes,
            "metaData": {"sdkName": "allot", "sdkVersion": version, "coreVersion": version},
        });
        let extra = field();
        if !extra.is_empty() {
            let extra: serde_json::Map<String, Value> =
                serde_json::from_str(&extra).expect("extra_logging is a JSON object");
            event.as_object_mut().expect("object").extend(extra);
        }
        answer["events"] = json!([event]);
    }
    assert_eq!(at, bytes.len(), "trailing bytes in an eppo_assign answer");
    Ok(answer)
}

/// The clock the bandit requests give (`now`), so that their events carry no call time.
pub const BANDIT_NOW: &str = "2024-06-01T00:00:00Z";

/// The suite's `{numericAttributes, categoricalAttributes}` as a request's split form.
fn split_attributes(attributes: &Value) -> Value {
    json!({"numeric_attributes": attributes["numericAttributes"],
           "categorical_attributes": attributes["categoricalAttributes"]})
}

/// Bandit requests for `allot_evaluate`: the first two subjects of each public bandit case
/// (`conformance/eppo/bandit-tests/`), with details and a fixed `now`.
pub fn bandit_requests() -> &'static [CString] {
    static REQUESTS: OnceLock<Vec<CString>> = OnceLock::new();
    REQUESTS.get_or_init(|| {
        let mut requests = Vec::new();
        for case in shared_cases("eppo/bandit-tests") {
            for subject in case["subjects"]
                .as_array()
                .expect("subjects")
                .iter()
                .take(2)
            {
                let actions: serde_json::Map<String, Value> = subject["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .map(|action| {
                        let key = action["actionKey"].as_str().expect("action key");
                        (key.to_owned(), split_attributes(action))
                    })
                    .collect();
                let request = json!({"flag_key": case["flag"],
                    "subject_key": subject["subjectKey"],
                    "subject_attributes": split_attributes(&subject["subjectAttributes"]),
                    "actions": actions, "default": case["defaultValue"], "details": true,
                    "now": BANDIT_NOW});
                requests.push(c_string(request.to_string().as_bytes()));
            }
        }
        assert!(requests.len() >= 15, "15 bandit requests");
        requests
    })
}

/// A path under the conformance data (`$ALLOT_SHARED`, or `../shared`).
pub fn shared_path(relative: &str) -> PathBuf {
    std::env::var_os("ALLOT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
        .join(relative)
}

/// The bandit models target: a models body as Eppo's server would send it, compiled
/// through `initial_bandits` given as text (the poller's parser) beside the public bandit
/// flags, started offline and asked the bandit requests.
pub fn bandit_models_target(data: &[u8]) {
    static FLAGS: OnceLock<Value> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let flags = FLAGS.get_or_init(|| shared_json("conformance/eppo/bandit-flags-v1.json"));
    let config = json!({"provider": "eppo", "api_key": "fuzz-key",
        "initial_configuration": flags, "initial_bandits": text});
    let requests: Vec<&CStr> = bandit_requests().iter().map(CString::as_c_str).collect();
    init_twice_probing(&c_string(config.to_string().as_bytes()), true, &requests);
}
