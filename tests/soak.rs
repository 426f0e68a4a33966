//! Chaos soak (`make soak`, `make soak-smoke`): a real flag server on 127.0.0.1 changes its
//! configuration every few milliseconds and, while the chaos lasts, answers many requests
//! with a fault (500s, invalid or wrongly shaped bodies, bodies cut short, resets
//! mid-body, slow bodies, gzip bombs, oversized bodies, garbage event streams, hangs).
//! Eight threads evaluate meanwhile through three clients: Amplitude polling, Amplitude
//! streaming (both tracking assignments and exposures to the same server's analytics
//! endpoint, which fails as often) and Eppo polling.
//!
//! Checked: no evaluation fails or is torn (every flag of one answer comes from one
//! configuration version the server served as valid), no deadlock (every join and free
//! is bounded), RSS stays bounded, every client converges to the last configuration once
//! the chaos stops, and every analytics event is delivered exactly once or counted as
//! dropped. `SOAK_SECONDS` sets the chaos time (default 20).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::{evaluate, init_ok, ok, start, take};
use serde_json::{json, Value};

/// Flags in each configuration that carry the version (a torn answer mixes versions).
const MARKED_FLAGS: usize = 8;
/// Filler flags that make each configuration larger.
const FILLER_FLAGS: usize = 40;
/// Amplitude's `max_response_bytes` for the soak clients.
const MAX_RESPONSE_BYTES: usize = 2 << 20;
const THREADS: usize = 8;
const ASSIGNMENT: &str = "[Experiment] Assignment";

fn amplitude_flags(version: u64) -> String {
    let variant = format!("v{version}");
    let flag = |key: String, flag_type: &str| {
        json!({"key": key, "metadata": {"deployed": true, "evaluationMode": "local",
            "flagType": flag_type, "flagVersion": version},
            "segments": [{"metadata": {"segmentName": "All"}, "variant": variant}],
            "variants": {variant.clone(): {"key": variant, "value": variant,
                                           "payload": {"version": version}}}})
    };
    let flags: Vec<Value> = (0..MARKED_FLAGS)
        .map(|i| flag(format!("soak-{i}"), "experiment"))
        .chain((0..FILLER_FLAGS).map(|i| flag(format!("filler-{i}"), "release")))
        .collect();
    Value::Array(flags).to_string()
}

fn eppo_ufc(version: u64) -> String {
    let variant = format!("v{version}");
    let flags: serde_json::Map<String, Value> = (0..MARKED_FLAGS + FILLER_FLAGS)
        .map(|i| {
            let key = format!("soak-{i}");
            let flag = json!({"key": key, "enabled": true, "variationType": "STRING",
                "variations": {variant.clone(): {"key": variant, "value": variant}},
                "allocations": [{"key": "all", "rules": [], "doLog": true,
                                 "splits": [{"variationKey": variant, "shards": []}]}],
                "totalShards": 10000});
            (key, flag)
        })
        .collect();
    json!({"format": "SERVER", "createdAt": "2024-04-17T19:40:53.716Z",
           "environment": {"name": "Soak"}, "flags": flags})
    .to_string()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// What the server shares with its handler and the test.
struct Chaos {
    /// The configuration version being served.
    version: AtomicU64,
    /// Every version served as a valid configuration.
    served: Mutex<BTreeSet<u64>>,
    /// Faults are injected while this holds.
    on: AtomicBool,
    /// 100 MiB of spaces, gzipped (about 100 KB).
    bomb: Vec<u8>,
    /// Analytics events received in requests answered 200, by insert_id.
    delivered: Mutex<HashSet<String>>,
    delivered_assignments: AtomicU64,
    delivered_exposures: AtomicU64,
    /// Events received twice in answered requests.
    duplicates: AtomicU64,
    /// Requests answered with a fault.
    faults: AtomicU64,
}

impl Chaos {
    /// A valid body for the current version, recorded as served before it is sent.
    fn valid(&self, eppo: bool) -> Reply {
        let mut served = self.served.lock().unwrap();
        let version = self.version.load(Ordering::SeqCst);
        served.insert(version);
        let body = if eppo {
            eppo_ufc(version)
        } else {
            amplitude_flags(version)
        };
        Reply::text(200, body)
    }

    /// A fault; the bodies of those that must never be installed carry no valid version.
    fn fault(&self, eppo: bool, pick: u32) -> Reply {
        self.faults.fetch_add(1, Ordering::Relaxed);
        let head = |extra: &str, length: usize| {
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {length}\r\nConnection: close\r\n\r\n")
        };
        let body = if eppo {
            eppo_ufc(u64::MAX)
        } else {
            amplitude_flags(u64::MAX)
        };
        match pick {
            0 => Reply::text(500, "{\"error\":\"down\"}"),
            1 => Reply::text(200, "[{\"key\":"),
            2 => Reply::text(200, "{\"flags\":7,\"x\":[]}"),
            3 => Reply::Truncated {
                body: body.as_bytes()[..body.len() / 2].to_vec(),
                missing: body.len() / 2,
            },
            4 => {
                // A reset mid-body.
                let mut bytes = head("", body.len()).into_bytes();
                bytes.extend_from_slice(&body.as_bytes()[..body.len() / 3]);
                Reply::Raw {
                    bytes,
                    piece: 4096,
                    pause: Duration::ZERO,
                    reset: true,
                }
            }
            5 => {
                // A slow body: the current configuration trickling in for about 0.8 s.
                let body = match self.valid(eppo) {
                    Reply::Full { body, .. } => body,
                    _ => unreachable!("valid() answers in full"),
                };
                let mut bytes = head("", body.len()).into_bytes();
                bytes.extend_from_slice(&body);
                Reply::Raw {
                    bytes,
                    piece: 1 + body.len() / 40,
                    pause: Duration::from_millis(20),
                    reset: false,
                }
            }
            6 => {
                let mut bytes = head("Content-Encoding: gzip\r\n", self.bomb.len()).into_bytes();
                bytes.extend_from_slice(&self.bomb);
                Reply::Raw {
                    bytes,
                    piece: 1 << 16,
                    pause: Duration::ZERO,
                    reset: false,
                }
            }
            7 => {
                // Larger than the cap: a valid JSON array with a huge string.
                let huge = format!("[{{\"key\":\"{}\"}}]", "h".repeat(MAX_RESPONSE_BYTES + 10));
                Reply::text(200, huge)
            }
            8 => Reply::text(503, "busy"),
            _ => Reply::text(if eppo { 404 } else { 429 }, "no"),
        }
    }

    fn stream(&self, pick: u32) -> Reply {
        if pick < 3 {
            self.faults.fetch_add(1, Ordering::Relaxed);
            let garbage = [
                b"data: [{\"key\"\n\ndata: not json\n\n:\n\nevent: x\n\n".to_vec(),
                [b"data: ".to_vec(), vec![b'z'; 3 << 20]].concat(),
                vec![0xff; 10_000],
            ];
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                    .to_vec();
            bytes.extend_from_slice(&garbage[pick as usize]);
            return Reply::Raw {
                bytes,
                piece: 512,
                pause: Duration::from_millis(1),
                reset: pick == 2,
            };
        }
        let mut served = self.served.lock().unwrap();
        let version = self.version.load(Ordering::SeqCst);
        served.insert(version);
        Reply::Stream {
            first: Some(amplitude_flags(version)),
        }
    }

    fn analytics(&self, request: &Received, pick: u32) -> Reply {
        if self.on.load(Ordering::SeqCst) && pick < 4 {
            self.faults.fetch_add(1, Ordering::Relaxed);
            return match pick {
                0 => Reply::text(500, "{}"),
                1 => Reply::text(503, "{}"),
                2 => Reply::Raw {
                    bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n".to_vec(),
                    piece: 64,
                    pause: Duration::ZERO,
                    reset: true,
                },
                _ => Reply::text(429, "{}"),
            };
        }
        let body: Value = serde_json::from_slice(&request.body).expect("analytics body is JSON");
        let mut delivered = self.delivered.lock().unwrap();
        for event in body["events"].as_array().expect("events") {
            let id = event["insert_id"].as_str().expect("insert_id").to_owned();
            if !delivered.insert(id) {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            } else if event["event_type"] == ASSIGNMENT {
                self.delivered_assignments.fetch_add(1, Ordering::Relaxed);
            } else {
                self.delivered_exposures.fetch_add(1, Ordering::Relaxed);
            }
        }
        Reply::text(200, "{\"code\":200}")
    }

    fn handle(&self, request: &Received) -> Reply {
        let pick = fastrand::u32(0..20);
        let chaos = self.on.load(Ordering::SeqCst);
        match request.path() {
            "/2/httpapi" => self.analytics(request, pick),
            "/sdk/stream/v1/flags" => self.stream(if chaos { pick } else { 19 }),
            path => {
                let eppo = path == "/flag-config/v1/config";
                if chaos && pick < 10 {
                    self.fault(eppo, pick)
                } else {
                    self.valid(eppo)
                }
            }
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The single configuration version behind one answer, checking it is not torn.
fn version_of(answer: &Value, eppo: bool) -> Result<u64, String> {
    let values: Vec<&str> = if eppo {
        answer["ok"]["assignments"]
            .as_array()
            .ok_or_else(|| format!("no assignments: {answer}"))?
            .iter()
            .take(MARKED_FLAGS)
            .map(|a| a["value"].as_str().unwrap_or("?"))
            .collect()
    } else {
        (0..MARKED_FLAGS)
            .map(|i| {
                answer["ok"]["variants"][format!("soak-{i}")]["value"]
                    .as_str()
                    .unwrap_or("?")
            })
            .collect()
    };
    let first = values[0];
    if values.iter().any(|v| *v != first) {
        return Err(format!("torn answer: {values:?}"));
    }
    first
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no version in {answer}"))
}

fn eppo_request() -> String {
    let assignments: Vec<Value> = (0..MARKED_FLAGS + FILLER_FLAGS)
        .map(|i| json!({"flag_key": format!("soak-{i}")}))
        .collect();
    json!({"assignments": assignments, "subject_key": "s", "variation_type": "STRING",
           "default": "default"})
    .to_string()
}

/// Runs `work` on a thread and waits at most `limit` for it (a deadlock fails the test).
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?} (deadlock?)"))
}

#[derive(Default)]
struct Tally {
    evaluations: u64,
    tracked: u64,
    failures: Vec<String>,
    versions: [BTreeSet<u64>; 3],
}

#[test]
#[ignore = "chaos soak: run by make soak and make soak-smoke"]
fn chaos_soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let chaos = Arc::new(Chaos {
        version: AtomicU64::new(1),
        served: Mutex::new(BTreeSet::new()),
        on: AtomicBool::new(true),
        bomb: gzip(&vec![b' '; 100 << 20]),
        delivered: Mutex::new(HashSet::new()),
        delivered_assignments: AtomicU64::new(0),
        delivered_exposures: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        faults: AtomicU64::new(0),
    });
    let handler_chaos = Arc::clone(&chaos);
    let server = Arc::new(Server::start(move |request| handler_chaos.handle(request)));
    let url = server.url();
    let tracking = json!({"api_key": "analytics-key", "server_url": url,
        "flush_queue_size": 50, "flush_interval_millis": 50, "max_queue_size": 2000,
        "request_timeout_millis": 2000, "retry_backoff_min_millis": 10,
        "retry_backoff_max_millis": 200, "shutdown_timeout_millis": 2000});
    let amplitude = |stream: bool| {
        let mut config = json!({"provider": "amplitude", "mode": "local",
            "api_key": "soak-key", "server_url": url, "max_response_bytes": MAX_RESPONSE_BYTES,
            "flag_config_polling_interval_millis": 20,
            "flag_config_poller_request_timeout_millis": 1500,
            "assignment_config": tracking, "exposure_config": tracking});
        if stream {
            let fields = json!({"stream_updates": true, "stream_server_url": url,
                "stream_keepalive_timeout_millis": 1000, "stream_retry_interval_millis": 50,
                "stream_retry_jitter_millis": 10, "stream_max_connection_millis": 1500,
                "stream_max_connection_jitter_millis": 100});
            config
                .as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
        }
        config
    };
    let eppo = json!({"provider": "eppo", "api_key": "soak-key", "base_url": url,
                      "poll_interval_seconds": 0.02, "poll_jitter_seconds": 0.005});
    // Served without faults until every client has started.
    chaos.on.store(false, Ordering::SeqCst);
    let clients = [
        init_ok(&amplitude(false)),
        init_ok(&amplitude(true)),
        init_ok(&eppo),
    ];
    for client in clients {
        ok(start(client, 10_000));
    }
    chaos.on.store(true, Ordering::SeqCst);
    let baseline_rss = rss_bytes();

    let running = Arc::new(AtomicBool::new(true));
    // The configuration changes every 5 ms; streams get each change (sometimes garbage).
    let bumper = {
        let (chaos, server, running) = (
            Arc::clone(&chaos),
            Arc::clone(&server),
            Arc::clone(&running),
        );
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
                let mut served = chaos.served.lock().unwrap();
                let version = chaos.version.fetch_add(1, Ordering::SeqCst) + 1;
                if fastrand::u32(0..10) == 0 {
                    drop(served);
                    server.broadcast("[{\"key\":\"broken\"");
                } else {
                    served.insert(version);
                    drop(served);
                    server.broadcast(&amplitude_flags(version));
                }
            }
        })
    };
    let peak_rss = Arc::new(AtomicU64::new(baseline_rss));
    let sampler = {
        let (peak, running) = (Arc::clone(&peak_rss), Arc::clone(&running));
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let eppo_request = Arc::new(eppo_request());
    let workers: Vec<mpsc::Receiver<Tally>> = (0..THREADS)
        .map(|thread| {
            let (sender, receiver) = mpsc::channel();
            let eppo_request = Arc::clone(&eppo_request);
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let which = (n as usize + thread) % 3;
                    let track = which < 2 && n % 16 == 0;
                    let answer = if which == 2 {
                        common::evaluate_raw(clients[2], &eppo_request)
                    } else {
                        evaluate(
                            clients[which],
                            &json!({
                            "user": {"user_id": format!("u-{thread}-{n}"), "device_id": "d"},
                            "tracks_assignment": track, "tracks_exposure": track}),
                        )
                    };
                    tally.evaluations += 1;
                    tally.tracked += u64::from(track);
                    match version_of(&answer, which == 2) {
                        Ok(version) => {
                            tally.versions[which].insert(version);
                        }
                        Err(e) => tally.failures.push(format!(
                            "{}: {e}",
                            ["amplitude poll", "amplitude stream", "eppo"][which]
                        )),
                    }
                }
                let _ = sender.send(tally);
            });
            receiver
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker
            .recv_timeout(Duration::from_secs(seconds + 60))
            .expect("an evaluating thread did not finish (deadlock?)");
        total.evaluations += tally.evaluations;
        total.tracked += tally.tracked;
        total.failures.extend(tally.failures);
        for (all, seen) in total.versions.iter_mut().zip(tally.versions) {
            all.extend(seen);
        }
    }
    running.store(false, Ordering::SeqCst);
    bumper.join().unwrap();
    sampler.join().unwrap();

    // The chaos stops: the last configuration must reach every client.
    chaos.on.store(false, Ordering::SeqCst);
    let last = {
        let mut served = chaos.served.lock().unwrap();
        let version = chaos.version.fetch_add(1, Ordering::SeqCst) + 1;
        served.insert(version);
        version
    };
    server.broadcast(&amplitude_flags(last));
    let converged = common::wait_until(Duration::from_secs(20), || {
        clients.iter().enumerate().all(|(which, &client)| {
            let answer = if which == 2 {
                common::evaluate_raw(client, &eppo_request)
            } else {
                evaluate(
                    client,
                    &json!({"user": {"user_id": "final"},
                    "tracks_assignment": false, "tracks_exposure": false}),
                )
            };
            version_of(&answer, which == 2) == Ok(last)
        })
    });

    let served = chaos.served.lock().unwrap().clone();
    let unserved: Vec<(usize, u64)> = (0..3)
        .flat_map(|which| total.versions[which].iter().map(move |v| (which, *v)))
        .filter(|(_, v)| !served.contains(v))
        .collect();
    let peak = peak_rss.load(Ordering::Relaxed);
    let names = ["amplitude poll", "amplitude stream", "eppo poll"];
    println!(
        "soak: {seconds} s of chaos, {} evaluations on {THREADS} threads, {} faults served, \
         {} configuration versions served as valid (last v{last})",
        total.evaluations,
        chaos.faults.load(Ordering::Relaxed),
        served.len()
    );
    for (name, seen) in names.iter().zip(&total.versions) {
        println!("  {name}: {} distinct versions seen", seen.len());
    }
    println!(
        "  RSS: {} MiB at the start of the chaos, {} MiB at its peak",
        baseline_rss >> 20,
        peak >> 20
    );

    // Analytics: after a flush without faults, the server has every sent event once.
    let mut stats = Vec::new();
    for client in &clients[..2] {
        let flushed = take(allot::ffi::allot_flush(*client, 20_000));
        stats.push(ok(flushed));
    }
    let sum = |kind: &str, field: &str| -> u64 {
        stats
            .iter()
            .map(|s| s[kind][field].as_u64().unwrap_or(0))
            .sum()
    };
    let assignments = chaos.delivered_assignments.load(Ordering::Relaxed);
    let exposures = chaos.delivered_exposures.load(Ordering::Relaxed);
    println!(
        "  analytics: {} tracked evaluations; assignments sent {} (server has {assignments}), \
         dropped {}; exposures sent {} (server has {exposures}), dropped {}; duplicates {}",
        total.tracked,
        sum("assignment_events", "sent"),
        sum("assignment_events", "dropped"),
        sum("exposure_events", "sent"),
        sum("exposure_events", "dropped"),
        chaos.duplicates.load(Ordering::Relaxed)
    );

    for client in clients {
        bounded("allot_free", Duration::from_secs(20), move || {
            allot::ffi::allot_free(client)
        });
    }
    assert!(
        total.failures.is_empty(),
        "{} failed or torn evaluations, e.g. {:?}",
        total.failures.len(),
        &total.failures[..total.failures.len().min(3)]
    );
    assert!(
        unserved.is_empty(),
        "answers (client index, version) from configurations never served as valid: {unserved:?}"
    );
    assert!(converged, "the clients did not converge to v{last}");
    assert!(
        total.versions.iter().all(|seen| seen.len() > 1),
        "a client never saw a configuration change"
    );
    assert!(
        peak < baseline_rss + (768 << 20),
        "RSS grew from {} MiB to {} MiB",
        baseline_rss >> 20,
        peak >> 20
    );
    assert_eq!(
        chaos.duplicates.load(Ordering::Relaxed),
        0,
        "events delivered twice"
    );
    for (kind, delivered) in [
        ("assignment_events", assignments),
        ("exposure_events", exposures),
    ] {
        assert_eq!(
            sum(kind, "queued"),
            0,
            "{kind} still queued after the flush"
        );
        assert_eq!(
            sum(kind, "sent"),
            delivered,
            "{kind}: sent but not delivered"
        );
    }
    // One assignment event per tracked evaluation (each has its own user), one exposure
    // per flag.
    let flags = (MARKED_FLAGS + FILLER_FLAGS) as u64;
    for (kind, expected) in [
        ("assignment_events", total.tracked),
        ("exposure_events", total.tracked * flags),
    ] {
        assert_eq!(
            sum(kind, "sent") + sum(kind, "dropped"),
            expected,
            "{kind} neither delivered nor counted as dropped"
        );
    }
}
