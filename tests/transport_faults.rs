//! Transport faults found by probing as an attacker would (issue 12): a redirected POST,
//! error bodies that would cut a key in two, short keys, a trickling stream, and a gzip
//! body being decoded when the client is freed. Each finishes within a generous bound.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::json;

const KEY: &str = "ZQXJ-AMPKEY-0123456789abcdefghijkl";

fn remote(server: &Server, key: &str) -> u64 {
    let handle = init_ok(
        &json!({"provider": "amplitude", "mode": "remote", "api_key": key,
                                 "server_url": server.url(), "fetch_retries": 0}),
    );
    ok(start(handle, 0));
    handle
}

#[test]
fn a_post_answered_with_a_redirect_is_a_clear_http_status_error() {
    let server = Server::start(|_: &Received| Reply::Full {
        status: 307,
        headers: vec![("Location".into(), "/elsewhere".into())],
        body: Vec::new(),
    });
    let handle = remote(&server, KEY);
    let begun = Instant::now();
    let answer = fetch(handle, &json!({"user": {"user_id": "u"}}));
    assert!(begun.elapsed() < Duration::from_secs(5));
    assert_eq!(error_code(&answer), "http_status", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("307") && message.contains("redirect"),
        "{message}"
    );
    assert!(message.contains("/elsewhere"), "{message}");
    allot::ffi::allot_free(handle);
}

#[test]
fn no_part_of_the_key_survives_the_cut_of_an_error_body() {
    // Place the key across the 200-character quote limit at every offset around it.
    for offset in 160..200 {
        let body = format!("{}{KEY} trailing text", "x".repeat(offset));
        let server = Server::start(move |_: &Received| Reply::text(400, body.clone()));
        let handle = remote(&server, KEY);
        let answer = fetch(handle, &json!({"user": {"user_id": "u"}}));
        assert_eq!(error_code(&answer), "http_status", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        // No prefix of the key longer than 3 characters remains ("ZQXJ" would be 4).
        assert!(!message.contains(&KEY[..4]), "offset {offset}: {message}");
        allot::ffi::allot_free(handle);
    }
}

#[test]
fn a_short_key_does_not_garble_messages_but_is_redacted_where_it_stands_alone() {
    let server =
        Server::start(|_: &Received| Reply::text(400, "rejected key k for /sdk/v2/vardata"));
    let handle = remote(&server, "k");
    let answer = fetch(handle, &json!({"user": {"user_id": "u"}}));
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("/sdk/v2/vardata"), "{message}");
    assert!(message.contains("rejected key <redacted> for"), "{message}");
    allot::ffi::allot_free(handle);
}

fn flags() -> String {
    json!([{"key": "alpha", "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]}])
        .to_string()
}

fn streaming_client(server: &Server, extra: serde_json::Value) -> u64 {
    let mut config = json!({"provider": "amplitude", "api_key": KEY, "server_url": server.url(),
                            "stream_updates": true, "stream_server_url": server.url(),
                            "flag_config_polling_interval_millis": 60_000});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let handle = init_ok(&config);
    ok(start(handle, 5_000));
    handle
}

#[test]
fn bytes_trickling_without_an_event_do_not_keep_a_stream_alive() {
    for chunk in [&b"x"[..], &b"data: more\n"[..]] {
        let server = Server::start(move |r: &Received| match r.path() {
            "/sdk/stream/v1/flags" => Reply::Trickle {
                first: Some(flags()),
                chunk: chunk.to_vec(),
                every: Duration::from_millis(50),
            },
            _ => Reply::text(200, flags()),
        });
        let handle = streaming_client(
            &server,
            json!({"stream_keepalive_timeout_millis": 400, "stream_retry_interval_millis": 100,
                   "stream_retry_jitter_millis": 0}),
        );
        // The stream is dropped for want of a complete event and connected again (the
        // timeout itself is cleared by the poll that covers for the stream).
        assert!(wait_until(Duration::from_secs(5), || server
            .requests_to("/sdk/stream/v1/flags")
            .len()
            >= 2));
        allot::ffi::allot_free(handle);
    }
}

#[test]
fn a_stream_is_recycled_at_its_maximum_age_though_no_event_arrives() {
    let server = Server::start(|r: &Received| match r.path() {
        // Bytes every 50 ms that never complete an event or a comment.
        "/sdk/stream/v1/flags" => Reply::Trickle {
            first: Some(flags()),
            chunk: b"x".to_vec(),
            every: Duration::from_millis(50),
        },
        _ => Reply::text(200, flags()),
    });
    let handle = streaming_client(
        &server,
        json!({"stream_max_connection_millis": 300, "stream_max_connection_jitter_millis": 0,
               "stream_keepalive_timeout_millis": 60_000}),
    );
    assert!(wait_until(Duration::from_secs(5), || server
        .requests_to("/sdk/stream/v1/flags")
        .len()
        >= 3));
    assert_eq!(ok(status(handle))["last_error"], serde_json::Value::Null);
    allot::ffi::allot_free(handle);
}

/// What the gzip bomb server has done so far.
#[derive(Default)]
struct Trickled {
    /// Pieces of the compressed body written.
    pieces: AtomicUsize,
    /// A write failed: the client closed the connection.
    abandoned: AtomicBool,
}

/// A server on 127.0.0.1 that answers each connection with `body` (gzip) in `piece`-byte
/// writes, `pause` apart, counting them; a connection ends when the body is sent or a
/// write fails.
fn trickling_gzip_server(body: Vec<u8>, piece: usize, pause: Duration) -> (String, Arc<Trickled>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Trickled::default());
    let shared = Arc::clone(&state);
    let body = Arc::new(body);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let (state, body) = (Arc::clone(&shared), Arc::clone(&body));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for chunk in body.chunks(piece) {
                    if stream
                        .write_all(chunk)
                        .and_then(|()| stream.flush())
                        .is_err()
                    {
                        state.abandoned.store(true, Ordering::SeqCst);
                        return;
                    }
                    state.pieces.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(pause);
                }
            });
        }
    });
    (url, state)
}

/// `allot_free` while the first fetch decodes a gzip bomb that arrives slowly: the poll
/// thread stops at once (its connection is closed, and the decoder's output is read in
/// chunks that check for the shutdown; the part that is already buffered decodes to at most
/// the 64 MiB response cap), instead of finishing the body.
#[test]
fn freeing_a_client_interrupts_a_gzip_body_being_decoded() {
    // 60 MiB of zeros gzip to about 60 KB: sent 256 bytes every 100 ms, the body takes
    // about 24 s to arrive and decode, more than 10 times the bound below.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..60 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let piece = 256;
    let pieces = bomb.len().div_ceil(piece);
    assert!(pieces >= 200, "the body trickles for {pieces} pieces only");
    let (url, trickled) = trickling_gzip_server(bomb, piece, Duration::from_millis(100));
    let handle = init_ok(
        &json!({"provider": "amplitude", "mode": "local", "api_key": KEY,
        "server_url": url, "max_response_bytes": 64 << 20,
        "flag_config_polling_interval_millis": 600_000,
        "flag_config_poller_request_timeout_millis": 600_000}),
    );
    // Not waiting for the first fetch, which is decoding the body.
    assert_eq!(error_code(&start(handle, 0)), "timeout");
    assert!(wait_until(Duration::from_secs(20), || trickled
        .pieces
        .load(Ordering::SeqCst)
        >= 5));
    let (done, freed) = mpsc::channel();
    let begun = Instant::now();
    std::thread::spawn(move || {
        allot::ffi::allot_free(handle);
        done.send(()).unwrap();
    });
    let returned = freed.recv_timeout(Duration::from_secs(60));
    let elapsed = begun.elapsed();
    assert!(returned.is_ok(), "allot_free did not return in 60 s");
    assert!(
        elapsed < Duration::from_secs(2),
        "allot_free took {elapsed:?} while a gzip body was being decoded"
    );
    let sent = trickled.pieces.load(Ordering::SeqCst);
    assert!(sent < pieces, "the whole body had arrived ({sent} pieces)");
    // The connection was closed: the server's next writes fail.
    assert!(wait_until(Duration::from_secs(10), || trickled
        .abandoned
        .load(Ordering::SeqCst)));
}
