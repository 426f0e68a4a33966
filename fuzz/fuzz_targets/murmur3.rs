//! `allot_murmur3` requests: any document, the same hash each time.
#![no_main]

use allot::ffi;
use allot_fuzz::{c_string, checked};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let request = c_string(data);
    // SAFETY: a valid C string.
    let first = checked(unsafe { ffi::allot_murmur3(request.as_ptr()) });
    // SAFETY: a valid C string.
    let second = checked(unsafe { ffi::allot_murmur3(request.as_ptr()) });
    assert_eq!(first, second, "allot_murmur3 is not deterministic");
});
