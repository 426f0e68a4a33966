//! `allot_evaluate` requests to an Amplitude local client built once from the conformance
//! flags, with assignment and exposure tracking on (events go nowhere: the analytics
//! address refuses connections).
#![no_main]

use std::sync::OnceLock;

use allot_fuzz::{amplitude_flags, c_string, evaluate, fetch, init_ok, tracking_config};
use serde_json::json;

fn client() -> u64 {
    static CLIENT: OnceLock<u64> = OnceLock::new();
    *CLIENT.get_or_init(|| {
        init_ok(
            &json!({"provider": "amplitude", "mode": "local", "api_key": "fuzz-key",
            "flags": amplitude_flags(), "assignment_config": tracking_config(),
            "exposure_config": tracking_config()}),
        )
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = c_string(data);
    let first = evaluate(client(), &request);
    assert_eq!(
        first,
        evaluate(client(), &request),
        "allot_evaluate is not deterministic"
    );
    assert!(
        fetch(client(), &request).starts_with("{\"error\""),
        "allot_fetch answered a local client"
    );
});
