//! Regex patterns the `regex` crate rejects (look-around, backreferences, bad syntax):
//! the flag loads, the pattern never matches, and `allot_status` names the flag, its
//! position and the reason under `flag_errors` with code `unsupported_regex`.

mod common;

use common::{evaluate, init_ok, ok, start, status};
use serde_json::{json, Value};

/// A flag that is "on" when `op` matches the user property `p` against `patterns`.
fn regex_flag(key: &str, op: &str, patterns: Value) -> Value {
    json!({
        "key": key,
        "variants": {"on": {"key": "on"}, "off": {"key": "off"}},
        "segments": [
            {"conditions": [[{"selector": ["context", "user", "user_properties", "p"],
                              "op": op, "values": patterns}]], "variant": "on"},
            {"variant": "off"}
        ]
    })
}

#[test]
fn rejected_patterns_never_match_and_are_reported_per_flag() {
    let flags = json!([
        regex_flag("fine", "regex match", json!(["^a"])),
        regex_flag("look-ahead", "regex match", json!(["(?=a)a", "^z"])),
        regex_flag(
            "negated",
            "regex does not match",
            json!(["(a)\\1", "(a)\\1"])
        ),
        regex_flag("broken", "regex match", json!(["["])),
    ]);
    let handle = init_ok(&json!({"provider": "amplitude", "api_key": "k", "flags": flags}));
    ok(start(handle, 0));

    let variants = ok(evaluate(
        handle,
        &json!({"user": {"user_properties": {"p": "aa"}}}),
    ))["variants"]
        .clone();
    let key = |flag: &str| variants[flag]["key"].as_str().unwrap().to_owned();
    assert_eq!(key("fine"), "on");
    // `^z` is usable and does not match "aa"; the look-ahead never matches.
    assert_eq!(key("look-ahead"), "off");
    // A pattern that never matches makes its negation true.
    assert_eq!(key("negated"), "on");
    assert_eq!(key("broken"), "off");

    let status = ok(status(handle));
    allot::ffi::allot_free(handle);
    assert_eq!(status["flag_count"], 4, "the flags load: {status}");
    let reported: Vec<(Value, Value, Value)> = status["flag_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["code"], "unsupported_regex", "{e}");
            (
                e["flag_key"].clone(),
                e["index"].clone(),
                e["message"].clone(),
            )
        })
        .collect();
    assert_eq!(
        reported.len(),
        3,
        "one entry per distinct pattern: {status}"
    );
    let message = |flag: &str, index: u64| {
        let (_, _, m) = reported
            .iter()
            .find(|(k, i, _)| k == flag && *i == index)
            .unwrap_or_else(|| panic!("{flag} at {index} not reported: {status}"));
        m.as_str().unwrap().to_owned()
    };
    let look_ahead = message("look-ahead", 1);
    assert!(
        look_ahead.contains("(?=a)a") && look_ahead.contains("look-around"),
        "{look_ahead}"
    );
    assert!(message("negated", 2).contains("backreferences"), "{status}");
    assert!(message("broken", 3).contains("never matches"), "{status}");
}
