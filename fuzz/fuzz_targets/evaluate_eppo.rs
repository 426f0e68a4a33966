//! `allot_evaluate` requests (single and batch) to Eppo clients built once from the
//! conformance UFC, plain and obfuscated: both must answer alike (event timestamps aside),
//! and a third client with an assignment cache must answer.
#![no_main]

use std::sync::OnceLock;

use allot_fuzz::{c_string, envelope, evaluate, fetch, init_ok, shared_json, without_timestamps};
use serde_json::{json, Value};

fn clients() -> &'static [u64; 3] {
    static CLIENTS: OnceLock<[u64; 3]> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let client = |file: &str, extra: Value| {
            let mut config = json!({"provider": "eppo", "api_key": "fuzz-key",
                "initial_configuration": shared_json(&format!("conformance/eppo/{file}"))});
            config
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            init_ok(&config)
        };
        [
            client("flags-v1.json", json!({})),
            client("flags-v1-obfuscated.json", json!({})),
            client(
                "flags-v1.json",
                json!({"assignment_cache": {"capacity": 64}}),
            ),
        ]
    })
}

fn answer(client: u64, request: &std::ffi::CStr) -> Value {
    let mut value = envelope(&evaluate(client, request));
    without_timestamps(&mut value);
    value
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [plain, obfuscated, cached] = *clients();
    let request = c_string(data);
    let first = answer(plain, &request);
    assert_eq!(
        first,
        answer(plain, &request),
        "allot_evaluate is not deterministic"
    );
    assert_eq!(
        first,
        answer(obfuscated, &request),
        "plain and obfuscated UFC differ"
    );
    evaluate(cached, &request);
    assert!(
        fetch(plain, &request).starts_with("{\"error\""),
        "allot_fetch answered an Eppo client"
    );
});
