//! Inputs the fuzz targets in fuzz/ found, each kept as a regression test (fuzz/README.md).

mod common;

use common::{init_ok, ok, start, status};
use serde_json::json;

/// ufc_eppo_obfuscated: a flag with several undecodable variation values was reported
/// with whichever value a hash map listed first, so two clients built from one
/// configuration described the same flag differently.
#[test]
fn a_flag_with_several_bad_variations_is_reported_the_same_way_each_time() {
    let flag = json!({"key": "4eb1b70d72a7e1aa12918f4bee195ae5", "enabled": true,
        "variationType": "JSON", "totalShards": 10000,
        "variations": {"b25l": {"key": "b25l", "value": "e62="},
                       "dHdv": {"key": "dHdv", "value": "eyAiddIviHwgImZsb2F0IjogMi4wIH0="},
                       "ZW1wdHk=": {"key": "ZW1wdHk=", "value": "%%%"}},
        "allocations": []});
    let config = json!({"provider": "eppo", "api_key": "k", "initial_configuration": {
        "format": "CLIENT", "environment": {"name": "Test"},
        "createdAt": "2024-04-17T19:40:53.716Z",
        "flags": {"4eb1b70d72a7e1aa12918f4bee195ae5": flag}}});
    let mut messages = Vec::new();
    for _ in 0..20 {
        let handle = init_ok(&config);
        ok(start(handle, 0));
        let errors = ok(status(handle))["flag_errors"].clone();
        allot::ffi::allot_free(handle);
        assert_eq!(errors.as_array().map(Vec::len), Some(1), "{errors}");
        messages.push(errors[0]["message"].as_str().unwrap().to_owned());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "different reports: {messages:?}");
}
