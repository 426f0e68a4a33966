//! The Amplitude cookie helpers through the C ABI.

mod common;

use std::ffi::CString;

use common::*;
use serde_json::json;

fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

#[test]
fn generate_parse_and_name_through_the_c_abi() {
    let value = ok(take(unsafe {
        allot::ffi::allot_cookie_generate(c("someDeviceId").as_ptr(), true)
    }));
    assert_eq!(
        value,
        "JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjAlMjJzb21lRGV2aWNlSWQlMjIlN0Q="
    );
    let user = ok(take(unsafe {
        allot::ffi::allot_cookie_parse(c(value.as_str().unwrap()).as_ptr(), true)
    }));
    assert_eq!(user, json!({"device_id": "someDeviceId"}));
    let classic = ok(take(unsafe {
        allot::ffi::allot_cookie_generate(c("dev").as_ptr(), false)
    }));
    assert_eq!(classic, "dev..........");
    let name = ok(take(unsafe {
        allot::ffi::allot_cookie_name(c("abcdefghijkl").as_ptr(), false)
    }));
    assert_eq!(name, "amp_abcdef");
}

#[test]
fn malformed_cookies_parse_to_an_empty_user_and_short_keys_are_errors() {
    let user = ok(take(unsafe {
        allot::ffi::allot_cookie_parse(c("!!!").as_ptr(), true)
    }));
    assert_eq!(user, json!({}));
    let err = take(unsafe { allot::ffi::allot_cookie_name(c("abc").as_ptr(), true) });
    assert_eq!(error_code(&err), "invalid_argument");
    let err = take(unsafe { allot::ffi::allot_cookie_parse(std::ptr::null(), true) });
    assert_eq!(error_code(&err), "invalid_argument");
}
