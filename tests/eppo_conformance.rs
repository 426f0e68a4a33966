//! Eppo's cross-SDK suite (`../shared/conformance/eppo/tests/*.json`, 225 subjects) through
//! the C ABI, against the plain (`SERVER`) and the obfuscated (`CLIENT`) configurations.

mod common;

use serde_json::{json, Value};

use common::{evaluate, init_ok, ok, shared_json, shared_path, start};

/// An instant inside every time window the suite expects to be open (the suite's
/// `current-versions` allocation runs 2022-10-31 to 2050-10-31).
const NOW: &str = "2024-06-01T00:00:00Z";

fn case_files() -> Vec<(String, Value)> {
    let dir = shared_path("conformance/eppo/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|name| {
            let case = shared_json(&format!("conformance/eppo/tests/{name}"));
            (name, case)
        })
        .collect()
}

fn client_for(config_file: &str) -> u64 {
    let path = shared_path(&format!("conformance/eppo/{config_file}"));
    let handle = init_ok(&json!({
        "provider": "eppo",
        "api_key": "test-key",
        "base_url": "http://127.0.0.1:9", // nothing listens: no fetch leaves the machine
        "configuration_path": path.to_str().unwrap(),
    }));
    let status = ok(start(handle, 0));
    assert_eq!(status["started"], true, "{status}");
    handle
}

/// Runs every subject of every case file; `obfuscated` skips the one field that cannot
/// match (`matchedRule` echoes the configured rule, which is obfuscated).
fn run_suite(config_file: &str, obfuscated: bool) {
    let handle = client_for(config_file);
    let cases = case_files();
    assert_eq!(cases.len(), 24, "expected the 24 case files of the suite");
    let mut subjects = 0;
    let mut failures = Vec::new();
    for (file, case) in &cases {
        for subject in case["subjects"].as_array().unwrap() {
            subjects += 1;
            let request = json!({
                "flag_key": case["flag"],
                "variation_type": case["variationType"],
                "default": case["defaultValue"],
                "subject_key": subject["subjectKey"],
                "subject_attributes": subject["subjectAttributes"],
                "details": true,
                "now": NOW,
            });
            let result = ok(evaluate(handle, &request));
            let expected = &subject["evaluationDetails"];
            let details = &result["details"];
            let is_match = expected["flagEvaluationCode"] == "MATCH";
            let mut checks = vec![
                (
                    "value",
                    result["value"].clone(),
                    subject["assignment"].clone(),
                ),
                (
                    "code",
                    result["code"].clone(),
                    expected["flagEvaluationCode"].clone(),
                ),
                (
                    "variation_key",
                    result["variation_key"].clone(),
                    if is_match {
                        expected["variationKey"].clone()
                    } else {
                        Value::Null
                    },
                ),
                (
                    "allocation_key",
                    result["allocation_key"].clone(),
                    if is_match {
                        expected["matchedAllocation"]["key"].clone()
                    } else {
                        Value::Null
                    },
                ),
            ];
            for field in [
                "flagEvaluationCode",
                "flagEvaluationDescription",
                "environmentName",
                "variationKey",
                "variationValue",
                "banditKey",
                "banditAction",
                "matchedRule",
                "matchedAllocation",
                "unmatchedAllocations",
                "unevaluatedAllocations",
            ] {
                if obfuscated && field == "matchedRule" {
                    continue;
                }
                checks.push((field, details[field].clone(), expected[field].clone()));
            }
            for (field, got, want) in checks {
                if got != want {
                    failures.push(format!(
                        "{file} / {}: {field}: got {got}, expected {want}",
                        subject["subjectKey"]
                    ));
                }
            }
        }
    }
    assert_eq!(subjects, 225, "expected the 225 subjects of the suite");
    assert!(
        failures.is_empty(),
        "{} mismatches against {config_file}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn plain_configuration_passes_the_suite() {
    run_suite("flags-v1.json", false);
}

#[test]
fn obfuscated_configuration_passes_the_suite() {
    run_suite("flags-v1-obfuscated.json", true);
}

#[test]
fn both_formats_load_every_flag_and_report_the_environment() {
    for file in ["flags-v1.json", "flags-v1-obfuscated.json"] {
        let handle = client_for(file);
        let status = ok(common::status(handle));
        let ufc = shared_json(&format!("conformance/eppo/{file}"));
        assert_eq!(status["provider"], "eppo");
        assert_eq!(status["initialized"], true);
        assert_eq!(
            status["flag_count"],
            ufc["flags"].as_object().unwrap().len()
        );
        assert_eq!(status["environment"], ufc["environment"]["name"]);
        assert_eq!(
            status["published_at"].as_i64(),
            allot::internals::eppo::parse_rfc3339(ufc["createdAt"].as_str().unwrap())
        );
        assert_eq!(status["flag_errors"], json!([]), "{file}");
        unsafe_free(handle);
    }
}

fn unsafe_free(handle: u64) {
    allot::ffi::allot_free(handle);
}
