//! The cookie functions on any string: name, parse and generate, in both formats; a
//! generated cookie parses back to its device id.
#![no_main]

use allot::ffi;
use allot_fuzz::{c_string, checked, envelope};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let new_format = flags & 1 == 1;
    let input = c_string(text);
    // SAFETY: valid C strings.
    unsafe {
        checked(ffi::allot_cookie_name(input.as_ptr(), new_format));
        checked(ffi::allot_cookie_parse(input.as_ptr(), new_format));
    }
    // SAFETY: a valid C string.
    let generated = envelope(&checked(unsafe {
        ffi::allot_cookie_generate(input.as_ptr(), new_format)
    }));
    let (Ok(device_id), Some(cookie)) = (input.to_str(), generated["ok"].as_str()) else {
        return;
    };
    if cookie.len() > ffi::MAX_REQUEST_BYTES
        || (!new_format && (device_id.is_empty() || device_id.contains('.')))
    {
        return;
    }
    let cookie = c_string(cookie.as_bytes());
    // SAFETY: a valid C string.
    let user = envelope(&checked(unsafe {
        ffi::allot_cookie_parse(cookie.as_ptr(), new_format)
    }));
    assert_eq!(
        user["ok"]["device_id"], device_id,
        "cookie did not round-trip"
    );
    assert!(
        user["ok"].get("user_id").is_none(),
        "a generated cookie has no user id"
    );
});
