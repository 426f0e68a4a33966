//! Eppo assignment cost on `../shared/conformance/eppo/flags-v1.json`: one typed assignment
//! through the C ABI (JSON in and out, string freed) and through the pure Rust API.

use std::ffi::{CStr, CString};
use std::hint::black_box;
use std::path::PathBuf;

use allot::internals::eppo::Snapshot;
use allot::internals::eppo::VariationType;
use allot::internals::eppo::{assign, Subject};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

fn flags_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/eppo/flags-v1.json")
}

fn c_abi(c: &mut Criterion) {
    let config = json!({
        "provider": "eppo",
        "api_key": "bench-key",
        "base_url": "http://127.0.0.1:9", // nothing listens: no fetch leaves the machine
        "configuration_path": flags_path().to_str().expect("UTF-8 path"),
    })
    .to_string();
    let config = CString::new(config).expect("no NUL");
    let handle = unsafe { allot::ffi::allot_init(config.as_ptr(), std::ptr::null_mut()) };
    assert_ne!(handle, 0, "allot_init failed");
    unsafe { allot::ffi::allot_string_free(allot::ffi::allot_start(handle, 0)) };
    let mut group = c.benchmark_group("eppo_c_abi");
    for (name, request) in [
        (
            "numeric_flag",
            json!({"flag_key": "numeric_flag", "subject_key": "alice", "subject_attributes": {"country": "US"},
                   "variation_type": "NUMERIC", "default": 0.0}),
        ),
        (
            "kill-switch",
            json!({"flag_key": "kill-switch", "subject_key": "alice", "subject_attributes": {"country": "US", "age": 30},
                   "variation_type": "BOOLEAN", "default": false}),
        ),
    ] {
        let request = CString::new(request.to_string()).expect("no NUL");
        let probe = unsafe { allot::ffi::allot_evaluate(handle, request.as_ptr()) };
        let text = unsafe { CStr::from_ptr(probe) }
            .to_str()
            .expect("UTF-8")
            .to_owned();
        unsafe { allot::ffi::allot_string_free(probe) };
        assert!(text.contains("\"code\":\"MATCH\""), "{text}");
        group.bench_function(name, |b| {
            b.iter(|| unsafe {
                let out = allot::ffi::allot_evaluate(handle, black_box(request.as_ptr()));
                allot::ffi::allot_string_free(out);
            })
        });
    }
    group.finish();
    allot::ffi::allot_free(handle);
}

fn rust_api(c: &mut Criterion) {
    let text = std::fs::read_to_string(flags_path()).expect("read flags-v1.json");
    let snapshot = Snapshot::from_json(&text, 0).expect("compile flags-v1.json");
    let now = allot::internals::eppo::now_ms();
    let mut attributes = Map::new();
    attributes.insert("country".into(), Value::from("US"));
    attributes.insert("age".into(), Value::from(30));
    let subject = Subject {
        key: "alice",
        attributes: &attributes,
    };
    let mut group = c.benchmark_group("eppo_rust");
    for (flag, ty) in [
        ("numeric_flag", VariationType::Numeric),
        ("start-and-end-date-test", VariationType::String),
        ("json-config-flag", VariationType::Json),
        ("kill-switch", VariationType::Boolean),
        ("new-user-onboarding", VariationType::String),
    ] {
        assert!(
            assign(Some(&snapshot), flag, subject, ty, now, None)
                .variation()
                .is_some(),
            "{flag}"
        );
        group.bench_function(flag, |b| {
            b.iter(|| {
                let assignment = assign(
                    Some(&snapshot),
                    black_box(flag),
                    black_box(subject),
                    ty,
                    now,
                    None,
                );
                black_box(assignment.variation().map(|v| &v.value));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, c_abi, rust_api);
criterion_main!(benches);
