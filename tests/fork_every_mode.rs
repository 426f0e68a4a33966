//! Fork safety in every mode, the way a pre-forking server uses allot (`harness = false`:
//! no test-runner threads): 8 threads evaluate (tracking events, logging assignments,
//! fetching remotely) while the main thread forks 200 times; every child evaluates,
//! flushes, frees its client and exits within a bound, or the parent kills it and fails.
//! Modes: Amplitude local with assignment and exposure tracking, Amplitude remote,
//! Amplitude streaming, Eppo polling without and with the assignment cache.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

/// Forks per mode.
const FORKS: usize = 200;
/// Children alive at once.
const CONCURRENT_CHILDREN: usize = 16;
/// How long a child may take from fork to exit.
const CHILD_BOUND: Duration = Duration::from_secs(20);

fn amplitude_flags() -> String {
    json!([{
        "key": "alpha",
        "metadata": {"flagType": "experiment", "flagVersion": 1, "experimentKey": "exp-1"},
        "variants": {"on": {"key": "on", "value": "on"}},
        "segments": [{"metadata": {"segmentName": "All"}, "variant": "on"}]
    }])
    .to_string()
}

fn eppo_configuration() -> String {
    json!({
        "format": "SERVER",
        "flags": {"banner": {
            "key": "banner", "enabled": true, "variationType": "STRING", "totalShards": 10000,
            "variations": {"on": {"key": "on", "value": "on"}},
            "allocations": [{"key": "all", "doLog": true,
                             "splits": [{"variationKey": "on", "shards": []}]}]
        }}
    })
    .to_string()
}

/// Every endpoint the modes use: flags, stream, remote evaluation, analytics, Eppo.
fn server() -> Server {
    let flags = amplitude_flags();
    let ufc = eppo_configuration();
    Server::start(move |request: &Received| match request.path() {
        "/sdk/v2/flags" => Reply::text(200, flags.clone()),
        "/sdk/stream/v1/flags" => Reply::Stream {
            first: Some(flags.clone()),
        },
        "/sdk/v2/vardata" => Reply::text(200, r#"{"alpha": {"key": "on", "value": "on"}}"#),
        "/2/httpapi" => Reply::text(200, r#"{"code": 200}"#),
        "/api/flag-config/v1/config" => Reply::text(200, ufc.clone()),
        _ => Reply::text(404, "not found"),
    })
}

/// One mode: its configuration and the call its threads and children make.
struct Mode {
    name: &'static str,
    config: Value,
    /// One call as an evaluating thread makes it; `Err` says what was wrong.
    call: fn(u64) -> Result<(), String>,
}

fn amplitude_evaluate(handle: u64) -> Result<(), String> {
    let answer = evaluate(
        handle,
        &json!({"user": {"user_id": format!("u{}", fastrand_like()), "device_id": "d"},
                "tracks_exposure": true}),
    );
    match answer["ok"]["variants"]["alpha"]["key"].as_str() {
        Some("on") => Ok(()),
        _ => Err(format!("unexpected evaluation {answer}")),
    }
}

fn amplitude_fetch(handle: u64) -> Result<(), String> {
    // Paced, so that 8 threads do not exhaust the test server's accept backlog.
    std::thread::sleep(Duration::from_millis(2));
    let answer = fetch(handle, &json!({"user": {"user_id": "u1"}}));
    match answer["ok"]["variants"]["alpha"]["key"].as_str() {
        Some("on") => Ok(()),
        _ => Err(format!("unexpected fetch {answer}")),
    }
}

fn eppo_evaluate(handle: u64) -> Result<(), String> {
    let answer = evaluate(
        handle,
        &json!({"flag_key": "banner", "subject_key": format!("s{}", fastrand_like() % 64),
                "variation_type": "STRING", "default": "none"}),
    );
    match answer["ok"]["value"].as_str() {
        Some("on") => Ok(()),
        _ => Err(format!("unexpected assignment {answer}")),
    }
}

/// A cheap varying number, so that de-duplication caches see new and repeated keys.
fn fastrand_like() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % 512
}

fn modes(url: &str) -> Vec<Mode> {
    let tracking = |extra: Value| {
        let mut section = json!({"api_key": "analytics-key", "server_url": url,
                                 "flush_interval_millis": 5, "request_timeout_millis": 2000});
        for (k, v) in extra.as_object().unwrap() {
            section[k] = v.clone();
        }
        section
    };
    let eppo = json!({"provider": "eppo", "api_key": "eppo-key", "base_url": format!("{url}/api"),
                      "poll_interval_seconds": 0.05, "poll_jitter_seconds": 0.01});
    let mut eppo_cached = eppo.clone();
    eppo_cached["assignment_cache"] = json!({"capacity": 32});
    vec![
        Mode {
            name: "amplitude local, assignment and exposure tracking",
            config: json!({"provider": "amplitude", "api_key": "flags-key", "server_url": url,
                           "flag_config_polling_interval_millis": 200,
                           "assignment_config": tracking(json!({"cache_capacity": 64})),
                           "exposure_config": tracking(json!({"cache_capacity": 64}))}),
            call: amplitude_evaluate,
        },
        Mode {
            name: "amplitude remote",
            // Every fetch is a new connection to the test server: short timeouts and
            // retries ride out a connection the loaded test server is slow to accept.
            config: json!({"provider": "amplitude", "mode": "remote", "api_key": "flags-key",
                           "server_url": url, "fetch_retries": 3,
                           "fetch_timeout_millis": 1000, "fetch_retry_timeout_millis": 1000,
                           "fetch_retry_backoff_min_millis": 10}),
            call: amplitude_fetch,
        },
        Mode {
            name: "amplitude streaming",
            config: json!({"provider": "amplitude", "api_key": "flags-key", "server_url": url,
                           "stream_updates": true, "stream_server_url": url}),
            call: amplitude_evaluate,
        },
        Mode {
            name: "eppo, assignment events, no cache",
            config: eppo,
            call: eppo_evaluate,
        },
        Mode {
            name: "eppo, assignment events, assignment cache",
            config: eppo_cached,
            call: eppo_evaluate,
        },
    ]
}

/// The child's work: evaluate, flush, free; an `Err` becomes exit status 1.
fn child(handle: u64, call: fn(u64) -> Result<(), String>) -> Result<(), String> {
    for _ in 0..3 {
        call(handle)?;
    }
    let flushed = take(allot::ffi::allot_flush(handle, 15_000));
    if flushed.get("ok").is_none() {
        return Err(format!(
            "flush failed: {flushed}; status {}",
            status(handle)
        ));
    }
    allot::ffi::allot_free(handle);
    Ok(())
}

/// Forks [`FORKS`] children while 8 threads call the client; fails on the first child
/// that fails or outlives [`CHILD_BOUND`].
fn run(mode: &Mode) {
    let begun = Instant::now();
    let handle = init_ok(&mode.config);
    ok(start(handle, 5_000));
    (mode.call)(handle).unwrap_or_else(|e| panic!("{}: {e}", mode.name));
    let busy = Arc::new(AtomicBool::new(true));
    let call = mode.call;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let busy = Arc::clone(&busy);
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while busy.load(Ordering::Acquire) {
                    call(handle).unwrap();
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let mut alive: Vec<(libc::pid_t, Instant)> = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..FORKS {
        while alive.len() >= CONCURRENT_CHILDREN {
            reap(&mut alive, &mut failures);
        }
        // SAFETY: the child calls only allot and async-signal-safe functions until _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = match child(handle, call) {
                Ok(()) => 0,
                Err(message) => {
                    eprintln!("child: {message}");
                    1
                }
            };
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        alive.push((pid, Instant::now()));
    }
    while !alive.is_empty() {
        reap(&mut alive, &mut failures);
    }
    busy.store(false, Ordering::Release);
    let calls: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    allot::ffi::allot_free(handle);
    assert!(
        failures.is_empty(),
        "{}: {} of {FORKS} children failed: {:?}",
        mode.name,
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    println!(
        "fork safety, {}: {FORKS} children exited cleanly ({calls} calls by 8 threads, {:.1} s)",
        mode.name,
        begun.elapsed().as_secs_f64()
    );
}

/// Collects the children that exited; kills (and records as failed) those past the bound.
fn reap(alive: &mut Vec<(libc::pid_t, Instant)>, failures: &mut Vec<String>) {
    alive.retain(|&(pid, forked)| {
        let mut wait_status = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut wait_status, libc::WNOHANG) } == pid {
            if !(libc::WIFEXITED(wait_status) && libc::WEXITSTATUS(wait_status) == 0) {
                failures.push(format!("child {pid} failed (status {wait_status})"));
            }
            return false;
        }
        if forked.elapsed() > CHILD_BOUND {
            // SAFETY: killing and reaping our own child that hung.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut wait_status, 0);
            }
            failures.push(format!("child {pid} hung for {CHILD_BOUND:?} (deadlock?)"));
            return false;
        }
        true
    });
    std::thread::sleep(Duration::from_millis(1));
}

fn main() {
    let server = server();
    // FORK_MODE=<part of a mode's name> runs only the matching modes.
    let only = std::env::var("FORK_MODE").unwrap_or_default();
    for mode in modes(&server.url()) {
        if !mode.name.contains(only.as_str()) {
            continue;
        }
        run(&mode);
    }
}
