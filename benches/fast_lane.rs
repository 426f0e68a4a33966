//! Native cost of the fast lane (`allot_evaluate_compact`, `allot_evaluate_compact_marshal`,
//! `allot_eppo_assign`): one call into a reused caller-owned buffer, on the Amplitude
//! dependency fixture (6 flags), the generated corpus and
//! `../shared/conformance/eppo/flags-v1.json`.

use std::ffi::CString;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

fn shared(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative)
}

fn started(config: &Value) -> u64 {
    let config = CString::new(config.to_string()).expect("no NUL");
    let handle = unsafe { allot::ffi::allot_init(config.as_ptr(), std::ptr::null_mut()) };
    assert_ne!(handle, 0, "allot_init failed");
    unsafe { allot::ffi::allot_string_free(allot::ffi::allot_start(handle, 0)) };
    handle
}

fn amplitude_client(file: &str) -> (u64, Value) {
    let text = std::fs::read_to_string(shared(file)).expect("fixture");
    let data: Value = serde_json::from_str(&text).expect("JSON");
    let handle = started(&json!({"provider": "amplitude", "api_key": "k", "flags": data["flags"]}));
    (handle, data)
}

/// `marshal.dumps(fields, 2)` of a user whose fields are strings: the tuple of
/// `allot_evaluate_compact_marshal` (the other fields None).
fn marshal_user(user: &Value) -> Vec<u8> {
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
    let mut packed = b"(".to_vec();
    packed.extend_from_slice(&21u32.to_le_bytes());
    for field in FIELDS {
        match user.get(field) {
            Some(Value::String(text)) => {
                packed.push(b'u');
                packed.extend_from_slice(&(text.len() as u32).to_le_bytes());
                packed.extend_from_slice(text.as_bytes());
            }
            None => packed.push(b'N'),
            Some(other) => panic!("{field}: {other} is not a string"),
        }
    }
    packed
}

fn amplitude(c: &mut Criterion) {
    let mut group = c.benchmark_group("fast_lane_amplitude");
    let mut buffer = vec![0u8; 4096];
    let (deps, fixture) = amplitude_client("conformance/amplitude/dependencies_fixture.json");
    let (corpus, corpus_data) = amplitude_client("conformance/amplitude/generated_corpus.json");
    let user = CString::new(fixture["cases"][0]["user"].to_string()).expect("no NUL");
    let corpus_user = CString::new(corpus_data["cases"][0]["user"].to_string()).expect("no NUL");
    let first_flag = fixture["flags"][0]["key"].as_str().expect("key").to_owned();
    let one = CString::new(json!([first_flag]).to_string()).expect("no NUL");
    let corpus_flag = corpus_data["flags"][0]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let corpus_one = CString::new(json!([corpus_flag]).to_string()).expect("no NUL");
    for (name, handle, user, keys) in [
        ("6_flags_all", deps, &user, std::ptr::null()),
        ("6_flags_one", deps, &user, one.as_ptr()),
        ("corpus_one_flag", corpus, &corpus_user, corpus_one.as_ptr()),
    ] {
        let probe = unsafe {
            allot::ffi::allot_evaluate_compact(
                handle,
                user.as_ptr(),
                keys,
                buffer.as_mut_ptr(),
                buffer.len(),
            )
        };
        assert!(probe >= 12, "{name}: {probe}");
        group.bench_function(name, |b| {
            b.iter(|| unsafe {
                allot::ffi::allot_evaluate_compact(
                    handle,
                    black_box(user.as_ptr()),
                    keys,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                )
            })
        });
    }
    // The same user as the Python binding marshals it: a tuple of the 21 fields.
    let packed = marshal_user(&fixture["cases"][0]["user"]);
    group.bench_function("6_flags_all_marshal", |b| {
        b.iter(|| unsafe {
            allot::ffi::allot_evaluate_compact_marshal(
                deps,
                black_box(packed.as_ptr()),
                packed.len(),
                std::ptr::null(),
                buffer.as_mut_ptr(),
                buffer.len(),
            )
        })
    });
    group.finish();
    allot::ffi::allot_free(deps);
    allot::ffi::allot_free(corpus);
}

fn eppo(c: &mut Criterion) {
    let path = shared("conformance/eppo/flags-v1.json");
    let handle = started(&json!({
        "provider": "eppo",
        "api_key": "bench-key",
        "base_url": "http://127.0.0.1:9", // nothing listens: no fetch leaves the machine
        "configuration_path": path.to_str().expect("UTF-8 path"),
    }));
    let mut group = c.benchmark_group("fast_lane_eppo");
    let mut buffer = vec![0u8; 4096];
    let flag = CString::new("numeric_flag").expect("no NUL");
    let subject = CString::new("alice").expect("no NUL");
    let attributes = CString::new(r#"{"country":"US","age":30}"#).expect("no NUL");
    for (name, attributes, wants_event) in [
        ("with_attributes_and_event", attributes.as_ptr(), true),
        ("without_attributes_and_event", std::ptr::null(), true),
        ("without_attributes_no_event", std::ptr::null(), false),
    ] {
        let probe = unsafe {
            allot::ffi::allot_eppo_assign(
                handle,
                flag.as_ptr(),
                subject.as_ptr(),
                attributes,
                2,
                wants_event,
                buffer.as_mut_ptr(),
                buffer.len(),
            )
        };
        assert!(probe > 0, "{name}: {probe}");
        assert_eq!(buffer[0] & 1, 1, "{name}: a variation is served");
        assert_eq!(buffer[0] & 2 != 0, wants_event, "{name}: event as asked");
        group.bench_function(name, |b| {
            b.iter(|| unsafe {
                allot::ffi::allot_eppo_assign(
                    handle,
                    black_box(flag.as_ptr()),
                    subject.as_ptr(),
                    attributes,
                    2,
                    wants_event,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                )
            })
        });
    }
    group.finish();
    allot::ffi::allot_free(handle);
}

criterion_group!(benches, amplitude, eppo);
criterion_main!(benches);
