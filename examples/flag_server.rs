//! A local Amplitude-compatible flag server for development and tests, on 127.0.0.1:
//!
//! ```text
//! cargo run --example flag_server -- --flags examples/flags --port 8080 [--api-key KEY]
//! ```
//!
//! - `GET  /sdk/v2/flags?v=0`: every flag of the directory's flag files (each `*.json`
//!   holding an array of flags), with an `ETag` (`If-None-Match` → 304);
//! - `GET  /sdk/stream/v1/flags`: server-sent events: the flags at once, then again
//!   whenever a file changes, and a `" "` keep-alive every 5 s;
//! - `POST /sdk/v2/vardata?v=0`: remote evaluation of the posted user, evaluated with
//!   allot itself (honours `X-Amp-Exp-Flag-Keys`).
//!
//! With `--api-key`, requests must send `Authorization: Api-Key <KEY>` (else 401).
//! The directory is re-read every 500 ms, so editing a file is picked up by pollers and
//! pushed to streams.

#[path = "../tests/common/server.rs"]
mod server;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allot::internals::amplitude::{Snapshot, User};
use base64::Engine as _;
use serde_json::Value;
use server::{Received, Reply, Server};

/// The flags currently served.
struct Loaded {
    json: String,
    etag: String,
    snapshot: Option<Snapshot>,
}

/// Reads every flag file of `dir` (files whose JSON is an array of objects with a
/// string `key`; other JSON files, such as example users, are skipped).
fn load(dir: &Path) -> Result<Loaded, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut flags = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if items
            .iter()
            .all(|f| f.get("key").is_some_and(Value::is_string))
        {
            flags.extend(items);
        }
    }
    let json = Value::Array(flags.clone()).to_string();
    let mut hasher = DefaultHasher::new();
    json.hash(&mut hasher);
    let snapshot = match Snapshot::compile(&flags) {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            eprintln!("flag_server: remote evaluation disabled: {e}");
            None
        }
    };
    Ok(Loaded {
        json,
        etag: format!("\"{:016x}\"", hasher.finish()),
        snapshot,
    })
}

fn evaluate(loaded: &Loaded, request: &Received) -> Reply {
    let Some(snapshot) = &loaded.snapshot else {
        return Reply::text(500, "the flag configuration does not compile");
    };
    let user: User = match serde_json::from_slice(&request.body) {
        Ok(user) => user,
        Err(e) => return Reply::text(400, format!("invalid user: {e}")),
    };
    let keys: Option<Vec<String>> = request
        .header("x-amp-exp-flag-keys")
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let result = snapshot.evaluate(&user, keys.as_deref()).to_json();
    // `{"variants": {...}}` → the endpoint's `{flagKey: variant}`.
    match serde_json::from_str::<Value>(&result) {
        Ok(mut doc) => Reply::text(200, doc["variants"].take().to_string()),
        Err(e) => Reply::text(500, e.to_string()),
    }
}

fn main() {
    let mut flags_dir = PathBuf::from("examples/flags");
    let mut port: u16 = 8080;
    let mut api_key: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--flags", Some(v)) => flags_dir = PathBuf::from(v),
            ("--port", Some(v)) => {
                port = v.parse().unwrap_or_else(|_| {
                    eprintln!("flag_server: --port needs a number");
                    std::process::exit(2)
                })
            }
            ("--api-key", Some(v)) => api_key = Some(v),
            _ => {
                eprintln!("usage: flag_server [--flags DIR] [--port PORT] [--api-key KEY]");
                std::process::exit(2);
            }
        }
    }
    let loaded = match load(&flags_dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("flag_server: {e}");
            std::process::exit(1);
        }
    };
    let state = Arc::new(Mutex::new(loaded));
    let handler_state = Arc::clone(&state);
    let server = Server::start_on(port, Some(Duration::from_secs(5)), move |request| {
        if let Some(key) = &api_key {
            if request.header("authorization") != Some(format!("Api-Key {key}").as_str()) {
                return Reply::text(401, "invalid api key");
            }
        }
        let loaded = handler_state.lock().unwrap_or_else(|p| p.into_inner());
        match (request.method.as_str(), request.path()) {
            ("GET", "/sdk/v2/flags") => {
                if request.header("if-none-match") == Some(loaded.etag.as_str()) {
                    return Reply::Full {
                        status: 304,
                        headers: vec![("ETag".into(), loaded.etag.clone())],
                        body: Vec::new(),
                    };
                }
                Reply::Full {
                    status: 200,
                    headers: vec![
                        ("ETag".into(), loaded.etag.clone()),
                        ("Content-Type".into(), "application/json".into()),
                    ],
                    body: loaded.json.clone().into_bytes(),
                }
            }
            ("GET", "/sdk/stream/v1/flags") => Reply::Stream {
                first: Some(loaded.json.clone()),
            },
            ("POST", "/sdk/v2/vardata") => evaluate(&loaded, request),
            _ => Reply::text(404, "not found"),
        }
    });
    println!(
        "flag_server: serving {} on {} (Ctrl-C to stop)",
        flags_dir.display(),
        server.url()
    );
    loop {
        std::thread::sleep(Duration::from_millis(500));
        match load(&flags_dir) {
            Ok(fresh) => {
                let mut current = state.lock().unwrap_or_else(|p| p.into_inner());
                if fresh.etag != current.etag {
                    println!("flag_server: flags changed, etag {}", fresh.etag);
                    *current = fresh;
                    server.broadcast(&current.json);
                }
            }
            Err(e) => eprintln!("flag_server: {e}"),
        }
    }
}
