//! `allot_fetch` requests to an Amplitude remote client built once, against a server on
//! 127.0.0.1 that answers every request with the same variants.
#![no_main]

use std::sync::OnceLock;

use allot_fuzz::{c_string, evaluate, fetch, fixed_server, init_ok};
use serde_json::json;

const VARIANTS: &str = r#"{"flag-a":{"key":"on","value":"on","payload":{"n":1.5}},"flag-b":{"key":"off","metadata":{"default":true}}}"#;

fn client() -> u64 {
    static CLIENT: OnceLock<u64> = OnceLock::new();
    *CLIENT.get_or_init(|| {
        init_ok(
            &json!({"provider": "amplitude", "mode": "remote", "api_key": "fuzz-key",
            "server_url": fixed_server(VARIANTS), "fetch_retries": 0,
            "fetch_timeout_millis": 5000}),
        )
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = c_string(data);
    let first = fetch(client(), &request);
    assert_eq!(
        first,
        fetch(client(), &request),
        "allot_fetch is not deterministic"
    );
    evaluate(client(), &request);
});
