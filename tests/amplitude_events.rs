//! Assignment and exposure events, field by field, on the real dependency fixture
//! (a holdout group, a mutual-exclusion group, experiments, default variants).

mod common;

use allot::internals::amplitude::Assigned;
use allot::internals::amplitude::Snapshot;
use allot::internals::amplitude::{assignment_event, exposure_events, hash_code};

/// One day in milliseconds: the `insert_id` period.
const DAY_MILLIS: u64 = 86_400_000;
use allot::internals::amplitude::User;
use common::shared_json;
use serde::Deserialize;
use serde_json::json;

const NOW: u64 = 1_700_000_000_123;
/// The `library` field: allot names itself where the SDK writes `amplitude-python/<version>`.
const LIBRARY: &str = concat!("allot/", env!("CARGO_PKG_VERSION"));

fn fixture() -> Snapshot {
    let flags = shared_json("conformance/amplitude/dependencies_fixture.json")["flags"].clone();
    Snapshot::compile(flags.as_array().unwrap()).unwrap()
}

fn user() -> User<'static> {
    User::deserialize(json!({"user_id": "user_id", "device_id": "device_id"})).unwrap()
}

#[test]
fn assignment_event_has_exact_properties() {
    let snapshot = fixture();
    let user = user();
    let evaluation = snapshot.evaluate(&user, None);
    let assigned: Vec<Assigned<'_>> = evaluation.assigned().collect();
    let (canonical, event) = assignment_event(&user, &assigned, NOW).unwrap();
    assert_eq!(
        canonical,
        "user_id device_id \
         holdout-sdk-ci-dependencies-test-force-holdout holdout \
         holdout-sdk-ci-local-dependencies-test-holdout on \
         mutex-sdk-ci-local-dependencies-test-mutex slot-1 \
         sdk-ci-local-dependencies-test control \
         sdk-ci-local-dependencies-test-holdout off \
         sdk-local-evaluation-ci-test on "
    );
    let expected = json!({
        "event_type": "[Experiment] Assignment",
        "user_id": "user_id",
        "device_id": "device_id",
        "time": NOW,
        "insert_id": format!("user_id device_id {} {}", hash_code(&canonical), NOW / DAY_MILLIS),
        "library": LIBRARY,
        "event_properties": {
            "holdout-sdk-ci-dependencies-test-force-holdout.variant": "holdout",
            "holdout-sdk-ci-dependencies-test-force-holdout.details": "v2 rule:All Other Users",
            "holdout-sdk-ci-local-dependencies-test-holdout.variant": "on",
            "holdout-sdk-ci-local-dependencies-test-holdout.details": "v1 rule:All Other Users",
            "mutex-sdk-ci-local-dependencies-test-mutex.variant": "slot-1",
            "mutex-sdk-ci-local-dependencies-test-mutex.details": "v1 rule:All Other Users",
            "sdk-ci-local-dependencies-test.variant": "control",
            "sdk-ci-local-dependencies-test.details": "v9 rule:All Other Users",
            "sdk-ci-local-dependencies-test-holdout.variant": "off",
            "sdk-ci-local-dependencies-test-holdout.details": "v5 rule:flag-dependencies",
            "sdk-local-evaluation-ci-test.variant": "on",
            "sdk-local-evaluation-ci-test.details": "v7 rule:All Other Users"
        },
        "user_properties": {
            // The mutual-exclusion group is left out; the default variant is unset.
            "$set": {
                "[Experiment] holdout-sdk-ci-dependencies-test-force-holdout": "holdout",
                "[Experiment] holdout-sdk-ci-local-dependencies-test-holdout": "on",
                "[Experiment] sdk-ci-local-dependencies-test": "control",
                "[Experiment] sdk-local-evaluation-ci-test": "on"
            },
            "$unset": {"[Experiment] sdk-ci-local-dependencies-test-holdout": "-"}
        }
    });
    assert_eq!(event, expected);
}

#[test]
fn no_assignment_event_without_results() {
    let snapshot = Snapshot::compile(&[]).unwrap();
    let user = user();
    let evaluation = snapshot.evaluate(&user, None);
    let assigned: Vec<Assigned<'_>> = evaluation.assigned().collect();
    assert!(assignment_event(&user, &assigned, NOW).is_none());
}

#[test]
fn exposure_events_skip_defaults_and_untracked_variants() {
    let flags = json!([
        {"key": "exp", "metadata": {"flagType": "experiment", "flagVersion": 3, "experimentKey": "exp-1"},
         "variants": {"treatment": {"key": "treatment", "value": "treatment", "payload": {"x": 1}}},
         "segments": [{"metadata": {"segmentName": "All"}, "variant": "treatment"}]},
        {"key": "mutex", "metadata": {"flagType": "mutual-exclusion-group"},
         "variants": {"slot": {"key": "slot"}}, "segments": [{"variant": "slot"}]},
        {"key": "quiet", "variants": {"on": {"key": "on", "metadata": {"trackExposure": false}}}, "segments": [{"variant": "on"}]},
        {"key": "dflt", "variants": {"off": {"key": "off", "metadata": {"default": true}}}, "segments": [{"variant": "off"}]}
    ]);
    let snapshot = Snapshot::compile(flags.as_array().unwrap()).unwrap();
    let user = user();
    let evaluation = snapshot.evaluate(&user, None);
    let assigned: Vec<Assigned<'_>> = evaluation.assigned().collect();
    let (canonical, events) = exposure_events(&user, &assigned, NOW).unwrap();
    // As the SDK: one key for the whole evaluation, defaults and untracked flags included.
    assert_eq!(
        canonical,
        "user_id device_id dflt off exp treatment mutex slot quiet on "
    );
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(
        events[0],
        json!({
            "event_type": "[Experiment] Exposure",
            "user_id": "user_id",
            "device_id": "device_id",
            "time": NOW,
            "insert_id": format!("user_id device_id {} {}", hash_code(&format!("exp {canonical}")), NOW / DAY_MILLIS),
            "library": LIBRARY,
            "event_properties": {
                "[Experiment] Flag Key": "exp",
                "[Experiment] Variant": "treatment",
                "[Experiment] Experiment Key": "exp-1",
                "metadata": {"flagType": "experiment", "flagVersion": 3, "experimentKey": "exp-1", "segmentName": "All"}
            },
            "user_properties": {"$set": {"[Experiment] exp": "treatment"}, "$unset": {}}
        })
    );
    assert_eq!(
        events[1]["event_properties"]["[Experiment] Flag Key"],
        "mutex"
    );
    assert_eq!(
        events[1]["user_properties"],
        json!({"$set": {}, "$unset": {}}),
        "mutual-exclusion groups set nothing"
    );
}
