//! Bandit models over real HTTP on 127.0.0.1, through the C ABI: fetched with the flags
//! when the flags reference bandits, again only when a referenced model version changes,
//! never for flags without bandits, and a failed model fetch keeps the last good pair of
//! flags and models. Every server is started by its test; every wait is bounded.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

const KEY: &str = "sk-eppo-bandit-key";
const CONFIG_PATH: &str = "/api/flag-config/v1/config";
const BANDITS_PATH: &str = "/api/flag-config/v1/bandits";

/// What the server sends: the flags and models documents, and the models' status.
struct Documents {
    flags: Value,
    models: Value,
    models_status: u16,
}

type Shared = Arc<Mutex<Documents>>;

fn server(flags: Value) -> (Server, Shared) {
    let state: Shared = Arc::new(Mutex::new(Documents {
        flags,
        models: shared_json("conformance/eppo/bandit-models-v1.json"),
        models_status: 200,
    }));
    let handler_state = Arc::clone(&state);
    let server = Server::start(move |request: &Received| {
        let s = handler_state.lock().unwrap();
        match request.path() {
            CONFIG_PATH => Reply::text(200, s.flags.to_string()),
            BANDITS_PATH if s.models_status == 200 => Reply::text(200, s.models.to_string()),
            BANDITS_PATH => Reply::text(s.models_status, "unavailable"),
            _ => Reply::text(404, "no such endpoint"),
        }
    });
    (server, state)
}

fn client(server: &Server) -> u64 {
    let handle = init_ok(&json!({
        "provider": "eppo", "api_key": KEY, "base_url": format!("{}/api", server.url()),
        "poll_interval_seconds": 0.05, "poll_jitter_seconds": 0,
    }));
    ok(start(handle, 5000));
    handle
}

/// The model version in the bandit event of a `car_bandit_flag` action.
fn car_model_version(handle: u64) -> Value {
    let result = ok(evaluate(
        handle,
        &json!({"flag_key": "car_bandit_flag", "subject_key": "anastasia",
                "actions": {"dodge": {}, "mercedes": {}}, "default": "d"}),
    ));
    result["bandit_events"][0]["modelVersion"].clone()
}

/// Sets `car_bandit`'s model version in the flags' references and (optionally) the models.
fn set_car_version(state: &Shared, version: &str, models_too: bool) {
    let mut s = state.lock().unwrap();
    s.flags["banditReferences"]["car_bandit"]["modelVersion"] = json!(version);
    if models_too {
        s.models["bandits"]["car_bandit"]["modelVersion"] = json!(version);
    }
}

fn polls_of(server: &Server, path: &str) -> usize {
    server.requests_to(path).len()
}

#[test]
fn models_are_fetched_with_the_flags_and_again_only_when_a_version_changes() {
    let (server, state) = server(shared_json("conformance/eppo/bandit-flags-v1.json"));
    let handle = client(&server);
    assert_eq!(car_model_version(handle), "456");
    let first = &server.requests_to(BANDITS_PATH)[0];
    assert!(
        first.target.contains("apiKey=sk-eppo-bandit-key"),
        "{}",
        first.target
    );
    assert!(first.target.contains("sdkName=allot"), "{}", first.target);
    let status = ok(status(handle));
    assert_eq!(
        status["bandit_keys"],
        json!(["banner_bandit", "car_bandit", "cold_start_bandit"])
    );
    // Unchanged references: the flags are polled, the models are not.
    let configs = polls_of(&server, CONFIG_PATH);
    assert!(wait_until(Duration::from_secs(5), || polls_of(
        &server,
        CONFIG_PATH
    ) >= configs + 3));
    assert_eq!(polls_of(&server, BANDITS_PATH), 1);
    // A new referenced version: the models are fetched again and served with the flags.
    set_car_version(&state, "457", true);
    assert!(wait_until(Duration::from_secs(5), || car_model_version(
        handle
    ) == "457"));
    assert_eq!(polls_of(&server, BANDITS_PATH), 2);
    // allot_configuration hands back both documents as fetched.
    let served = ok(take(allot::ffi::allot_configuration(handle)));
    let expected = state.lock().unwrap();
    assert_eq!(served["flags"], expected.flags);
    assert_eq!(served["bandits"], expected.models);
    drop(expected);
    allot::ffi::allot_free(handle);
}

#[test]
fn a_failed_model_fetch_keeps_the_last_good_pair() {
    let (server, state) = server(shared_json("conformance/eppo/bandit-flags-v1.json"));
    let handle = client(&server);
    assert_eq!(car_model_version(handle), "456");
    {
        let mut s = state.lock().unwrap();
        s.models_status = 503;
        // The new flags also drop a flag, which must not be served without its models.
        s.flags["flags"]
            .as_object_mut()
            .unwrap()
            .remove("non_bandit_flag");
    }
    set_car_version(&state, "457", true);
    assert!(wait_until(Duration::from_secs(5), || {
        ok(status(handle))["last_error"]["code"] == "http_status"
    }));
    let status = ok(status(handle));
    assert!(
        status["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("bandit models"),
        "{status}"
    );
    assert!(!status.to_string().contains(KEY), "{status}");
    assert_eq!(
        status["flag_count"], 6,
        "the last good flags are still served: {status}"
    );
    assert_eq!(car_model_version(handle), "456");
    state.lock().unwrap().models_status = 200;
    assert!(wait_until(Duration::from_secs(5), || car_model_version(
        handle
    ) == "457"));
    assert_eq!(ok(common::status(handle))["flag_count"], 5);
    allot::ffi::allot_free(handle);
}

#[test]
fn flags_without_bandits_never_fetch_models() {
    let flags =
        json!({"createdAt": "2024-01-01T00:00:00Z", "environment": {"name": "t"}, "flags": {}});
    let (server, _state) = server(flags);
    let handle = client(&server);
    assert!(wait_until(Duration::from_secs(5), || polls_of(
        &server,
        CONFIG_PATH
    ) >= 3));
    assert_eq!(polls_of(&server, BANDITS_PATH), 0);
    assert_eq!(ok(status(handle))["bandit_keys"], json!([]));
    allot::ffi::allot_free(handle);
}
