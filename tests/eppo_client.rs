//! The Eppo client through the C ABI: configuration and request errors, lifecycle,
//! assignment events (fields, flattening, doLog, dedup) and batch requests.

mod common;

use serde_json::{json, Value};

use common::{
    error_code, evaluate, evaluate_raw, init, init_ok, ok, shared_json, shared_path, start, status,
};

const SECRET: &str = "sk-eppo-very-secret-0123456789";
const NOW: &str = "2024-05-01T12:00:00Z";
/// Where nothing listens: a started client's first fetch is refused at once, and its
/// given configuration keeps serving (polling itself is tested in `eppo_network.rs`).
const OFFLINE: &str = "http://127.0.0.1:9";

/// A small UFC: `banner` serves `blue` (with extraLogging) to `plan: vip` and `red` to
/// everyone else; `quiet` matches everyone with `doLog: false`.
fn ufc() -> Value {
    json!({
        "createdAt": "2024-04-30T08:00:00.000Z",
        "format": "SERVER",
        "environment": {"name": "Staging"},
        "flags": {
            "banner": {
                "key": "banner", "enabled": true, "variationType": "STRING", "totalShards": 10000,
                "variations": {"red": {"key": "red", "value": "red"}, "blue": {"key": "blue", "value": "blue"}},
                "allocations": [
                    {"key": "vip",
                     "rules": [{"conditions": [{"attribute": "plan", "operator": "ONE_OF", "value": ["vip"]}]}],
                     "splits": [{"variationKey": "blue", "shards": [],
                                 "extraLogging": {"owner": "growth", "holdout": "h-1", "subject": "spoofed"}}]},
                    {"key": "everyone", "splits": [{"variationKey": "red", "shards": []}]}
                ]
            },
            "quiet": {
                "key": "quiet", "enabled": true, "variationType": "INTEGER", "totalShards": 10000,
                "variations": {"one": {"key": "one", "value": 1}},
                "allocations": [{"key": "all", "doLog": false, "splits": [{"variationKey": "one", "shards": []}]}]
            },
            "broken": {"key": "broken", "enabled": true, "variationType": "COLOR"}
        }
    })
}

fn config(extra: Value) -> Value {
    let mut config = json!({"provider": "eppo", "api_key": SECRET, "base_url": OFFLINE, "initial_configuration": ufc()});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

fn started(extra: Value) -> u64 {
    let handle = init_ok(&config(extra));
    ok(start(handle, 100));
    handle
}

fn banner(subject: &str, plan: &str) -> Value {
    json!({"flag_key": "banner", "subject_key": subject, "subject_attributes": {"plan": plan},
           "variation_type": "STRING", "default": "none", "now": NOW})
}

fn init_error(config: Value) -> (String, String) {
    let envelope = init(&config).expect_err("init should fail");
    assert!(
        !envelope.to_string().contains(SECRET),
        "secret leaked: {envelope}"
    );
    (
        error_code(&envelope),
        envelope["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn config_errors_are_invalid_config_and_name_the_problem() {
    let (code, message) = init_error(config(json!({"poll_intervall_seconds": 30})));
    assert_eq!(code, "invalid_config");
    assert!(
        message.contains("\"poll_intervall_seconds\"") && message.contains("poll_interval_seconds"),
        "{message}"
    );

    let mut no_key = config(json!({}));
    no_key.as_object_mut().unwrap().remove("api_key");
    assert!(init_error(no_key).1.contains("api_key"));

    let cases = [
        (json!({"api_key": ""}), "api_key"),
        (json!({"base_url": "ftp://example.com"}), "base_url"),
        (
            json!({"poll_interval_seconds": -1}),
            "poll_interval_seconds",
        ),
        (
            json!({"poll_interval_seconds": "30"}),
            "poll_interval_seconds",
        ),
        (
            json!({"poll_interval_seconds": 10, "poll_jitter_seconds": 20}),
            "poll_jitter_seconds",
        ),
        (json!({"poll_jitter_seconds": null}), "poll_jitter_seconds"),
        (json!({"assignment_cache": {"capacity": 0}}), "capacity"),
        (
            json!({"assignment_cache": {"capacity": 10, "ttl": 5}}),
            "\"ttl\"",
        ),
        (
            json!({"assignment_cache": {"capacity": 10, "ttl_seconds": 0}}),
            "ttl_seconds",
        ),
        (json!({"assignment_cache": 10}), "assignment_cache"),
        (
            json!({"assignment_cache": {"capacity": "ten"}}),
            "assignment_cache.capacity",
        ),
        (
            json!({"initial_configuration": "{not json"}),
            "UFC configuration",
        ),
        (
            json!({"initial_configuration": {"flags": []}}),
            "UFC configuration",
        ),
        (
            json!({"initial_configuration": {"format": "PRECOMPUTED", "flags": {}}}),
            "PRECOMPUTED",
        ),
        (json!({"initial_configuration": 5}), "initial_configuration"),
    ];
    let missing_file = json!({"provider": "eppo", "api_key": SECRET, "configuration_path": "/nonexistent/flags.json"});
    let (code, message) = init_error(missing_file);
    assert_eq!(code, "invalid_config");
    assert!(message.contains("/nonexistent/flags.json"), "{message}");
    for (extra, needle) in cases {
        let (code, message) = init_error(config(extra.clone()));
        assert_eq!(code, "invalid_config", "{extra}: {message}");
        assert!(message.contains(needle), "{extra}: {message}");
    }
}

#[test]
fn initial_configuration_and_path_are_exclusive_and_either_loads() {
    let path = shared_path("conformance/eppo/flags-v1.json");
    let (code, message) = init_error(config(
        json!({"configuration_path": path.to_str().unwrap()}),
    ));
    assert_eq!(code, "invalid_config");
    assert!(message.contains("exclusive"), "{message}");

    let as_text = json!({"provider": "eppo", "api_key": SECRET, "base_url": OFFLINE, "initial_configuration": ufc().to_string()});
    let handle = init_ok(&as_text);
    assert_eq!(ok(status(handle))["flag_count"], 3);
    allot::ffi::allot_free(handle);
}

#[test]
fn settings_have_documented_defaults_and_debug_hides_the_key() {
    let parse = |extra: Value| {
        let mut config = config(json!({}));
        config.as_object_mut().unwrap().remove("base_url");
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        allot::internals::eppo::EppoClient::new(config.as_object().unwrap().clone())
            .expect("valid config")
    };
    let client = parse(json!({}));
    let settings = client.settings();
    assert_eq!(settings.base_url, allot::internals::eppo::DEFAULT_BASE_URL);
    assert_eq!(
        settings.poll_interval,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(settings.poll_jitter, std::time::Duration::from_secs(3));
    assert!(!format!("{settings:?}").contains(SECRET));
    assert!(format!("{settings:?}").contains("redacted"));

    let client =
        parse(json!({"poll_interval_seconds": null, "base_url": "http://127.0.0.1:8080/api/"}));
    assert_eq!(client.settings().poll_interval, None);
    assert_eq!(client.settings().base_url, "http://127.0.0.1:8080/api");
    let client = parse(json!({"poll_interval_seconds": 1}));
    assert_eq!(
        client.settings().poll_jitter,
        std::time::Duration::from_secs(1)
    );
}

#[test]
fn lifecycle_status_and_start_without_configuration() {
    let handle = init_ok(&config(json!({})));
    let before = ok(status(handle));
    assert_eq!(before["started"], false);
    assert_eq!(before["initialized"], true);
    assert_eq!(
        error_code(&evaluate(handle, &banner("s", "vip"))),
        "not_started"
    );

    let after = ok(start(handle, 0));
    assert_eq!(after["provider"], "eppo");
    assert_eq!(after["started"], true);
    assert_eq!(after["flag_count"], 3);
    assert_eq!(after["environment"], "Staging");
    assert_eq!(after["mode"], "local");
    assert_eq!(after["source"], "bootstrap");
    assert_eq!(
        after["published_at"].as_i64(),
        allot::internals::eppo::parse_rfc3339("2024-04-30T08:00:00.000Z")
    );
    assert!(after["loaded_at"].as_u64().unwrap() > 0);
    // Same shape as Amplitude: the keys of the configuration served.
    assert_eq!(
        after["flag_keys"].as_array().unwrap().len(),
        after["flag_count"].as_u64().unwrap() as usize
    );
    assert_eq!(after["flag_errors"].as_array().unwrap().len(), 1);
    assert_eq!(after["flag_errors"][0]["flag_key"], "broken");
    assert!(!after.to_string().contains(SECRET));
    assert_eq!(ok(start(handle, 0))["started"], true, "start is idempotent");
    assert_eq!(
        error_code(&common::fetch(handle, &banner("s", "vip"))),
        "unsupported"
    );
    allot::ffi::allot_free(handle);

    // Without a configuration, start waits for the first fetch (refused here).
    let bare = init_ok(&json!({"provider": "eppo", "api_key": SECRET, "base_url": OFFLINE}));
    let state = ok(status(bare));
    assert_eq!(
        (state["started"].clone(), state["initialized"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(state["loaded_at"], Value::Null);
    let envelope = start(bare, 5_000);
    assert_eq!(error_code(&envelope), "network", "{envelope}");
    assert!(!envelope.to_string().contains(SECRET));
    let state = ok(status(bare));
    assert_eq!(
        (state["started"].clone(), state["initialized"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(state["last_error"]["code"], "network");
    allot::ffi::allot_free(bare);
}

#[test]
fn malformed_requests_are_errors() {
    let handle = started(json!({}));
    assert_eq!(
        error_code(&evaluate_raw(handle, "{\"flag_key\": ")),
        "invalid_json"
    );
    let base = banner("s", "vip");
    let without = |field: &str| {
        let mut request = base.clone();
        request.as_object_mut().unwrap().remove(field);
        request
    };
    let with = |field: &str, value: Value| {
        let mut request = base.clone();
        request[field] = value;
        request
    };
    let cases = [
        (without("flag_key"), "flag_key"),
        (without("subject_key"), "subject_key"),
        (without("variation_type"), "variation_type"),
        (without("default"), "default"),
        (with("subject_key", json!(5)), "subject_key"),
        (with("subject_attributes", json!([1])), "subject_attributes"),
        (with("variation_type", json!("FLOAT")), "FLOAT"),
        (with("flag", json!("banner")), "flag"),
        (with("default", json!(5)), "default"),
        (with("default", Value::Null), "default"),
        (with("details", json!("yes")), "details"),
        (with("now", json!("May 1st")), "now"),
        (
            json!({"variation_type": "INTEGER", "default": 1.5, "flag_key": "quiet", "subject_key": "s"}),
            "INTEGER",
        ),
        (
            json!({"variation_type": "BOOLEAN", "default": "true", "flag_key": "f", "subject_key": "s"}),
            "BOOLEAN",
        ),
        (
            json!({"variation_type": "NUMERIC", "default": "1", "flag_key": "f", "subject_key": "s"}),
            "NUMERIC",
        ),
        (
            json!({"assignments": [base.clone(), without("flag_key")]}),
            "assignments[1]",
        ),
        (json!({"assignments": [{"assignments": []}]}), "nested"),
        (
            json!({"assignments": [base.clone(), with("details", json!("yes"))]}),
            "assignments[1].details",
        ),
        (json!([base.clone()]), "request"),
    ];
    for (request, needle) in cases {
        let envelope = evaluate(handle, &request);
        assert_eq!(
            error_code(&envelope),
            "invalid_argument",
            "{request}: {envelope}"
        );
        let message = envelope["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{request}: {message}");
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn evaluation_problems_return_the_default_with_a_code() {
    let handle = started(json!({}));
    let cases = [
        (
            json!({"flag_key": "missing", "variation_type": "NUMERIC", "default": 2.5}),
            "FLAG_UNRECOGNIZED_OR_DISABLED",
            json!(2.5),
        ),
        (
            json!({"flag_key": "banner", "variation_type": "JSON", "default": {"k": [1]}}),
            "TYPE_MISMATCH",
            json!({"k": [1]}),
        ),
        (
            json!({"flag_key": "broken", "variation_type": "STRING", "default": "d"}),
            "UNEXPECTED_CONFIGURATION_ERROR",
            json!("d"),
        ),
        (
            json!({"flag_key": "quiet", "variation_type": "JSON", "default": null}),
            "TYPE_MISMATCH",
            Value::Null,
        ),
    ];
    for (mut request, code, value) in cases {
        request["subject_key"] = json!("s");
        let result = ok(evaluate(handle, &request));
        assert_eq!(result["code"], code, "{request}");
        assert_eq!(result["value"], value, "{request}");
        assert_eq!(result["variation_key"], Value::Null);
        assert_eq!(result["allocation_key"], Value::Null);
        assert_eq!(result["events"], json!([]));
        assert!(result.get("details").is_none());
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn events_carry_every_field_and_flatten_extra_logging() {
    let handle = started(json!({}));
    let result = ok(evaluate(handle, &banner("user-1", "vip")));
    assert_eq!(result["value"], "blue");
    assert_eq!(result["variation_key"], "blue");
    assert_eq!(result["allocation_key"], "vip");
    assert_eq!(result["code"], "MATCH");
    let events = result["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        events[0],
        json!({
            "featureFlag": "banner",
            "allocation": "vip",
            "experiment": "banner-vip",
            "variation": "blue",
            "subject": "user-1",
            "subjectAttributes": {"plan": "vip"},
            "timestamp": "2024-05-01T12:00:00.000Z",
            "metaData": {"sdkName": "allot", "sdkVersion": version, "coreVersion": version},
            "owner": "growth",
            "holdout": "h-1"
        })
    );

    // No extraLogging on the other split, and no event when doLog is false.
    let red = ok(evaluate(handle, &banner("user-1", "free")));
    let event = &red["events"][0];
    assert_eq!(
        (event["allocation"].clone(), event["variation"].clone()),
        (json!("everyone"), json!("red"))
    );
    assert_eq!(event["experiment"], "banner-everyone");
    assert!(event.get("owner").is_none());
    let quiet = ok(evaluate(
        handle,
        &json!({"flag_key": "quiet", "subject_key": "s", "variation_type": "INTEGER", "default": 0}),
    ));
    assert_eq!(
        (quiet["code"].clone(), quiet["value"].clone()),
        (json!("MATCH"), json!(1))
    );
    assert_eq!(quiet["events"], json!([]));
    allot::ffi::allot_free(handle);
}

#[test]
fn event_timestamp_defaults_to_the_system_clock() {
    let handle = started(json!({}));
    let mut request = banner("s", "vip");
    request.as_object_mut().unwrap().remove("now");
    let before = std::time::SystemTime::now();
    let result = ok(evaluate(handle, &request));
    let stamp = result["events"][0]["timestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let ms = allot::internals::eppo::parse_rfc3339(&stamp).expect("RFC 3339 timestamp");
    let before_ms = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((before_ms - 1..before_ms + 5000).contains(&ms), "{stamp}");
    allot::ffi::allot_free(handle);
}

#[test]
fn extra_logging_is_flattened_on_the_conformance_flags() {
    let path = shared_path("conformance/eppo/flags-v1.json");
    let handle = init_ok(
        &json!({"provider": "eppo", "api_key": SECRET, "base_url": OFFLINE, "configuration_path": path.to_str().unwrap()}),
    );
    ok(start(handle, 0));
    let ufc = shared_json("conformance/eppo/flags-v1.json");
    let rollout = ufc["flags"]["new-user-onboarding"]["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "rollout")
        .unwrap();
    let extra = rollout["splits"][0]["extraLogging"].as_object().unwrap();
    let case = shared_json("conformance/eppo/tests/test-case-new-user-onboarding-flag.json");
    let subjects = case["subjects"].as_array().unwrap();
    let mut seen_rollout = 0;
    let mut seen_silent = 0;
    for subject in subjects {
        let matched = &subject["evaluationDetails"]["matchedAllocation"]["key"];
        let result = ok(evaluate(
            handle,
            &json!({"flag_key": "new-user-onboarding", "subject_key": subject["subjectKey"],
                    "subject_attributes": subject["subjectAttributes"], "variation_type": "STRING",
                    "default": "d", "now": NOW}),
        ));
        if matched == "rollout" {
            seen_rollout += 1;
            let event = &result["events"][0];
            for (key, value) in extra {
                assert_eq!(&event[key], value, "{key}");
            }
            assert_eq!(event["experiment"], "new-user-onboarding-rollout");
            assert_eq!(&event["subjectAttributes"], &subject["subjectAttributes"]);
        } else if matched == "id rule" || matched == "internal users" {
            seen_silent += 1;
            assert_eq!(result["events"], json!([]), "doLog is false for {matched}");
        }
    }
    assert!(
        seen_rollout > 0 && seen_silent > 0,
        "the case file exercises both paths"
    );
    allot::ffi::allot_free(handle);
}

fn event_count(handle: u64, request: &Value) -> usize {
    ok(evaluate(handle, request))["events"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn without_a_cache_every_assignment_logs() {
    let handle = started(json!({}));
    for _ in 0..3 {
        assert_eq!(event_count(handle, &banner("s", "vip")), 1);
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn the_cache_dedups_repeated_assignments() {
    let handle = started(json!({"assignment_cache": {"capacity": 100}}));
    assert_eq!(event_count(handle, &banner("s", "vip")), 1);
    assert_eq!(event_count(handle, &banner("s", "vip")), 0);
    // A different subject, and a changed assignment, log again.
    assert_eq!(event_count(handle, &banner("t", "vip")), 1);
    assert_eq!(event_count(handle, &banner("s", "free")), 1);
    assert_eq!(event_count(handle, &banner("s", "vip")), 1);
    assert_eq!(event_count(handle, &banner("s", "vip")), 0);
    // The value is served even when the event is suppressed.
    assert_eq!(ok(evaluate(handle, &banner("s", "vip")))["value"], "blue");
    allot::ffi::allot_free(handle);
}

#[test]
fn the_cache_evicts_least_recently_used_and_expires() {
    let handle = started(json!({"assignment_cache": {"capacity": 1, "ttl_seconds": 0.2}}));
    assert_eq!(event_count(handle, &banner("a", "vip")), 1);
    assert_eq!(event_count(handle, &banner("b", "vip")), 1);
    assert_eq!(event_count(handle, &banner("a", "vip")), 1, "evicted by b");
    assert_eq!(event_count(handle, &banner("a", "vip")), 0);
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert_eq!(event_count(handle, &banner("a", "vip")), 1, "expired");
    allot::ffi::allot_free(handle);
}

#[test]
fn batches_share_the_subject_and_keep_order() {
    let handle = started(json!({"assignment_cache": {"capacity": 100}}));
    let request = json!({
        "subject_key": "shared",
        "subject_attributes": {"plan": "vip"},
        "now": NOW,
        "assignments": [
            {"flag_key": "banner", "variation_type": "STRING", "default": "none"},
            {"flag_key": "quiet", "variation_type": "INTEGER", "default": 7},
            {"flag_key": "missing", "variation_type": "BOOLEAN", "default": true, "details": true},
            {"flag_key": "banner", "variation_type": "STRING", "default": "none",
             "subject_key": "other", "subject_attributes": {}},
            {"flag_key": "banner", "variation_type": "STRING", "default": "none"}
        ]
    });
    let results = ok(evaluate(handle, &request))["assignments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 5);
    let summary: Vec<_> = results
        .iter()
        .map(|r| {
            (
                r["value"].clone(),
                r["code"].clone(),
                r["events"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("blue"), json!("MATCH"), 1),
            (json!(1), json!("MATCH"), 0),
            (json!(true), json!("FLAG_UNRECOGNIZED_OR_DISABLED"), 0),
            (json!("red"), json!("MATCH"), 1),
            // The same (flag, subject, allocation, variation) as the first item: deduplicated.
            (json!("blue"), json!("MATCH"), 0),
        ]
    );
    assert_eq!(results[0]["events"][0]["subject"], "shared");
    assert_eq!(results[3]["events"][0]["subject"], "other");
    assert_eq!(
        results[2]["details"]["flagEvaluationCode"],
        "FLAG_UNRECOGNIZED_OR_DISABLED"
    );
    assert_eq!(results[2]["details"]["subjectKey"], "shared");
    assert!(results[0].get("details").is_none());
    assert_eq!(
        ok(evaluate(handle, &json!({"assignments": []}))),
        json!({"assignments": []})
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn details_report_the_whole_document() {
    let handle = started(json!({}));
    let mut request = banner("s", "free");
    request["details"] = json!(true);
    let details = ok(evaluate(handle, &request))["details"].clone();
    let state = ok(status(handle));
    assert_eq!(details["flagKey"], "banner");
    assert_eq!(details["subjectKey"], "s");
    assert_eq!(details["subjectAttributes"], json!({"plan": "free"}));
    assert_eq!(details["timestamp"], "2024-05-01T12:00:00.000Z");
    assert_eq!(
        allot::internals::eppo::parse_rfc3339(details["configFetchedAt"].as_str().unwrap()),
        state["loaded_at"].as_i64()
    );
    assert_eq!(details["configPublishedAt"], "2024-04-30T08:00:00.000Z");
    assert_eq!(details["environmentName"], "Staging");
    assert_eq!(details["variationKey"], "red");
    assert_eq!(details["variationValue"], "red");
    assert_eq!(
        details["matchedAllocation"],
        json!({"key": "everyone", "allocationEvaluationCode": "MATCH", "orderPosition": 2})
    );
    assert_eq!(
        details["unmatchedAllocations"],
        json!([{"key": "vip", "allocationEvaluationCode": "FAILING_RULE", "orderPosition": 1}])
    );
    assert_eq!(details["unevaluatedAllocations"], json!([]));
    assert_eq!(details["matchedRule"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn concurrent_evaluations_agree() {
    let handle = started(json!({}));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..200 {
                    let plan = if (i + t) % 2 == 0 { "vip" } else { "free" };
                    let result = ok(evaluate(handle, &banner(&format!("u{i}"), plan)));
                    let expected = if plan == "vip" { "blue" } else { "red" };
                    assert_eq!(result["value"], expected);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn a_given_configuration_without_base_url_is_served_offline() {
    let handle =
        init_ok(&json!({"provider": "eppo", "api_key": SECRET, "initial_configuration": ufc()}));
    let doc = ok(start(handle, 100));
    assert_eq!(doc["polling"], false, "no base_url: nothing is fetched");
    assert_eq!(doc["last_error"], Value::Null);
    assert_eq!(doc["initialized"], true);
    assert_eq!(doc["flag_keys"], json!(["banner", "broken", "quiet"]));
    // The same per-flag code as Amplitude's for a flag left out of the configuration.
    assert_eq!(doc["flag_errors"][0]["flag_key"], "broken");
    assert_eq!(doc["flag_errors"][0]["code"], "invalid_flag");
    let result = ok(evaluate(
        handle,
        &json!({"flag_key": "banner", "subject_key": "s", "subject_attributes": {"plan": "vip"},
                "variation_type": "STRING", "default": "x", "now": NOW}),
    ));
    assert_eq!(result["value"], "blue");
    assert_eq!(ok(status(handle))["polling"], false);
    allot::ffi::allot_free(handle);
}

#[test]
fn details_list_every_allocation_with_the_rules_and_splits_evaluated() {
    let handle = started(json!({}));
    let mut request = banner("s", "free");
    request["details"] = json!(true);
    let details = ok(evaluate(handle, &request))["details"].clone();
    assert_eq!(details["banditEvaluationCode"], Value::Null);
    // The vip rule fails on its condition; "everyone" has no rules and its one split
    // (no shards) contains everyone.
    assert_eq!(
        details["allocations"],
        json!([
            {"key": "vip", "orderPosition": 1, "allocationEvaluationCode": "FAILING_RULE",
             "evaluatedRules": [{"matched": false, "conditions": [
                 {"condition": {"attribute": "plan", "operator": "ONE_OF", "value": ["vip"]},
                  "attributeValue": "free", "matched": false}]}],
             "evaluatedSplits": []},
            {"key": "everyone", "orderPosition": 2, "allocationEvaluationCode": "MATCH",
             "evaluatedRules": [],
             "evaluatedSplits": [{"variationKey": "red", "matched": true, "shards": []}]}
        ])
    );
    // A type mismatch evaluates nothing: every allocation is unevaluated.
    request["variation_type"] = json!("INTEGER");
    request["default"] = json!(0);
    let details = ok(evaluate(handle, &request))["details"].clone();
    assert_eq!(details["flagEvaluationCode"], "TYPE_MISMATCH");
    let codes: Vec<&Value> = details["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["allocationEvaluationCode"])
        .collect();
    assert_eq!(codes, [&json!("UNEVALUATED"), &json!("UNEVALUATED")]);
    allot::ffi::allot_free(handle);
}

#[test]
fn details_report_shard_values_until_the_first_miss() {
    let mut flags = ufc();
    flags["flags"]["split"] = json!({
        "key": "split", "enabled": true, "variationType": "STRING", "totalShards": 10000,
        "variations": {"a": {"key": "a", "value": "a"}},
        "allocations": [{"key": "none", "splits": [{"variationKey": "a", "shards": [
            {"salt": "s2", "ranges": [{"start": 0, "end": 10000}]},
            {"salt": "s1", "ranges": [{"start": 0, "end": 0}]}
        ]}]}]
    });
    let handle = started(json!({"initial_configuration": flags}));
    let request = json!({"flag_key": "split", "subject_key": "s", "variation_type": "STRING",
                         "default": "d", "details": true});
    let details = ok(evaluate(handle, &request))["details"].clone();
    let splits = &details["allocations"][0]["evaluatedSplits"];
    // The full-range shard is not reported (as Eppo's core); the empty range misses.
    assert_eq!(splits[0]["matched"], false);
    let shards = splits[0]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0]["matched"], false);
    assert_eq!(
        shards[0]["shard"],
        json!({"ranges": [{"start": 0, "end": 0}]})
    );
    assert!(shards[0]["shardValue"].as_u64().unwrap() < 10_000);
    allot::ffi::allot_free(handle);
}

#[test]
fn every_duration_is_bounded_at_init() {
    for (field, value) in [
        ("poll_interval_seconds", json!(1e19)),
        ("poll_interval_seconds", json!(3.2e7)),
        ("poll_jitter_seconds", json!(1e19)),
        (
            "assignment_cache",
            json!({"capacity": 1, "ttl_seconds": 1e19}),
        ),
    ] {
        let mut config = json!({"provider": "eppo", "api_key": SECRET, "base_url": OFFLINE});
        config[field] = value.clone();
        let error = init(&config).unwrap_err();
        assert_eq!(error["error"]["code"], "invalid_config", "{field}: {value}");
    }
}

#[test]
fn base_urls_are_validated_like_amplitudes() {
    for bad in ["http://", "https:///", "ftp://host", "host/api"] {
        let config = json!({"provider": "eppo", "api_key": SECRET, "base_url": bad});
        let error = init(&config).unwrap_err();
        assert_eq!(error["error"]["code"], "invalid_config", "{bad}");
        let amplitude = json!({"provider": "amplitude", "api_key": SECRET, "server_url": bad});
        let error = init(&amplitude).unwrap_err();
        assert_eq!(error["error"]["code"], "invalid_config", "{bad}");
    }
    for blank in [json!(""), json!("  ")] {
        let config = json!({"provider": "eppo", "api_key": blank});
        assert_eq!(
            init(&config).unwrap_err()["error"]["code"],
            "invalid_config"
        );
    }
}
