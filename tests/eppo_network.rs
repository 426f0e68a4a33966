//! Eppo configuration polling over real HTTP on 127.0.0.1, through the C ABI: the
//! documented request, changes, ETags, jitter bounds, 401, faults that keep the old
//! configuration, `allot_start` timeouts, `allot_free` during a hung request, and the key
//! never leaking. Every server is started by its test and stops when dropped; every wait
//! is bounded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

/// A key with characters that the query string must encode.
const KEY: &str = "sk-eppo.Test+key/0123456789==";
/// The key as it appears in the URL.
const ENCODED_KEY: &str = "sk-eppo.Test%2Bkey%2F0123456789%3D%3D";
const CONFIG_PATH: &str = "/api/flag-config/v1/config";

/// A UFC with one flag, `banner`, that gives every subject `v<version>`.
fn ufc(version: u32) -> Value {
    json!({
        "createdAt": format!("2024-05-0{}T08:00:00.000Z", version % 9 + 1),
        "format": "SERVER",
        "environment": {"name": "Test"},
        "flags": {
            "banner": {
                "key": "banner", "enabled": true, "variationType": "STRING", "totalShards": 10000,
                "variations": {"on": {"key": "on", "value": format!("v{version}")}},
                "allocations": [{"key": "all", "splits": [{"variationKey": "on", "shards": []}]}]
            }
        }
    })
}

/// What the configuration endpoint does.
#[derive(Clone)]
enum Mode {
    Serve,
    Status(u16),
    Hang,
    /// Serve after waiting this long.
    Delay(Duration),
    Raw(String),
}

/// The endpoint's configuration, its ETag (none: the header is not sent) and its fault.
struct EndpointState {
    body: String,
    etag: Option<String>,
    mode: Mode,
}

type Shared = Arc<Mutex<EndpointState>>;

fn set_version(state: &Shared, version: u32) {
    let mut s = state.lock().unwrap();
    s.body = ufc(version).to_string();
    if s.etag.is_some() {
        s.etag = Some(format!("\"v{version}\""));
    }
}

fn set_mode(state: &Shared, mode: Mode) {
    state.lock().unwrap().mode = mode;
}

/// A configuration server serving version 1, with or without ETags.
fn eppo_server(etags: bool) -> (Server, Shared) {
    let state: Shared = Arc::new(Mutex::new(EndpointState {
        body: ufc(1).to_string(),
        etag: etags.then(|| "\"v1\"".to_owned()),
        mode: Mode::Serve,
    }));
    let handler_state = Arc::clone(&state);
    let server = Server::start(move |request: &Received| {
        if request.path() != CONFIG_PATH {
            return Reply::text(404, "no such endpoint");
        }
        let (body, etag, mode) = {
            let s = handler_state.lock().unwrap();
            (s.body.clone(), s.etag.clone(), s.mode.clone())
        };
        match mode {
            Mode::Status(code) => Reply::text(code, format!("rejected key {KEY} ({ENCODED_KEY})")),
            Mode::Hang => Reply::Hang,
            Mode::Raw(text) => Reply::text(200, text),
            Mode::Delay(wait) => {
                std::thread::sleep(wait);
                Reply::text(200, body)
            }
            Mode::Serve => match etag {
                Some(etag) if request.header("if-none-match") == Some(etag.as_str()) => {
                    Reply::Full {
                        status: 304,
                        headers: vec![("ETag".into(), etag)],
                        body: Vec::new(),
                    }
                }
                Some(etag) => Reply::Full {
                    status: 200,
                    headers: vec![
                        ("ETag".into(), etag),
                        ("Content-Type".into(), "application/json".into()),
                    ],
                    body: body.into_bytes(),
                },
                None => Reply::text(200, body),
            },
        }
    });
    (server, state)
}

/// An Eppo client of `server` polling every 50 ms without jitter, merged with `extra`.
fn config(base: &str, extra: Value) -> Value {
    let mut config = json!({
        "provider": "eppo",
        "api_key": KEY,
        "base_url": format!("{base}/api"),
        "poll_interval_seconds": 0.05,
        "poll_jitter_seconds": 0,
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// `banner`'s value for a subject (`none` is the default).
fn value(handle: u64) -> String {
    let answer = ok(evaluate(
        handle,
        &json!({"flag_key": "banner", "subject_key": "s1", "variation_type": "STRING", "default": "none"}),
    ));
    answer["value"].as_str().unwrap().to_owned()
}

fn is(handle: u64, version: u32) -> bool {
    value(handle) == format!("v{version}")
}

/// Polls `condition` every few milliseconds for at most `limit`.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that the key, raw or encoded, is nowhere in `text`.
fn assert_no_key(text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains(ENCODED_KEY),
        "key leaked: {text}"
    );
}

/// A status that must never contain the key.
fn checked_status(handle: u64) -> Value {
    let doc = ok(status(handle));
    assert_no_key(&doc.to_string());
    doc
}

fn last_error_code(handle: u64) -> Option<String> {
    checked_status(handle)["last_error"]["code"]
        .as_str()
        .map(str::to_owned)
}

fn config_requests(server: &Server) -> usize {
    server.requests_to(CONFIG_PATH).len()
}

#[test]
fn first_fetch_sends_the_documented_query_and_serves_the_configuration() {
    let (server, _state) = eppo_server(false);
    let handle = init_ok(&config(&server.url(), json!({})));
    assert_eq!(config_requests(&server), 0, "allot_init does not fetch");
    let started = ok(start(handle, 5_000));
    assert_eq!(started["started"], true);
    assert_eq!(started["initialized"], true);
    assert_eq!(started["flag_count"], 1);
    assert_eq!(started["environment"], "Test");
    assert_eq!(
        started["published_at"].as_i64(),
        ms("2024-05-02T08:00:00.000Z")
    );
    assert_eq!(started["source"], "poll");
    assert!(started["loaded_at"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(started["last_success_at"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(started["last_error"], Value::Null);
    assert_eq!(started["polling"], true);
    assert_no_key(&started.to_string());
    assert!(is(handle, 1));
    let first = &server.requests_to(CONFIG_PATH)[0];
    assert_eq!(first.method, "GET");
    let query = first.target.split_once('?').unwrap().1;
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort_unstable();
    let version = format!("sdkVersion={}", env!("CARGO_PKG_VERSION"));
    let key = format!("apiKey={ENCODED_KEY}");
    assert_eq!(pairs, [key.as_str(), "sdkName=allot", version.as_str()]);
    assert_eq!(
        first.header("authorization"),
        None,
        "the key is only in the URL"
    );
    assert_eq!(first.header("if-none-match"), None);
    allot::ffi::allot_free(handle);
}

#[test]
fn a_null_interval_fetches_once() {
    let (server, state) = eppo_server(false);
    let handle = init_ok(&config(
        &server.url(),
        json!({"poll_interval_seconds": null}),
    ));
    let started = ok(start(handle, 5_000));
    assert_eq!(started["polling"], false);
    assert!(is(handle, 1));
    set_version(&state, 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(config_requests(&server), 1);
    assert!(is(handle, 1));
    allot::ffi::allot_free(handle);
}

#[test]
fn stop_ends_polling_and_the_last_configuration_keeps_serving() {
    let (server, state) = eppo_server(false);
    let handle = init_ok(&config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    assert!(wait_until(Duration::from_secs(5), || config_requests(
        &server
    ) >= 2));
    let stopped = ok(take(allot::ffi::allot_stop(handle, 1_000)));
    assert_eq!(stopped["polling"], false);
    let requests = config_requests(&server);
    set_version(&state, 2);
    ok(start(handle, 100)); // start does not restart a stopped client
    std::thread::sleep(Duration::from_millis(300)); // six polling intervals
    assert_eq!(config_requests(&server), requests);
    assert!(is(handle, 1));
    allot::ffi::allot_free(handle);
}

#[test]
fn polling_picks_up_a_change_and_a_304_keeps_the_configuration() {
    let (server, state) = eppo_server(true);
    let handle = init_ok(&config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    assert!(wait_until(Duration::from_secs(5), || {
        server
            .requests_to(CONFIG_PATH)
            .iter()
            .filter(|r| r.header("if-none-match") == Some("\"v1\""))
            .count()
            >= 2
    }));
    let doc = checked_status(handle);
    assert_eq!(doc["initialized"], true);
    assert_eq!(doc["last_error"], Value::Null);
    assert!(is(handle, 1));
    set_version(&state, 2);
    assert!(wait_until(Duration::from_secs(5), || is(handle, 2)));
    assert_eq!(
        checked_status(handle)["published_at"].as_i64(),
        ms("2024-05-03T08:00:00.000Z")
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn poll_gaps_stay_within_the_interval_minus_the_jitter() {
    let (server, _state) = eppo_server(false);
    let handle = init_ok(&config(
        &server.url(),
        json!({"poll_interval_seconds": 0.1, "poll_jitter_seconds": 0.05}),
    ));
    ok(start(handle, 5_000));
    assert!(wait_until(Duration::from_secs(4), || config_requests(
        &server
    ) >= 10));
    allot::ffi::allot_free(handle);
    let times: Vec<Instant> = server
        .requests_to(CONFIG_PATH)
        .iter()
        .map(|r| r.at)
        .collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // A request arrives at least one sleep after the previous one: never sooner than
    // interval - jitter; later only by the request's own time (generous on a loaded
    // machine).
    for gap in &gaps {
        assert!(*gap >= Duration::from_millis(49), "{gaps:?}");
        assert!(*gap < Duration::from_millis(100 + 600), "{gaps:?}");
    }
    // Without jitter every gap would be at least 100 ms.
    assert!(
        gaps.iter().any(|g| *g < Duration::from_millis(95)),
        "no jitter: {gaps:?}"
    );
}

#[test]
fn unauthorized_stops_polling_for_good() {
    let (server, state) = eppo_server(false);
    let handle = init_ok(&config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    set_mode(&state, Mode::Status(401));
    assert!(wait_until(Duration::from_secs(5), || last_error_code(
        handle
    )
    .as_deref()
        == Some("unauthorized")));
    let doc = checked_status(handle);
    assert_eq!(doc["polling"], false);
    assert_eq!(doc["initialized"], true);
    assert!(is(handle, 1), "the last configuration keeps serving");
    let count = config_requests(&server);
    std::thread::sleep(Duration::from_millis(300)); // six polling intervals
    assert_eq!(config_requests(&server), count, "polling must stop");
    allot::ffi::allot_free(handle);

    // Without a configuration, start reports it at once.
    let handle = init_ok(&config(&server.url(), json!({})));
    let envelope = start(handle, 5_000);
    assert_eq!(error_code(&envelope), "unauthorized", "{envelope}");
    assert_no_key(&envelope.to_string());
    assert!(envelope["error"]["message"]
        .as_str()
        .unwrap()
        .contains("<redacted>"));
    allot::ffi::allot_free(handle);
}

/// Starts a client on version 1, injects `fault`, waits for `code` in the status, checks
/// that version 1 still serves, then recovers with version 2.
fn fault_keeps_the_old_configuration(mode: Mode, code: &str) {
    let (server, state) = eppo_server(false);
    let handle = init_ok(&config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    let before = checked_status(handle);
    set_mode(&state, mode);
    assert!(
        wait_until(Duration::from_secs(5), || last_error_code(handle)
            .as_deref()
            == Some(code)),
        "expected {code}, status {}",
        ok(status(handle))
    );
    let doc = checked_status(handle);
    assert_eq!(doc["initialized"], true);
    assert_eq!(doc["polling"], true);
    assert_eq!(doc["loaded_at"], before["loaded_at"]);
    assert!(doc["last_error"]["at"].as_u64().unwrap() >= doc["last_success_at"].as_u64().unwrap());
    for _ in 0..10 {
        assert!(is(handle, 1), "the old configuration must keep serving");
    }
    set_version(&state, 2);
    set_mode(&state, Mode::Serve);
    assert!(wait_until(Duration::from_secs(5), || is(handle, 2)));
    assert_eq!(checked_status(handle)["last_error"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn a_server_error_keeps_the_old_configuration() {
    fault_keeps_the_old_configuration(Mode::Status(500), "http_status");
}

#[test]
fn invalid_json_keeps_the_old_configuration() {
    fault_keeps_the_old_configuration(Mode::Raw("{\"flags\": {".into()), "invalid_response");
}

#[test]
fn a_wrong_shape_keeps_the_old_configuration() {
    fault_keeps_the_old_configuration(Mode::Raw("{\"flags\": 3}".into()), "invalid_response");
}

#[test]
fn start_times_out_on_a_slow_server_and_polling_continues() {
    let (server, state) = eppo_server(false);
    set_mode(&state, Mode::Delay(Duration::from_millis(400)));
    let handle = init_ok(&config(&server.url(), json!({})));
    let begun = Instant::now();
    let envelope = start(handle, 100);
    assert_eq!(error_code(&envelope), "timeout", "{envelope}");
    assert_no_key(&envelope.to_string());
    assert!(begun.elapsed() < Duration::from_millis(2_000));
    let doc = checked_status(handle);
    assert_eq!(doc["started"], true);
    assert_eq!(doc["initialized"], false);
    assert_eq!(doc["polling"], true);
    assert_eq!(
        value(handle),
        "none",
        "the default until a configuration arrives"
    );
    // The slow fetch completes in the background.
    assert!(wait_until(Duration::from_secs(5), || is(handle, 1)));
    assert_eq!(checked_status(handle)["initialized"], true);
    allot::ffi::allot_free(handle);
}

#[test]
fn an_initial_configuration_serves_at_once_until_the_fetch_replaces_it() {
    let (server, state) = eppo_server(false);
    set_mode(&state, Mode::Delay(Duration::from_millis(1_000)));
    let handle = init_ok(&config(
        &server.url(),
        json!({"initial_configuration": ufc(0)}),
    ));
    let begun = Instant::now();
    let started = ok(start(handle, 5_000));
    assert!(begun.elapsed() < Duration::from_millis(800), "start waited");
    assert_eq!(started["initialized"], true);
    assert_eq!(started["last_success_at"], Value::Null);
    assert!(is(handle, 0));
    assert!(wait_until(Duration::from_secs(5), || is(handle, 1)));
    let doc = checked_status(handle);
    assert_eq!(doc["published_at"].as_i64(), ms("2024-05-02T08:00:00.000Z"));
    assert!(doc["last_success_at"].as_u64().is_some());
    allot::ffi::allot_free(handle);
}

#[test]
fn free_during_a_hung_request_returns_quickly() {
    let (server, state) = eppo_server(false);
    set_mode(&state, Mode::Hang);
    let handle = init_ok(&config(&server.url(), json!({})));
    assert_eq!(error_code(&start(handle, 50)), "timeout");
    assert!(wait_until(Duration::from_secs(2), || config_requests(
        &server
    ) == 1));
    let begun = Instant::now();
    allot::ffi::allot_free(handle);
    assert!(
        begun.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(error_code(&status(handle)), "unknown_handle");
}

#[test]
fn the_key_never_appears_in_errors_or_status() {
    // A refused connection: the transport's message names the URL, key redacted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let handle = init_ok(&config(&closed, json!({})));
    let envelope = start(handle, 5_000);
    assert_eq!(error_code(&envelope), "network", "{envelope}");
    let message = envelope["error"]["message"].as_str().unwrap();
    assert_no_key(message);
    assert!(
        message.contains("apiKey=<redacted>&sdkName=allot"),
        "{message}"
    );
    let doc = checked_status(handle);
    assert_eq!(doc["last_error"]["code"], "network");
    assert_no_key(&doc.to_string());
    allot::ffi::allot_free(handle);

    // A server echoing the key in its error body (raw and encoded).
    for code in [403, 500] {
        let (server, state) = eppo_server(false);
        set_mode(&state, Mode::Status(code));
        let handle = init_ok(&config(&server.url(), json!({})));
        let envelope = start(handle, 5_000);
        assert_no_key(&envelope.to_string());
        assert!(envelope.to_string().contains("<redacted>"), "{envelope}");
        checked_status(handle);
        allot::ffi::allot_free(handle);
    }
}

/// An RFC 3339 timestamp in ms since the epoch, as the status document reports times.
fn ms(rfc3339: &str) -> Option<i64> {
    allot::internals::eppo::parse_rfc3339(rfc3339)
}

fn configuration(handle: u64) -> Value {
    ok(take(allot::ffi::allot_configuration(handle)))
}

#[test]
fn allot_configuration_hands_back_the_configuration_served_given_or_fetched() {
    // Given at init: handed back before any fetch.
    let (server, state) = eppo_server(false);
    let handle = init_ok(&config(
        &server.url(),
        json!({"initial_configuration": ufc(7)}),
    ));
    assert_eq!(
        configuration(handle),
        json!({"flags": ufc(7), "bandits": null})
    );
    // Fetched: the server's document, and the next one after a change.
    ok(start(handle, 5_000));
    assert!(wait_until(Duration::from_secs(5), || is(handle, 1)));
    assert_eq!(configuration(handle)["flags"], ufc(1));
    set_version(&state, 2);
    assert!(wait_until(Duration::from_secs(5), || is(handle, 2)));
    assert_eq!(configuration(handle)["flags"], ufc(2));
    allot::ffi::allot_free(handle);
    // Nothing loaded yet; a freed handle; another provider.
    set_mode(&state, Mode::Hang);
    let handle = init_ok(&config(&server.url(), json!({})));
    assert_eq!(
        configuration(handle),
        json!({"flags": null, "bandits": null})
    );
    allot::ffi::allot_free(handle);
    assert_eq!(
        error_code(&take(allot::ffi::allot_configuration(handle))),
        "unknown_handle"
    );
    let amplitude = init_ok(&json!({"provider": "amplitude", "flags": []}));
    assert_eq!(
        error_code(&take(allot::ffi::allot_configuration(amplitude))),
        "unsupported"
    );
    allot::ffi::allot_free(amplitude);
}
