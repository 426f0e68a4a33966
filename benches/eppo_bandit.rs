//! Eppo bandit action cost on `../shared/conformance/eppo/bandit-{flags,models}-v1.json`:
//! `banner_bandit_flag` choosing among 5 actions, through the pure Rust API (the flag
//! assignment and the action choice), the action choice alone, and the C ABI (JSON in and
//! out, events written, string freed).

use std::ffi::{CStr, CString};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use allot::internals::eppo::bandit::{bandit_action, Action, BanditModels, ContextAttributes};
use allot::internals::eppo::{now_ms, Snapshot, Subject};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/eppo")
        .join(name)
}

fn subject() -> Value {
    json!({"age": 25, "account_age": 30, "country": "USA", "gender_identity": "female"})
}

fn actions() -> Value {
    json!({
        "nike": {"brand_affinity": 1.5, "loyalty_tier": "silver", "zip": "22203"},
        "adidas": {"brand_affinity": -1.0, "loyalty_tier": "bronze", "purchased_last_30_days": true},
        "reebok": {"brand_affinity": 0.5, "loyalty_tier": "gold"},
        "puma": {"brand_affinity": 2.0, "discount": 0.1},
        "asics": {},
    })
}

fn rust_api(c: &mut Criterion) {
    let flags = std::fs::read_to_string(shared("bandit-flags-v1.json")).expect("read flags");
    let models = std::fs::read_to_string(shared("bandit-models-v1.json")).expect("read models");
    let snapshot = Snapshot::from_json(&flags, 0)
        .expect("compile flags")
        .with_bandit_models(Arc::new(
            BanditModels::from_json(&models).expect("compile models"),
        ));
    let subject_json = subject();
    let subject_map: &Map<String, Value> = subject_json.as_object().unwrap();
    let context = ContextAttributes::from_dict(subject_map).unwrap();
    let dict = context.to_dict();
    let actions_json = actions();
    let actions: Vec<Action<'_>> = actions_json
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, attributes)| Action {
            key,
            attributes: ContextAttributes::from_dict(attributes.as_object().unwrap()).unwrap(),
        })
        .collect();
    let now = now_ms();
    let subject = Subject {
        key: "alice",
        attributes: &dict,
    };
    let probe = bandit_action(
        Some(&snapshot),
        "banner_bandit_flag",
        subject,
        &context,
        &actions,
        "d",
        now,
        None,
    );
    assert!(
        probe.action(&actions).is_some(),
        "the bandit chooses an action"
    );
    let model = probe.bandit.and_then(|b| b.model).expect("a model");
    let mut group = c.benchmark_group("eppo_bandit_rust");
    group.bench_function("bandit_action_5_actions", |b| {
        b.iter(|| {
            let result = bandit_action(
                Some(&snapshot),
                black_box("banner_bandit_flag"),
                black_box(subject),
                black_box(&context),
                black_box(&actions),
                "d",
                now,
                None,
            );
            black_box(result.bandit.and_then(|b| b.choice));
        })
    });
    group.bench_function("choose_5_actions", |b| {
        b.iter(|| {
            black_box(model.choose(
                black_box("banner_bandit_flag"),
                black_box("alice"),
                black_box(&context),
                black_box(&actions),
            ))
        })
    });
    group.finish();
}

fn c_abi(c: &mut Criterion) {
    let config = json!({
        "provider": "eppo",
        "api_key": "bench-key",
        "configuration_path": shared("bandit-flags-v1.json").to_str().expect("UTF-8 path"),
        "bandits_path": shared("bandit-models-v1.json").to_str().expect("UTF-8 path"),
    });
    let config = CString::new(config.to_string()).expect("no NUL");
    let handle = unsafe { allot::ffi::allot_init(config.as_ptr(), std::ptr::null_mut()) };
    assert_ne!(handle, 0, "allot_init failed");
    unsafe { allot::ffi::allot_string_free(allot::ffi::allot_start(handle, 0)) };
    let request = json!({"flag_key": "banner_bandit_flag", "subject_key": "alice",
                         "subject_attributes": subject(), "actions": actions(), "default": "d"});
    let request = CString::new(request.to_string()).expect("no NUL");
    let probe = unsafe { allot::ffi::allot_evaluate(handle, request.as_ptr()) };
    let text = unsafe { CStr::from_ptr(probe) }
        .to_str()
        .expect("UTF-8")
        .to_owned();
    unsafe { allot::ffi::allot_string_free(probe) };
    assert!(text.contains("\"bandit_events\":[{"), "{text}");
    let mut group = c.benchmark_group("eppo_bandit_c_abi");
    group.bench_function("bandit_action_5_actions", |b| {
        b.iter(|| unsafe {
            let out = allot::ffi::allot_evaluate(handle, black_box(request.as_ptr()));
            allot::ffi::allot_string_free(out);
        })
    });
    group.finish();
    allot::ffi::allot_free(handle);
}

criterion_group!(benches, rust_api, c_abi);
criterion_main!(benches);
