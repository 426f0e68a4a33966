//! The README's whole loop: `examples/flag_server` serves `examples/flags` on 127.0.0.1;
//! a polling local client and a remote client pointed at it agree with an offline client
//! on the same flags.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};

/// The example server, killed when dropped.
struct FlagServer {
    child: Child,
    url: String,
}

impl Drop for FlagServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_example_server() -> FlagServer {
    // `cargo test` builds the examples next to the test binaries' directory.
    let exe = std::env::current_exe().unwrap();
    let binary: PathBuf = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/flag_server");
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build --release --examples` (make test does)",
        binary.display()
    );
    let mut child = Command::new(binary)
        .args([
            "--flags",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/flags"),
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the flag server");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first_line:?}"))
        .to_owned();
    FlagServer { child, url }
}

fn users() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/flags/users.json"
    ))
    .unwrap();
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

#[test]
fn local_and_remote_clients_against_the_example_server_agree_with_offline_evaluation() {
    let server = start_example_server();
    let offline = init_ok(
        &json!({"provider": "amplitude", "flags_path": concat!(env!("CARGO_MANIFEST_DIR"), "/examples/flags/flags.json")}),
    );
    ok(start(offline, 0));
    let local =
        init_ok(&json!({"provider": "amplitude", "api_key": "dev", "server_url": server.url}));
    let status = ok(start(local, 10_000));
    assert_eq!(status["source"], "poll");
    assert_eq!(status["flag_count"], 5);
    let remote = init_ok(
        &json!({"provider": "amplitude", "mode": "remote", "api_key": "dev", "server_url": server.url}),
    );
    for user in users() {
        let expected = ok(evaluate(offline, &json!({"user": user})))["variants"].clone();
        assert_eq!(
            ok(evaluate(local, &json!({"user": user})))["variants"],
            expected
        );
        let fetched = ok(fetch(remote, &json!({"user": user})))["variants"].clone();
        for (flag, variant) in expected.as_object().unwrap() {
            assert_eq!(
                fetched[flag]["key"], variant["key"],
                "remote {flag} for {user}"
            );
        }
    }
    for handle in [offline, local, remote] {
        allot::ffi::allot_free(handle);
    }
}
