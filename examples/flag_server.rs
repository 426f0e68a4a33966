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
//!   allot itself through its C ABI (honours `X-Amp-Exp-Flag-Keys`).
//!
//! With `--api-key`, requests must send `Authorization: Api-Key <KEY>` (else 401).
//! The directory is re-read every 500 ms, so editing a file is picked up by pollers and
//! pushed to streams. It uses only what any user of allot can use: the C ABI.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Calls allot and takes its answer (an envelope the caller frees).
fn take(answer: *mut c_char) -> Value {
    // SAFETY: allot returns a NUL-terminated string that we free exactly once.
    let text = unsafe { CStr::from_ptr(answer) }
        .to_string_lossy()
        .into_owned();
    unsafe { allot::ffi::allot_string_free(answer) };
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// An offline allot client serving the flags, for remote evaluation.
struct Evaluator(u64);

impl Evaluator {
    fn new(flags: &Value) -> Result<Evaluator, String> {
        let config = CString::new(json!({"provider": "amplitude", "flags": flags}).to_string())
            .map_err(|e| e.to_string())?;
        let mut error: *mut c_char = std::ptr::null_mut();
        // SAFETY: a NUL-terminated configuration and a writable error pointer.
        let handle = unsafe { allot::ffi::allot_init(config.as_ptr(), &mut error) };
        if handle == 0 {
            return Err(take(error).to_string());
        }
        take(allot::ffi::allot_start(handle, 0));
        Ok(Evaluator(handle))
    }

    /// `{"user": …, "flag_keys"?: […]}` → the endpoint's `{flagKey: variant}`.
    fn evaluate(&self, user: Value, keys: Option<Value>) -> Result<Value, String> {
        let mut request = json!({"user": user});
        if let Some(keys) = keys {
            request["flag_keys"] = keys;
        }
        let request = CString::new(request.to_string()).map_err(|e| e.to_string())?;
        // SAFETY: a live handle and a NUL-terminated request.
        let mut answer = take(unsafe { allot::ffi::allot_evaluate(self.0, request.as_ptr()) });
        match answer["ok"]["variants"].take() {
            Value::Null => Err(answer["error"].to_string()),
            variants => Ok(variants),
        }
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        allot::ffi::allot_free(self.0);
    }
}

/// The flags currently served.
struct Loaded {
    json: String,
    etag: String,
    evaluator: Result<Evaluator, String>,
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
    let flags = Value::Array(flags);
    let json = flags.to_string();
    let mut hasher = DefaultHasher::new();
    json.hash(&mut hasher);
    Ok(Loaded {
        etag: format!("\"{:016x}\"", hasher.finish()),
        evaluator: Evaluator::new(&flags),
        json,
    })
}

/// A request: method, target, lower-case headers and body.
struct Received {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let Some((name, value)) = header.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        target,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        if status < 400 { "OK" } else { "Error" },
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body));
}

/// One SSE event carrying `data`.
fn event(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// Follows a stream: the flags now, then every change, and a keep-alive every 5 s.
fn stream(mut stream: TcpStream, first: String, changes: Receiver<String>) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let mut sent = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(event(&first).as_bytes()));
    let mut last = Instant::now();
    while sent.is_ok() {
        sent = match changes.recv_timeout(Duration::from_millis(500)) {
            Ok(flags) => stream.write_all(event(&flags).as_bytes()),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) if last.elapsed() >= Duration::from_secs(5) => {
                last = Instant::now();
                stream.write_all(event(" ").as_bytes())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
        };
    }
}

type Streams = Arc<Mutex<Vec<Sender<String>>>>;

fn serve(
    mut connection: TcpStream,
    state: &Mutex<Loaded>,
    streams: &Streams,
    api_key: Option<&str>,
) {
    let Some(request) = read_request(&connection) else {
        return;
    };
    if let Some(key) = api_key {
        if request.headers.get("authorization").map(String::as_str)
            != Some(&format!("Api-Key {key}"))
        {
            return respond(&mut connection, 401, &[], b"invalid api key");
        }
    }
    let path = request.target.split('?').next().unwrap_or("");
    let loaded = state.lock().unwrap_or_else(|p| p.into_inner());
    match (request.method.as_str(), path) {
        ("GET", "/sdk/v2/flags") => {
            let etag = loaded.etag.clone();
            if request.headers.get("if-none-match") == Some(&etag) {
                return respond(&mut connection, 304, &[("ETag", &etag)], b"");
            }
            let body = loaded.json.clone();
            drop(loaded);
            let headers = [
                ("ETag", etag.as_str()),
                ("Content-Type", "application/json"),
            ];
            respond(&mut connection, 200, &headers, body.as_bytes());
        }
        ("GET", "/sdk/stream/v1/flags") => {
            let (sender, changes) = channel();
            streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(sender);
            let first = loaded.json.clone();
            drop(loaded);
            stream(connection, first, changes);
        }
        ("POST", "/sdk/v2/vardata") => {
            let keys: Option<Value> = request
                .headers
                .get("x-amp-exp-flag-keys")
                .and_then(|h| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(h)
                        .ok()
                })
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            let answer = match (
                &loaded.evaluator,
                serde_json::from_slice::<Value>(&request.body),
            ) {
                (Err(e), _) => Err((500, format!("the flag configuration does not load: {e}"))),
                (_, Err(e)) => Err((400, format!("invalid user: {e}"))),
                (Ok(evaluator), Ok(user)) => evaluator.evaluate(user, keys).map_err(|e| (400, e)),
            };
            drop(loaded);
            match answer {
                Ok(variants) => respond(&mut connection, 200, &[], variants.to_string().as_bytes()),
                Err((status, message)) => respond(&mut connection, status, &[], message.as_bytes()),
            }
        }
        _ => respond(&mut connection, 404, &[], b"not found"),
    }
}

fn main() {
    let mut flags_dir = PathBuf::from("examples/flags");
    let mut port: u16 = 8080;
    let mut api_key: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
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
    let loaded = load(&flags_dir).unwrap_or_else(|e| {
        eprintln!("flag_server: {e}");
        std::process::exit(1);
    });
    if let Err(e) = &loaded.evaluator {
        eprintln!("flag_server: remote evaluation disabled: {e}");
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("flag_server: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    let state = Arc::new(Mutex::new(loaded));
    let streams: Streams = Arc::default();
    {
        let (state, streams) = (Arc::clone(&state), Arc::clone(&streams));
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let (state, streams, key) =
                    (Arc::clone(&state), Arc::clone(&streams), api_key.clone());
                std::thread::spawn(move || serve(connection, &state, &streams, key.as_deref()));
            }
        });
    }
    println!(
        "flag_server: serving {} on {url} (Ctrl-C to stop)",
        flags_dir.display()
    );
    loop {
        std::thread::sleep(Duration::from_millis(500));
        match load(&flags_dir) {
            Ok(fresh) => {
                let mut current = state.lock().unwrap_or_else(|p| p.into_inner());
                if fresh.etag != current.etag {
                    println!("flag_server: flags changed, etag {}", fresh.etag);
                    *current = fresh;
                    let mut streams = streams.lock().unwrap_or_else(|p| p.into_inner());
                    streams.retain(|s| s.send(current.json.clone()).is_ok());
                }
            }
            Err(e) => eprintln!("flag_server: {e}"),
        }
    }
}
