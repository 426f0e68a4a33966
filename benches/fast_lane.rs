//! Native cost of the fast lane (`allot_evaluate_compact`, `allot_evaluate_compact_marshal`,
//! `allot_eppo_assign`, `allot_eppo_assign_marshal`): one call into a reused caller-owned
//! buffer, on the Amplitude dependency fixture (6 flags), the generated corpus and
//! `../shared/conformance/eppo/flags-v1.json` (one subject, and the corpus of the Python
//! benchmark: the STRING subjects of the shared Eppo suite, one call per iteration, in turn).

use std::ffi::CString;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

#[path = "../tests/common/marshal.rs"]
mod marshal;

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
    let packed = marshal::marshal_user(&fixture["cases"][0]["user"]);
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

fn eppo_client() -> u64 {
    let path = shared("conformance/eppo/flags-v1.json");
    started(&json!({
        "provider": "eppo",
        "api_key": "bench-key",
        "base_url": "http://127.0.0.1:9", // nothing listens: no fetch leaves the machine
        "configuration_path": path.to_str().expect("UTF-8 path"),
    }))
}

fn eppo(c: &mut Criterion) {
    let handle = eppo_client();
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

/// One subject of the corpus: flag key, subject key, attributes as JSON and as marshal.
struct Subject {
    flag: CString,
    key: CString,
    json: CString,
    marshal: Vec<u8>,
}

/// The STRING subjects of the shared Eppo suite (the Python benchmark's corpus).
fn eppo_corpus() -> Vec<Subject> {
    let dir = shared("conformance/eppo/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the Eppo suite")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut corpus = Vec::new();
    for file in files {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("a case")).expect("JSON");
        if case["variationType"] != "STRING" {
            continue;
        }
        for subject in case["subjects"].as_array().expect("subjects") {
            let attributes = &subject["subjectAttributes"];
            let mut packed = Vec::new();
            marshal::marshal(&mut packed, attributes);
            corpus.push(Subject {
                flag: CString::new(case["flag"].as_str().expect("flag")).expect("no NUL"),
                key: CString::new(subject["subjectKey"].as_str().expect("key")).expect("no NUL"),
                json: CString::new(attributes.to_string()).expect("no NUL"),
                marshal: packed,
            });
        }
    }
    corpus
}

/// How a corpus scenario passes the attributes.
#[derive(Clone, Copy)]
enum Attributes {
    Marshal,
    Json,
    None,
}

fn eppo_corpus_bench(c: &mut Criterion) {
    let handle = eppo_client();
    let corpus = eppo_corpus();
    assert_eq!(corpus.len(), 123, "the 123 STRING subjects of the suite");
    let mut group = c.benchmark_group("fast_lane_eppo_corpus");
    let mut buffer = vec![0u8; 4096];
    let mut call = |subject: &Subject, attributes: Attributes, wants_event: bool| unsafe {
        match attributes {
            Attributes::Marshal => allot::ffi::allot_eppo_assign_marshal(
                handle,
                subject.flag.as_ptr(),
                subject.key.as_ptr(),
                subject.marshal.as_ptr(),
                subject.marshal.len(),
                0,
                wants_event,
                buffer.as_mut_ptr(),
                buffer.len(),
            ),
            Attributes::Json | Attributes::None => allot::ffi::allot_eppo_assign(
                handle,
                subject.flag.as_ptr(),
                subject.key.as_ptr(),
                match attributes {
                    Attributes::Json => subject.json.as_ptr(),
                    _ => std::ptr::null(),
                },
                0,
                wants_event,
                buffer.as_mut_ptr(),
                buffer.len(),
            ),
        }
    };
    for (name, attributes, wants_event) in [
        ("marshal_attributes_and_event", Attributes::Marshal, true),
        ("json_attributes_and_event", Attributes::Json, true),
        ("without_attributes_and_event", Attributes::None, true),
        ("without_attributes_no_event", Attributes::None, false),
    ] {
        for subject in &corpus {
            assert!(call(subject, attributes, wants_event) > 0, "{name}");
        }
        let mut next = corpus.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| {
                call(
                    black_box(next.next().expect("endless")),
                    attributes,
                    wants_event,
                )
            })
        });
    }
    group.finish();
    allot::ffi::allot_free(handle);
}

criterion_group!(benches, amplitude, eppo, eppo_corpus_bench);
criterion_main!(benches);
