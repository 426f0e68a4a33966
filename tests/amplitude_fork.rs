//! Fork safety, in its own test binary (`harness = false`: no test-runner threads): a
//! process forks after `allot_start` while its poller and other threads are busy; the
//! child evaluates, sees a later configuration change through its own restarted poller,
//! frees its client and exits cleanly.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

fn flags(version: u32) -> String {
    json!([{
        "key": "alpha",
        "variants": {"on": {"key": "on", "value": format!("v{version}")}},
        "segments": [{"variant": "on"}],
    }])
    .to_string()
}

fn value(handle: u64) -> Option<String> {
    let answer = evaluate(handle, &json!({"user": {"user_id": "u1"}}));
    answer["ok"]["variants"]["alpha"]["value"]
        .as_str()
        .map(str::to_owned)
}

/// The child's checks; an `Err` becomes exit status 1.
fn child(handle: u64) -> Result<(), String> {
    let first = value(handle).ok_or("the child could not evaluate")?;
    if first != "v1" && first != "v2" {
        return Err(format!("unexpected first value {first}"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(handle).as_deref() != Some("v2") {
        if Instant::now() > deadline {
            return Err(format!("the child never saw v2: {}", status(handle)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let doc: Value = ok(status(handle));
    if doc["polling"] != true || doc["source"] != "poll" {
        return Err(format!("unexpected child status {doc}"));
    }
    // The registry works in the child even if the parent was registering a client.
    let other = init(&json!({"provider": "amplitude", "flags": []}))
        .map_err(|e| format!("init in the child failed: {e}"))?;
    allot::ffi::allot_free(other);
    let begun = Instant::now();
    allot::ffi::allot_free(handle);
    if begun.elapsed() > Duration::from_secs(2) {
        return Err("allot_free in the child was slow".into());
    }
    Ok(())
}

fn main() {
    let body = Arc::new(Mutex::new(flags(1)));
    let served = Arc::clone(&body);
    let server = Server::start(move |_r: &Received| {
        let body = served.lock().unwrap().clone();
        let etag = if body.contains("v2") {
            "\"v2\""
        } else {
            "\"v1\""
        };
        Reply::Full {
            status: 200,
            headers: vec![("ETag".into(), etag.into())],
            body: body.into_bytes(),
        }
    });
    let handle = init_ok(&json!({
        "provider": "amplitude",
        "api_key": "fork-key",
        "server_url": server.url(),
        "flag_config_polling_interval_millis": 1,
        "flag_config_poller_request_timeout_millis": 1000,
    }));
    ok(start(handle, 5_000));
    assert_eq!(value(handle).as_deref(), Some("v1"));

    // Keep other threads inside allot (registry writes, evaluations) while forking.
    let busy = Arc::new(AtomicBool::new(true));
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let busy = Arc::clone(&busy);
            std::thread::spawn(move || {
                while busy.load(Ordering::Acquire) {
                    let h = init_ok(&json!({"provider": "amplitude", "flags": []}));
                    let _ = value(handle);
                    allot::ffi::allot_free(h);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));

    let mut children = Vec::new();
    for _ in 0..3 {
        let pid = fork_child(|| child(handle));
        children.push(pid);
        std::thread::sleep(Duration::from_millis(20));
    }
    busy.store(false, Ordering::Release);
    for thread in churn {
        thread.join().unwrap();
    }

    std::thread::sleep(Duration::from_millis(100));
    *body.lock().unwrap() = flags(2);

    for pid in children {
        wait_for_child(pid);
    }
    // The parent keeps working too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while value(handle).as_deref() != Some("v2") {
        assert!(Instant::now() < deadline, "the parent never saw v2");
        std::thread::sleep(Duration::from_millis(5));
    }
    allot::ffi::allot_free(handle);
    println!("fork safety: 3 children evaluated, followed a change and exited cleanly");
}
