//! The C ABI contract: one test per error code, NULL and bad input, stale handles,
//! the committed header, and concurrent use of handles.

mod common;

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use serde_json::{json, Value};

fn flags() -> Value {
    shared_json("conformance/amplitude/dependencies_fixture.json")["flags"].clone()
}

fn started() -> u64 {
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": "k", "flags": flags()}));
    ok(start(handle, 0));
    handle
}

#[test]
fn invalid_argument_for_null_pointers_and_wrong_shapes() {
    let mut error: *mut c_char = std::ptr::null_mut();
    assert_eq!(
        unsafe { allot::ffi::allot_init(std::ptr::null(), &mut error) },
        0
    );
    assert_eq!(error_code(&take(error)), "invalid_argument");
    let handle = started();
    assert_eq!(
        error_code(&take(unsafe {
            allot::ffi::allot_evaluate(handle, std::ptr::null())
        })),
        "invalid_argument"
    );
    assert_eq!(
        error_code(&evaluate(handle, &json!({"user": "not an object"}))),
        "invalid_argument"
    );
    let unknown = evaluate(handle, &json!({"user": {}, "flag_kyes": []}));
    assert_eq!(error_code(&unknown), "invalid_argument");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flag_kyes"),
        "{unknown}"
    );
    assert_eq!(
        error_code(&evaluate(handle, &json!({"user": {"favourite": 1}}))),
        "invalid_argument"
    );
    assert_eq!(
        error_code(&evaluate(handle, &json!({}))),
        "invalid_argument",
        "user is required"
    );
}

#[test]
fn invalid_utf8_is_reported_with_its_offset() {
    let handle = started();
    let bytes = b"{\"user\":{\"user_id\":\"\xc3\x28\"}}\0";
    let answer = take(unsafe { allot::ffi::allot_evaluate(handle, bytes.as_ptr().cast()) });
    assert_eq!(error_code(&answer), "invalid_utf8");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("offset 20"),
        "{answer}"
    );
    let config = b"{\"provider\":\"\xff\"}\0";
    let mut error: *mut c_char = std::ptr::null_mut();
    assert_eq!(
        unsafe { allot::ffi::allot_init(config.as_ptr().cast(), &mut error) },
        0
    );
    assert_eq!(error_code(&take(error)), "invalid_utf8");
}

#[test]
fn invalid_json_for_syntax_errors() {
    let handle = started();
    assert_eq!(
        error_code(&evaluate_raw(handle, "{\"user\": {")),
        "invalid_json"
    );
    assert_eq!(
        error_code(&init_raw("{provider: amplitude}").unwrap_err()),
        "invalid_json"
    );
}

#[test]
fn invalid_config_names_the_field_and_the_nearest_valid_name() {
    let err =
        init(&json!({"provider": "amplitude", "api_key": "k", "flag_path": "x"})).unwrap_err();
    assert_eq!(error_code(&err), "invalid_config");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"flag_path\"") && message.contains("did you mean \"flags_path\""),
        "{message}"
    );
    for config in [
        json!({"api_key": "k"}),
        json!({"provider": "statsig"}),
        json!({"provider": "amplitude", "flags": {"not": "a list"}}),
        json!({"provider": "amplitude", "flags": [], "flags_path": "x.json"}),
        json!({"provider": "amplitude", "flags_path": "/nonexistent/flags.json"}),
        json!([1, 2]),
    ] {
        assert_eq!(
            error_code(&init(&config).unwrap_err()),
            "invalid_config",
            "{config}"
        );
    }
}

#[test]
fn secrets_never_appear_in_errors_or_status() {
    let secret = "server-SECRET-deployment-key";
    let err = init(&json!({"provider": "amplitude", "api_key": secret, "flags": [], "bogus": 1}))
        .unwrap_err();
    assert!(!err.to_string().contains(secret));
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": secret, "flags": []}));
    assert!(!status(handle).to_string().contains(secret));
}

#[test]
fn input_too_large_for_oversized_requests() {
    let handle = started();
    let big = format!(
        "{{\"user\":{{\"user_id\":\"{}\"}}}}",
        "x".repeat(allot::ffi::MAX_REQUEST_BYTES)
    );
    assert_eq!(error_code(&evaluate_raw(handle, &big)), "input_too_large");
}

#[test]
fn unknown_handle_for_zero_unknown_and_freed_handles() {
    let handle = started();
    allot::ffi::allot_free(handle);
    allot::ffi::allot_free(handle);
    allot::ffi::allot_free(0);
    allot::ffi::allot_free(u64::MAX);
    for h in [0, handle, u64::MAX] {
        assert_eq!(error_code(&status(h)), "unknown_handle");
        assert_eq!(error_code(&start(h, 0)), "unknown_handle");
        assert_eq!(
            error_code(&evaluate(h, &json!({"user": {}}))),
            "unknown_handle"
        );
        assert_eq!(
            error_code(&fetch(h, &json!({"user": {}}))),
            "unknown_handle"
        );
    }
}

#[test]
fn not_started_before_allot_start() {
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": "k", "flags": flags()}));
    assert_eq!(
        error_code(&evaluate(handle, &json!({"user": {}}))),
        "not_started"
    );
    assert_eq!(ok(status(handle))["started"], false);
    ok(start(handle, 0));
    ok(start(handle, 0));
    assert!(
        ok(evaluate(handle, &json!({"user": {"device_id": "d"}})))["variants"]
            .as_object()
            .unwrap()
            .len()
            > 1
    );
}

#[test]
fn dependency_cycle_rejects_the_configuration() {
    let flags = json!([{"key": "a", "dependencies": ["a"], "variants": {}, "segments": []}]);
    let err = init(&json!({"provider": "amplitude", "api_key": "k", "flags": flags})).unwrap_err();
    assert_eq!(error_code(&err), "dependency_cycle");
    assert!(err["error"]["message"].as_str().unwrap().contains("a -> a"));
}

#[test]
fn unsupported_for_remote_fetch_on_a_local_client() {
    let handle = started();
    assert_eq!(
        error_code(&fetch(handle, &json!({"user": {}}))),
        "unsupported"
    );
}

#[test]
fn error_json_may_be_null_and_is_cleared_on_success() {
    let config = CString::new("not json").unwrap();
    assert_eq!(
        unsafe { allot::ffi::allot_init(config.as_ptr(), std::ptr::null_mut()) },
        0
    );
    let good = CString::new(json!({"provider": "amplitude", "flags": []}).to_string()).unwrap();
    let mut error: *mut c_char = 0x1 as *mut c_char;
    let handle = unsafe { allot::ffi::allot_init(good.as_ptr(), &mut error) };
    assert_ne!(handle, 0);
    assert!(error.is_null());
}

#[test]
fn string_free_ignores_null_and_version_is_static() {
    unsafe { allot::ffi::allot_string_free(std::ptr::null_mut()) };
    let version = unsafe { std::ffi::CStr::from_ptr(allot::ffi::allot_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn the_committed_header_matches_a_fresh_generation() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/allot.h")).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/allot.h")).unwrap();
    assert!(
        generated == committed,
        "include/allot.h is stale: run `make header`"
    );
}

#[test]
fn every_error_code_is_documented_in_the_header_and_the_c_api_reference() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/allot.h")).unwrap();
    let reference =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/c-api.md")).unwrap();
    for code in allot::internals::ErrorCode::ALL {
        let name = code.as_str();
        assert!(
            header.contains(&format!(" {name} ")),
            "{name} missing from include/allot.h"
        );
        assert!(
            reference.contains(&format!("`{name}`")),
            "{name} missing from docs/c-api.md"
        );
    }
}

/// The result every thread must see for `user` (computed once, single-threaded).
fn expected_for(handle: u64, user: &Value) -> Value {
    ok(evaluate(handle, &json!({"user": user})))
}

#[test]
fn eight_threads_evaluate_one_handle_while_another_is_reinitialized() {
    let handle = started();
    let users: Vec<Value> = (0..16)
        .map(|i| json!({"user_id": format!("u{i}"), "device_id": format!("d{i}")}))
        .collect();
    let expected: Vec<Value> = users.iter().map(|u| expected_for(handle, u)).collect();
    let users = Arc::new(users);
    let expected = Arc::new(expected);
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut cycles = 0;
            while !stop.load(Ordering::Relaxed) && cycles < 10_000 {
                let other = started();
                assert!(ok(status(other))["flag_count"].as_u64().unwrap() > 0);
                allot::ffi::allot_free(other);
                cycles += 1;
            }
            cycles
        })
    };
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (users, expected) = (users.clone(), expected.clone());
            thread::spawn(move || {
                for i in 0..400 {
                    let k = (i + t) % users.len();
                    assert_eq!(
                        expected_for(handle, &users[k]),
                        expected[k],
                        "thread {t} iteration {i}"
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("an evaluating thread failed");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().expect("the re-initializing thread failed") > 0);
}

#[test]
fn the_header_declares_only_allot_names() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/allot.h")).unwrap();
    // Strip comments, then collect every #define name and every declared function name.
    let mut code = String::new();
    let mut rest = header.as_str();
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    code.push_str(rest);
    let mut names = Vec::new();
    let mut declarations = String::new();
    for line in code.lines().map(str::trim) {
        if let Some(define) = line.strip_prefix("#define ") {
            names.push(define.split_whitespace().next().unwrap().to_owned());
        } else if !(line.starts_with('#')
            || line.starts_with("//")
            || line.starts_with("extern \"C\"")
            || line.starts_with('}'))
        {
            declarations.push_str(line);
            declarations.push('\n');
        }
    }
    // Every remaining statement declares a function: its name is the word before `(`.
    for statement in declarations.split(';').map(str::trim) {
        if statement.is_empty() {
            continue;
        }
        let open = statement
            .find('(')
            .unwrap_or_else(|| panic!("not a function: {statement}"));
        let name = statement[..open]
            .trim_end()
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap();
        names.push(name.to_owned());
    }
    assert!(names.iter().any(|n| n == "allot_init"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "ALLOT_MAX_CONFIG_BYTES"),
        "{names:?}"
    );
    for name in &names {
        assert!(
            name.starts_with("allot_") || name.starts_with("ALLOT_"),
            "include/allot.h declares {name}, which is not part of the allot_/ALLOT_ API"
        );
    }
}
