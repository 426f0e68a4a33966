//! Amplitude cohort sync over real HTTP on 127.0.0.1, through the C ABI: a flag server
//! and a cohort server started by each test; user and group cohorts, every answer the
//! cohort API gives (200, 204, 202, 413, 429, 500), Basic auth, `lastModified`
//! refreshes, new cohorts loaded before the flags that need them, failing cohorts in
//! the status, and evaluating threads while memberships swap. Every wait is bounded.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::server::{Received, Reply, Server};
use common::*;
use serde_json::{json, Value};

const KEY: &str = "server-deployment-key-42";
const API_KEY: &str = "project-api-key-7";
const SECRET: &str = "project-secret-key-9";
const COHORT_PATH: &str = "/sdk/v1/cohort/";

/// A flag giving `on` to users whose `selector` cohorts meet `op` with `ids`, else `off`.
fn cohort_flag(key: &str, selector: &[&str], op: &str, ids: &[&str]) -> Value {
    json!({
        "key": key,
        "variants": {"on": {"key": "on", "value": "on"}, "off": {"key": "off", "value": "off"}},
        "segments": [
            {"conditions": [[{"selector": selector, "op": op, "values": ids}]], "variant": "on"},
            {"variant": "off"},
        ],
    })
}

fn user_flag(key: &str, ids: &[&str]) -> Value {
    cohort_flag(
        key,
        &["context", "user", "cohort_ids"],
        "set contains any",
        ids,
    )
}

/// What the cohort server answers for one cohort.
#[derive(Clone)]
struct CohortPlan {
    /// Statuses answered, in order, before the cohort itself.
    before: Vec<u16>,
    group_type: &'static str,
    last_modified: u64,
    members: Vec<String>,
    /// Answer 204 when the request's `lastModified` is the current one.
    conditional: bool,
    /// Sleep before answering.
    delay: Duration,
}

impl CohortPlan {
    fn new(group_type: &'static str, members: &[&str]) -> CohortPlan {
        CohortPlan {
            before: Vec::new(),
            group_type,
            last_modified: 1,
            members: members.iter().map(|m| m.to_string()).collect(),
            conditional: true,
            delay: Duration::ZERO,
        }
    }
}

type Plans = Arc<Mutex<HashMap<String, CohortPlan>>>;

/// A cohort server following `plans`; an unknown cohort gets 404.
fn cohort_server(plans: &Plans) -> Server {
    let plans = Arc::clone(plans);
    Server::start(move |request: &Received| {
        let Some(id) = request.path().strip_prefix(COHORT_PATH) else {
            return Reply::text(404, "{}");
        };
        let plan = {
            let mut plans = plans.lock().unwrap();
            let Some(plan) = plans.get_mut(id) else {
                return Reply::text(404, "{}");
            };
            if !plan.before.is_empty() {
                let status = plan.before.remove(0);
                return Reply::text(status, "");
            }
            plan.clone()
        };
        std::thread::sleep(plan.delay);
        let held = query(request, "lastModified").and_then(|v| v.parse::<u64>().ok());
        if plan.conditional && held == Some(plan.last_modified) {
            return Reply::text(204, "");
        }
        Reply::text(
            200,
            json!({
                "cohortId": id, "groupType": plan.group_type, "groupTypeId": 0,
                "lastModified": plan.last_modified, "size": plan.members.len(),
                "memberIds": plan.members,
            })
            .to_string(),
        )
    })
}

/// A flag server serving whatever `flags` holds.
fn flag_server(flags: &Arc<Mutex<Value>>) -> Server {
    let flags = Arc::clone(flags);
    Server::start(move |_| Reply::text(200, flags.lock().unwrap().to_string()))
}

fn query<'r>(request: &'r Received, name: &str) -> Option<&'r str> {
    let (_, query) = request.target.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn config(flags: &Server, cohorts: &Server, cohort_extra: Value) -> Value {
    let mut sync = json!({
        "api_key": API_KEY,
        "secret_key": SECRET,
        "cohort_server_url": cohorts.url(),
        "cohort_request_timeout_millis": 2_000,
        // Refresh as often as a test asks (the library's minimum is 60 s).
        "min_cohort_polling_interval_millis": 1,
    });
    for (k, v) in cohort_extra.as_object().unwrap() {
        sync[k] = v.clone();
    }
    json!({
        "provider": "amplitude",
        "api_key": KEY,
        "server_url": flags.url(),
        "flag_config_polling_interval_millis": 50,
        "cohort_sync": sync,
    })
}

/// The variant keys a user gets, by flag; the fast lane must give the same variants.
fn variants(handle: u64, user: Value) -> HashMap<String, String> {
    let answer = ok(evaluate(handle, &json!({ "user": user })));
    assert_eq!(
        fast_variants(handle, &user, None),
        answer["variants"],
        "fast lane"
    );
    keys_by_flag(&answer)
}

/// The variant keys a user gets, through the JSON path only (for memberships that change
/// while the test evaluates).
fn json_variants(handle: u64, user: Value) -> HashMap<String, String> {
    keys_by_flag(&ok(evaluate(handle, &json!({ "user": user }))))
}

fn keys_by_flag(answer: &Value) -> HashMap<String, String> {
    answer["variants"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(flag, v)| (flag.clone(), v["key"].as_str().unwrap().to_owned()))
        .collect()
}

fn requests_for(server: &Server, id: &str) -> Vec<Received> {
    server.requests_to(&format!("{COHORT_PATH}{id}"))
}

#[test]
fn user_and_group_cohorts_with_every_answer_of_the_cohort_api() {
    let plans: Plans = Arc::default();
    {
        let mut p = plans.lock().unwrap();
        p.insert(
            "c-user".into(),
            CohortPlan::new("User", &["alice", "carol"]),
        );
        p.insert("c-org".into(), CohortPlan::new("org", &["acme"]));
        let mut busy = CohortPlan::new("User", &["bob"]);
        busy.before = vec![202, 202];
        p.insert("c-busy".into(), busy);
        let mut throttled = CohortPlan::new("User", &["bob"]);
        throttled.before = vec![429];
        p.insert("c-throttled".into(), throttled);
        let mut flaky = CohortPlan::new("User", &["bob"]);
        flaky.before = vec![500];
        p.insert("c-flaky".into(), flaky);
        let mut large = CohortPlan::new("User", &["alice"]);
        large.before = vec![413];
        p.insert("c-large".into(), large);
        let mut broken = CohortPlan::new("User", &["alice"]);
        broken.before = vec![500; 10];
        p.insert("c-broken".into(), broken);
    }
    let flags = Arc::new(Mutex::new(json!([
        user_flag("user-flag", &["c-user"]),
        cohort_flag(
            "not-flag",
            &["context", "user", "cohort_ids"],
            "set does not contain any",
            &["c-user"]
        ),
        cohort_flag(
            "group-flag",
            &["context", "groups", "org", "cohort_ids"],
            "set contains any",
            &["c-org"]
        ),
        user_flag("busy-flag", &["c-busy"]),
        user_flag("throttled-flag", &["c-throttled"]),
        user_flag("flaky-flag", &["c-flaky"]),
        user_flag("large-flag", &["c-large"]),
        user_flag("broken-flag", &["c-broken"]),
        // A user cohort id used as a group cohort: the group type must match too.
        cohort_flag(
            "mixed-flag",
            &["context", "groups", "org", "cohort_ids"],
            "set contains any",
            &["c-user"]
        ),
    ])));
    let flag_srv = flag_server(&flags);
    let cohort_srv = cohort_server(&plans);
    let handle = init_ok(&config(
        &flag_srv,
        &cohort_srv,
        json!({"max_cohort_size": 5000}),
    ));
    ok(start(handle, 10_000));

    // Served with its cohorts as soon as start returns.
    let alice = variants(handle, json!({"user_id": "alice"}));
    assert_eq!(alice["user-flag"], "on");
    assert_eq!(alice["not-flag"], "off");
    // 413 and a cohort that keeps failing: evaluated as if no one were in them.
    assert_eq!(alice["large-flag"], "off");
    assert_eq!(alice["broken-flag"], "off");
    let bob = variants(handle, json!({"user_id": "bob"}));
    assert_eq!(bob["user-flag"], "off");
    assert_eq!(bob["not-flag"], "on");
    for flag in ["busy-flag", "throttled-flag", "flaky-flag"] {
        assert_eq!(bob[flag], "on", "{flag}");
        assert_eq!(alice[flag], "off", "{flag}");
    }
    // The caller's own cohort ids do not count when cohort sync decides.
    let claimed = variants(handle, json!({"user_id": "bob", "cohort_ids": ["c-user"]}));
    assert_eq!(claimed["user-flag"], "off");
    let nobody = variants(handle, json!({"device_id": "d", "cohort_ids": ["c-user"]}));
    assert_eq!(nobody["user-flag"], "off");
    assert_eq!(nobody["not-flag"], "on");
    // Group cohorts: the first group name counts; the group type must match.
    let acme = variants(
        handle,
        json!({"user_id": "x", "groups": {"org": ["acme", "other"]}}),
    );
    assert_eq!(acme["group-flag"], "on");
    let other = variants(
        handle,
        json!({"user_id": "x", "groups": {"org": ["other", "acme"]}}),
    );
    assert_eq!(other["group-flag"], "off");
    let alice_org = variants(
        handle,
        json!({"user_id": "x", "groups": {"org": ["alice"]}}),
    );
    assert_eq!(alice_org["mixed-flag"], "off");
    let claimed_group = variants(
        handle,
        json!({"user_id": "x", "groups": {"org": ["other"]}, "group_cohort_ids": {"org": {"other": ["c-org"]}}}),
    );
    assert_eq!(claimed_group["group-flag"], "off");

    // Basic auth of api_key:secret_key, the size limit, and how often each was asked.
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:{SECRET}"));
    for request in cohort_srv.requests() {
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {credentials}").as_str())
        );
        assert_eq!(query(&request, "maxCohortSize"), Some("5000"));
        assert!(request
            .header("x-amp-exp-library")
            .unwrap()
            .starts_with("allot/"));
    }
    assert_eq!(requests_for(&cohort_srv, "c-busy").len(), 3);
    assert_eq!(requests_for(&cohort_srv, "c-throttled").len(), 2);
    assert_eq!(requests_for(&cohort_srv, "c-flaky").len(), 2);
    assert_eq!(
        requests_for(&cohort_srv, "c-large").len(),
        1,
        "413 is not retried"
    );
    assert_eq!(
        requests_for(&cohort_srv, "c-broken").len(),
        3,
        "3 errors end a download"
    );

    // The status: per cohort, what is held and the last error; no secret anywhere.
    let doc = ok(status(handle));
    let sync = &doc["cohort_sync"];
    assert_eq!(sync["server_url"], cohort_srv.url());
    assert_eq!(sync["polling"], true);
    let c_user = &sync["cohorts"]["c-user"];
    assert_eq!(c_user["group_type"], "User");
    assert_eq!(c_user["size"], 2);
    assert_eq!(c_user["member_count"], 2);
    assert_eq!(c_user["last_modified"], 1);
    assert!(c_user["last_success_at"].as_u64().unwrap() > 0);
    assert_eq!(c_user["last_error"], Value::Null);
    assert_eq!(sync["cohorts"]["c-org"]["group_type"], "org");
    let large = &sync["cohorts"]["c-large"];
    assert_eq!(large["last_error"]["code"], "http_status");
    assert!(
        large["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("413"),
        "{large}"
    );
    assert_eq!(large["member_count"], Value::Null);
    let broken = &sync["cohorts"]["c-broken"];
    assert_eq!(broken["last_error"]["code"], "http_status");
    assert!(broken["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));
    let text = doc.to_string();
    for secret in [SECRET, API_KEY, credentials.as_str()] {
        assert!(!text.contains(secret), "status shows a secret: {text}");
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn without_cohort_sync_the_callers_cohort_ids_count() {
    let flags = json!([user_flag("user-flag", &["c-user"])]);
    let handle = init_ok(&json!({"provider": "amplitude", "flags": flags}));
    ok(start(handle, 1_000));
    let claimed = variants(handle, json!({"user_id": "bob", "cohort_ids": ["c-user"]}));
    assert_eq!(claimed["user-flag"], "on");
    assert_eq!(ok(status(handle))["cohort_sync"], Value::Null);
    allot::ffi::allot_free(handle);
}

#[test]
fn configuration_defaults_zones_and_secrets() {
    // The zone picks the cohort server; init alone sends nothing.
    for (zone, url) in [
        ("us", "https://cohort-v2.lab.amplitude.com"),
        ("eu", "https://cohort-v2.lab.eu.amplitude.com"),
    ] {
        let handle = init_ok(&json!({
            "provider": "amplitude", "api_key": KEY, "server_zone": zone,
            "cohort_sync": {"api_key": API_KEY, "secret_key": SECRET},
        }));
        let doc = ok(status(handle));
        assert_eq!(doc["cohort_sync"]["server_url"], url);
        assert_eq!(doc["cohort_sync"]["polling"], false);
        assert_eq!(doc["cohort_sync"]["polling_interval_millis"], 60_000);
        allot::ffi::allot_free(handle);
    }
    // A shorter polling interval is raised to the 60 s minimum, as the vendors' SDKs do.
    let handle = init_ok(&json!({
        "provider": "amplitude", "api_key": KEY,
        "cohort_sync": {"api_key": API_KEY, "secret_key": SECRET,
                        "cohort_polling_interval_millis": 1_000},
    }));
    assert_eq!(
        ok(status(handle))["cohort_sync"]["polling_interval_millis"],
        60_000
    );
    allot::ffi::allot_free(handle);
    let cases = [
        (json!({"api_key": API_KEY}), "secret_key"),
        (json!({"secret_key": SECRET}), "api_key"),
        (
            json!({"api_key": API_KEY, "secret_key": SECRET, "max_cohort_size": 0}),
            "max_cohort_size",
        ),
        (
            json!({"api_key": API_KEY, "secret_key": SECRET, "cohort_polling_interval_millis": "x"}),
            "cohort_sync",
        ),
        (
            json!({"api_key": API_KEY, "secret_key": SECRET, "cohort_server_url": "ftp://x"}),
            "cohort_server_url",
        ),
        (
            json!({"api_key": API_KEY, "secret_key": SECRET, "secret": SECRET}),
            "secret",
        ),
    ];
    for (sync, field) in cases {
        let err = init(&json!({"provider": "amplitude", "api_key": KEY, "cohort_sync": sync}))
            .unwrap_err();
        assert_eq!(error_code(&err), "invalid_config");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
        assert!(
            !message.contains(SECRET) && !message.contains(API_KEY),
            "{message}"
        );
    }
}

#[test]
fn refreshes_with_last_modified_and_loads_new_cohorts_before_new_flags() {
    let plans: Plans = Arc::default();
    plans
        .lock()
        .unwrap()
        .insert("c-user".into(), CohortPlan::new("User", &["alice"]));
    let flags = Arc::new(Mutex::new(json!([user_flag("user-flag", &["c-user"])])));
    let flag_srv = flag_server(&flags);
    let cohort_srv = cohort_server(&plans);
    let handle = init_ok(&config(
        &flag_srv,
        &cohort_srv,
        json!({"cohort_polling_interval_millis": 100}),
    ));
    ok(start(handle, 10_000));
    assert_eq!(
        variants(handle, json!({"user_id": "alice"}))["user-flag"],
        "on"
    );

    // Refreshes send the lastModified held; the server answers 204 while it matches.
    assert!(wait_until(Duration::from_secs(5), || {
        requests_for(&cohort_srv, "c-user")
            .iter()
            .any(|r| query(r, "lastModified") == Some("1"))
    }));
    assert_eq!(
        query(&requests_for(&cohort_srv, "c-user")[0], "lastModified"),
        None
    );
    assert_eq!(
        variants(handle, json!({"user_id": "alice"}))["user-flag"],
        "on"
    );

    // The cohort changes: the next refresh brings the new members.
    {
        let mut p = plans.lock().unwrap();
        let plan = p.get_mut("c-user").unwrap();
        plan.last_modified = 2;
        plan.members = vec!["bob".into()];
    }
    assert!(wait_until(Duration::from_secs(5), || {
        variants(handle, json!({"user_id": "bob"}))["user-flag"] == "on"
    }));
    assert_eq!(
        variants(handle, json!({"user_id": "alice"}))["user-flag"],
        "off"
    );
    assert_eq!(
        ok(status(handle))["cohort_sync"]["cohorts"]["c-user"]["last_modified"],
        2
    );

    // A flag change brings a new cohort, slow to download: the new flag is never served
    // without it.
    let mut slow = CohortPlan::new("User", &["carol"]);
    slow.delay = Duration::from_millis(300);
    plans.lock().unwrap().insert("c-new".into(), slow);
    *flags.lock().unwrap() = json!([
        user_flag("user-flag", &["c-user"]),
        user_flag("new-flag", &["c-new"]),
    ]);
    let mut seen = None;
    assert!(wait_until(Duration::from_secs(10), || {
        seen = variants(handle, json!({"user_id": "carol"})).remove("new-flag");
        seen.is_some()
    }));
    assert_eq!(seen.as_deref(), Some("on"), "served before its cohort");

    // A cohort no longer targeted is forgotten.
    *flags.lock().unwrap() = json!([user_flag("new-flag", &["c-new"])]);
    assert!(wait_until(Duration::from_secs(5), || {
        ok(status(handle))["cohort_sync"]["cohorts"]
            .get("c-user")
            .is_none()
    }));
    allot::ffi::allot_free(handle);
}

#[test]
fn eight_threads_evaluate_while_memberships_swap() {
    // Every download gives a new copy: alice always in, bob never, dave every other one.
    let version = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&version);
    let cohort_srv = Server::start(move |_| {
        let v = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut members = vec!["alice".to_owned()];
        members.extend((0..1_000).map(|i| format!("filler-{v}-{i}")));
        if v % 2 == 0 {
            members.push("dave".into());
        }
        Reply::text(
            200,
            json!({"cohortId": "c-user", "groupType": "User", "lastModified": v,
                   "size": members.len(), "memberIds": members})
            .to_string(),
        )
    });
    let flags = Arc::new(Mutex::new(json!([user_flag("user-flag", &["c-user"])])));
    let flag_srv = flag_server(&flags);
    let handle = init_ok(&config(
        &flag_srv,
        &cohort_srv,
        json!({"cohort_polling_interval_millis": 5}),
    ));
    ok(start(handle, 10_000));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut dave = [0u32; 2];
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) || rounds < 10 {
                    assert_eq!(
                        json_variants(handle, json!({"user_id": "alice"}))["user-flag"],
                        "on"
                    );
                    assert_eq!(
                        json_variants(handle, json!({"user_id": "bob"}))["user-flag"],
                        "off"
                    );
                    let v = json_variants(handle, json!({"user_id": "dave"}));
                    dave[usize::from(v["user-flag"] == "on")] += 1;
                    rounds += 1;
                }
                dave
            })
        })
        .collect();
    let start_version = version.load(Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(10), || {
        version.load(Ordering::SeqCst) >= start_version + 20
    }));
    stop.store(true, Ordering::Relaxed);
    let mut dave = [0u32; 2];
    for thread in threads {
        let seen = thread.join().expect("an evaluating thread failed");
        dave[0] += seen[0];
        dave[1] += seen[1];
    }
    assert!(dave[0] + dave[1] >= 80);
    allot::ffi::allot_free(handle);
}

#[test]
fn a_hanging_cohort_server_delays_the_flags_but_not_free() {
    let cohort_srv = Server::start(|_| Reply::Hang);
    let flags = Arc::new(Mutex::new(json!([user_flag("user-flag", &["c-user"])])));
    let flag_srv = flag_server(&flags);
    let mut config = config(&flag_srv, &cohort_srv, json!({}));
    config["cohort_sync"]["cohort_request_timeout_millis"] = json!(30_000);
    let handle = init_ok(&config);
    // The flags wait for their cohorts: start times out.
    assert_eq!(error_code(&start(handle, 300)), "timeout");
    assert_eq!(ok(status(handle))["initialized"], false);
    // Freeing interrupts the download in flight instead of waiting for its timeout.
    let begun = std::time::Instant::now();
    allot::ffi::allot_free(handle);
    assert!(
        begun.elapsed() < Duration::from_secs(5),
        "allot_free waited {:?} for a hanging download",
        begun.elapsed()
    );
}

#[test]
fn downloads_run_concurrently_up_to_the_bound() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let (now, peak) = (Arc::clone(&in_flight), Arc::clone(&most));
    let cohort_srv = Server::start(move |request: &Received| {
        let running = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(running, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        now.fetch_sub(1, Ordering::SeqCst);
        let id = request.path().trim_start_matches(COHORT_PATH);
        Reply::text(
            200,
            json!({"cohortId": id, "groupType": "User", "lastModified": 1, "size": 1,
                   "memberIds": [format!("member-of-{id}")]})
            .to_string(),
        )
    });
    let ids: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let flags = Arc::new(Mutex::new(Value::Array(
        ids.iter()
            .map(|id| user_flag(&format!("flag-{id}"), &[id.as_str()]))
            .collect(),
    )));
    let flag_srv = flag_server(&flags);
    let handle = init_ok(&config(
        &flag_srv,
        &cohort_srv,
        json!({"max_concurrent_downloads": 3}),
    ));
    ok(start(handle, 10_000));
    assert_eq!(most.load(Ordering::SeqCst), 3);
    for id in &ids {
        let got = variants(handle, json!({"user_id": format!("member-of-{id}")}));
        assert_eq!(got[&format!("flag-{id}")], "on");
        assert_eq!(got.values().filter(|v| *v == "on").count(), 1);
    }
    allot::ffi::allot_free(handle);
}

#[test]
fn gzipped_cohorts_load_and_oversized_ones_fail_alone() {
    let gzip = |bytes: &[u8]| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let cohort_srv = Server::start(move |request: &Received| {
        let id = request.path().trim_start_matches(COHORT_PATH);
        // "huge" is over the client's max_response_bytes once decompressed.
        let members: Vec<String> = match id {
            "huge" => (0..5_000).map(|i| format!("member-{i:06}")).collect(),
            _ => vec!["alice".into()],
        };
        let body = json!({"cohortId": id, "groupType": "User", "lastModified": 1,
                          "size": members.len(), "memberIds": members})
        .to_string();
        assert!(request.header("accept-encoding").unwrap().contains("gzip"));
        Reply::Full {
            status: 200,
            headers: vec![("Content-Encoding".into(), "gzip".into())],
            body: gzip(body.as_bytes()),
        }
    });
    let flags = Arc::new(Mutex::new(json!([
        user_flag("small-flag", &["small"]),
        user_flag("huge-flag", &["huge"]),
    ])));
    let flag_srv = flag_server(&flags);
    let mut config = config(&flag_srv, &cohort_srv, json!({}));
    config["max_response_bytes"] = json!(20_000);
    let handle = init_ok(&config);
    ok(start(handle, 10_000));
    let alice = variants(handle, json!({"user_id": "alice"}));
    assert_eq!(alice["small-flag"], "on");
    let doc = ok(status(handle));
    let huge = &doc["cohort_sync"]["cohorts"]["huge"];
    assert_eq!(huge["last_error"]["code"], "invalid_response", "{huge}");
    assert!(huge["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains("20000-byte limit"));
    assert_eq!(
        variants(handle, json!({"user_id": "member-000001"}))["huge-flag"],
        "off"
    );
    allot::ffi::allot_free(handle);
}

#[test]
fn streamed_flags_load_their_cohorts_before_they_are_served() {
    let plans: Plans = Arc::default();
    let mut slow = CohortPlan::new("User", &["alice"]);
    slow.delay = Duration::from_millis(200);
    plans.lock().unwrap().insert("c-user".into(), slow);
    let cohort_srv = cohort_server(&plans);
    let first = json!([user_flag("user-flag", &["c-user"])]).to_string();
    let stream_srv = Server::start(move |request: &Received| match request.path() {
        "/sdk/stream/v1/flags" => Reply::Stream {
            first: Some(first.clone()),
        },
        _ => Reply::text(503, ""),
    });
    let mut config = config(&stream_srv, &cohort_srv, json!({}));
    config["stream_updates"] = json!(true);
    config["stream_server_url"] = json!(stream_srv.url());
    let handle = init_ok(&config);
    ok(start(handle, 10_000));
    assert_eq!(ok(status(handle))["source"], "stream");
    assert_eq!(
        variants(handle, json!({"user_id": "alice"}))["user-flag"],
        "on"
    );
    // A pushed configuration with a new cohort is served only with it.
    let mut slow_new = CohortPlan::new("User", &["bob"]);
    slow_new.delay = Duration::from_millis(200);
    plans.lock().unwrap().insert("c-new".into(), slow_new);
    stream_srv.broadcast(
        &json!([
            user_flag("user-flag", &["c-user"]),
            user_flag("new-flag", &["c-new"])
        ])
        .to_string(),
    );
    let mut seen = None;
    assert!(wait_until(Duration::from_secs(10), || {
        seen = variants(handle, json!({"user_id": "bob"})).remove("new-flag");
        seen.is_some()
    }));
    assert_eq!(seen.as_deref(), Some("on"), "served before its cohort");
    allot::ffi::allot_free(handle);
}
