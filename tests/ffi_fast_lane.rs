//! The fast lane (`allot_evaluate_compact`, `allot_result_json`, `allot_eppo_assign`,
//! `allot_eppo_assign_marshal`, `allot_evaluate_compact_marshal`):
//! the caller-owned buffer contract, every error, and the conformance suites run through
//! it with answers identical to the JSON path, across threads and a fork.

mod common;

use std::ffi::{c_char, CString};
use std::thread;

use common::marshal::{marshal, marshal_user};
use common::*;
use serde_json::{json, Map, Value};

fn json_variants(handle: u64, user: &Value, keys: Option<&Value>) -> Value {
    let mut request = json!({ "user": user });
    if let Some(keys) = keys {
        request["flag_keys"] = keys.clone();
    }
    ok(evaluate(handle, &request))["variants"].clone()
}

fn amplitude_client(flags: &Value) -> u64 {
    let handle =
        init_ok(&json!({"provider": "amplitude", "api_key": "server-key", "flags": flags}));
    ok(start(handle, 0));
    handle
}

/// Runs a fixture's cases through both lanes; returns how many variants were compared.
fn both_lanes_agree(data: &Value) -> usize {
    let handle = amplitude_client(&data["flags"]);
    let mut compared = 0;
    for (i, case) in data["cases"].as_array().unwrap().iter().enumerate() {
        let keys = case.get("flag_keys");
        let fast = fast_variants(handle, &case["user"], keys);
        assert_eq!(fast, json_variants(handle, &case["user"], keys), "case {i}");
        // And both are the fixture's expectation.
        assert_eq!(&fast, &case["expected"], "case {i}");
        compared += fast.as_object().unwrap().len();
    }
    allot::ffi::allot_free(handle);
    compared
}

#[test]
fn amplitude_dependency_fixture_and_corpus_match_the_json_path() {
    let fixture = shared_json("conformance/amplitude/dependencies_fixture.json");
    assert!(both_lanes_agree(&fixture) > 0);
    let corpus = shared_json("conformance/amplitude/generated_corpus.json");
    assert_eq!(both_lanes_agree(&corpus), 12_542);
}

/// `allot_eppo_assign`, decoded into the shape of an `allot_evaluate` result (with the
/// caller's default filled in and the event rebuilt as a binding would).
fn fast_assign(handle: u64, request: &Value) -> Result<Value, Value> {
    let types = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"];
    let ty = request["variation_type"].as_str().unwrap();
    let index = types.iter().position(|t| *t == ty).unwrap() as u32;
    let flag = c(request["flag_key"].as_str().unwrap());
    let subject = c(request["subject_key"].as_str().unwrap());
    let attributes = request.get("subject_attributes").map(|a| c(&a.to_string()));
    let attributes_ptr = attributes.as_ref().map_or(std::ptr::null(), |a| a.as_ptr());
    let bytes = call(|out, capacity| unsafe {
        allot::ffi::allot_eppo_assign(
            handle,
            flag.as_ptr(),
            subject.as_ptr(),
            attributes_ptr,
            index,
            true,
            out,
            capacity,
        )
    })?;
    let mut at = 1;
    let mut field = || {
        let length = u32_at(&bytes, at) as usize;
        let text = std::str::from_utf8(&bytes[at + 4..at + 4 + length]).unwrap();
        at += 4 + length;
        text.to_owned()
    };
    let timestamp = (bytes[0] & 2 != 0).then(&mut field);
    let code = field();
    let mut answer = json!({
        "value": request["default"], "variation_key": null, "code": code,
        "allocation_key": null, "events": [],
    });
    if bytes[0] & 1 != 0 {
        let value = field();
        answer["value"] = match ty {
            "STRING" => Value::String(value),
            _ => serde_json::from_str(&value).unwrap(),
        };
        answer["variation_key"] = field().into();
        answer["allocation_key"] = field().into();
    }
    if let Some(timestamp) = timestamp {
        let version = unsafe { std::ffi::CStr::from_ptr(allot::ffi::allot_version()) }
            .to_str()
            .unwrap();
        let flag_key = request["flag_key"].as_str().unwrap();
        let allocation = answer["allocation_key"].as_str().unwrap().to_owned();
        let mut event = json!({
            "featureFlag": flag_key,
            "allocation": allocation,
            "experiment": format!("{flag_key}-{allocation}"),
            "variation": answer["variation_key"],
            "subject": request["subject_key"],
            "subjectAttributes": request.get("subject_attributes").cloned().unwrap_or(json!({})),
            "timestamp": timestamp,
            "metaData": {"sdkName": "allot", "sdkVersion": version, "coreVersion": version},
        });
        let extra = field();
        if !extra.is_empty() {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap();
            event.as_object_mut().unwrap().extend(extra);
        }
        answer["events"] = json!([event]);
    }
    assert_eq!(at, bytes.len(), "the whole answer was read");
    Ok(answer)
}

/// Drops the events' timestamps (two calls need not share a millisecond) after checking
/// they are RFC 3339.
fn without_timestamps(mut answer: Value) -> Value {
    for event in answer["events"].as_array_mut().unwrap() {
        let stamp = event.as_object_mut().unwrap().remove("timestamp").unwrap();
        assert!(
            allot::internals::eppo::parse_rfc3339(stamp.as_str().unwrap()).is_some(),
            "{stamp}"
        );
    }
    answer
}

fn eppo_client(config_file: &str) -> u64 {
    let path = shared_path(&format!("conformance/eppo/{config_file}"));
    let handle = init_ok(&json!({
        "provider": "eppo",
        "api_key": "test-key",
        "base_url": "http://127.0.0.1:9",
        "configuration_path": path.to_str().unwrap(),
    }));
    ok(start(handle, 0));
    handle
}

/// Every subject of the Eppo suite as `allot_evaluate` requests (at the system clock).
fn eppo_requests() -> Vec<Value> {
    let dir = shared_path("conformance/eppo/tests");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    let mut requests = Vec::new();
    for name in names {
        let case = shared_json(&format!("conformance/eppo/tests/{name}"));
        for subject in case["subjects"].as_array().unwrap() {
            requests.push(json!({
                "flag_key": case["flag"],
                "variation_type": case["variationType"],
                "default": case["defaultValue"],
                "subject_key": subject["subjectKey"],
                "subject_attributes": subject["subjectAttributes"],
            }));
        }
    }
    requests
}

fn eppo_suite_matches(config_file: &str) {
    let handle = eppo_client(config_file);
    let requests = eppo_requests();
    assert_eq!(requests.len(), 225);
    let mut events = 0;
    for request in &requests {
        let fast = without_timestamps(fast_assign(handle, request).unwrap());
        let slow = without_timestamps(ok(evaluate(handle, request)));
        assert_eq!(fast, slow, "{config_file}: {request}");
        events += fast["events"].as_array().unwrap().len();
    }
    assert!(events > 0, "the suite produces events");
    allot::ffi::allot_free(handle);
}

#[test]
fn eppo_suite_plain_matches_the_json_path() {
    eppo_suite_matches("flags-v1.json");
}

#[test]
fn eppo_suite_obfuscated_matches_the_json_path() {
    eppo_suite_matches("flags-v1-obfuscated.json");
}

#[test]
fn eppo_events_without_attributes_and_with_extra_logging_match() {
    let ufc = json!({
        "format": "SERVER", "createdAt": "2024-04-17T19:40:53.716Z",
        "environment": {"name": "Test"},
        "flags": {"banner": {
            "key": "banner", "enabled": true, "variationType": "STRING", "totalShards": 10000,
            "variations": {"blue": {"key": "blue", "value": "bl\"ue"}},
            "allocations": [{"key": "all", "doLog": true, "rules": [], "splits": [
                {"variationKey": "blue", "shards": [],
                 "extraLogging": {"owner": "growth", "holdout": "h-1"}}]}]
        }}
    });
    let handle = init_ok(&json!({"provider": "eppo", "api_key": "k",
        "base_url": "http://127.0.0.1:9", "initial_configuration": ufc}));
    ok(start(handle, 0));
    let request = json!({"flag_key": "banner", "variation_type": "STRING", "default": "d",
        "subject_key": "s"});
    let fast = without_timestamps(fast_assign(handle, &request).unwrap());
    assert_eq!(fast["value"], "bl\"ue");
    assert_eq!(fast["events"][0]["owner"], "growth");
    assert_eq!(fast, without_timestamps(ok(evaluate(handle, &request))));
    allot::ffi::allot_free(handle);
}

#[test]
fn a_small_buffer_gets_the_needed_length_and_is_left_untouched() {
    let handle =
        amplitude_client(&shared_json("conformance/amplitude/dependencies_fixture.json")["flags"]);
    let user = c(r#"{"user_id": "u1"}"#);
    // SAFETY: a valid C string; `out` is NULL with capacity 0 or a buffer of `capacity`.
    let compact_into = |out: *mut u8, capacity: usize| unsafe {
        allot::ffi::allot_evaluate_compact(handle, user.as_ptr(), std::ptr::null(), out, capacity)
    };
    let needed = compact_into(std::ptr::null_mut(), 0);
    assert!(needed >= 12);
    let mut small = vec![0xAAu8; needed as usize - 1];
    assert_eq!(compact_into(small.as_mut_ptr(), small.len()), needed);
    assert!(small.iter().all(|&b| b == 0xAA), "nothing written");
    let mut exact = vec![0u8; needed as usize];
    assert_eq!(compact_into(exact.as_mut_ptr(), exact.len()), needed);
    assert_ne!(u64::from_le_bytes(exact[..8].try_into().unwrap()), 0);
    allot::ffi::allot_free(handle);
}

#[test]
fn an_answer_too_long_for_the_buffer_does_not_use_up_its_event() {
    // `call` starts with a 16-byte buffer: an answer with an event is asked twice, and the
    // deduplication cache must not count the first, unanswered call as logged.
    let path = shared_path("conformance/eppo/flags-v1.json");
    let handle = init_ok(&json!({
        "provider": "eppo",
        "api_key": "test-key",
        "base_url": "http://127.0.0.1:9",
        "configuration_path": path.to_str().unwrap(),
        "assignment_cache": {"capacity": 100},
    }));
    ok(start(handle, 0));
    let plain = eppo_client("flags-v1.json");
    let request = eppo_requests()
        .into_iter()
        .find(|request| ok(evaluate(plain, request))["events"] != json!([]))
        .expect("a suite request logs an event");
    allot::ffi::allot_free(plain);
    let events = |request: &Value| fast_assign(handle, request).unwrap()["events"].clone();
    assert_eq!(
        events(&request).as_array().unwrap().len(),
        1,
        "the first assignment logs"
    );
    assert_eq!(
        events(&request),
        json!([]),
        "a repeated assignment does not"
    );
    allot::ffi::allot_free(handle);
}

fn eppo_assign_raw(
    handle: u64,
    flag: *const c_char,
    subject: *const c_char,
    attributes: *const c_char,
    ty: u32,
) -> Result<Vec<u8>, Value> {
    call(|out, capacity| unsafe {
        allot::ffi::allot_eppo_assign(handle, flag, subject, attributes, ty, true, out, capacity)
    })
}

#[test]
fn every_bad_input_is_an_error_with_its_stable_code() {
    let amplitude = amplitude_client(&json!([]));
    let eppo = eppo_client("flags-v1.json");
    let user = c(r#"{"user_id": "u"}"#);
    let null = std::ptr::null();
    let compact_raw = |handle: u64, user: *const c_char, keys: *const c_char| {
        call(|out, capacity| unsafe {
            allot::ffi::allot_evaluate_compact(handle, user, keys, out, capacity)
        })
    };
    let code = |result: Result<Vec<u8>, Value>| error_code(&result.unwrap_err());

    assert_eq!(code(compact_raw(amplitude, null, null)), "invalid_argument");
    assert_eq!(
        code(compact_raw(amplitude, c("[1]").as_ptr(), null)),
        "invalid_argument"
    );
    assert_eq!(
        code(compact_raw(amplitude, c(r#"{"nope": 1}"#).as_ptr(), null)),
        "invalid_argument"
    );
    assert_eq!(
        code(compact_raw(amplitude, c("{").as_ptr(), null)),
        "invalid_json"
    );
    assert_eq!(
        code(compact_raw(
            amplitude,
            user.as_ptr(),
            c(r#"{"user": {}}"#).as_ptr()
        )),
        "invalid_argument"
    );
    let bad_utf8 = CString::new(vec![b'"', 0xff, b'"']).unwrap();
    assert_eq!(
        code(compact_raw(amplitude, bad_utf8.as_ptr(), null)),
        "invalid_utf8"
    );
    let huge = c(&format!("{{\"user_id\": \"{}\"}}", "x".repeat(2 << 20)));
    assert_eq!(
        code(compact_raw(amplitude, huge.as_ptr(), null)),
        "input_too_large"
    );
    assert_eq!(code(compact_raw(eppo, user.as_ptr(), null)), "unsupported");
    assert_eq!(code(compact_raw(0, user.as_ptr(), null)), "unknown_handle");
    // A NULL buffer with a capacity is a caller bug, reported (its length comes back).
    let n = unsafe {
        allot::ffi::allot_evaluate_compact(amplitude, user.as_ptr(), null, std::ptr::null_mut(), 64)
    };
    assert!(n < 0);

    let (snapshot, _) = compact(amplitude, &json!({"user_id": "u"}), None).unwrap();
    assert_eq!(
        error_code(&result_json(amplitude, snapshot, 0).unwrap_err()),
        "invalid_argument"
    );
    assert_eq!(
        error_code(&result_json(eppo, 1, 0).unwrap_err()),
        "unsupported"
    );
    assert_eq!(
        error_code(&result_json(0, 1, 0).unwrap_err()),
        "unknown_handle"
    );

    let flag = c("numeric_flag");
    let subject = c("alice");
    assert!(eppo_assign_raw(eppo, flag.as_ptr(), subject.as_ptr(), null, 2).is_ok());
    assert_eq!(
        code(eppo_assign_raw(eppo, null, subject.as_ptr(), null, 2)),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_raw(eppo, flag.as_ptr(), null, null, 2)),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_raw(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            null,
            5
        )),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_raw(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            c("[]").as_ptr(),
            2
        )),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_raw(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            c("{").as_ptr(),
            2
        )),
        "invalid_json"
    );
    assert_eq!(
        code(eppo_assign_raw(
            eppo,
            bad_utf8.as_ptr(),
            subject.as_ptr(),
            null,
            2
        )),
        "invalid_utf8"
    );
    assert_eq!(
        code(eppo_assign_raw(eppo, flag.as_ptr(), huge.as_ptr(), null, 2)),
        "input_too_large"
    );
    assert_eq!(
        code(eppo_assign_raw(
            amplitude,
            flag.as_ptr(),
            subject.as_ptr(),
            null,
            2
        )),
        "unsupported"
    );

    // Stale handles are errors, never a use-after-free.
    allot::ffi::allot_free(amplitude);
    allot::ffi::allot_free(eppo);
    assert_eq!(
        code(compact_raw(amplitude, user.as_ptr(), null)),
        "unknown_handle"
    );
    assert_eq!(
        error_code(&result_json(amplitude, snapshot, 0).unwrap_err()),
        "unknown_handle"
    );
    assert_eq!(
        code(eppo_assign_raw(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            null,
            2
        )),
        "unknown_handle"
    );
}

#[test]
fn not_started_clients_are_refused() {
    let amplitude =
        init_ok(&json!({"provider": "amplitude", "api_key": "server-key", "flags": []}));
    let eppo = init_ok(
        &json!({"provider": "eppo", "api_key": "k", "base_url": "http://127.0.0.1:9",
        "initial_configuration": {"format": "SERVER", "flags": {}}}),
    );
    assert_eq!(
        error_code(&compact(amplitude, &json!({}), None).unwrap_err()),
        "not_started"
    );
    let (flag, subject) = (c("f"), c("s"));
    let refused = eppo_assign_raw(eppo, flag.as_ptr(), subject.as_ptr(), std::ptr::null(), 0);
    assert_eq!(error_code(&refused.unwrap_err()), "not_started");
    allot::ffi::allot_free(amplitude);
    allot::ffi::allot_free(eppo);
}

#[test]
fn snapshot_ids_are_unique_and_a_foreign_id_is_not_current() {
    let flags = shared_json("conformance/amplitude/dependencies_fixture.json")["flags"].clone();
    let first = amplitude_client(&flags);
    let second = amplitude_client(&flags);
    let user = json!({"user_id": "u1", "device_id": "d1"});
    let (a, ids) = compact(first, &user, None).unwrap();
    let (b, _) = compact(second, &user, None).unwrap();
    assert!(a != 0 && b != 0 && a != b, "{a} {b}");
    assert!(!ids.is_empty());
    assert!(result_json(first, a, ids[0]).unwrap().is_some());
    // The other client's snapshot is not this client's current one: evaluate again.
    assert_eq!(result_json(first, b, ids[0]).unwrap(), None);
    // The same snapshot gives the same ids for the same user.
    assert_eq!(compact(first, &user, None).unwrap(), (a, ids));
    allot::ffi::allot_free(first);
    allot::ffi::allot_free(second);
}

#[test]
fn eight_threads_and_a_forked_child_get_the_single_threaded_answers() {
    let corpus = shared_json("conformance/amplitude/generated_corpus.json");
    let amplitude = amplitude_client(&corpus["flags"]);
    let eppo = eppo_client("flags-v1.json");
    let cases: Vec<Value> = corpus["cases"].as_array().unwrap()[..40].to_vec();
    let requests: Vec<Value> = eppo_requests().into_iter().step_by(5).collect();
    let expected_amplitude: Vec<Value> = cases
        .iter()
        .map(|c| fast_variants(amplitude, &c["user"], None))
        .collect();
    let expected_eppo: Vec<Value> = requests
        .iter()
        .map(|r| without_timestamps(fast_assign(eppo, r).unwrap()))
        .collect();
    let packed: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| {
            let mut packed = Vec::new();
            marshal(&mut packed, &r["subject_attributes"]);
            packed
        })
        .collect();
    let expected_marshal: Vec<Vec<u8>> = requests
        .iter()
        .zip(&packed)
        .map(|(r, p)| untimed(eppo_assign_marshal(eppo, r, Some(p)).unwrap()))
        .collect();
    // The marshalled users' answers are the JSON users' (bytes: snapshot and result ids).
    let users: Vec<(Vec<u8>, Vec<u8>)> = cases
        .iter()
        .map(|c| {
            let answer = compact_json(amplitude, &c["user"], None).unwrap();
            (marshal_user(&c["user"]), answer)
        })
        .collect();
    let check = || -> Result<(), String> {
        for (user, want) in &users {
            if &compact_marshal(amplitude, Some(user), None).unwrap() != want {
                return Err(format!("amplitude (marshalled user) differs for {user:?}"));
            }
        }
        for ((request, p), want) in requests.iter().zip(&packed).zip(&expected_marshal) {
            if &untimed(eppo_assign_marshal(eppo, request, Some(p)).unwrap()) != want {
                return Err(format!(
                    "eppo (marshalled attributes) differs for {request}"
                ));
            }
        }
        for (case, want) in cases.iter().zip(&expected_amplitude) {
            if &fast_variants(amplitude, &case["user"], None) != want {
                return Err(format!("amplitude differs for {}", case["user"]));
            }
        }
        for (request, want) in requests.iter().zip(&expected_eppo) {
            if &without_timestamps(fast_assign(eppo, request).unwrap()) != want {
                return Err(format!("eppo differs for {request}"));
            }
        }
        Ok(())
    };
    thread::scope(|scope| {
        let workers: Vec<_> = (0..8).map(|_| scope.spawn(check)).collect();
        for worker in workers {
            worker.join().unwrap().unwrap();
        }
    });
    // SAFETY: the child only calls the library and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match check() {
            Ok(()) => 0,
            Err(message) => {
                eprintln!("child: {message}");
                1
            }
        };
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    wait_for_child(pid);
    allot::ffi::allot_free(amplitude);
    allot::ffi::allot_free(eppo);
}

fn eppo_assign_marshal(
    handle: u64,
    request: &Value,
    attributes: Option<&[u8]>,
) -> Result<Vec<u8>, Value> {
    let types = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"];
    let ty = request["variation_type"].as_str().unwrap();
    let index = types.iter().position(|t| *t == ty).unwrap() as u32;
    let flag = c(request["flag_key"].as_str().unwrap());
    let subject = c(request["subject_key"].as_str().unwrap());
    let (ptr, len) = attributes.map_or((std::ptr::null(), 0), |a| (a.as_ptr(), a.len()));
    call(|out, capacity| unsafe {
        allot::ffi::allot_eppo_assign_marshal(
            handle,
            flag.as_ptr(),
            subject.as_ptr(),
            ptr,
            len,
            index,
            true,
            out,
            capacity,
        )
    })
}

/// An answer without its timestamp (bit 1 of byte 0 puts it first).
fn untimed(answer: Vec<u8>) -> Vec<u8> {
    if answer[0] & 2 == 0 {
        return answer;
    }
    let length = u32::from_le_bytes(answer[1..5].try_into().unwrap()) as usize;
    [&answer[..1], &answer[5 + length..]].concat()
}

#[test]
fn eppo_suite_through_marshalled_attributes_matches_json_attributes() {
    for config_file in ["flags-v1.json", "flags-v1-obfuscated.json"] {
        let handle = eppo_client(config_file);
        for request in eppo_requests() {
            let attributes = &request["subject_attributes"];
            let mut packed = Vec::new();
            marshal(&mut packed, attributes);
            let binary = eppo_assign_marshal(handle, &request, Some(&packed)).unwrap();
            let text = c(&attributes.to_string());
            let json = call(|out, capacity| unsafe {
                let flag = c(request["flag_key"].as_str().unwrap());
                let subject = c(request["subject_key"].as_str().unwrap());
                let types = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"];
                let ty = request["variation_type"].as_str().unwrap();
                let index = types.iter().position(|t| *t == ty).unwrap() as u32;
                allot::ffi::allot_eppo_assign(
                    handle,
                    flag.as_ptr(),
                    subject.as_ptr(),
                    text.as_ptr(),
                    index,
                    true,
                    out,
                    capacity,
                )
            })
            .unwrap();
            assert_eq!(untimed(binary), untimed(json), "{config_file}: {request}");
        }
        allot::ffi::allot_free(handle);
    }
}

#[test]
fn marshalled_attributes_are_checked() {
    let eppo = eppo_client("flags-v1.json");
    let request =
        json!({"flag_key": "numeric_flag", "subject_key": "alice", "variation_type": "NUMERIC"});
    let code = |result: Result<Vec<u8>, Value>| error_code(&result.unwrap_err());
    // No attributes (NULL) is fine; a list, a set, a truncated dict and a NULL with a
    // length are not.
    assert!(eppo_assign_marshal(eppo, &request, None).is_ok());
    let mut list = Vec::new();
    marshal(&mut list, &json!([1]));
    assert_eq!(
        code(eppo_assign_marshal(eppo, &request, Some(&list))),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_marshal(
            eppo,
            &request,
            Some(b"<\x00\x00\x00\x00")
        )),
        "invalid_argument"
    );
    assert_eq!(
        code(eppo_assign_marshal(
            eppo,
            &request,
            Some(b"{u\x01\x00\x00\x00a")
        )),
        "invalid_argument"
    );
    // A length past the cap is refused before anything is read.
    let (flag, subject) = (c("numeric_flag"), c("alice"));
    let too_long = call(|out, capacity| unsafe {
        allot::ffi::allot_eppo_assign_marshal(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            list.as_ptr(),
            allot::ffi::MAX_REQUEST_BYTES + 1,
            2,
            true,
            out,
            capacity,
        )
    });
    assert_eq!(code(too_long), "input_too_large");
    let null_with_length = call(|out, capacity| unsafe {
        allot::ffi::allot_eppo_assign_marshal(
            eppo,
            flag.as_ptr(),
            subject.as_ptr(),
            std::ptr::null(),
            3,
            2,
            true,
            out,
            capacity,
        )
    });
    assert!(
        null_with_length.is_ok(),
        "NULL is no attributes, whatever the length"
    );
    allot::ffi::allot_free(eppo);
}

/// `allot_evaluate_compact_marshal`: the raw answer, or the error document.
fn compact_marshal(
    handle: u64,
    user: Option<&[u8]>,
    keys: Option<&Value>,
) -> Result<Vec<u8>, Value> {
    let keys = keys.map(|k| c(&k.to_string()));
    let keys_ptr = keys.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
    let (ptr, len) = user.map_or((std::ptr::null(), 0), |u| (u.as_ptr(), u.len()));
    call(|out, capacity| unsafe {
        allot::ffi::allot_evaluate_compact_marshal(handle, ptr, len, keys_ptr, out, capacity)
    })
}

/// `allot_evaluate_compact` with a JSON user: the raw answer, or the error document.
fn compact_json(handle: u64, user: &Value, keys: Option<&Value>) -> Result<Vec<u8>, Value> {
    let text = c(&user.to_string());
    let keys = keys.map(|k| c(&k.to_string()));
    let keys_ptr = keys.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
    call(|out, capacity| unsafe {
        allot::ffi::allot_evaluate_compact(handle, text.as_ptr(), keys_ptr, out, capacity)
    })
}

#[test]
fn marshalled_users_get_exactly_the_json_users_answers() {
    let mut compared = 0;
    for name in ["dependencies_fixture.json", "generated_corpus.json"] {
        let data = shared_json(&format!("conformance/amplitude/{name}"));
        let handle = amplitude_client(&data["flags"]);
        for (i, case) in data["cases"].as_array().unwrap().iter().enumerate() {
            let keys = case.get("flag_keys");
            let packed = marshal_user(&case["user"]);
            let binary = compact_marshal(handle, Some(&packed), keys).unwrap();
            assert_eq!(
                binary,
                compact_json(handle, &case["user"], keys).unwrap(),
                "{name} case {i}"
            );
            compared += u32_at(&binary, 8);
        }
        allot::ffi::allot_free(handle);
    }
    assert!(compared >= 12_542 + 6, "{compared} results compared");
}

#[test]
fn marshalled_users_are_checked_with_stable_codes() {
    let amplitude = amplitude_client(&json!([]));
    let eppo = eppo_client("flags-v1.json");
    let user = marshal_user(&json!({"user_id": "u", "user_properties": {"n": [1, 2.5, null]}}));
    assert!(compact_marshal(amplitude, Some(&user), None).is_ok());
    let code = |result: Result<Vec<u8>, Value>| error_code(&result.unwrap_err());
    // The wrong number of fields, a dict, a type the field does not take, a type JSON does
    // not have, trailing bytes, a truncated tuple: invalid_argument.
    let mut short = Vec::new();
    marshal(&mut short, &json!(["d", "u"]));
    short[0] = b'(';
    let mut long = user.clone();
    long[1] = 22;
    long.push(b'N');
    let mut dict = Vec::new();
    marshal(&mut dict, &json!({"user_id": "u"}));
    let cohorts_of_ints = marshal_user(&json!({"cohort_ids": [1]}));
    let properties_list = marshal_user(&json!({"user_properties": [1]}));
    let mut a_set = marshal_user(&json!({"user_id": "u"}));
    let at = a_set.len() - 1; // the last field (cohort_ids), None
    a_set.splice(at..at + 1, *b"<\x00\x00\x00\x00");
    let trailing = [user.clone(), b"N".to_vec()].concat();
    let truncated = &user[..user.len() - 1];
    for bad in [
        &short[..],
        &long,
        &dict,
        &cohorts_of_ints,
        &properties_list,
        &a_set,
        &trailing,
        truncated,
        b"",
    ] {
        assert_eq!(
            code(compact_marshal(amplitude, Some(bad), None)),
            "invalid_argument",
            "{bad:?}"
        );
    }
    assert_eq!(
        code(compact_marshal(amplitude, None, None)),
        "invalid_argument"
    );
    assert_eq!(
        code(compact_marshal(
            amplitude,
            Some(&user),
            Some(&json!({"flag_keys": "all"}))
        )),
        "invalid_argument"
    );
    let huge = marshal_user(&json!({"user_id": "x".repeat(2 << 20)}));
    assert_eq!(
        code(compact_marshal(amplitude, Some(&huge), None)),
        "input_too_large"
    );
    assert_eq!(
        code(compact_marshal(eppo, Some(&user), None)),
        "unsupported"
    );
    assert_eq!(
        code(compact_marshal(0, Some(&user), None)),
        "unknown_handle"
    );
    let not_started =
        init_ok(&json!({"provider": "amplitude", "api_key": "server-key", "flags": []}));
    assert_eq!(
        code(compact_marshal(not_started, Some(&user), None)),
        "not_started"
    );
    // A stale handle is refused like an unknown one.
    allot::ffi::allot_free(amplitude);
    assert_eq!(
        code(compact_marshal(amplitude, Some(&user), None)),
        "unknown_handle"
    );
    allot::ffi::allot_free(eppo);
    allot::ffi::allot_free(not_started);
}
