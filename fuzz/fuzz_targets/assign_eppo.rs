//! The Eppo fast lane: `allot_eppo_assign` on clients built once from the conformance UFC,
//! plain and obfuscated. The input's first byte holds the variation type (bits 0–2: 0 to 4
//! are valid, 5 to 7 are not) and `wants_event` (bit 3); the rest is the flag key, the
//! subject key and the subject attributes JSON, separated by NUL bytes (no third part
//! means NULL attributes). Both clients answer alike, the same input gives the same
//! answer, and where the fast lane answers, `allot_evaluate` gives the same assignment and
//! event for the same request.
#![no_main]

use std::ffi::CString;
use std::sync::OnceLock;

use allot_fuzz::{
    c_string, envelope, eppo_assign, evaluate, init_ok, shared_json, start_offline,
    without_timestamps, Assign, VARIATION_TYPES,
};
use serde_json::{json, Value};

fn clients() -> &'static [u64; 2] {
    static CLIENTS: OnceLock<[u64; 2]> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let client = |file: &str| {
            let handle = init_ok(&json!({"provider": "eppo", "api_key": "fuzz-key",
                "initial_configuration": shared_json(&format!("conformance/eppo/{file}"))}));
            start_offline(handle);
            handle
        };
        [client("flags-v1.json"), client("flags-v1-obfuscated.json")]
    })
}

/// A default of each variation type, as `allot_evaluate` takes it.
fn default_value(variation_type: u32) -> Value {
    match variation_type {
        0 => json!("fuzz-default"),
        1 => json!(-7),
        2 => json!(0.5),
        3 => json!(true),
        _ => json!({"fuzz": "default"}),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [plain, obfuscated] = *clients();
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let flag_key = c_string(parts.next().unwrap_or_default());
    let subject_key = c_string(parts.next().unwrap_or_default());
    let attributes: Option<CString> = parts.next().map(c_string);
    let call = Assign {
        flag_key: &flag_key,
        subject_key: &subject_key,
        attributes: attributes.as_deref(),
        variation_type: u32::from(control & 7),
        wants_event: control & 8 != 0,
    };
    let normalized = |handle| {
        eppo_assign(handle, &call).map(|mut answer| {
            without_timestamps(&mut answer);
            answer
        })
    };
    let first = normalized(plain);
    assert_eq!(
        first,
        normalized(plain),
        "allot_eppo_assign is not deterministic"
    );
    assert_eq!(
        first,
        normalized(obfuscated),
        "plain and obfuscated UFC differ"
    );
    let Ok(mut fast) = first else {
        return;
    };
    // The JSON path for the same request (as values: what a number out of range makes
    // unreadable is left out).
    let attributes = match &attributes {
        Some(text) => match serde_json::from_slice::<Value>(text.to_bytes()) {
            Ok(value) => Some(value),
            Err(_) => return,
        },
        None => None,
    };
    let default = default_value(call.variation_type);
    let mut request = json!({
        "flag_key": flag_key.to_str().expect("the fast lane read UTF-8"),
        "subject_key": subject_key.to_str().expect("the fast lane read UTF-8"),
        "variation_type": VARIATION_TYPES[call.variation_type as usize],
        "default": default,
    });
    if let Some(attributes) = attributes {
        request["subject_attributes"] = attributes;
    }
    let text = request.to_string();
    if text.len() > allot::ffi::MAX_REQUEST_BYTES {
        return;
    }
    let mut slow = envelope(&evaluate(plain, &c_string(text.as_bytes())));
    without_timestamps(&mut slow);
    assert!(
        slow.get("ok").is_some(),
        "the fast lane answered, allot_evaluate did not: {slow}"
    );
    let mut slow = slow["ok"].take();
    if fast["variation_key"].is_null() {
        fast["value"] = default;
    }
    if !call.wants_event {
        assert_eq!(fast["events"], json!([]), "an event nobody asked for");
        slow["events"] = json!([]);
    }
    assert_eq!(
        fast, slow,
        "the fast lane and allot_evaluate differ for {text:.300}"
    );
});
