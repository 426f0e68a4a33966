//! Eppo fork safety, in its own test binary (`harness = false`: no test-runner threads):
//! a process forks while its poller is running; the child evaluates, follows a later
//! configuration change through its own restarted poller, frees its client quickly and
//! exits cleanly; the parent keeps polling.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

fn ufc(version: u32) -> String {
    json!({
        "format": "SERVER",
        "flags": {"banner": {
            "key": "banner", "enabled": true, "variationType": "STRING", "totalShards": 10000,
            "variations": {"on": {"key": "on", "value": format!("v{version}")}},
            "allocations": [{"key": "all", "splits": [{"variationKey": "on", "shards": []}]}]
        }}
    })
    .to_string()
}

fn value(handle: u64) -> Option<String> {
    let answer = evaluate(
        handle,
        &json!({"flag_key": "banner", "subject_key": "s1", "variation_type": "STRING", "default": "none"}),
    );
    answer["ok"]["value"].as_str().map(str::to_owned)
}

fn wait_for(handle: u64, expected: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(handle).as_deref() != Some(expected) {
        if Instant::now() > deadline {
            return Err(format!("never saw {expected}: {}", status(handle)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The child's checks; an `Err` becomes exit status 1.
fn child(handle: u64) -> Result<(), String> {
    let first = value(handle).ok_or("the child could not evaluate")?;
    if first != "v1" && first != "v2" {
        return Err(format!("unexpected first value {first}"));
    }
    wait_for(handle, "v2")?;
    let doc: Value = ok(status(handle));
    if doc["polling"] != true || doc["last_error"] != Value::Null {
        return Err(format!("unexpected child status {doc}"));
    }
    let begun = Instant::now();
    allot::ffi::allot_free(handle);
    if begun.elapsed() > Duration::from_secs(2) {
        return Err("allot_free in the child was slow".into());
    }
    Ok(())
}

fn main() {
    let body = Arc::new(Mutex::new(ufc(1)));
    let served = Arc::clone(&body);
    let server =
        Server::start(move |_r: &Received| Reply::text(200, served.lock().unwrap().clone()));
    let handle = init_ok(&json!({
        "provider": "eppo",
        "api_key": "fork-key",
        "base_url": server.url(),
        "poll_interval_seconds": 0.01,
        "poll_jitter_seconds": 0,
    }));
    ok(start(handle, 5_000));
    assert_eq!(value(handle).as_deref(), Some("v1"));

    let pid = fork_child(|| child(handle));
    std::thread::sleep(Duration::from_millis(100));
    *body.lock().unwrap() = ufc(2);

    wait_for_child(pid);
    wait_for(handle, "v2").expect("the parent keeps polling");
    allot::ffi::allot_free(handle);
    println!("eppo fork safety: the child followed a change through its own poller");
}
