//! `allot_evaluate_compact_marshal`: any bytes as the marshalled user (a tuple of the 21
//! `User` fields in CPython's `marshal` version 2 form), every flag, against a local
//! client with the conformance flags and tracking on. Either a well-formed compact answer
//! (the same for the same input) or an error document with a stable code, never
//! `internal`. Where it answers, the input is a 21-item tuple or list, and the JSON user
//! of its non-None items gets exactly the same answer from `allot_evaluate_compact`.
#![no_main]

use allot::fuzzing::marshal_value;
use allot_fuzz::{c_string, compact, compact_marshal, tracking_amplitude_client};
use serde_json::{Map, Value};

/// The fields of the Python SDK's `User`, in the tuple's order.
const FIELDS: [&str; 21] = [
    "device_id",
    "user_id",
    "country",
    "city",
    "region",
    "dma",
    "language",
    "platform",
    "version",
    "os",
    "device_manufacturer",
    "device_brand",
    "device_model",
    "carrier",
    "library",
    "ip_address",
    "user_properties",
    "groups",
    "group_properties",
    "group_cohort_ids",
    "cohort_ids",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let handle = tracking_amplitude_client();
    let answer = compact_marshal(handle, data);
    assert_eq!(
        answer,
        compact_marshal(handle, data),
        "allot_evaluate_compact_marshal is not deterministic"
    );
    let Ok(answer) = answer else {
        return;
    };
    let value = marshal_value(data).expect("an accepted user is a marshal value");
    let items = value.as_array().expect("an accepted user is a sequence");
    assert_eq!(
        items.len(),
        FIELDS.len(),
        "an accepted user has every field"
    );
    let user: Map<String, Value> = FIELDS
        .iter()
        .zip(items)
        .filter(|(_, item)| !item.is_null())
        .map(|(name, item)| (name.to_string(), item.clone()))
        .collect();
    let text = Value::Object(user).to_string();
    if text.len() > allot::ffi::MAX_REQUEST_BYTES {
        return;
    }
    assert_eq!(
        compact(handle, &c_string(text.as_bytes()), None),
        Ok(answer),
        "the marshalled and the JSON user differ for {text:.300}"
    );
});
