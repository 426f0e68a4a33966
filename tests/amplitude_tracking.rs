//! Assignment and exposure tracking through the C ABI, delivered to a real HTTP server
//! on 127.0.0.1: batching, retries, overflow, flush, de-duplication.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

const ANALYTICS_KEY: &str = "analytics-SECRET-key";
const DAY: u64 = 86_400_000;

fn flags() -> Value {
    json!([
        {"key": "exp", "metadata": {"flagType": "experiment", "flagVersion": 2, "experimentKey": "exp-1"},
         "variants": {"a": {"key": "a", "value": "a"}, "off": {"key": "off", "metadata": {"default": true}}},
         "segments": [{"metadata": {"segmentName": "All"}, "variant": "a"}]}
    ])
}

/// A started offline client (bootstrap flags) tracking to `server`.
fn tracking_client(server: &Server, assignment: Value, exposure: Option<Value>) -> u64 {
    let mut section = json!({"api_key": ANALYTICS_KEY, "server_url": server.url(),
                             "retry_backoff_min_millis": 20, "retry_backoff_max_millis": 50});
    for (k, v) in assignment.as_object().unwrap() {
        section[k] = v.clone();
    }
    let mut config =
        json!({"provider": "amplitude", "flags": flags(), "assignment_config": section});
    if let Some(exposure) = exposure {
        let mut e = json!({"api_key": ANALYTICS_KEY, "server_url": server.url(), "flush_interval_millis": 20});
        for (k, v) in exposure.as_object().unwrap() {
            e[k] = v.clone();
        }
        config["exposure_config"] = e;
    }
    let handle = init_ok(&config);
    ok(start(handle, 0));
    handle
}

fn evaluate_user(handle: u64, user_id: &str, extra: Value) -> Value {
    let mut request = json!({"user": {"user_id": user_id, "device_id": "d"}});
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    ok(evaluate(handle, &request))
}

/// Every event the server accepted (from 200-answered requests).
fn events_of(requests: &[Received]) -> Vec<Value> {
    requests
        .iter()
        .flat_map(|r| {
            assert_eq!(
                r.header("authorization"),
                None,
                "the key travels in the body only"
            );
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["api_key"], ANALYTICS_KEY);
            body["events"].as_array().unwrap().clone()
        })
        .collect()
}

fn accepting_server() -> Server {
    Server::start(|r: &Received| {
        assert_eq!(r.path(), "/2/httpapi");
        Reply::text(200, r#"{"code":200}"#)
    })
}

#[test]
fn batches_by_size() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 3, "flush_interval_millis": 60_000}),
        None,
    );
    for i in 0..6 {
        evaluate_user(handle, &format!("u{i}"), json!({}));
    }
    assert!(wait_until(Duration::from_secs(5), || server
        .requests()
        .len()
        == 2));
    let requests = server.requests();
    for r in &requests {
        assert_eq!(
            events_of(std::slice::from_ref(r)).len(),
            3,
            "full batches of flush_queue_size"
        );
    }
    let users: HashSet<String> = events_of(&requests)
        .iter()
        .map(|e| e["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users.len(), 6);
    // The server logs a request before the sender has read the answer: wait for it.
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["assignment_events"]["sent"]
        == 6));
    assert_eq!(ok(status(handle))["assignment_events"]["queued"], 0);
    allot::ffi::allot_free(handle);
}

#[test]
fn batches_by_interval() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100, "flush_interval_millis": 100}),
        None,
    );
    let started = Instant::now();
    evaluate_user(handle, "lonely", json!({}));
    assert!(wait_until(Duration::from_secs(5), || server
        .requests()
        .len()
        == 1));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "sent before the interval"
    );
    assert_eq!(
        events_of(&server.requests())[0]["event_type"],
        "[Experiment] Assignment"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn retries_after_500_and_429_and_loses_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = Server::start(
        move |_r: &Received| match counter.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::text(500, "down"),
            1 => Reply::text(429, "slow down"),
            _ => Reply::text(200, "{}"),
        },
    );
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 2, "flush_interval_millis": 20}),
        None,
    );
    for i in 0..5 {
        evaluate_user(handle, &format!("u{i}"), json!({}));
    }
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["assignment_events"]["sent"]
        == 5));
    let accepted: Vec<Received> = server.requests().into_iter().skip(2).collect();
    let ids: HashSet<String> = events_of(&accepted)
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        5,
        "each event delivered exactly once after the server recovered"
    );
    let stats = &ok(status(handle))["assignment_events"];
    assert_eq!(stats["dropped"], 0);
    assert_eq!(stats["last_error"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn a_rejected_batch_is_dropped_and_reported_without_the_key() {
    let server = Server::start(|_r: &Received| Reply::text(400, "bad event"));
    let handle = tracking_client(&server, json!({"flush_queue_size": 1}), None);
    evaluate_user(handle, "u", json!({}));
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["assignment_events"]["dropped"]
        == 1));
    let doc = ok(status(handle));
    assert_eq!(
        doc["assignment_events"]["last_error"]["code"],
        "http_status"
    );
    assert!(!doc.to_string().contains(ANALYTICS_KEY));
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
    allot::ffi::allot_free(handle);
}

#[test]
fn overflow_drops_the_oldest_and_counts_them() {
    let server = Server::start(|_r: &Received| Reply::text(503, "unavailable"));
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100, "flush_interval_millis": 60_000, "max_queue_size": 4, "shutdown_timeout_millis": 100}),
        None,
    );
    for i in 0..10 {
        evaluate_user(handle, &format!("u{i}"), json!({}));
    }
    let stats = &ok(status(handle))["assignment_events"];
    assert_eq!(stats["queued"], 4);
    assert_eq!(stats["dropped"], 6);
    allot::ffi::allot_free(handle);
}

#[test]
fn the_queue_is_bounded_in_bytes_too() {
    let server = Server::start(|_r: &Received| Reply::text(503, "unavailable"));
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100_000, "flush_interval_millis": 60_000,
               "max_queue_bytes": 200_000, "shutdown_timeout_millis": 100}),
        None,
    );
    // Each event carries a 10 kB user id (twice): 2,000 of them would be 40 MB.
    let begun = std::time::Instant::now();
    for i in 0..2_000 {
        evaluate_user(handle, &format!("{i:05}{}", "u".repeat(10_000)), json!({}));
    }
    let stats = &ok(status(handle))["assignment_events"];
    let queued = stats["queued"].as_u64().unwrap();
    assert!((1..=10).contains(&queued), "{stats}");
    assert_eq!(
        stats["dropped"].as_u64().unwrap() + queued,
        2_000,
        "{stats}"
    );
    assert!(begun.elapsed() < std::time::Duration::from_secs(20));
    allot::ffi::allot_free(handle);
}

#[test]
fn free_flushes_what_is_queued() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100, "flush_interval_millis": 60_000}),
        None,
    );
    for i in 0..3 {
        evaluate_user(handle, &format!("u{i}"), json!({}));
    }
    assert!(server.requests().is_empty());
    allot::ffi::allot_free(handle);
    assert_eq!(events_of(&server.requests()).len(), 3);
}

#[test]
fn allot_flush_sends_now_or_times_out() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100, "flush_interval_millis": 60_000}),
        None,
    );
    evaluate_user(handle, "u", json!({}));
    let flushed = ok(take(allot::ffi::allot_flush(handle, 5_000)));
    assert_eq!(flushed["assignment_events"]["sent"], 1);
    assert_eq!(flushed["exposure_events"], Value::Null);
    allot::ffi::allot_free(handle);

    let hung = Server::start(|_r: &Received| Reply::Hang);
    let handle = tracking_client(
        &hung,
        json!({"flush_queue_size": 100, "flush_interval_millis": 60_000, "shutdown_timeout_millis": 100}),
        None,
    );
    evaluate_user(handle, "u", json!({}));
    let answer = take(allot::ffi::allot_flush(handle, 100));
    assert_eq!(error_code(&answer), "timeout");
    let freeing = Instant::now();
    allot::ffi::allot_free(handle);
    assert!(
        freeing.elapsed() < Duration::from_secs(2),
        "free is bounded by shutdown_timeout_millis"
    );
}

#[test]
fn dedup_sends_one_event_per_user_and_variants_per_day() {
    let server = accepting_server();
    let handle = tracking_client(&server, json!({"flush_queue_size": 1}), None);
    let t0 = 1_700_000_000_000u64;
    evaluate_user(handle, "same", json!({"timestamp_millis": t0}));
    evaluate_user(handle, "same", json!({"timestamp_millis": t0 + 1_000}));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    assert_eq!(events_of(&server.requests()).len(), 1);
    evaluate_user(handle, "same", json!({"timestamp_millis": t0 + DAY}));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let events = events_of(&server.requests());
    assert_eq!(
        events.len(),
        2,
        "after the one-day TTL the event is sent again"
    );
    assert_ne!(
        events[0]["insert_id"], events[1]["insert_id"],
        "a new day, a new insert_id"
    );
    // Opting out per call.
    evaluate_user(handle, "other", json!({"tracks_assignment": false}));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    assert_eq!(events_of(&server.requests()).len(), 2);
    allot::ffi::allot_free(handle);
}

#[test]
fn exposures_are_opt_in_per_call() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1}),
        Some(json!({"flush_queue_size": 1})),
    );
    evaluate_user(handle, "u", json!({"tracks_assignment": false}));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    assert!(server.requests().is_empty(), "no exposure unless asked");
    evaluate_user(
        handle,
        "u",
        json!({"tracks_assignment": false, "tracks_exposure": true}),
    );
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let events = events_of(&server.requests());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "[Experiment] Exposure");
    assert_eq!(
        events[0]["event_properties"]["[Experiment] Flag Key"],
        "exp"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn the_fast_lane_tracks_as_its_options_say() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1}),
        Some(json!({"flush_queue_size": 1})),
    );
    let user = json!({"user_id": "u", "device_id": "d"});
    // Flag keys alone, as an array or in an object, track no exposure.
    let quiet = json!({"flag_keys": ["exp"], "tracks_assignment": false});
    for options in [json!(["exp"]), quiet.clone()] {
        assert_eq!(
            fast_variants(handle, &user, Some(&options))["exp"]["key"],
            "a"
        );
    }
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let events = events_of(&server.requests());
    assert_eq!(
        events.len(),
        1,
        "only the array's default assignment: {events:?}"
    );
    assert_eq!(events[0]["event_type"], "[Experiment] Assignment");
    let exposing = json!({"tracks_assignment": false, "tracks_exposure": true});
    assert_eq!(
        fast_variants(handle, &user, Some(&exposing))["exp"]["key"],
        "a"
    );
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let events = events_of(&server.requests());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event_type"], "[Experiment] Exposure");
    assert_eq!(
        events[1]["event_properties"]["[Experiment] Flag Key"],
        "exp"
    );
    // Members of the request that are not options, and bad options, are refused.
    for (options, code) in [
        (json!({"user": user.clone()}), "invalid_argument"),
        (json!({"tracks_exposure": "yes"}), "invalid_argument"),
        (json!({"flag_keys": "exp"}), "invalid_argument"),
        (json!(7), "invalid_argument"),
    ] {
        let error = compact(handle, &user, Some(&options)).unwrap_err();
        assert_eq!(error["error"]["code"], code, "{options}: {error}");
    }
    let unclosed = c("{\"tracks_exposure\": true");
    let user_text = c(&user.to_string());
    let error = call(|out, capacity| unsafe {
        allot::ffi::allot_evaluate_compact(
            handle,
            user_text.as_ptr(),
            unclosed.as_ptr(),
            out,
            capacity,
        )
    })
    .unwrap_err();
    assert_eq!(error["error"]["code"], "invalid_json", "{error}");
    allot::ffi::allot_free(handle);
}

#[test]
fn evaluated_props_are_sent_when_asked() {
    let server = accepting_server();
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1, "send_evaluated_props": true}),
        None,
    );
    ok(evaluate(
        handle,
        &json!({"user": {"user_id": "u", "country": "Canada", "os": "iOS", "version": "2.1",
                         "user_properties": {"plan": "pro"}}}),
    ));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let event = &events_of(&server.requests())[0];
    // As the SDK: the user's properties sit beside $set/$unset.
    assert_eq!(event["user_properties"]["plan"], "pro");
    assert!(event["user_properties"]["$set"].is_object());
    assert_eq!(event["country"], "Canada");
    assert_eq!(event["os_name"], "iOS");
    assert_eq!(event["app_version"], "2.1");
    allot::ffi::allot_free(handle);
}

#[test]
fn tracking_config_is_checked() {
    let err = init(
        &json!({"provider": "amplitude", "flags": [], "assignment_config": {"cache_capacity": 10}}),
    )
    .unwrap_err();
    assert_eq!(error_code(&err), "invalid_config");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("api_key"));
    let err = init(&json!({"provider": "amplitude", "flags": [], "assignment_config": {"api_key": "k", "flush_size": 1}})).unwrap_err();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flush_queue_size"),
        "{err}"
    );
}

#[test]
fn analytics_options_reach_the_wire() {
    let server = Server::start(|_r: &Received| Reply::text(200, r#"{"code":200}"#));
    let plan = json!({"branch": "main", "source": "web", "version": "1"});
    let ingestion = json!({"source_name": "svc", "source_version": "2"});
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1, "use_batch": true, "min_id_length": 1,
               "plan": plan, "ingestion_metadata": ingestion}),
        None,
    );
    evaluate_user(handle, "u", json!({}));
    ok(take(allot::ffi::allot_flush(handle, 5_000)));
    let requests = server.requests();
    assert_eq!(
        requests[0].path(),
        "/batch",
        "use_batch posts to the batch endpoint"
    );
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["options"], json!({"min_id_length": 1}));
    assert_eq!(body["events"][0]["plan"], plan);
    assert_eq!(body["events"][0]["ingestion_metadata"], ingestion);
    allot::ffi::allot_free(handle);
    let err = init(&json!({"provider": "amplitude", "flags": [],
                           "assignment_config": {"api_key": "k", "min_id_length": 0}}))
    .unwrap_err();
    assert_eq!(error_code(&err), "invalid_config");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("min_id_length"));
}

#[test]
fn a_batch_is_dropped_after_flush_max_retries() {
    let server = Server::start(|_r: &Received| Reply::text(500, "down"));
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1, "flush_interval_millis": 10, "flush_max_retries": 2}),
        None,
    );
    evaluate_user(handle, "u", json!({}));
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["assignment_events"]["dropped"]
        == 1));
    // At most flush_max_retries sends, as the Analytics SDK counts them.
    assert_eq!(server.requests().len(), 2);
    allot::ffi::allot_free(handle);
}

/// Takes delivery reports until `count` arrived or the client closed (bounded).
fn reports(handle: u64, count: usize) -> (Vec<Value>, bool) {
    let mut got = Vec::new();
    let begun = Instant::now();
    loop {
        let answer = take(allot::ffi::allot_delivery_reports(handle, 200));
        let Some(answer) = answer.get("ok") else {
            return (got, true);
        };
        got.extend(answer["reports"].as_array().unwrap().iter().cloned());
        if got.len() >= count || answer["closed"] == true || begun.elapsed().as_secs() > 10 {
            return (got, answer["closed"] == true);
        }
    }
}

/// `(stream, user_id, code, message)` of each report.
fn outcomes(reports: &[Value]) -> Vec<(String, String, i64, String)> {
    reports
        .iter()
        .map(|r| {
            (
                r["stream"].as_str().unwrap().to_owned(),
                r["event"]["user_id"].as_str().unwrap().to_owned(),
                r["code"].as_i64().unwrap(),
                r["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn delivery_reports_give_each_events_outcome_once() {
    // u-ok is accepted, u-down keeps failing with 500, u-bad is rejected with 400, u-echo
    // with 413 and an error that quotes the key.
    let server = Server::start(|r: &Received| {
        let body = String::from_utf8_lossy(&r.body);
        if body.contains("u-down") {
            Reply::text(500, r#"{"code":500,"error":"down"}"#)
        } else if body.contains("u-bad") {
            Reply::text(
                400,
                r#"{"code":400,"error":"Request missing required field","missing_field":"api_key"}"#,
            )
        } else if body.contains("u-echo") {
            Reply::text(
                413,
                format!(r#"{{"code":413,"error":"too large for {ANALYTICS_KEY}"}}"#),
            )
        } else {
            Reply::text(200, r#"{"code":200}"#)
        }
    });
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 1, "flush_interval_millis": 10, "flush_max_retries": 2,
               "delivery_reports": true}),
        Some(json!({"flush_queue_size": 1})),
    );
    evaluate_user(handle, "u-ok", json!({"tracks_exposure": true}));
    evaluate_user(handle, "u-down", json!({}));
    evaluate_user(handle, "u-bad", json!({}));
    evaluate_user(handle, "u-echo", json!({}));
    let (got, closed) = reports(handle, 4);
    assert!(!closed);
    let mut seen = outcomes(&got);
    seen.sort();
    assert_eq!(seen.len(), 4, "{got:?}");
    assert_eq!(seen[0].0, "assignment");
    assert_eq!(
        (seen[0].1.as_str(), seen[0].2, seen[0].3.as_str()),
        ("u-bad", 400, "Request missing required field api_key")
    );
    assert_eq!(
        (seen[1].1.as_str(), seen[1].2, seen[1].3.as_str()),
        ("u-down", 500, "Event reached max retry times 2.")
    );
    // The answer's error, with the key redacted.
    assert_eq!(
        (seen[2].1.as_str(), seen[2].2, seen[2].3.as_str()),
        ("u-echo", 413, "too large for <redacted>")
    );
    assert_eq!(
        (seen[3].1.as_str(), seen[3].2, seen[3].3.as_str()),
        ("u-ok", 200, "Event sent successfully.")
    );
    // The report carries the event as sent; exposure (no delivery_reports) reports nothing.
    let ok_report = got
        .iter()
        .find(|r| r["event"]["user_id"] == "u-ok")
        .unwrap();
    assert_eq!(ok_report["event"]["event_type"], "[Experiment] Assignment");
    assert!(wait_until(Duration::from_secs(5), || ok(status(handle))
        ["exposure_events"]["sent"]
        == 1));
    // Freeing the client ends a wait and closes the reports.
    let waiter = std::thread::spawn(move || reports(handle, usize::MAX));
    std::thread::sleep(Duration::from_millis(50));
    allot::ffi::allot_free(handle);
    let (rest, closed) = waiter.join().unwrap();
    assert!(closed && rest.is_empty(), "{rest:?}");
    assert_eq!(
        error_code(&take(allot::ffi::allot_delivery_reports(handle, 0))),
        "unknown_handle"
    );
}

#[test]
fn delivery_reports_of_dropped_and_unreachable_events() {
    // No server: the network error is reported after the retries, with -1.
    let closed_port = Server::start(|_r: &Received| Reply::text(200, "{}"));
    let url = closed_port.url();
    drop(closed_port);
    let handle = init_ok(&json!({"provider": "amplitude", "flags": flags(),
        "assignment_config": {"api_key": ANALYTICS_KEY, "server_url": url, "flush_queue_size": 1,
                              "flush_interval_millis": 10, "flush_max_retries": 1,
                              "delivery_reports": true}}));
    ok(start(handle, 0));
    evaluate_user(handle, "u-lost", json!({}));
    let (got, _) = reports(handle, 1);
    assert_eq!(
        outcomes(&got),
        [(
            "assignment".to_owned(),
            "u-lost".to_owned(),
            -1,
            "Event reached max retry times 1.".to_owned()
        )]
    );
    allot::ffi::allot_free(handle);
    // Overflow and shutdown: every event is reported once, as dropped (the server never
    // answers, so what is queued is still unsent when the grace period ends).
    let server = Server::start(|_r: &Received| Reply::Hang);
    let handle = tracking_client(
        &server,
        json!({"flush_queue_size": 100, "flush_interval_millis": 60_000, "max_queue_size": 4,
               "shutdown_timeout_millis": 100, "delivery_reports": true}),
        None,
    );
    for i in 0..10 {
        evaluate_user(handle, &format!("u{i}"), json!({}));
    }
    let (got, _) = reports(handle, 6);
    let seen = outcomes(&got);
    assert_eq!(seen.len(), 6);
    assert!(seen
        .iter()
        .all(|(_, _, code, message)| *code == -1 && message.contains("queue was full")));
    // Unsent at shutdown: reported when the client is freed.
    let waiter = std::thread::spawn(move || reports(handle, usize::MAX));
    std::thread::sleep(Duration::from_millis(50));
    allot::ffi::allot_free(handle);
    let (rest, closed) = waiter.join().unwrap();
    assert!(closed);
    let seen = outcomes(&rest);
    assert_eq!(seen.len(), 4, "{rest:?}");
    assert!(
        seen.iter().all(|(_, _, code, message)| *code == -1
            && message == "Event dropped: not sent before the client was freed"),
        "{seen:?}"
    );
}
