//! Networked Amplitude clients over real HTTP on 127.0.0.1, through the C ABI: polling,
//! ETags, bootstrap, faults, concurrency, streaming and remote evaluation. Every server
//! is started by its test and stops when dropped; every wait is bounded.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

const KEY: &str = "server-test-key-0123456789";
const FLAGS_PATH: &str = "/sdk/v2/flags";
const STREAM_PATH: &str = "/sdk/stream/v1/flags";
const FLAG_KEYS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Three flags that all give every user the value `v<version>`.
fn flags(version: u32) -> Value {
    Value::Array(
        FLAG_KEYS
            .iter()
            .map(|key| {
                json!({
                    "key": key,
                    "metadata": {"flagVersion": version},
                    "variants": {"on": {"key": "on", "value": format!("v{version}")}},
                    "segments": [{"variant": "on"}],
                })
            })
            .collect(),
    )
}

/// Two flags that depend on each other.
fn cycle() -> Value {
    json!([
        {"key": "alpha", "dependencies": ["beta"], "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]},
        {"key": "beta", "dependencies": ["alpha"], "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]},
    ])
}

/// What the flag endpoint does.
#[derive(Clone)]
enum Mode {
    Serve,
    Status(u16),
    Hang,
    Truncate,
    Raw(String),
}

/// The flag endpoint's state: the configuration, its ETag and the fault to inject.
struct FlagState {
    body: String,
    etag: String,
    mode: Mode,
    stream_up: bool,
}

type Shared = Arc<Mutex<FlagState>>;

fn set_flags(state: &Shared, version: u32) {
    set_body(
        state,
        &flags(version).to_string(),
        &format!("\"v{version}\""),
    );
}

fn set_body(state: &Shared, body: &str, etag: &str) {
    let mut s = state.lock().unwrap();
    s.body = body.to_owned();
    s.etag = etag.to_owned();
}

fn set_mode(state: &Shared, mode: Mode) {
    state.lock().unwrap().mode = mode;
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A flag server (flag endpoint with ETags and gzip, and a stream) serving version 1.
fn flag_server() -> (Server, Shared) {
    flag_server_with(None)
}

fn flag_server_with(keepalive: Option<Duration>) -> (Server, Shared) {
    let state: Shared = Arc::new(Mutex::new(FlagState {
        body: flags(1).to_string(),
        etag: "\"v1\"".into(),
        mode: Mode::Serve,
        stream_up: true,
    }));
    let handler_state = Arc::clone(&state);
    let server = Server::start_on(0, keepalive, move |request: &Received| {
        let s = handler_state.lock().unwrap();
        if request.path() == STREAM_PATH {
            return if s.stream_up {
                Reply::Stream {
                    first: Some(s.body.clone()),
                }
            } else {
                Reply::text(503, "stream down")
            };
        }
        if request.path() != FLAGS_PATH {
            return Reply::text(404, "no such endpoint");
        }
        match &s.mode {
            Mode::Status(code) => Reply::text(*code, "injected failure"),
            Mode::Hang => Reply::Hang,
            Mode::Truncate => Reply::Truncated {
                body: s.body.as_bytes()[..s.body.len() / 2].to_vec(),
                missing: s.body.len() - s.body.len() / 2,
            },
            Mode::Raw(body) => Reply::text(200, body.clone()),
            Mode::Serve if request.header("if-none-match") == Some(s.etag.as_str()) => {
                Reply::Full {
                    status: 304,
                    headers: vec![("ETag".into(), s.etag.clone())],
                    body: Vec::new(),
                }
            }
            Mode::Serve => {
                let gzipped = request
                    .header("accept-encoding")
                    .is_some_and(|v| v.contains("gzip"));
                let mut headers = vec![
                    ("ETag".to_owned(), s.etag.clone()),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ];
                let body = if gzipped {
                    headers.push(("Content-Encoding".into(), "gzip".into()));
                    gzip(s.body.as_bytes())
                } else {
                    s.body.clone().into_bytes()
                };
                Reply::Full {
                    status: 200,
                    headers,
                    body,
                }
            }
        }
    });
    (server, state)
}

/// A local client of `server` with fast timings, merged with `extra`.
fn local_config(server_url: &str, extra: Value) -> Value {
    let mut config = json!({
        "provider": "amplitude",
        "api_key": KEY,
        "server_url": server_url,
        "flag_config_polling_interval_millis": 20,
        "flag_config_poller_request_timeout_millis": 2_000,
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// The values of the three flags for a user (`None` for a missing flag).
fn values(handle: u64) -> Vec<Option<String>> {
    let answer = ok(evaluate(handle, &json!({"user": {"user_id": "u1"}})));
    FLAG_KEYS
        .iter()
        .map(|k| answer["variants"][k]["value"].as_str().map(str::to_owned))
        .collect()
}

fn all_are(handle: u64, version: u32) -> bool {
    values(handle)
        .iter()
        .all(|v| v.as_deref() == Some(format!("v{version}").as_str()))
}

fn last_error_code(handle: u64) -> Option<String> {
    ok(status(handle))["last_error"]["code"]
        .as_str()
        .map(str::to_owned)
}

/// A status that must never contain the key.
fn checked_status(handle: u64) -> Value {
    let doc = ok(status(handle));
    assert!(!doc.to_string().contains(KEY), "key leaked: {doc}");
    doc
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn first_fetch_sends_the_documented_request_and_serves_the_configuration() {
    let (server, _state) = flag_server();
    let handle = init_ok(&local_config(&server.url(), json!({})));
    let started = ok(start(handle, 5_000));
    assert_eq!(started["initialized"], true);
    assert_eq!(started["source"], "poll");
    assert_eq!(started["flag_count"], 3);
    assert_eq!(started["etag"], "\"v1\"");
    assert_eq!(started["last_error"], Value::Null);
    assert!(started["last_success_at"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(all_are(handle, 1));
    let first = &server.requests_to(FLAGS_PATH)[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.target, "/sdk/v2/flags?v=0");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Api-Key {KEY}").as_str())
    );
    assert_eq!(
        first.header("x-amp-exp-library"),
        Some(concat!("allot/", env!("CARGO_PKG_VERSION")))
    );
    assert!(first.header("accept-encoding").unwrap().contains("gzip"));
    assert_eq!(first.header("if-none-match"), None);
    checked_status(handle);
    allot::ffi::allot_free(handle);
}

#[test]
fn stop_ends_polling_and_the_last_flags_keep_serving() {
    let (server, state) = flag_server();
    let handle = init_ok(&local_config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    assert!(wait_until(Duration::from_secs(5), || server
        .requests_to(FLAGS_PATH)
        .len()
        >= 2));
    let stopped = ok(take(allot::ffi::allot_stop(handle, 1_000)));
    assert_eq!(stopped["polling"], false);
    let requests = server.requests_to(FLAGS_PATH).len();
    set_flags(&state, 2);
    ok(start(handle, 100)); // start does not restart a stopped client
    std::thread::sleep(Duration::from_millis(200)); // ten polling intervals
    assert_eq!(server.requests_to(FLAGS_PATH).len(), requests);
    assert!(all_are(handle, 1));
    // Idempotent, and a client without background work answers its status too.
    ok(take(allot::ffi::allot_stop(handle, 0)));
    allot::ffi::allot_free(handle);
}

#[test]
fn polling_picks_up_a_change_and_a_304_keeps_the_snapshot() {
    let (server, state) = flag_server();
    let handle = init_ok(&local_config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    // Unchanged: later polls send If-None-Match and get 304; the configuration stays.
    assert!(wait_until(Duration::from_secs(5), || {
        server
            .requests_to(FLAGS_PATH)
            .iter()
            .filter(|r| r.header("if-none-match") == Some("\"v1\""))
            .count()
            >= 2
    }));
    let after_304 = checked_status(handle);
    assert_eq!(after_304["source"], "poll");
    assert_eq!(after_304["etag"], "\"v1\"");
    assert!(all_are(handle, 1));
    set_flags(&state, 2);
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 2)));
    assert_eq!(checked_status(handle)["etag"], "\"v2\"");
    allot::ffi::allot_free(handle);
}

#[test]
fn bootstrap_serves_until_the_first_successful_fetch() {
    let (server, state) = flag_server();
    set_mode(&state, Mode::Hang);
    let config = local_config(
        &server.url(),
        json!({"flags": flags(0), "flag_config_poller_request_timeout_millis": 150}),
    );
    let handle = init_ok(&config);
    let started = ok(start(handle, 0));
    assert_eq!(started["source"], "bootstrap");
    assert_eq!(started["initialized"], true);
    assert!(all_are(handle, 0));
    assert!(wait_until(Duration::from_secs(5), || last_error_code(
        handle
    )
    .as_deref()
        == Some("timeout")));
    assert!(all_are(handle, 0));
    set_mode(&state, Mode::Serve);
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 1)));
    let doc = checked_status(handle);
    assert_eq!(doc["source"], "poll");
    assert_eq!(doc["last_error"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn bootstrap_alone_stays_offline() {
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": KEY, "flags": flags(3)}));
    let started = ok(start(handle, 0));
    assert_eq!(started["source"], "bootstrap");
    assert_eq!(started["polling"], false);
    assert_eq!(started["server_url"], Value::Null);
    assert!(all_are(handle, 3));
    allot::ffi::allot_free(handle);
}

#[test]
fn server_zones_resolve_to_the_documented_hosts() {
    let cases = [
        (
            json!({}),
            "https://api.lab.amplitude.com",
            "https://stream.lab.amplitude.com",
        ),
        (
            json!({"server_zone": "us"}),
            "https://api.lab.amplitude.com",
            "https://stream.lab.amplitude.com",
        ),
        (
            json!({"server_zone": "eu"}),
            "https://flag.lab.eu.amplitude.com",
            "https://stream.lab.eu.amplitude.com",
        ),
        (
            json!({"server_zone": "eu", "server_url": "http://127.0.0.1:9", "stream_server_url": "http://127.0.0.1:10/"}),
            "http://127.0.0.1:9",
            "http://127.0.0.1:10",
        ),
    ];
    for (extra, flags_host, stream_host) in cases {
        let mut config = json!({"provider": "amplitude", "api_key": KEY, "stream_updates": true});
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let handle = init_ok(&config);
        let doc = checked_status(handle);
        assert_eq!(doc["server_url"], flags_host, "{config}");
        assert_eq!(doc["stream_server_url"], stream_host, "{config}");
        assert_eq!(doc["started"], false);
        allot::ffi::allot_free(handle);
    }
    for (zone, host) in [
        ("us", "https://api.lab.amplitude.com"),
        ("eu", "https://api.lab.eu.amplitude.com"),
    ] {
        let handle = init_ok(
            &json!({"provider": "amplitude", "mode": "remote", "api_key": KEY, "server_zone": zone}),
        );
        assert_eq!(checked_status(handle)["server_url"], host);
        allot::ffi::allot_free(handle);
    }
}

#[test]
fn refused_connections_keep_the_bootstrap_and_fail_start_without_one() {
    let url = closed_port_url();
    let handle = init_ok(&local_config(&url, json!({"flags": flags(0)})));
    let started = ok(start(handle, 5_000));
    assert_eq!(started["source"], "bootstrap");
    assert_eq!(started["last_error"]["code"], "network");
    assert!(started["last_error"]["at"].as_u64().is_some());
    assert!(all_are(handle, 0));
    allot::ffi::allot_free(handle);

    let handle = init_ok(&local_config(&url, json!({})));
    let envelope = start(handle, 5_000);
    assert_eq!(error_code(&envelope), "network", "{envelope}");
    assert!(!envelope.to_string().contains(KEY));
    let doc = checked_status(handle);
    assert_eq!(doc["initialized"], false);
    assert_eq!(doc["last_error"]["code"], "network");
    allot::ffi::allot_free(handle);
}

#[test]
fn start_times_out_on_a_hung_server_and_the_poller_keeps_trying() {
    let (server, state) = flag_server();
    set_mode(&state, Mode::Hang);
    let handle = init_ok(&local_config(
        &server.url(),
        json!({"flag_config_poller_request_timeout_millis": 300}),
    ));
    let begun = Instant::now();
    let envelope = start(handle, 100);
    assert_eq!(error_code(&envelope), "timeout", "{envelope}");
    assert!(begun.elapsed() < Duration::from_millis(300 + 2_000));
    // The request timeout is honoured: the hung request is abandoned and recorded.
    assert!(wait_until(Duration::from_secs(5), || last_error_code(
        handle
    )
    .as_deref()
        == Some("timeout")));
    set_mode(&state, Mode::Serve);
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["initialized"]
        == true));
    assert!(all_are(handle, 1));
    allot::ffi::allot_free(handle);
}

/// Starts a client on version 1, injects `fault`, waits for `code` in the status, and
/// checks that version 1 still serves; then recovers with version 2.
fn fault_keeps_the_old_configuration(fault: impl FnOnce(&Shared), code: &str, extra: Value) {
    let (server, state) = flag_server();
    let handle = init_ok(&local_config(&server.url(), extra));
    // With a short request timeout, a loaded machine may miss the first fetch: the
    // poller retries, so wait for the configuration rather than insist on the first try.
    let _ = start(handle, 5_000);
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 1)));
    fault(&state);
    assert!(
        wait_until(Duration::from_secs(5), || last_error_code(handle)
            .as_deref()
            == Some(code)),
        "expected {code}, status {}",
        ok(status(handle))
    );
    let doc = checked_status(handle);
    assert_eq!(doc["initialized"], true);
    assert_eq!(doc["flag_count"], 3);
    assert_eq!(doc["source"], "poll");
    assert!(doc["last_error"]["message"].as_str().unwrap().len() > 5);
    assert!(doc["last_error"]["at"].as_u64().unwrap() >= doc["last_success_at"].as_u64().unwrap());
    for _ in 0..20 {
        assert!(all_are(handle, 1), "old configuration must keep serving");
    }
    set_mode(&state, Mode::Serve);
    set_flags(&state, 2);
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 2)));
    assert_eq!(checked_status(handle)["last_error"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn server_error_then_success() {
    fault_keeps_the_old_configuration(|s| set_mode(s, Mode::Status(500)), "http_status", json!({}));
}

#[test]
fn hung_server_times_out() {
    fault_keeps_the_old_configuration(
        |s| set_mode(s, Mode::Hang),
        "timeout",
        json!({"flag_config_poller_request_timeout_millis": 300}),
    );
}

#[test]
fn truncated_body() {
    fault_keeps_the_old_configuration(
        |s| {
            set_flags(s, 9);
            set_mode(s, Mode::Truncate);
        },
        "network",
        json!({}),
    );
}

#[test]
fn invalid_json() {
    fault_keeps_the_old_configuration(
        |s| set_mode(s, Mode::Raw("[{\"key\": \"alpha\",".into())),
        "invalid_response",
        json!({}),
    );
}

#[test]
fn wrong_shape() {
    fault_keeps_the_old_configuration(
        |s| set_mode(s, Mode::Raw("{\"flags\": []}".into())),
        "invalid_response",
        json!({}),
    );
}

#[test]
fn oversized_body() {
    fault_keeps_the_old_configuration(
        |s| {
            let mut big = flags(9);
            big[0]["metadata"]["padding"] = json!("x".repeat(20_000));
            set_body(s, &big.to_string(), "\"big\"");
        },
        "invalid_response",
        json!({"max_response_bytes": 10_000}),
    );
}

#[test]
fn dependency_cycle_in_a_new_configuration() {
    fault_keeps_the_old_configuration(
        |s| set_body(s, &cycle().to_string(), "\"cycle\""),
        "dependency_cycle",
        json!({}),
    );
}

#[test]
fn unauthorized_stops_polling() {
    let (server, state) = flag_server();
    let handle = init_ok(&local_config(&server.url(), json!({})));
    ok(start(handle, 5_000));
    set_mode(&state, Mode::Status(401));
    assert!(wait_until(Duration::from_secs(5), || last_error_code(
        handle
    )
    .as_deref()
        == Some("unauthorized")));
    let doc = checked_status(handle);
    assert_eq!(doc["polling"], false);
    assert!(all_are(handle, 1));
    let count = server.requests_to(FLAGS_PATH).len();
    std::thread::sleep(Duration::from_millis(200)); // ten polling intervals
    assert_eq!(
        server.requests_to(FLAGS_PATH).len(),
        count,
        "polling must stop"
    );
    allot::ffi::allot_free(handle);

    // Without a configuration, start reports it at once.
    let handle = init_ok(&local_config(&server.url(), json!({})));
    let envelope = start(handle, 5_000);
    assert_eq!(error_code(&envelope), "unauthorized", "{envelope}");
    assert!(!envelope.to_string().contains(KEY));
    allot::ffi::allot_free(handle);
}

#[test]
fn free_during_a_hung_request_returns_within_the_timeout() {
    let (server, state) = flag_server();
    set_mode(&state, Mode::Hang);
    let handle = init_ok(&local_config(
        &server.url(),
        json!({"flag_config_poller_request_timeout_millis": 3_000}),
    ));
    assert_eq!(error_code(&start(handle, 50)), "timeout");
    assert!(wait_until(Duration::from_secs(2), || !server
        .requests_to(FLAGS_PATH)
        .is_empty()));
    let begun = Instant::now();
    allot::ffi::allot_free(handle);
    assert!(
        begun.elapsed() < Duration::from_millis(3_000),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(error_code(&status(handle)), "unknown_handle");
}

#[test]
fn evaluations_see_whole_configurations_while_it_changes_100_times() {
    let (server, state) = flag_server();
    let handle = init_ok(&local_config(
        &server.url(),
        json!({"flag_config_polling_interval_millis": 1}),
    ));
    ok(start(handle, 5_000));
    let done = Arc::new(AtomicBool::new(false));
    let evaluations = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let done = Arc::clone(&done);
            let evaluations = Arc::clone(&evaluations);
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while !done.load(Ordering::Acquire) {
                    let got = values(handle);
                    let first = got[0].clone().expect("alpha evaluated");
                    assert!(
                        got.iter().all(|v| v.as_deref() == Some(first.as_str())),
                        "mixed: {got:?}"
                    );
                    seen.insert(first);
                    evaluations.fetch_add(1, Ordering::Relaxed);
                }
                seen.len()
            })
        })
        .collect();
    for version in 2..=101 {
        set_flags(&state, version);
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 101)));
    done.store(true, Ordering::Release);
    let distinct: Vec<usize> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(distinct.iter().all(|&n| n >= 1));
    assert!(
        distinct.iter().max() > Some(&1),
        "readers saw the changes: {distinct:?}"
    );
    assert!(evaluations.load(Ordering::Relaxed) > 8);
    // The poller really followed the changes (not just the first and last).
    assert!(server.requests_to(FLAGS_PATH).len() > 10);
    allot::ffi::allot_free(handle);
}

fn stream_config(server_url: &str, extra: Value) -> Value {
    let mut config = local_config(
        server_url,
        json!({
            "stream_updates": true,
            "stream_server_url": server_url,
            "flag_config_polling_interval_millis": 60_000,
            "stream_flag_conn_timeout": 1_000,
        }),
    );
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

#[test]
fn stream_updates_arrive_without_waiting_for_a_poll() {
    let (server, _state) = flag_server();
    let handle = init_ok(&stream_config(&server.url(), json!({})));
    let started = ok(start(handle, 5_000));
    assert_eq!(started["source"], "stream");
    assert!(all_are(handle, 1));
    let stream_request = &server.requests_to(STREAM_PATH)[0];
    assert_eq!(
        stream_request.header("authorization"),
        Some(format!("Api-Key {KEY}").as_str())
    );
    assert_eq!(stream_request.header("accept"), Some("text/event-stream"));
    assert!(wait_until(Duration::from_secs(2), || ok(status(handle))
        ["streaming"]
        == true));
    server.broadcast(" "); // a keep-alive changes nothing
    server.broadcast(&flags(2).to_string());
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 2)));
    // A configuration with a cycle on the stream is rejected; the old one stays.
    server.broadcast(&cycle().to_string());
    assert!(wait_until(Duration::from_secs(5), || last_error_code(
        handle
    )
    .as_deref()
        == Some("dependency_cycle")));
    assert!(all_are(handle, 2));
    assert!(
        server.requests_to(FLAGS_PATH).is_empty(),
        "no poll while the stream is up"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn a_killed_stream_falls_back_to_polling_and_reconnects() {
    let (server, state) = flag_server();
    let handle = init_ok(&stream_config(
        &server.url(),
        json!({
            "flag_config_polling_interval_millis": 30,
            "stream_retry_interval_millis": 400,
            "stream_retry_jitter_millis": 50,
        }),
    ));
    assert_eq!(ok(start(handle, 5_000))["source"], "stream");
    state.lock().unwrap().stream_up = false;
    set_flags(&state, 2);
    server.kill_streams();
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 2)));
    let doc = checked_status(handle);
    assert_eq!(doc["source"], "poll");
    assert_eq!(doc["streaming"], false);
    // The stream comes back after the retry interval and takes over again.
    state.lock().unwrap().stream_up = true;
    assert!(wait_until(Duration::from_secs(5), || server.stream_count() == 1));
    server.broadcast(&flags(3).to_string());
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 3)));
    assert_eq!(checked_status(handle)["source"], "stream");
    allot::ffi::allot_free(handle);
}

#[test]
fn a_silent_stream_times_out_and_polling_takes_over() {
    let (server, state) = flag_server_with(None);
    let handle = init_ok(&stream_config(
        &server.url(),
        json!({
            "flag_config_polling_interval_millis": 30,
            "stream_keepalive_timeout_millis": 150,
            "stream_retry_interval_millis": 60_000,
        }),
    ));
    assert_eq!(ok(start(handle, 5_000))["source"], "stream");
    set_flags(&state, 2);
    assert!(wait_until(Duration::from_secs(5), || all_are(handle, 2)));
    assert_eq!(checked_status(handle)["source"], "poll");
    allot::ffi::allot_free(handle);

    // With keep-alives the stream stays up past the keep-alive timeout.
    let (server, _state) = flag_server_with(Some(Duration::from_millis(30)));
    let handle = init_ok(&stream_config(
        &server.url(),
        json!({"stream_keepalive_timeout_millis": 150}),
    ));
    ok(start(handle, 5_000));
    std::thread::sleep(Duration::from_millis(400));
    let doc = checked_status(handle);
    assert_eq!(doc["streaming"], true, "{doc}");
    assert_eq!(doc["last_error"], Value::Null);
    assert!(server.requests_to(FLAGS_PATH).is_empty());
    allot::ffi::allot_free(handle);
}

/// A remote evaluation server answering `replies` in order (the last one repeats).
fn remote_server(replies: Vec<(u16, String)>) -> Server {
    let replies = Mutex::new(replies);
    Server::start(move |_request: &Received| {
        let mut replies = replies.lock().unwrap();
        let (status, body) = if replies.len() > 1 {
            replies.remove(0)
        } else {
            replies[0].clone()
        };
        Reply::text(status, body)
    })
}

fn remote_config(server_url: &str, extra: Value) -> Value {
    let mut config = json!({"provider": "amplitude", "mode": "remote", "api_key": KEY, "server_url": server_url});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

const VARIANTS: &str = r#"{"alpha": {"key": "on", "value": "on", "metadata": {"flagVersion": 3}}}"#;

#[test]
fn remote_fetch_sends_the_documented_request() {
    let server = remote_server(vec![(200, VARIANTS.into())]);
    let handle = init_ok(&remote_config(&server.url(), json!({})));
    let user = json!({"user_id": "u1", "device_id": "d1", "user_properties": {"plan": "pro"}});
    let answer = ok(fetch(
        handle,
        &json!({"user": user, "flag_keys": ["alpha", "beta"], "tracks_assignment": false, "tracks_exposure": true}),
    ));
    assert_eq!(answer["variants"]["alpha"]["value"], "on");
    assert_eq!(answer["variants"]["alpha"]["metadata"]["flagVersion"], 3);
    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/sdk/v2/vardata?v=0");
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        user
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Api-Key {KEY}").as_str())
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(request.header("x-amp-exp-track"), Some("no-track"));
    assert_eq!(request.header("x-amp-exp-exposure-track"), Some("track"));
    let keys = request.header("x-amp-exp-flag-keys").unwrap();
    assert!(!keys.contains('=') && !keys.contains('+') && !keys.contains('/'));
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(keys)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        json!(["alpha", "beta"])
    );
    // Without options, the optional headers are absent.
    ok(fetch(handle, &json!({"user": {"user_id": "u2"}})));
    let plain = &server.requests()[1];
    assert_eq!(plain.header("x-amp-exp-flag-keys"), None);
    assert_eq!(plain.header("x-amp-exp-track"), None);
    let doc = checked_status(handle);
    assert_eq!(doc["mode"], "remote");
    assert!(doc["last_success_at"].as_u64().is_some());
    // A local-only call and a bad request are errors, not crashes.
    assert_eq!(
        error_code(&evaluate(handle, &json!({"user": {}}))),
        "unsupported"
    );
    assert_eq!(
        error_code(&fetch(handle, &json!({"user": {"nope": 1}}))),
        "invalid_argument"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn remote_fetch_retries_429_with_the_configured_backoff() {
    let server = remote_server(vec![
        (429, "slow down".into()),
        (429, "slow down".into()),
        (503, "busy".into()),
        (200, VARIANTS.into()),
    ]);
    let handle = init_ok(&remote_config(
        &server.url(),
        json!({
            "fetch_retries": 3,
            "fetch_retry_backoff_min_millis": 60,
            "fetch_retry_backoff_scalar": 2.0,
            "fetch_retry_backoff_max_millis": 100,
        }),
    ));
    let answer = ok(fetch(handle, &json!({"user": {"user_id": "u1"}})));
    assert_eq!(answer["variants"]["alpha"]["key"], "on");
    let times: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 4);
    // Waits: min, then min(previous * scalar, max): 60, 100 (not 120), 100.
    for (i, expected) in [60u64, 100, 100].into_iter().enumerate() {
        let gap = times[i + 1] - times[i];
        assert!(
            gap >= Duration::from_millis(expected - 5),
            "gap {i}: {gap:?} < {expected} ms"
        );
        assert!(
            gap < Duration::from_millis(expected + 1_000),
            "gap {i}: {gap:?}"
        );
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn remote_fetch_reports_attempts_and_fails_fast_on_4xx() {
    let server = remote_server(vec![(500, "down".into())]);
    let handle = init_ok(&remote_config(
        &server.url(),
        json!({"fetch_retries": 2, "fetch_retry_backoff_min_millis": 1, "fetch_retry_backoff_max_millis": 2}),
    ));
    let envelope = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    assert_eq!(error_code(&envelope), "http_status");
    let message = envelope["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("3 attempts") && message.contains("500"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(checked_status(handle)["last_error"]["code"], "http_status");
    allot::ffi::allot_free(handle);

    let server = remote_server(vec![(400, "bad user".into())]);
    let handle = init_ok(&remote_config(&server.url(), json!({"fetch_retries": 5})));
    let envelope = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    assert_eq!(error_code(&envelope), "http_status");
    assert!(envelope["error"]["message"]
        .as_str()
        .unwrap()
        .contains("400"));
    assert_eq!(server.requests().len(), 1, "no retry on 400");
    allot::ffi::allot_free(handle);

    let server = remote_server(vec![(401, format!("bad key {KEY}"))]);
    let handle = init_ok(&remote_config(&server.url(), json!({"fetch_retries": 5})));
    let envelope = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    assert_eq!(error_code(&envelope), "unauthorized");
    assert!(!envelope.to_string().contains(KEY), "{envelope}");
    assert_eq!(server.requests().len(), 1);
    allot::ffi::allot_free(handle);

    let server = remote_server(vec![(200, "[1, 2]".into())]);
    let handle = init_ok(&remote_config(&server.url(), json!({})));
    assert_eq!(
        error_code(&fetch(handle, &json!({"user": {"user_id": "u1"}}))),
        "invalid_response"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn remote_fetch_retries_an_unreadable_answer() {
    // As Amplitude's Python SDK: an answer that is not variants JSON is retried.
    let server = remote_server(vec![(200, "<html>".into()), (200, VARIANTS.into())]);
    let handle = init_ok(&remote_config(
        &server.url(),
        json!({"fetch_retries": 1, "fetch_retry_backoff_min_millis": 1}),
    ));
    let answer = ok(fetch(handle, &json!({"user": {"user_id": "u1"}})));
    assert_eq!(answer["variants"]["alpha"]["key"], "on");
    assert_eq!(server.requests().len(), 2);
    allot::ffi::allot_free(handle);
}

#[test]
fn remote_fetch_honours_the_first_and_retry_timeouts() {
    let server = Server::start(|_r: &Received| Reply::Hang);
    let handle = init_ok(&remote_config(
        &server.url(),
        json!({
            "fetch_timeout_millis": 100,
            "fetch_retries": 1,
            "fetch_retry_backoff_min_millis": 10,
            "fetch_retry_timeout_millis": 150,
        }),
    ));
    let begun = Instant::now();
    let envelope = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    let took = begun.elapsed();
    assert_eq!(error_code(&envelope), "timeout", "{envelope}");
    assert!(
        took >= Duration::from_millis(100 + 10 + 150 - 10),
        "{took:?}"
    );
    assert!(took < Duration::from_millis(3_000), "{took:?}");
    assert!(envelope["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 attempts"));
    allot::ffi::allot_free(handle);
}

#[test]
fn refused_remote_fetch_is_a_network_error() {
    let handle = init_ok(&remote_config(&closed_port_url(), json!({})));
    let envelope = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    assert_eq!(error_code(&envelope), "network", "{envelope}");
    allot::ffi::allot_free(handle);
}

#[test]
fn every_duration_is_bounded_at_init() {
    for field in [
        "flag_config_polling_interval_millis",
        "flag_config_poller_request_timeout_millis",
        "stream_retry_jitter_millis",
        "stream_max_connection_millis",
    ] {
        let mut config = json!({"provider": "amplitude", "api_key": KEY, "stream_updates": true});
        config[field] = json!(u64::MAX);
        let error = init(&config).unwrap_err();
        assert_eq!(error["error"]["code"], "invalid_config", "{field}");
    }
    let mut config = json!({"provider": "amplitude", "mode": "remote", "api_key": KEY});
    config["fetch_retry_backoff_max_millis"] = json!(u64::MAX);
    assert_eq!(
        init(&config).unwrap_err()["error"]["code"],
        "invalid_config"
    );
}
