//! Bounded cost for every input (issue 12): requests and configurations of the sizes an
//! attacker would send either finish well under a second or are refused with a coded
//! error, and none of them makes the process allocate without bound. Each test runs
//! through the C ABI and asserts a generous time bound (2 s, for a shared machine) and,
//! where a request could amplify, a bound on the peak memory it adds.

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{error_code, evaluate, evaluate_raw, init, init_ok, init_raw, ok, start, status};

/// The time any one bounded operation may take.
const TIME_BOUND: Duration = Duration::from_secs(2);

/// Peak-memory measurements are process-wide: every test of this file runs alone.
static ALONE: Mutex<()> = Mutex::new(());

/// Holds the file's tests apart (see [`ALONE`]) for as long as the guard lives.
fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's peak resident set (VmHWM) in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024)
}

/// Runs `body`, asserting that it takes less than [`TIME_BOUND`] and (on Linux) raises
/// the process's peak resident set by less than `memory_mib`. Returns its result.
fn bounded<T>(what: &str, memory_mib: u64, body: impl FnOnce() -> T) -> T {
    // Resetting the peak (Linux >= 4.0) measures this body alone; elsewhere the check is
    // weaker (a peak reached earlier hides part of this one) but still sound.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_mib();
    let started = Instant::now();
    let result = body();
    let elapsed = started.elapsed();
    let grown = peak_rss_mib().saturating_sub(before);
    println!("{what}: {elapsed:?}, peak RSS +{grown} MiB");
    assert!(elapsed < TIME_BOUND, "{what} took {elapsed:?}");
    assert!(
        grown < memory_mib,
        "{what} raised the peak RSS by {grown} MiB"
    );
    result
}

/// `allot_init` that must succeed, bounded as by [`bounded`] (the configuration is
/// serialized beforehand).
fn init_bounded(what: &str, memory_mib: u64, config: &Value) -> u64 {
    let text = config.to_string();
    bounded(what, memory_mib, || init_raw(&text))
        .unwrap_or_else(|e| panic!("allot_init failed: {e}"))
}

fn amplitude(flags: Value) -> u64 {
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": "k", "flags": flags}));
    ok(start(handle, 0));
    handle
}

fn eppo_config(flags: Value) -> Value {
    json!({"provider": "eppo", "api_key": "k", "initial_configuration": {"flags": flags}})
}

fn eppo(flags: Value) -> u64 {
    let handle = init_ok(&eppo_config(flags));
    ok(start(handle, 0));
    handle
}

/// The answer of a STRING assignment of `flag` (default `"d"`) for `subject`.
fn eppo_string(handle: u64, flag: &str, subject: &str) -> Value {
    ok(evaluate(
        handle,
        &json!({"flag_key": flag, "subject_key": subject, "variation_type": "STRING", "default": "d"}),
    ))
}

/// An Amplitude flag `key` serving `on` when one condition holds.
fn amplitude_flag(key: &str, selector: &[&str], op: &str, values: Value) -> Value {
    json!({
        "key": key,
        "variants": {"on": {"key": "on", "value": "on"}},
        "segments": [{"conditions": [[{"selector": selector, "op": op, "values": values}]], "variant": "on"}]
    })
}

/// An Eppo STRING flag serving `on` when one condition holds.
fn eppo_flag(attribute: &str, operator: &str, value: Value) -> Value {
    json!({
        "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 10000,
        "variations": {"on": {"key": "on", "value": "on"}},
        "allocations": [{
            "key": "a",
            "rules": [{"conditions": [{"attribute": attribute, "operator": operator, "value": value}]}],
            "splits": [{"variationKey": "on", "shards": []}]
        }]
    })
}

fn variant_of(answer: &Value, flag: &str) -> Option<String> {
    ok(answer.clone())["variants"][flag]["key"]
        .as_str()
        .map(str::to_owned)
}

// 1. Output amplification.

#[test]
fn an_eppo_batch_cannot_multiply_its_default_beyond_the_output_cap() {
    let _alone = alone();
    let handle = eppo(json!({}));
    // 500 KB default, 170,000 empty items: ~80 GB of output if each copied it.
    let default = "x".repeat(500_000);
    let items = vec!["{}"; 170_000].join(",");
    let request = format!(
        r#"{{"flag_key":"missing","subject_key":"s","variation_type":"STRING","default":"{default}","assignments":[{items}]}}"#
    );
    assert!(request.len() < 1 << 20, "{} bytes", request.len());
    let answer = bounded("eppo batch of 170,000 x 500 KB defaults", 512, || {
        evaluate_raw(handle, &request)
    });
    assert_eq!(error_code(&answer), "input_too_large", "{answer:.200}");
    // Small batches still answer.
    let small = evaluate(
        handle,
        &json!({"flag_key": "missing", "subject_key": "s", "variation_type": "STRING",
                "default": "d", "assignments": [{}, {"default": "e"}]}),
    );
    let small = ok(small);
    assert_eq!(small["assignments"][0]["value"], "d");
    assert_eq!(small["assignments"][1]["value"], "e");
}

#[test]
fn eppo_events_cannot_multiply_shared_subject_attributes_beyond_the_output_cap() {
    let _alone = alone();
    let handle = eppo(json!({"f": eppo_flag("id", "MATCHES", json!("."))}));
    let attributes: serde_json::Map<String, Value> = (0..12_000)
        .map(|i| (format!("attribute{i:05}"), json!("v".repeat(30))))
        .collect();
    let items = vec![json!({}); 60_000];
    let request = json!({"flag_key": "f", "subject_key": "s", "variation_type": "STRING",
        "default": "d", "subject_attributes": attributes, "assignments": items})
    .to_string();
    assert!(request.len() < 1 << 20, "{} bytes", request.len());
    let answer = bounded("eppo batch repeating 600 KB of attributes", 512, || {
        evaluate_raw(handle, &request)
    });
    assert_eq!(error_code(&answer), "input_too_large", "{answer:.200}");
}

#[test]
fn an_obfuscated_batch_hashes_shared_attribute_names_once() {
    let _alone = alone();
    use md5::{Digest, Md5};
    let hex = |text: &str| {
        Md5::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // base64 of "on", "a" and "x".
    let flag = json!({
        "key": hex("f"), "enabled": true, "variationType": "STRING", "totalShards": 10000,
        "variations": {"b24=": {"key": "b24=", "value": "b24="}},
        "allocations": [{"key": "YQ==", "doLog": false,
            "rules": [{"conditions": [{"attribute": hex("plan"), "operator": hex("ONE_OF"), "value": [hex("x")]}]}],
            "splits": [{"variationKey": "b24=", "shards": []}]}]
    });
    let mut flags = serde_json::Map::new();
    flags.insert(hex("f"), flag);
    let handle = init_ok(&json!({"provider": "eppo", "api_key": "k",
        "initial_configuration": {"format": "CLIENT", "flags": flags}}));
    ok(start(handle, 0));
    // 25,000 attribute names shared by 100,000 items: 2.5 x 10^9 digests if each item
    // hashed them again.
    let attributes: serde_json::Map<String, Value> = (0..25_000)
        .map(|i| (format!("a{i:05}"), json!(1)))
        .collect();
    let mut attributes = attributes;
    attributes.insert("plan".into(), json!("x"));
    let request = json!({"flag_key": "f", "subject_key": "s", "variation_type": "STRING",
        "default": "d", "subject_attributes": attributes, "assignments": vec![json!({}); 100_000]})
    .to_string();
    assert!(request.len() < 1 << 20, "{} bytes", request.len());
    let answer = bounded(
        "obfuscated batch of 100,000 items sharing 25,000 attributes",
        512,
        || evaluate_raw(handle, &request),
    );
    let answer = ok(answer);
    assert_eq!(answer["assignments"][99_999]["value"], "on");
}

#[test]
fn exposure_events_cannot_multiply_a_long_user_id() {
    let _alone = alone();
    let flags: Vec<Value> = (0..1_000)
        .map(|i| json!({"key": format!("f{i}"), "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]}))
        .collect();
    let dead = "http://127.0.0.1:9";
    let handle = init_ok(&json!({
        "provider": "amplitude", "api_key": "k", "flags": flags,
        "exposure_config": {"api_key": "k", "server_url": dead, "send_evaluated_props": true}
    }));
    ok(start(handle, 0));
    // 1,000 exposure events, each repeating a 900 KB user_id: ~4 GB if built.
    let request =
        json!({"user": {"user_id": "u".repeat(900_000)}, "tracks_exposure": true}).to_string();
    let answer = bounded("1,000 exposures of a 900 KB user_id", 512, || {
        evaluate_raw(handle, &request)
    });
    assert_eq!(error_code(&answer), "input_too_large", "{answer:.300}");
    // Without tracking the same user evaluates.
    let untracked = json!({"user": {"user_id": "u".repeat(900_000)}}).to_string();
    assert_eq!(
        ok(evaluate_raw(handle, &untracked))["variants"]["f0"]["key"],
        "on"
    );
}

// 2. Set operators on a large list property.

#[test]
fn set_operators_are_not_quadratic_in_the_users_list() {
    let _alone = alone();
    let ops = [
        "set is",
        "set is not",
        "set contains",
        "set does not contain",
        "set contains any",
        "set does not contain any",
    ];
    let flags: Vec<Value> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            amplitude_flag(
                &format!("f{i}"),
                &["context", "user", "user_properties", "list"],
                op,
                json!(["item-000001", "absent", "TRUE"]),
            )
        })
        .collect();
    let handle = amplitude(Value::Array(flags));
    // 140,000 distinct items in under 1 MiB.
    let mut list: Vec<Value> = (0..140_000).map(|i| json!(i)).collect();
    list[1] = json!("item-000001");
    list[2] = json!("true");
    let request = json!({"user": {"user_properties": {"list": list}}});
    assert!(request.to_string().len() < 1 << 20);
    let answer = bounded("6 set operators on a 140,000-item list", 256, || {
        evaluate(handle, &request)
    });
    let on = |i: usize| variant_of(&answer, &format!("f{i}")).is_some();
    // set is: no; set is not: yes; set contains (all three): no ("absent" is missing);
    // does not contain: yes; contains any: yes (booleans compare case-insensitively);
    // does not contain any: no.
    let expected = [false, true, false, true, true, false];
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(on(i), expected[i], "{op}");
    }
}

// 3. Compiling large value lists.

#[test]
fn a_condition_with_100k_values_compiles_fast_for_both_providers() {
    let _alone = alone();
    let values: Vec<String> = (0..100_000).map(|i| format!("user-{i:07}")).collect();
    let flag = amplitude_flag("big", &["context", "user", "user_id"], "is", json!(values));
    let config = json!({"provider": "amplitude", "api_key": "k", "flags": [flag]});
    let handle = init_bounded(
        "amplitude init with a 100k-value is condition",
        1024,
        &config,
    );
    ok(start(handle, 0));
    let hit = evaluate(handle, &json!({"user": {"user_id": "user-0099999"}}));
    assert_eq!(variant_of(&hit, "big").as_deref(), Some("on"));
    let miss = evaluate(handle, &json!({"user": {"user_id": "user-1"}}));
    assert_eq!(variant_of(&miss, "big"), None);

    let config = eppo_config(json!({"f": eppo_flag("id", "ONE_OF", json!(values))}));
    let handle = init_bounded(
        "eppo init with a 100k-value ONE_OF condition",
        1024,
        &config,
    );
    ok(start(handle, 0));
    let hit = eppo_string(handle, "f", "user-0099999");
    assert_eq!(hit["value"], "on");
}

#[test]
fn an_eppo_flag_with_20k_variations_and_salts_compiles_fast() {
    let _alone = alone();
    let variations: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| {
            (
                format!("v{i}"),
                json!({"key": format!("v{i}"), "value": format!("v{i}")}),
            )
        })
        .collect();
    let allocations: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({"key": format!("a{i}"), "splits": [{"variationKey": format!("v{i}"),
            "shards": [{"salt": format!("s{i}"), "ranges": [{"start": 0, "end": 0}]}]}]})
        })
        .collect();
    let flag = json!({"key": "f", "enabled": true, "variationType": "STRING", "totalShards": 10000,
        "variations": variations, "allocations": allocations});
    let config = eppo_config(json!({"f": flag}));
    let handle = init_bounded(
        "eppo init with 20k variations, allocations and salts",
        1024,
        &config,
    );
    ok(start(handle, 0));
    let answer = eppo_string(handle, "f", "s");
    assert_eq!(answer["code"], "DEFAULT_ALLOCATION_NULL");
}

#[test]
fn many_segments_times_many_variants_compile_fast() {
    let _alone = alone();
    // 30,000 variants and 30,000 segments (0.9 MB): each segment can only give its own
    // variant, so nothing should be prepared for the 9 x 10^8 other pairs.
    let variants: serde_json::Map<String, Value> =
        (0..30_000).map(|i| (format!("v{i}"), json!({}))).collect();
    let segments: Vec<Value> = (0..30_000)
        .map(|i| json!({"conditions": [], "variant": format!("v{i}")}))
        .collect();
    let mut flag = json!({"key": "wide", "metadata": {"flagType": "release"}, "variants": variants, "segments": segments});
    flag["segments"][29_999] = json!({"variant": "v29999", "metadata": {"segmentName": "last"}});
    let config = json!({"provider": "amplitude", "api_key": "k", "flags": [flag]});
    let handle = init_bounded(
        "amplitude init with 30k segments x 30k variants",
        1024,
        &config,
    );
    ok(start(handle, 0));
    let answer = ok(evaluate(handle, &json!({"user": {"user_id": "u"}})));
    assert_eq!(
        answer["variants"]["wide"],
        json!({"key": "v29999", "metadata": {"flagType": "release", "segmentName": "last"}})
    );
}

// 4. Regex cost.

#[test]
fn amplitude_regexes_are_bounded_per_pattern_and_per_configuration() {
    let _alone = alone();
    // 200 distinct patterns of 100 Unicode word characters each.
    // A small pattern first (later ones find the configuration's budget used up by the
    // refused patterns, whose compiling took time too).
    let mut flags = vec![amplitude_flag(
        "small",
        &["context", "user", "user_id"],
        "regex match",
        json!(["^a+b$"]),
    )];
    flags.extend((0..200).map(|i| {
        amplitude_flag(
            &format!("r{i:03}"),
            &["context", "user", "user_id"],
            "regex match",
            json!([format!("\\w{{100}}{i}")]),
        )
    }));
    let config = json!({"provider": "amplitude", "api_key": "k", "flags": flags});
    let handle = init_bounded("amplitude init with 200 \\w{100} patterns", 512, &config);
    ok(start(handle, 0));
    let errors = status(handle)["ok"]["flag_errors"].clone();
    let refused = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "invalid_flag" && e["message"].as_str().unwrap().contains("regex"))
        .count();
    assert_eq!(refused, 200, "{errors}");
    let user_id = "a".repeat(20_000);
    let answer = bounded("20k-character user_id against the patterns", 256, || {
        evaluate(handle, &json!({"user": {"user_id": user_id}}))
    });
    ok(answer);
    let small = evaluate(handle, &json!({"user": {"user_id": "aaab"}}));
    assert_eq!(variant_of(&small, "small").as_deref(), Some("on"));
}

#[test]
fn eppo_regexes_are_bounded_per_pattern_and_per_configuration() {
    let _alone = alone();
    let mut flags = serde_json::Map::new();
    for i in 0..200 {
        let mut flag = eppo_flag("id", "MATCHES", json!(format!("\\w{{100}}{i}")));
        flag["key"] = json!(format!("r{i:03}"));
        flags.insert(format!("r{i:03}"), flag);
    }
    // Sorted before the others, so compiled first (see the Amplitude test).
    flags.insert("a-small".into(), eppo_flag("id", "MATCHES", json!("^a+b$")));
    let config = eppo_config(Value::Object(flags));
    let handle = init_bounded("eppo init with 200 \\w{100} patterns", 512, &config);
    ok(start(handle, 0));
    let errors = status(handle)["ok"]["flag_errors"].clone();
    let refused = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "invalid_flag" && e["message"].as_str().unwrap().contains("regex"))
        .count();
    assert_eq!(refused, 200, "{errors}");
    let subject = "a".repeat(20_000);
    let requests: Vec<Value> = (0..200)
        .map(|i| json!({"flag_key": format!("r{i:03}")}))
        .collect();
    let answer = bounded("20k-character subject against the patterns", 256, || {
        evaluate(
            handle,
            &json!({"subject_key": subject, "variation_type": "STRING", "default": "d",
                    "assignments": requests}),
        )
    });
    ok(answer);
    let small = eppo_string(handle, "a-small", "aaab");
    assert_eq!(small["value"], "on");
}

#[test]
fn matching_the_largest_patterns_that_fit_against_a_1_mib_list_is_bounded() {
    let _alone = alone();
    // Patterns just under the per-pattern cap until the configuration's budget is used.
    let flags: Vec<Value> = (0..40)
        .map(|i| {
            amplitude_flag(
                &format!("r{i:02}"),
                &["context", "user", "user_properties", "list"],
                "regex match",
                json!([format!("\\w{{15}}{i}")]),
            )
        })
        .collect();
    let handle = amplitude(Value::Array(flags));
    let loaded = ok(status(handle))["flag_count"].as_u64().unwrap();
    assert!(loaded >= 10, "only {loaded} patterns fit");
    // 127 values of 8 KiB (the longest searched) that none of the patterns match.
    let list: Vec<String> = (0..127).map(|_| "é".repeat(4 << 10)).collect();
    let request = json!({"user": {"user_properties": {"list": list}}}).to_string();
    assert!(request.len() < 1 << 20, "{} bytes", request.len());
    let answer = bounded(
        &format!("{loaded} patterns against a 1 MiB list"),
        256,
        || evaluate_raw(handle, &request),
    );
    assert_eq!(ok(answer)["variants"], json!({}));
}

// 5. Configuration files.

fn config_with_path(provider: &str, path: &str) -> Value {
    match provider {
        "amplitude" => json!({"provider": "amplitude", "api_key": "k", "flags_path": path}),
        _ => json!({"provider": "eppo", "api_key": "k", "configuration_path": path}),
    }
}

#[test]
fn configuration_files_are_capped_and_never_block() {
    let _alone = alone();
    let dir = std::env::temp_dir().join(format!("allot-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    // A sparse file one byte over the cap costs nothing to create.
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    for provider in ["amplitude", "eppo"] {
        for (path, expected) in [
            ("/dev/zero", "invalid_config"),
            (fifo.to_str().unwrap(), "invalid_config"),
            (huge.to_str().unwrap(), "input_too_large"),
            (dir.to_str().unwrap(), "invalid_config"),
        ] {
            let config = config_with_path(provider, path);
            let error = bounded(&format!("{provider} reading {path}"), 256, || {
                init(&config).expect_err("must be refused")
            });
            assert_eq!(error_code(&error), expected, "{provider} {path}: {error}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// 6. One flag among many.

#[test]
fn evaluating_one_flag_does_not_touch_every_flag() {
    let _alone = alone();
    let flags: Vec<Value> = (0..100_000)
        .map(|i| json!({"key": format!("f{i}"), "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]}))
        .collect();
    let handle = amplitude(Value::Array(flags));
    let request = json!({"user": {"user_id": "u"}, "flag_keys": ["f99999"]}).to_string();
    bounded(
        "20,000 single-flag evaluations among 100k flags",
        64,
        || {
            for _ in 0..20_000 {
                let answer = evaluate_raw(handle, &request);
                assert_eq!(variant_of(&answer, "f99999").as_deref(), Some("on"));
            }
        },
    );
}

// 7. Smaller things.

#[test]
fn an_eppo_now_outside_years_1_to_9999_is_refused() {
    let _alone = alone();
    let handle = eppo(json!({"f": eppo_flag("id", "MATCHES", json!("."))}));
    for now in ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"] {
        let answer = evaluate(
            handle,
            &json!({"flag_key": "f", "subject_key": "s", "variation_type": "STRING",
                    "default": "d", "now": now}),
        );
        assert_eq!(error_code(&answer), "invalid_argument", "{now}: {answer}");
    }
    let answer = evaluate(
        handle,
        &json!({"flag_key": "f", "subject_key": "s", "variation_type": "STRING",
                "default": "d", "now": "9999-12-31T23:59:59Z", "details": true}),
    );
    let answer = ok(answer);
    assert_eq!(answer["events"][0]["timestamp"], "9999-12-31T23:59:59.000Z");
}

#[test]
fn extreme_request_numbers_do_not_panic() {
    let _alone = alone();
    let flag = amplitude_flag(
        "v",
        &["context", "user", "version"],
        "version greater",
        json!(["1.2.3-"]),
    );
    let handle = init_ok(&json!({
        "provider": "amplitude", "api_key": "k", "flags": [flag],
        "assignment_config": {"api_key": "k", "server_url": "http://127.0.0.1:9"},
        "exposure_config": {"api_key": "k", "server_url": "http://127.0.0.1:9"}
    }));
    ok(start(handle, 0));
    for timestamp in [json!(0), json!(u64::MAX)] {
        let answer = evaluate(
            handle,
            &json!({"user": {"user_id": "u", "version": "1.2.10"}, "timestamp_millis": timestamp,
                    "tracks_exposure": true}),
        );
        // "1.2.3-" is not a version: the comparison falls back to strings, where
        // "1.2.10" < "1.2.3-".
        assert_eq!(variant_of(&answer, "v"), None, "{answer}");
    }
}
