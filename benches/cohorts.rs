//! Cohort sync benchmarks (`make bench`): enriching a user with the targeted cohorts it
//! belongs to (target: at most 0.3 µs per targeted cohort), and a one-off measurement
//! of loading a 1,000,000-member cohort (target: under 2 s, and at most twice its
//! member-id bytes of memory), printed before the criterion runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use allot::internals::amplitude::{enrich, Downloaded, Loaded, Snapshot, Store, User};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde::Deserialize;
use serde_json::json;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A cohort download's body.
fn cohort_body(id: &str, group_type: &str, members: &[String]) -> String {
    json!({"cohortId": id, "groupType": group_type, "groupTypeId": 0, "lastModified": 1,
           "size": members.len(), "memberIds": members})
    .to_string()
}

fn load(store: &Store, id: &str, body: &str) {
    let downloaded: Downloaded = serde_json::from_str(body).expect("a cohort");
    store.apply(vec![(id.to_owned(), Loaded::Cohort(downloaded))]);
}

/// Loads one cohort of 1,000,000 UUID-like member ids and prints the time and the
/// memory it keeps, against the bytes of its member ids.
fn measure_large_cohort() {
    let members: Vec<String> = (0..1_000_000u64)
        .map(|i| {
            format!(
                "{:08x}-{:04x}-4000-8000-{:012x}",
                i * 2_654_435_761 % (1 << 32),
                i % 65_536,
                i
            )
        })
        .collect();
    let id_bytes: usize = members.iter().map(String::len).sum();
    let body = cohort_body("big", "User", &members);
    drop(members);
    let store = Store::default();
    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    load(&store, "big", &body);
    let elapsed = started.elapsed();
    let kept = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "cohort load: 1,000,000 members ({} MB of JSON) in {:.3} s (target < 2 s); \
         memory kept {:.1} MB for {:.1} MB of member ids = {:.2}x (target <= 2x)",
        body.len() / 1_000_000,
        elapsed.as_secs_f64(),
        kept as f64 / 1e6,
        id_bytes as f64 / 1e6,
        kept as f64 / id_bytes as f64
    );
    drop(store);
}

/// Flags targeting `user_cohorts` user cohorts and `group_cohorts` cohorts of group type
/// `org`, each of 10,000 members; a user in half of them.
fn enrichment(c: &mut Criterion) {
    const USER_COHORTS: usize = 16;
    const GROUP_COHORTS: usize = 4;
    let store = Store::default();
    let mut flags = Vec::new();
    for i in 0..USER_COHORTS + GROUP_COHORTS {
        let (group_type, selector) = if i < USER_COHORTS {
            ("User", json!(["context", "user", "cohort_ids"]))
        } else {
            ("org", json!(["context", "groups", "org", "cohort_ids"]))
        };
        let id = format!("cohort-{i}");
        let mut members: Vec<String> = (0..10_000).map(|m| format!("member-{i}-{m}")).collect();
        if i % 2 == 0 {
            members.push("user-42".into());
            members.push("acme".into());
        }
        load(&store, &id, &cohort_body(&id, group_type, &members));
        flags.push(json!({
            "key": format!("flag-{i}"),
            "variants": {"on": {"key": "on"}},
            "segments": [{"conditions": [[{"selector": selector, "op": "set contains any", "values": [id]}]], "variant": "on"}],
        }));
    }
    let snapshot = Snapshot::compile(&flags).expect("flags compile");
    let user = User::deserialize(
        json!({"user_id": "user-42", "device_id": "d", "groups": {"org": ["acme"]}}),
    )
    .expect("a user");
    let index = store.load();
    let mut check = user.clone();
    enrich(&mut check, snapshot.cohort_targets(), &index);
    assert_eq!(
        check.cohort_ids.as_ref().map(Vec::len),
        Some(USER_COHORTS / 2)
    );
    let targeted = USER_COHORTS + GROUP_COHORTS;
    c.bench_function(
        &format!("cohorts/enrich_user_{targeted}_targeted_cohorts"),
        |b| {
            b.iter_batched_ref(
                || user.clone(),
                |user| enrich(black_box(user), snapshot.cohort_targets(), &index),
                BatchSize::SmallInput,
            )
        },
    );
    println!("divide the time above by {targeted} for the cost per targeted cohort");
}

fn benches(c: &mut Criterion) {
    measure_large_cohort();
    enrichment(c);
}

criterion_group!(cohorts, benches);
criterion_main!(cohorts);
