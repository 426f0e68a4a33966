//! Cohort sync and fork, in its own test binary (`harness = false`: no test-runner
//! threads): a process forks while its cohort thread refreshes every few milliseconds
//! and other threads evaluate; each child evaluates with the memberships it inherited,
//! sees a later cohort change through its own restarted cohort thread, frees its client
//! and exits cleanly.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

/// `on` or `off` for `user` (`None` when the flag is missing).
fn variant(handle: u64, user: &str) -> Option<String> {
    let answer = evaluate(handle, &json!({"user": {"user_id": user}}));
    answer["ok"]["variants"]["vip"]["key"]
        .as_str()
        .map(str::to_owned)
}

/// Waits up to 10 s for `user` to get `want`.
fn wait_for(handle: u64, user: &str, want: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while variant(handle, user).as_deref() != Some(want) {
        if Instant::now() > deadline {
            return Err(format!("{user} never got {want}: {}", status(handle)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The child's checks; an `Err` becomes exit status 1.
fn child(handle: u64) -> Result<(), String> {
    if variant(handle, "carol").as_deref() != Some("on") {
        return Err(format!("carol is in every version: {}", status(handle)));
    }
    wait_for(handle, "bob", "on")?;
    let doc: Value = ok(status(handle));
    if doc["cohort_sync"]["polling"] != true {
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
    // Version 1 has alice and carol, version 2 bob and carol.
    let version = Arc::new(AtomicU64::new(1));
    let current = Arc::clone(&version);
    let cohorts = Server::start(move |request: &Received| {
        let v = current.load(Ordering::SeqCst);
        if request.target.contains(&format!("lastModified={v}")) {
            return Reply::text(204, "");
        }
        let members = if v == 1 {
            ["alice", "carol"]
        } else {
            ["bob", "carol"]
        };
        Reply::text(
            200,
            json!({"cohortId": "c-vip", "groupType": "User", "lastModified": v,
                   "size": 2, "memberIds": members})
            .to_string(),
        )
    });
    let flags = json!([{
        "key": "vip",
        "variants": {"on": {"key": "on"}, "off": {"key": "off"}},
        "segments": [
            {"conditions": [[{"selector": ["context", "user", "cohort_ids"],
                              "op": "set contains any", "values": ["c-vip"]}]], "variant": "on"},
            {"variant": "off"},
        ],
    }])
    .to_string();
    let flag_server = Server::start(move |_| Reply::text(200, flags.clone()));
    let handle = init_ok(&json!({
        "provider": "amplitude",
        "api_key": "fork-key",
        "server_url": flag_server.url(),
        "flag_config_polling_interval_millis": 5,
        "cohort_sync": {"api_key": "a", "secret_key": "s", "cohort_server_url": cohorts.url(),
                        "cohort_polling_interval_millis": 2,
                        "min_cohort_polling_interval_millis": 1},
    }));
    ok(start(handle, 5_000));
    assert_eq!(variant(handle, "alice").as_deref(), Some("on"));

    let busy = Arc::new(AtomicBool::new(true));
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let busy = Arc::clone(&busy);
            std::thread::spawn(move || {
                while busy.load(Ordering::Acquire) {
                    let _ = variant(handle, "alice");
                    let _ = status(handle);
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
    version.store(2, Ordering::SeqCst);
    for pid in children {
        wait_for_child(pid);
    }
    wait_for(handle, "bob", "on").unwrap();
    assert_eq!(variant(handle, "alice").as_deref(), Some("off"));
    allot::ffi::allot_free(handle);
    println!(
        "cohort fork safety: 3 children evaluated, followed a cohort change and exited cleanly"
    );
}
