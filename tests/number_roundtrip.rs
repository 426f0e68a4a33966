//! JSON numbers through the C ABI: read correctly rounded (as JavaScript, Kotlin, Go and
//! Python read them) wherever allot parses JSON, and written back unchanged. Configurations
//! and requests are sent as raw text and answers are read as raw text, so the test's own
//! JSON library cannot round anything; expectations come from `str::parse::<f64>`, which
//! is correctly rounded.

mod common;

use std::ffi::{c_char, CStr, CString};

use common::server::{Reply, Server};
use common::{init_raw, ok, start};
use serde_json::Value;

/// Number literals that an approximate parser reads wrongly or that stress the writer:
/// halfway cases, many digits, the subnormal and overflow edges, exponents.
const LITERALS: &[&str] = &[
    "0.1",
    "0.30000000000000004",
    "3.14159265358979323846264338327950288419716939937510",
    // 1 + 2^-53 is halfway between 1 and the next double: ties to even give 1.
    "1.00000000000000011102230246251565404236316680908203125",
    // A hair above halfway: the next double, 1.0000000000000002.
    "1.00000000000000011102230246251565404236316680908203126",
    "9007199254740993.0",
    "2.2250738585072011e-308",
    "2.2250738585072014e-308",
    "4.9406564584124654e-324",
    "1.7976931348623157e308",
    "7.038531e-26",
    "8.98846567431158e307",
    "1E5",
    "1e+2",
    "0.1e1",
    "-12.5e-3",
    "123456789012345678901234567890",
    "-123456789012345678901234567890.5",
];

/// Integers that fit 64 bits are kept exactly.
const INTEGERS: &[&str] = &[
    "0",
    "9007199254740993",
    "18446744073709551615",
    "-9223372036854775808",
];

/// Calls `allot_evaluate` with raw request text; the raw answer text.
fn evaluate_text(handle: u64, request: &str) -> String {
    let c = CString::new(request).unwrap();
    let ptr: *mut c_char = unsafe { allot::ffi::allot_evaluate(handle, c.as_ptr()) };
    assert!(!ptr.is_null());
    let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
    unsafe { allot::ffi::allot_string_free(ptr) };
    text
}

/// The literal that follows `"<key>":` in raw JSON text (up to `,`, `]` or `}`).
fn literal_after<'a>(text: &'a str, key: &str) -> &'a str {
    let marker = format!("\"{key}\":");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{key} missing in {text}"))
        + marker.len();
    let rest = &text[start..];
    let end = rest.find([',', ']', '}']).unwrap();
    &rest[..end]
}

/// The double a literal denotes, correctly rounded.
fn exact(literal: &str) -> f64 {
    literal.parse::<f64>().unwrap()
}

/// A started Amplitude client on raw configuration text.
fn amplitude(flags_json: &str) -> u64 {
    let config = format!(r#"{{"provider":"amplitude","api_key":"k","flags":{flags_json}}}"#);
    let handle = init_raw(&config).unwrap_or_else(|e| panic!("init: {e}"));
    ok(start(handle, 0));
    handle
}

#[test]
fn values_payloads_and_metadata_come_back_as_the_same_number() {
    for literal in LITERALS.iter().chain(INTEGERS) {
        let flags = format!(
            r#"[{{"key":"f","metadata":{{"flagRatio":{literal}}},
                "variants":{{"on":{{"key":"on","value":{literal},
                  "payload":{{"nested":[{{"payloadNumber":{literal}}}]}},
                  "metadata":{{"variantRatio":{literal}}}}}}},
                "segments":[{{"variant":"on","metadata":{{"segmentRatio":{literal}}}}}]}}]"#
        );
        let handle = amplitude(&flags);
        let answer = evaluate_text(handle, r#"{"user":{"user_id":"u"}}"#);
        allot::ffi::allot_free(handle);
        for key in [
            "value",
            "payloadNumber",
            "flagRatio",
            "segmentRatio",
            "variantRatio",
        ] {
            let written = literal_after(&answer, key);
            if INTEGERS.contains(literal) {
                assert_eq!(written, *literal, "{key} of {literal} in {answer}");
            } else {
                assert_eq!(
                    exact(written).to_bits(),
                    exact(literal).to_bits(),
                    "{key}: {literal} came back as {written}"
                );
            }
        }
    }
}

#[test]
fn negative_zero_stays_negative_zero() {
    for literal in ["-0", "-0.0", "-0e0"] {
        let flags = format!(
            r#"[{{"key":"f","variants":{{"on":{{"key":"on","value":{literal}}}}},
                "segments":[{{"variant":"on"}}]}}]"#
        );
        let handle = amplitude(&flags);
        let answer = evaluate_text(handle, r#"{"user":{"user_id":"u"}}"#);
        allot::ffi::allot_free(handle);
        let written = exact(literal_after(&answer, "value"));
        assert!(
            written == 0.0 && written.is_sign_negative(),
            "{literal} in {answer}"
        );
    }
}

/// Whether `is <text>` matches the user property `n` given as the raw literal.
fn property_is(literal: &str, text: &str) -> bool {
    let flags = format!(
        r#"[{{"key":"f","variants":{{"on":{{"key":"on"}}}},"segments":[{{"conditions":[[{{
            "selector":["context","user","user_properties","n"],"op":"is","values":[{}]}}]],
            "variant":"on"}}]}}]"#,
        Value::from(text)
    );
    let handle = amplitude(&flags);
    let answer = evaluate_text(
        handle,
        &format!(r#"{{"user":{{"user_properties":{{"n":{literal}}}}}}}"#),
    );
    allot::ffi::allot_free(handle);
    answer.contains(r#""key":"on""#)
}

#[test]
fn numeric_properties_coerce_to_the_correctly_rounded_number() {
    // Non-integral doubles of moderate size print the same in every vendor engine: the
    // shortest text that reads back as the same double.
    for literal in [
        "0.30000000000000004",
        "3.14159265358979323846264338327950288419716939937510",
        "1.00000000000000011102230246251565404236316680908203126",
        "0.1000000000000000055511151231257827021181583404541015625",
        "-12.5e-3",
    ] {
        let shortest = exact(literal).to_string();
        assert!(
            property_is(literal, &shortest),
            "{literal} should read as {shortest}"
        );
    }
    // The halfway case rounds to even (1), and integral doubles print as `1.0`.
    assert!(property_is(
        "1.00000000000000011102230246251565404236316680908203125",
        "1.0"
    ));
    assert!(property_is("18446744073709551615", "18446744073709551615"));
}

/// The variant a flag bucketing on user property `n` (100 % to `a` or `b` by hash) gives.
fn bucket_variant(property_json: &str) -> String {
    let flags = r#"[{"key":"f","variants":{"a":{"key":"a"},"b":{"key":"b"}},"segments":[{
        "bucket":{"selector":["context","user","user_properties","n"],"salt":"u",
          "allocations":[{"range":[0,100],"distributions":[
            {"variant":"a","range":[0,21474837]},{"variant":"b","range":[21474837,42949673]}]}]},
        "variant":"a"}]}]"#;
    let handle = amplitude(flags);
    let answer: Value = serde_json::from_str(&evaluate_text(
        handle,
        &format!(r#"{{"user":{{"user_properties":{{"n":{property_json}}}}}}}"#),
    ))
    .unwrap();
    allot::ffi::allot_free(handle);
    answer["ok"]["variants"]["f"]["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn numeric_properties_hash_as_their_correctly_rounded_text() {
    // Bucketing on a number hashes its text: the same variant as the string of the
    // correctly rounded double, for every literal (the split makes both variants occur).
    let mut seen = Vec::new();
    for literal in LITERALS
        .iter()
        .filter(|l| exact(l).fract() != 0.0 && exact(l).abs() < 1e15 && exact(l).abs() > 1e-4)
    {
        let text = Value::from(exact(literal).to_string()).to_string();
        let variant = bucket_variant(literal);
        assert_eq!(variant, bucket_variant(&text), "{literal} hashed as {text}");
        seen.push(variant);
    }
    assert!(seen.len() >= 5, "{seen:?}");
    assert!(seen.contains(&"a".to_owned()) && seen.contains(&"b".to_owned()));
    // The halfway case is the double 1, hashed as `1.0`.
    assert_eq!(
        bucket_variant("1.00000000000000011102230246251565404236316680908203125"),
        bucket_variant(r#""1.0""#)
    );
    assert_ne!(
        bucket_variant(r#""1.0""#),
        bucket_variant(r#""1.0000000000000002""#)
    );
}

/// The NUMERIC value Eppo assigns for attribute `x` given as a raw literal (the flag
/// serves many digits of pi when `x > 1`, else 1).
fn eppo_numeric(x: &str) -> String {
    let ufc = format!(
        r#"{{"createdAt":"2024-04-30T08:00:00.000Z","format":"SERVER","environment":{{"name":"t"}},
        "flags":{{"n":{{"key":"n","enabled":true,"variationType":"NUMERIC","totalShards":10000,
          "variations":{{"pi":{{"key":"pi","value":{PI}}},"one":{{"key":"one","value":1}}}},
          "allocations":[
            {{"key":"above","rules":[{{"conditions":[{{"attribute":"x","operator":"GT","value":1}}]}}],
              "splits":[{{"variationKey":"pi","shards":[]}}]}},
            {{"key":"rest","splits":[{{"variationKey":"one","shards":[]}}]}}]}}}}}}"#
    );
    let config = format!(
        r#"{{"provider":"eppo","api_key":"sk-test","base_url":"http://127.0.0.1:9","initial_configuration":{ufc}}}"#
    );
    let handle = init_raw(&config).unwrap_or_else(|e| panic!("init: {e}"));
    ok(start(handle, 100));
    let answer = evaluate_text(
        handle,
        &format!(
            r#"{{"flag_key":"n","subject_key":"s","subject_attributes":{{"x":{x}}},
            "variation_type":"NUMERIC","default":0,"now":"2024-05-01T12:00:00Z"}}"#
        ),
    );
    allot::ffi::allot_free(handle);
    literal_after(&answer, "value").to_owned()
}

const PI: &str = "3.14159265358979323846264338327950288419716939937510";

#[test]
fn eppo_reads_attributes_and_values_correctly_rounded() {
    // 1 + 2^-53 is the double 1, not above 1; a hair more is the next double.
    let halfway = "1.00000000000000011102230246251565404236316680908203125";
    let above_half = "1.00000000000000011102230246251565404236316680908203126";
    assert_eq!(exact(&eppo_numeric(halfway)), 1.0);
    let pi = eppo_numeric(above_half);
    assert_eq!(exact(&pi).to_bits(), exact(PI).to_bits(), "{pi}");
}

/// Calls `allot_fetch` with raw request text; the raw answer text.
fn fetch_text(handle: u64, request: &str) -> String {
    let c = CString::new(request).unwrap();
    let ptr: *mut c_char = unsafe { allot::ffi::allot_fetch(handle, c.as_ptr()) };
    assert!(!ptr.is_null());
    let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
    unsafe { allot::ffi::allot_string_free(ptr) };
    text
}

#[test]
fn fetched_configurations_and_remote_answers_are_read_correctly_rounded() {
    // The halfway case is the double 1; the next literal is the double after it.
    let halfway = "1.00000000000000011102230246251565404236316680908203125";
    let above = "1.00000000000000011102230246251565404236316680908203126";
    let flags = format!(
        r#"[{{"key":"f","variants":{{"on":{{"key":"on","value":{halfway},"payload":{above}}}}},
            "segments":[{{"variant":"on"}}]}}]"#
    );
    let remote = format!(r#"{{"f":{{"key":"on","value":{halfway},"payload":{above}}}}}"#);
    let server = Server::start(move |request| {
        if request.path().starts_with("/sdk/v2/flags") {
            Reply::text(200, flags.clone())
        } else {
            Reply::text(200, remote.clone())
        }
    });
    let check = |answer: &str| {
        assert_eq!(exact(literal_after(answer, "value")), 1.0, "{answer}");
        assert_eq!(
            exact(literal_after(answer, "payload")),
            1.0000000000000002,
            "{answer}"
        );
    };

    let local = init_raw(&format!(
        r#"{{"provider":"amplitude","api_key":"k","server_url":"{}"}}"#,
        server.url()
    ))
    .unwrap();
    ok(start(local, 5000));
    check(&evaluate_text(local, r#"{"user":{"user_id":"u"}}"#));
    allot::ffi::allot_free(local);

    let remote = init_raw(&format!(
        r#"{{"provider":"amplitude","mode":"remote","api_key":"k","server_url":"{}"}}"#,
        server.url()
    ))
    .unwrap();
    ok(start(remote, 0));
    check(&fetch_text(remote, r#"{"user":{"user_id":"u"}}"#));
    allot::ffi::allot_free(remote);
}
