//! Bandit requests (`allot_evaluate` with `actions`) to Eppo clients built once from the
//! public bandit flags and models, with and without an assignment cache, and to a client
//! with flags but no bandits.
#![no_main]

use std::ffi::CStr;
use std::sync::OnceLock;

use allot_fuzz::{
    c_string, envelope, evaluate, init_ok, shared_json, start_offline, without_timestamps,
};
use serde_json::{json, Value};

fn clients() -> &'static [u64; 3] {
    static CLIENTS: OnceLock<[u64; 3]> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let bandits = json!({"provider": "eppo", "api_key": "fuzz-key",
            "initial_configuration": shared_json("conformance/eppo/bandit-flags-v1.json"),
            "initial_bandits": shared_json("conformance/eppo/bandit-models-v1.json")});
        let mut cached = bandits.clone();
        cached["assignment_cache"] = json!({"capacity": 64});
        let flags_only = json!({"provider": "eppo", "api_key": "fuzz-key",
            "initial_configuration": shared_json("conformance/eppo/bandit-flags-v1.json")});
        let handles = [init_ok(&bandits), init_ok(&cached), init_ok(&flags_only)];
        handles.iter().copied().for_each(start_offline);
        handles
    })
}

fn answer(client: u64, request: &CStr) -> Value {
    let mut value = envelope(&evaluate(client, request));
    without_timestamps(&mut value);
    value
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [bandits, cached, flags_only] = *clients();
    let request = c_string(data);
    let first = answer(bandits, &request);
    assert_eq!(
        first,
        answer(bandits, &request),
        "a bandit request is not deterministic"
    );
    evaluate(cached, &request);
    evaluate(flags_only, &request);
});
