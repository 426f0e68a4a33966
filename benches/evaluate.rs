//! Amplitude evaluation benchmarks on the generated corpus (`make bench`):
//! through the C ABI with JSON in and out, and the configuration compile.

use std::ffi::{c_char, CStr, CString};
use std::hint::black_box;

use allot::ffi;
use allot::internals::amplitude::Snapshot;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

fn corpus() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/amplitude/generated_corpus.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the corpus"))
        .expect("parse the corpus")
}

/// Calls an export returning a string, and frees the string, as a C caller would.
fn call(answer: *mut c_char) -> usize {
    let len = unsafe { CStr::from_ptr(answer) }.to_bytes().len();
    unsafe { ffi::allot_string_free(answer) };
    len
}

fn benches(c: &mut Criterion) {
    let corpus = corpus();
    let flags = corpus["flags"].clone();
    let config =
        CString::new(json!({"provider": "amplitude", "api_key": "k", "flags": flags}).to_string())
            .unwrap();
    let handle = unsafe { ffi::allot_init(config.as_ptr(), std::ptr::null_mut()) };
    assert_ne!(handle, 0);
    call(ffi::allot_start(handle, 0));
    let user = corpus["cases"][0]["user"].clone();
    let one_flag =
        CString::new(json!({"user": user, "flag_keys": ["flag-1-49"]}).to_string()).unwrap();
    let all_flags = CString::new(json!({"user": user}).to_string()).unwrap();

    c.bench_function("c_abi/evaluate_one_flag", |b| {
        b.iter(|| call(unsafe { ffi::allot_evaluate(handle, black_box(one_flag.as_ptr())) }))
    });
    c.bench_function("c_abi/evaluate_all_60_flags", |b| {
        b.iter(|| call(unsafe { ffi::allot_evaluate(handle, black_box(all_flags.as_ptr())) }))
    });
    let raw: Vec<Value> = flags.as_array().unwrap().clone();
    c.bench_function("compile/60_flag_corpus", |b| {
        b.iter(|| Snapshot::compile(black_box(&raw)).expect("the corpus compiles"))
    });
    let flags_text = flags.to_string();
    c.bench_function("compile/60_flag_corpus_from_text", |b| {
        b.iter(|| Snapshot::from_json(black_box(&flags_text)).expect("the corpus compiles"))
    });
    ffi::allot_free(handle);
}

criterion_group!(amplitude, benches);
criterion_main!(amplitude);
