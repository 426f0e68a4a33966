//! Amplitude evaluation semantics, one decision per test, through the C ABI.
//! The reference is `../shared/reference/amplitude.md` §3–§5.

mod common;

use common::*;
use serde_json::{json, Value};

/// A started client on `flags`.
fn client(flags: Value) -> u64 {
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": "k", "flags": flags}));
    ok(start(handle, 0));
    handle
}

/// The variant key each flag gets for `user` (flags without a result are absent).
fn keys(handle: u64, user: Value, flag_keys: Option<Value>) -> Value {
    let mut request = json!({"user": user});
    if let Some(k) = flag_keys {
        request["flag_keys"] = k;
    }
    let variants = ok(evaluate(handle, &request))["variants"].clone();
    let mut out = serde_json::Map::new();
    for (flag, v) in variants.as_object().unwrap() {
        out.insert(flag.clone(), v["key"].clone());
    }
    Value::Object(out)
}

/// Whether one condition matches `user` (a flag that is "on" only when it does).
fn matches(selector: Value, op: &str, values: Value, user: Value) -> bool {
    let flag = json!([{
        "key": "f",
        "variants": {"on": {"key": "on", "value": "on"}},
        "segments": [{"conditions": [[{"selector": selector, "op": op, "values": values}]], "variant": "on"}]
    }]);
    let handle = client(flag);
    let result = keys(handle, user, None);
    allot::ffi::allot_free(handle);
    result.get("f") == Some(&json!("on"))
}

/// Whether `op values` matches the user property `prop` (absent when `prop` is None).
fn prop_matches(op: &str, values: Value, prop: Option<Value>) -> bool {
    let user = match prop {
        Some(p) => json!({"user_properties": {"p": p}}),
        None => json!({"user_properties": {}}),
    };
    matches(
        json!(["context", "user", "user_properties", "p"]),
        op,
        values,
        user,
    )
}

#[test]
fn is_and_is_not_compare_exactly() {
    assert!(prop_matches("is", json!(["a", "b"]), Some(json!("b"))));
    assert!(!prop_matches("is", json!(["a"]), Some(json!("A"))));
    assert!(prop_matches("is not", json!(["a"]), Some(json!("A"))));
    assert!(!prop_matches("is not", json!(["a", "b"]), Some(json!("a"))));
}

#[test]
fn is_compares_booleans_case_insensitively() {
    assert!(prop_matches("is", json!(["TRUE"]), Some(json!(true))));
    assert!(prop_matches("is", json!(["false"]), Some(json!("False"))));
    assert!(
        !prop_matches("is", json!(["Tru"]), Some(json!("tru"))),
        "only true/false are booleans"
    );
}

#[test]
fn scalars_are_coerced_to_their_json_text() {
    assert!(prop_matches("is", json!(["17"]), Some(json!(17))));
    assert!(prop_matches("is", json!(["12.5"]), Some(json!(12.5))));
    assert!(prop_matches(
        "is",
        json!([r#"{"a":1}"#]),
        Some(json!({"a": 1}))
    ));
}

#[test]
fn contains_is_a_case_insensitive_substring_test() {
    assert!(prop_matches(
        "contains",
        json!(["EXAMPLE"]),
        Some(json!("ada@example.com"))
    ));
    assert!(!prop_matches(
        "contains",
        json!(["nope"]),
        Some(json!("ada@example.com"))
    ));
    assert!(prop_matches(
        "does not contain",
        json!(["nope"]),
        Some(json!("ada@example.com"))
    ));
    assert!(!prop_matches(
        "does not contain",
        json!(["Ada"]),
        Some(json!("ada@example.com"))
    ));
}

#[test]
fn numeric_comparisons_parse_numbers() {
    assert!(
        prop_matches("greater", json!(["9"]), Some(json!("10"))),
        "10 > 9 numerically, not as text"
    );
    assert!(prop_matches("less", json!(["10"]), Some(json!(9.5))));
    assert!(prop_matches(
        "less or equal",
        json!(["10"]),
        Some(json!("10.0"))
    ));
    assert!(prop_matches(
        "greater or equal",
        json!(["10"]),
        Some(json!(10))
    ));
    assert!(!prop_matches("greater", json!(["10"]), Some(json!(10))));
}

#[test]
fn numeric_comparisons_fall_back_to_strings() {
    // Property not a number: lexicographic.
    assert!(prop_matches("less", json!(["b"]), Some(json!("abc"))));
    assert!(!prop_matches("greater", json!(["b"]), Some(json!("abc"))));
    // Every filter value fails to parse: lexicographic ("9" > "10" as text).
    assert!(prop_matches("greater", json!(["10x"]), Some(json!("9"))));
    // One filter value parses: numeric against the parsable ones only.
    assert!(!prop_matches(
        "greater",
        json!(["10", "(none)"]),
        Some(json!("9"))
    ));
}

#[test]
fn version_comparisons_use_semantic_versions() {
    assert!(prop_matches(
        "version greater",
        json!(["1.9.0"]),
        Some(json!("1.10.0"))
    ));
    assert!(prop_matches(
        "version less",
        json!(["2.0.0"]),
        Some(json!("2.0.0-beta"))
    ));
    assert!(prop_matches(
        "version less or equal",
        json!(["2.0"]),
        Some(json!("2.0.0"))
    ));
    assert!(prop_matches(
        "version greater or equal",
        json!(["2.0.0"]),
        Some(json!("2.0.1"))
    ));
    // Not a version on the property side: string comparison ("1.10." < "1.9" as text).
    assert!(prop_matches(
        "version less",
        json!(["1.9"]),
        Some(json!("1.10."))
    ));
}

#[test]
fn regex_match_searches_anywhere_and_invalid_patterns_never_match() {
    assert!(prop_matches(
        "regex match",
        json!(["ex.mple"]),
        Some(json!("ada@example.com"))
    ));
    assert!(!prop_matches(
        "regex match",
        json!(["^example"]),
        Some(json!("ada@example.com"))
    ));
    assert!(!prop_matches(
        "regex match",
        json!(["(unclosed"]),
        Some(json!("(unclosed"))
    ));
    assert!(prop_matches(
        "regex does not match",
        json!(["(unclosed"]),
        Some(json!("x"))
    ));
    assert!(!prop_matches(
        "regex does not match",
        json!(["@"]),
        Some(json!("a@b"))
    ));
}

#[test]
fn set_operators_need_a_list() {
    let list = Some(json!(["a", "b", null]));
    assert!(
        prop_matches("set is", json!(["b", "a"]), list.clone()),
        "nulls are dropped"
    );
    assert!(!prop_matches("set is", json!(["a"]), list.clone()));
    assert!(prop_matches("set is not", json!(["a"]), list.clone()));
    assert!(prop_matches("set contains", json!(["a"]), list.clone()));
    assert!(!prop_matches(
        "set contains",
        json!(["a", "c"]),
        list.clone()
    ));
    assert!(prop_matches(
        "set does not contain",
        json!(["a", "c"]),
        list.clone()
    ));
    assert!(prop_matches(
        "set contains any",
        json!(["c", "b"]),
        list.clone()
    ));
    assert!(!prop_matches(
        "set contains any",
        json!(["c"]),
        list.clone()
    ));
    assert!(prop_matches("set does not contain any", json!(["c"]), list));
    // A string holding a JSON array is a list too.
    assert!(prop_matches(
        "set contains",
        json!(["x"]),
        Some(json!(r#"["x","y"]"#))
    ));
    // A scalar is not a list: every set operator is false.
    for op in [
        "set is",
        "set is not",
        "set contains",
        "set does not contain",
        "set contains any",
        "set does not contain any",
    ] {
        assert!(
            !prop_matches(op, json!(["a"]), Some(json!("a"))),
            "{op} on a scalar"
        );
    }
}

#[test]
fn other_operators_on_lists_match_any_element_negations_included() {
    assert!(prop_matches("is", json!(["B"]), Some(json!(["A", "B"]))));
    assert!(prop_matches(
        "is not",
        json!(["A"]),
        Some(json!(["A", "B"]))
    ));
    assert!(!prop_matches("is not", json!(["A"]), Some(json!(["A"]))));
    assert!(prop_matches(
        "contains",
        json!(["b"]),
        Some(json!(r#"["xa","xb"]"#))
    ));
    assert!(
        !prop_matches("is", json!(["A"]), Some(json!([]))),
        "an empty list has no element to match"
    );
}

#[test]
fn null_properties_follow_the_none_rule() {
    let positive = [
        "is",
        "contains",
        "less",
        "less or equal",
        "greater",
        "greater or equal",
        "version less",
        "version less or equal",
        "version greater",
        "version greater or equal",
        "set is",
        "set contains",
        "set contains any",
    ];
    for op in positive {
        assert!(
            prop_matches(op, json!(["(none)"]), None),
            "{op} with (none) on null"
        );
        assert!(
            !prop_matches(op, json!(["x"]), None),
            "{op} without (none) on null"
        );
    }
    for op in [
        "is not",
        "does not contain",
        "set does not contain",
        "set does not contain any",
    ] {
        assert!(
            !prop_matches(op, json!(["(none)"]), None),
            "{op} with (none) on null"
        );
        assert!(
            prop_matches(op, json!(["x"]), None),
            "{op} without (none) on null"
        );
    }
    assert!(!prop_matches("regex match", json!([".*", "(none)"]), None));
    // allot follows Kotlin and Go here (the Python and JS ports say false).
    assert!(prop_matches("regex does not match", json!(["x"]), None));
    assert!(prop_matches("set is not", json!(["x"]), None));
    // JSON null is null.
    assert!(prop_matches("is", json!(["(none)"]), Some(Value::Null)));
}

#[test]
fn empty_and_falsy_values_are_values_not_null() {
    for value in [json!(""), json!(0), json!(false), json!([])] {
        assert!(
            !prop_matches("is", json!(["(none)"]), Some(value.clone())),
            "{value} is not null"
        );
    }
    assert!(prop_matches("is", json!([""]), Some(json!(""))));
    assert!(prop_matches("is", json!(["false"]), Some(json!(false))));
}

#[test]
fn unknown_operators_never_match() {
    assert!(!prop_matches("resembles", json!(["a"]), Some(json!("a"))));
    assert!(!prop_matches("resembles", json!(["(none)"]), None));
}

#[test]
fn selectors_read_user_fields_groups_and_cohorts() {
    let user = json!({
        "country": "Canada",
        "cohort_ids": ["c1", "c2"],
        "groups": {"org": ["acme", "other"]},
        "group_properties": {"org": {"acme": {"tier": {"name": "gold"}}, "other": {"tier": {"name": "free"}}}},
        "group_cohort_ids": {"org": {"acme": ["gc1"]}}
    });
    assert!(matches(
        json!(["context", "user", "country"]),
        "is",
        json!(["Canada"]),
        user.clone()
    ));
    assert!(matches(
        json!(["context", "user", "cohort_ids"]),
        "set contains",
        json!(["c2"]),
        user.clone()
    ));
    assert!(matches(
        json!(["context", "groups", "org", "group_name"]),
        "is",
        json!(["acme"]),
        user.clone()
    ));
    assert!(matches(
        json!([
            "context",
            "groups",
            "org",
            "group_properties",
            "tier",
            "name"
        ]),
        "is",
        json!(["gold"]),
        user.clone()
    ));
    assert!(matches(
        json!(["context", "groups", "org", "cohort_ids"]),
        "set contains any",
        json!(["gc1"]),
        user.clone()
    ));
    // A walk through a non-object, or a missing group, yields null.
    assert!(matches(
        json!(["context", "user", "country", "x"]),
        "is",
        json!(["(none)"]),
        user.clone()
    ));
    assert!(matches(
        json!(["context", "groups", "team", "group_name"]),
        "is",
        json!(["(none)"]),
        user
    ));
}

#[test]
fn absent_conditions_match_everyone_and_empty_conditions_no_one() {
    let handle = client(json!([
        {"key": "absent", "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]},
        {"key": "null", "variants": {"on": {"key": "on"}}, "segments": [{"conditions": null, "variant": "on"}]},
        {"key": "empty", "variants": {"on": {"key": "on"}}, "segments": [{"conditions": [], "variant": "on"}]}
    ]));
    assert_eq!(
        keys(handle, json!({}), None),
        json!({"absent": "on", "null": "on"})
    );
}

/// A flag bucketing on user_id with one allocation over `alloc` and two distributions.
fn bucketed_flag(alloc: [u64; 2], distributions: Value, segment_variant: &str) -> Value {
    json!([{
        "key": "b",
        "variants": {"on": {"key": "on"}, "off": {"key": "off"}, "fallback": {"key": "fallback"}},
        "segments": [
            {"bucket": {"selector": ["context", "user", "user_id"], "salt": "s", "allocations": [{"range": alloc, "distributions": distributions}]},
             "variant": segment_variant},
            {"variant": "fallback"}
        ]
    }])
}

#[test]
fn bucketing_uses_murmur3_allocation_and_distribution() {
    let user_id = "user-42";
    let hash = allot::internals::amplitude::murmur3_32(format!("s/{user_id}").as_bytes(), 0);
    let (allocation, distribution) = (u64::from(hash % 100), u64::from(hash / 100));
    // Distribution split exactly at the user's value: the user is in the upper half.
    let split = json!([{"variant": "off", "range": [0, distribution]}, {"variant": "on", "range": [distribution, 42949673]}]);
    let handle = client(bucketed_flag([allocation, allocation + 1], split, "off"));
    assert_eq!(keys(handle, json!({"user_id": user_id}), None)["b"], "on");
    // Outside the allocation: the segment's own variant.
    let handle = client(bucketed_flag(
        [(allocation + 1) % 100, (allocation + 1) % 100 + 1],
        json!([{"variant": "on", "range": [0, 42949673]}]),
        "off",
    ));
    assert_eq!(keys(handle, json!({"user_id": user_id}), None)["b"], "off");
    // A missing or empty bucketing value: the segment's own variant.
    let full = json!([{"variant": "on", "range": [0, 42949673]}]);
    let handle = client(bucketed_flag([0, 100], full.clone(), "off"));
    assert_eq!(keys(handle, json!({}), None)["b"], "off");
    assert_eq!(keys(handle, json!({"user_id": ""}), None)["b"], "off");
    // A distribution naming no variant: on to the next segment.
    let handle = client(bucketed_flag(
        [0, 100],
        json!([{"variant": "ghost", "range": [0, 42949673]}]),
        "off",
    ));
    assert_eq!(
        keys(handle, json!({"user_id": user_id}), None)["b"],
        "fallback"
    );
}

#[test]
fn metadata_merges_flag_then_segment_then_variant() {
    let handle = client(json!([{
        "key": "m",
        "metadata": {"a": "flag", "b": "flag", "c": "flag"},
        "variants": {"on": {"key": "on", "value": "v", "payload": {"p": 1}, "metadata": {"c": "variant"}}},
        "segments": [{"metadata": {"b": "segment", "c": "segment"}, "variant": "on"}]
    }]));
    let variants = ok(evaluate(handle, &json!({"user": {}})))["variants"].clone();
    assert_eq!(
        variants["m"],
        json!({"key": "on", "value": "v", "payload": {"p": 1}, "metadata": {"a": "flag", "b": "segment", "c": "variant"}})
    );
}

#[test]
fn dependencies_evaluate_parents_first_and_return_them() {
    let handle = client(json!([
        {"key": "child", "dependencies": ["parent", "missing-parent"], "variants": {"on": {"key": "on"}},
         "segments": [{"conditions": [[{"selector": ["result", "parent", "key"], "op": "is", "values": ["yes"]}]], "variant": "on"}]},
        {"key": "parent", "variants": {"yes": {"key": "yes"}}, "segments": [{"variant": "yes"}]},
        {"key": "other", "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]}
    ]));
    assert_eq!(
        keys(handle, json!({}), Some(json!(["child"]))),
        json!({"child": "on", "parent": "yes"})
    );
    assert_eq!(
        keys(handle, json!({}), Some(json!(["nope"]))),
        json!({}),
        "unknown keys are skipped"
    );
    assert_eq!(
        keys(handle, json!({}), Some(json!([]))),
        json!({"child": "on", "parent": "yes", "other": "on"})
    );
}

#[test]
fn a_dependency_cycle_is_an_error_naming_the_cycle() {
    let flags = json!([
        {"key": "a", "dependencies": ["b"], "variants": {}, "segments": []},
        {"key": "b", "dependencies": ["c"], "variants": {}, "segments": []},
        {"key": "c", "dependencies": ["a"], "variants": {}, "segments": []}
    ]);
    let err = init(&json!({"provider": "amplitude", "api_key": "k", "flags": flags})).unwrap_err();
    assert_eq!(error_code(&err), "dependency_cycle");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a -> b -> c -> a"),
        "{err}"
    );
}

#[test]
fn a_malformed_flag_is_reported_and_the_rest_loads() {
    let handle = client(json!([
        {"key": "good", "variants": {"on": {"key": "on"}}, "segments": [{"variant": "on"}]},
        {"key": "bad", "variants": {}, "segments": "not a list"},
        {"variants": {}}
    ]));
    assert_eq!(keys(handle, json!({}), None), json!({"good": "on"}));
    let status = ok(status(handle));
    assert_eq!(status["flag_count"], 1);
    let errors = status["flag_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["flag_key"], "bad");
    assert_eq!(errors[0]["code"], "invalid_flag");
    assert_eq!(errors[1]["flag_key"], Value::Null);
    assert_eq!(errors[1]["index"], 2);
}
