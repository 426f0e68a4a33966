//! Amplitude conformance through the C ABI: murmur3 vectors, the real dependency
//! fixture and the generated corpus, read from `../shared/conformance/amplitude`.

mod common;

use std::ffi::CString;

use common::*;
use serde_json::{json, Value};

#[test]
fn murmur3_vectors_match_through_the_c_abi() {
    let data = shared_json("conformance/amplitude/murmur3_vectors.json");
    let vectors = data["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2004);
    for v in vectors {
        let request =
            CString::new(json!({"input": v["input"], "seed": v["seed"]}).to_string()).unwrap();
        let answer = ok(take(unsafe { allot::ffi::allot_murmur3(request.as_ptr()) }));
        assert_eq!(answer["hash"], v["hash"], "murmur3 of {}", v["input"]);
    }
}

/// Initializes and starts a client on the flags of a conformance file.
fn client_for(flags: &Value) -> u64 {
    let handle =
        init_ok(&json!({"provider": "amplitude", "api_key": "server-key", "flags": flags}));
    ok(start(handle, 0));
    handle
}

/// Runs every case of a fixture; returns how many expected variants were compared.
fn run_cases(data: &Value) -> usize {
    let handle = client_for(&data["flags"]);
    let mut compared = 0;
    for (i, case) in data["cases"].as_array().unwrap().iter().enumerate() {
        let mut request = json!({"user": case["user"]});
        if let Some(keys) = case.get("flag_keys") {
            request["flag_keys"] = keys.clone();
        }
        let variants = ok(evaluate(handle, &request))["variants"].clone();
        let expected = case["expected"].as_object().unwrap();
        let actual = variants.as_object().unwrap();
        for (flag, want) in expected {
            assert_eq!(
                actual.get(flag),
                Some(want),
                "case {i}, flag {flag}, user {}",
                case["user"]
            );
            compared += 1;
        }
        let extra: Vec<&String> = actual
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        assert!(
            extra.is_empty(),
            "case {i}: unexpected variants for {extra:?}"
        );
    }
    allot::ffi::allot_free(handle);
    compared
}

#[test]
fn dependency_fixture_matches() {
    let data = shared_json("conformance/amplitude/dependencies_fixture.json");
    assert_eq!(data["cases"].as_array().unwrap().len(), 6);
    assert!(run_cases(&data) > 0);
}

#[test]
fn generated_corpus_matches_all_12542_expected_variants() {
    let data = shared_json("conformance/amplitude/generated_corpus.json");
    assert_eq!(run_cases(&data), 12_542);
}
