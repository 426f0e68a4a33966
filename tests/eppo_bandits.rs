//! Eppo contextual bandits through the C ABI: the 10 public cases of
//! `../shared/conformance/eppo/bandit-tests/`, bandit and assignment events, the weighting
//! arithmetic on small hand-made models, per-bandit model errors, and bad requests.

mod common;

use serde_json::{json, Value};

use common::{error_code, evaluate, init, init_ok, ok, shared_json, shared_path, start, status};

const NOW: &str = "2024-06-01T00:00:00Z";

/// A client serving the public bandit flags and models, offline.
fn conformance_client() -> u64 {
    let flags = shared_path("conformance/eppo/bandit-flags-v1.json");
    let models = shared_path("conformance/eppo/bandit-models-v1.json");
    let handle = init_ok(&json!({
        "provider": "eppo",
        "api_key": "test-key",
        "configuration_path": flags.to_str().unwrap(),
        "bandits_path": models.to_str().unwrap(),
    }));
    ok(start(handle, 0));
    handle
}

/// The suite's `{numericAttributes, categoricalAttributes}` as the request's split form.
fn split(attributes: &Value) -> Value {
    json!({
        "numeric_attributes": attributes["numericAttributes"],
        "categorical_attributes": attributes["categoricalAttributes"],
    })
}

fn bandit_request(flag: &Value, default: &Value, subject: &Value) -> Value {
    let actions: serde_json::Map<String, Value> = subject["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| {
            (
                action["actionKey"].as_str().unwrap().to_owned(),
                split(action),
            )
        })
        .collect();
    json!({
        "flag_key": flag,
        "subject_key": subject["subjectKey"],
        "subject_attributes": split(&subject["subjectAttributes"]),
        "actions": actions,
        "default": default,
        "now": NOW,
    })
}

#[test]
fn public_bandit_cases_pass() {
    let handle = conformance_client();
    let dir = shared_path("conformance/eppo/bandit-tests");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "expected the 10 public bandit cases");
    let (mut subjects, mut failures) = (0, Vec::new());
    for name in &names {
        let case = shared_json(&format!("conformance/eppo/bandit-tests/{name}"));
        for subject in case["subjects"].as_array().unwrap() {
            subjects += 1;
            let request = bandit_request(&case["flag"], &case["defaultValue"], subject);
            let result = ok(evaluate(handle, &request));
            let got = json!({"variation": result["variation"], "action": result["action"]});
            if got != subject["assignment"] {
                failures.push(format!(
                    "{name} / {}: got {got}, expected {}",
                    subject["subjectKey"], subject["assignment"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(subjects >= 30, "only {subjects} subjects");
    allot::ffi::allot_free(handle);
}

#[test]
fn a_bandit_action_returns_both_events() {
    let handle = conformance_client();
    let result = ok(evaluate(
        handle,
        &json!({
            "flag_key": "banner_bandit_flag",
            "subject_key": "alice",
            "subject_attributes": {"age": 25, "country": "USA", "gender_identity": "female", "gone": null},
            "actions": {
                "nike": {"brand_affinity": 1.5, "loyalty_tier": "silver"},
                "adidas": {"brand_affinity": -1.0, "loyalty_tier": "bronze"},
                "reebok": {"brand_affinity": 0.5, "loyalty_tier": "gold"},
            },
            "default": "default",
            "now": NOW,
        }),
    ));
    assert_eq!(result["variation"], "banner_bandit", "{result}");
    assert_eq!(result["action"], "nike", "{result}");
    assert_eq!(result["bandit_key"], "banner_bandit");
    assert_eq!(result["code"], "MATCH");
    let assignment = &result["events"][0];
    assert_eq!(assignment["featureFlag"], "banner_bandit_flag", "{result}");
    assert_eq!(assignment["variation"], "banner_bandit");
    // The dictionary is split by value type; nulls are missing values.
    assert_eq!(
        assignment["subjectAttributes"],
        json!({"age": 25.0, "country": "USA", "gender_identity": "female"})
    );
    let events = result["bandit_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{result}");
    let event = &events[0];
    assert_eq!(event["flagKey"], "banner_bandit_flag");
    assert_eq!(event["banditKey"], "banner_bandit");
    assert_eq!(event["subject"], "alice");
    assert_eq!(event["action"], "nike");
    assert_eq!(event["modelVersion"], "123");
    assert_eq!(event["timestamp"], "2024-06-01T00:00:00.000Z");
    assert_eq!(event["subjectNumericAttributes"], json!({"age": 25.0}));
    assert_eq!(
        event["subjectCategoricalAttributes"],
        json!({"country": "USA", "gender_identity": "female"})
    );
    assert_eq!(
        event["actionNumericAttributes"],
        json!({"brand_affinity": 1.5})
    );
    assert_eq!(
        event["actionCategoricalAttributes"],
        json!({"loyalty_tier": "silver"})
    );
    assert_eq!(event["metaData"]["sdkName"], "allot");
    assert_eq!(event["actionProbability"], result["action_probability"]);
    assert_eq!(event["optimalityGap"], result["optimality_gap"]);
    let p = event["actionProbability"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0, "{p}");
    assert!(event["optimalityGap"].as_f64().unwrap() >= 0.0);
    allot::ffi::allot_free(handle);
}

#[test]
fn non_bandit_variations_and_missing_actions_choose_nothing() {
    let handle = conformance_client();
    for (flag, actions, variation) in [
        ("non_bandit_flag", json!({"a": {}}), "control"),
        ("banner_bandit_flag", json!({}), "banner_bandit"),
        ("no_such_flag", json!({"a": {}}), "default"),
    ] {
        let result = ok(evaluate(
            handle,
            &json!({"flag_key": flag, "subject_key": "alice", "subject_attributes": {"country": "USA"},
                    "actions": actions, "default": "default", "now": NOW}),
        ));
        assert_eq!(result["variation"], variation, "{flag}: {result}");
        assert_eq!(result["action"], Value::Null, "{flag}: {result}");
        assert_eq!(result["bandit_events"], json!([]), "{flag}: {result}");
        assert_eq!(
            result["action_probability"],
            Value::Null,
            "{flag}: {result}"
        );
    }
    allot::ffi::allot_free(handle);
}

/// A flag `f` whose one variation `b` is bandit `b`, served with `model` as that bandit.
fn single_bandit_client(model: Value) -> u64 {
    let flags = json!({
        "createdAt": "2024-01-01T00:00:00Z",
        "environment": {"name": "Test"},
        "flags": {"f": {"key": "f", "enabled": true, "variationType": "STRING",
            "variations": {"b": {"key": "b", "value": "b"}},
            "allocations": [{"key": "all", "splits": [{"variationKey": "b", "shards": []}]}],
            "totalShards": 10000}},
        "bandits": {"b": [{"key": "b", "flagKey": "f", "variationKey": "b", "variationValue": "b"}]},
    });
    let handle = init_ok(&json!({
        "provider": "eppo", "api_key": "k", "initial_configuration": flags,
        "initial_bandits": {"updatedAt": "2024-01-01T00:00:00Z", "bandits": {"b": model}},
    }));
    ok(start(handle, 0));
    handle
}

fn linear_model(gamma: f64, floor: f64) -> Value {
    let action = |intercept: f64| {
        json!({"intercept": intercept, "subjectNumericCoefficients": [],
               "subjectCategoricalCoefficients": [], "actionNumericCoefficients": [],
               "actionCategoricalCoefficients": []})
    };
    json!({"modelVersion": "v1", "modelData": {"gamma": gamma, "defaultActionScore": 0.0,
           "actionProbabilityFloor": floor, "coefficients": {"hi": action(2.0), "lo": action(1.0)}}})
}

#[test]
fn inverse_gap_weighting_and_the_floor() {
    // Two actions scoring 2 and 1: the worse one gets 1 / (2 + gamma × 1), unless the
    // floor (spread over both actions) is higher; the best one gets the rest.
    for (gamma, floor, worse) in [(1.0, 0.0, 1.0 / 3.0), (3.0, 0.0, 0.2), (3.0, 0.8, 0.4)] {
        let handle = single_bandit_client(linear_model(gamma, floor));
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let result = ok(evaluate(
                handle,
                &json!({"flag_key": "f", "subject_key": format!("s{i}"),
                        "actions": {"hi": {}, "lo": {}}, "default": "d"}),
            ));
            let p = result["action_probability"].as_f64().unwrap();
            let gap = result["optimality_gap"].as_f64().unwrap();
            let action = result["action"].as_str().unwrap().to_owned();
            let (want_p, want_gap) = if action == "hi" {
                (1.0 - worse, 0.0)
            } else {
                (worse, 1.0)
            };
            assert!(
                (p - want_p).abs() < 1e-12,
                "gamma {gamma} floor {floor}: {result}"
            );
            assert_eq!(gap, want_gap, "{result}");
            seen.insert(action);
        }
        assert_eq!(seen.len(), 2, "both actions are chosen for some subjects");
        allot::ffi::allot_free(handle);
    }
}

#[test]
fn a_model_that_does_not_fit_is_reported_and_isolated() {
    let flags = shared_path("conformance/eppo/bandit-flags-v1.json");
    let mut models = shared_json("conformance/eppo/bandit-models-v1.json");
    models["bandits"]["banner_bandit"]["modelData"]["gamma"] = json!("high");
    let handle = init_ok(&json!({
        "provider": "eppo", "api_key": "k",
        "configuration_path": flags.to_str().unwrap(), "initial_bandits": models.to_string(),
    }));
    let status = ok(start(handle, 0));
    assert_eq!(
        status["bandit_keys"],
        json!(["banner_bandit", "car_bandit", "cold_start_bandit"])
    );
    let errors = status["bandit_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{status}");
    assert_eq!(errors[0]["bandit_key"], "banner_bandit");
    assert_eq!(errors[0]["code"], "invalid_bandit");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("expected f64"),
        "{status}"
    );
    let broken = ok(evaluate(
        handle,
        &json!({"flag_key": "banner_bandit_flag", "subject_key": "alice",
                "actions": {"nike": {}}, "default": "d"}),
    ));
    assert_eq!(broken["variation"], "banner_bandit", "{broken}");
    assert_eq!(broken["action"], Value::Null, "{broken}");
    assert_eq!(broken["events"].as_array().unwrap().len(), 1, "{broken}");
    let working = ok(evaluate(
        handle,
        &json!({"flag_key": "car_bandit_flag", "subject_key": "alice",
                "actions": {"dodge": {}}, "default": "d"}),
    ));
    assert_eq!(working["action"], "dodge", "{working}");
    assert_eq!(status["flag_errors"], json!([]));
    allot::ffi::allot_free(handle);
}

#[test]
fn details_name_the_bandit_and_the_action() {
    let handle = conformance_client();
    let result = ok(evaluate(
        handle,
        &json!({"flag_key": "car_bandit_flag", "subject_key": "anastasia",
                "actions": {"dodge": {}, "mercedes": {}, "toyota": {"speed": 1000}},
                "default": "d", "details": true, "now": NOW}),
    ));
    let details = &result["details"];
    assert_eq!(details["flagEvaluationCode"], "MATCH", "{result}");
    assert_eq!(details["variationKey"], "car_bandit");
    assert_eq!(details["banditKey"], "car_bandit");
    assert_eq!(details["banditAction"], "dodge");
    allot::ffi::allot_free(handle);
}

#[test]
fn bad_bandit_requests_and_configurations_are_refused() {
    let handle = conformance_client();
    for request in [
        json!({"flag_key": "car_bandit_flag", "subject_key": "a", "actions": {"x": 1}, "default": "d"}),
        json!({"flag_key": "car_bandit_flag", "subject_key": "a", "actions": {"x": {"tags": [1]}}, "default": "d"}),
        json!({"flag_key": "car_bandit_flag", "subject_key": "a", "actions": {}, "default": 3}),
        json!({"flag_key": "car_bandit_flag", "actions": {}, "default": "d"}),
        json!({"flag_key": "car_bandit_flag", "subject_key": "a", "actions": {}, "default": "d", "extra": 1}),
    ] {
        assert_eq!(
            error_code(&evaluate(handle, &request)),
            "invalid_argument",
            "{request}"
        );
    }
    allot::ffi::allot_free(handle);
    for config in [
        json!({"provider": "eppo", "api_key": "k", "initial_bandits": {"bandits": {}}}),
        json!({"provider": "eppo", "api_key": "k", "initial_configuration": {"flags": {}},
               "initial_bandits": {"bandits": {}}, "bandits_path": "/nowhere"}),
        json!({"provider": "eppo", "api_key": "k", "initial_configuration": {"flags": {}},
               "initial_bandits": {"models": {}}}),
        json!({"provider": "eppo", "api_key": "k", "initial_configuration": {"flags": {}},
               "bandits_path": "/nonexistent/bandits.json"}),
    ] {
        let envelope = init(&config).expect_err("refused");
        assert_eq!(error_code(&envelope), "invalid_config", "{config}");
    }
}

#[test]
fn status_lists_bandits() {
    let handle = conformance_client();
    let status = ok(status(handle));
    assert_eq!(
        status["bandit_keys"],
        json!(["banner_bandit", "car_bandit", "cold_start_bandit"])
    );
    assert_eq!(status["bandit_errors"], json!([]));
    allot::ffi::allot_free(handle);
}

#[test]
fn links_from_bandit_references_alone_work_and_a_null_version_loads() {
    let flags = json!({
        "flags": {"f": {"key": "f", "enabled": true, "variationType": "STRING",
            "variations": {"b": {"key": "b", "value": "b"}},
            "allocations": [{"key": "all", "splits": [{"variationKey": "b", "shards": []}]}],
            "totalShards": 10000}},
        "banditReferences": {"b": {"modelVersion": null, "flagVariations": [
            {"key": "b", "flagKey": "f", "allocationKey": "all", "variationKey": "b", "variationValue": "b"}]}},
    });
    let handle = init_ok(&json!({
        "provider": "eppo", "api_key": "k", "initial_configuration": flags,
        "initial_bandits": {"bandits": {"b": linear_model(1.0, 0.0)}},
    }));
    ok(start(handle, 0));
    let result = ok(evaluate(
        handle,
        &json!({"flag_key": "f", "subject_key": "s", "actions": {"hi": {}, "lo": {}}, "default": "d"}),
    ));
    assert_eq!(result["bandit_key"], "b", "{result}");
    assert!(result["action"].is_string(), "{result}");
    assert_eq!(result["bandit_events"][0]["modelVersion"], "v1");
    allot::ffi::allot_free(handle);
}
