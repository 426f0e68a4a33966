//! `allot_evaluate` requests to an Amplitude local client built and started once from the
//! conformance flags, with assignment and exposure tracking on (events go nowhere: the analytics
//! address refuses connections).
#![no_main]

use allot_fuzz::{c_string, evaluate, fetch, tracking_amplitude_client};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = c_string(data);
    let first = evaluate(tracking_amplitude_client(), &request);
    assert_eq!(
        first,
        evaluate(tracking_amplitude_client(), &request),
        "allot_evaluate is not deterministic"
    );
    assert!(
        fetch(tracking_amplitude_client(), &request).starts_with("{\"error\""),
        "allot_fetch answered a local client"
    );
});
