//! The Amplitude fast lane: `allot_evaluate_compact` (the input is the user JSON, then
//! after a NUL byte the options JSON, flag keys or an object; no NUL means NULL options)
//! and `allot_result_json` for every result id, against a local client with the
//! conformance flags and tracking on.
//! Where the fast lane answers, its variants are exactly those of `allot_evaluate` for the
//! same user and options; the same input gives the same snapshot and ids.
#![no_main]

use allot_fuzz::{
    c_string, compact, envelope, error_code, evaluate, result_json, tracking_amplitude_client,
};
use serde_json::{json, Map, Value};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let handle = tracking_amplitude_client();
    let (user, keys) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(c_string(&data[at + 1..]))),
        None => (data, None),
    };
    let user = c_string(user);
    let answer = compact(handle, &user, keys.as_deref());
    assert_eq!(
        answer,
        compact(handle, &user, keys.as_deref()),
        "allot_evaluate_compact is not deterministic"
    );
    let Ok((snapshot, ids)) = answer else {
        return;
    };
    assert_ne!(snapshot, 0, "a started client has a snapshot");
    let mut variants = Map::new();
    for &id in &ids {
        let result = result_json(handle, snapshot, id)
            .unwrap_or_else(|e| panic!("result id {id} of the current snapshot: {e}"))
            .expect("the snapshot is current");
        let key = result["flag_key"].as_str().expect("flag key").to_owned();
        let previous = variants.insert(key, result["variant"].clone());
        assert!(previous.is_none(), "two result ids for one flag: {result}");
    }
    // Another snapshot id is not current; an id the answer did not give is one of the
    // snapshot's or an invalid argument.
    assert_eq!(result_json(handle, snapshot.wrapping_add(1), 0), Ok(None));
    if let Err(error) = result_json(handle, snapshot, u32::MAX) {
        assert_eq!(error_code(&error), "invalid_argument", "{error}");
    }
    // The JSON path, for the same user and keys (as values: what a number out of range
    // makes unreadable is left out).
    let Ok(user) = serde_json::from_slice::<Value>(user.to_bytes()) else {
        return;
    };
    let mut request = json!({"user": user});
    if let Some(options) = &keys {
        match serde_json::from_slice::<Value>(options.to_bytes()) {
            Ok(Value::Object(options)) => request.as_object_mut().unwrap().extend(options),
            Ok(keys) => request["flag_keys"] = keys,
            Err(_) => return,
        }
    }
    let text = request.to_string();
    if text.len() > allot::ffi::MAX_REQUEST_BYTES {
        return;
    }
    let slow = envelope(&evaluate(handle, &c_string(text.as_bytes())));
    assert_eq!(
        slow["ok"]["variants"],
        Value::Object(variants),
        "the fast lane and allot_evaluate differ for {text:.300}"
    );
});
