//! Amplitude `[Experiment] Assignment` and `[Experiment] Exposure` events, built from an
//! evaluation exactly as the Python SDK builds them, and de-duplicated with an LRU whose
//! entries live one day.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use serde_json::{json, Map, Value};

use crate::process::{lock, PerProcess};

use super::evaluate::Assigned;
use super::user::{User, UserValue};

/// One day in milliseconds: the lifetime of a de-duplication entry and the `insert_id`
/// period.
pub(crate) const DAY_MILLIS: u64 = 86_400_000;

/// The `library` field of every event: allot identifies itself where the SDK writes
/// `amplitude-python/<version>`.
const LIBRARY: &str = concat!("allot/", env!("CARGO_PKG_VERSION"));

const ASSIGNMENT_EVENT: &str = "[Experiment] Assignment";
const EXPOSURE_EVENT: &str = "[Experiment] Exposure";
const MUTUAL_EXCLUSION_GROUP: &str = "mutual-exclusion-group";

/// The Java-style string hash `h = 31 * h + c` over the characters, as an unsigned 32-bit
/// integer (the Python SDK's `hash_code`).
pub fn hash_code(text: &str) -> u32 {
    text.chars()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(c as u32))
}

/// An id as the canonical string writes it: trimmed, or `None` when absent.
fn canonical_id(value: &Option<UserValue<'_>>) -> String {
    match value {
        Some(UserValue::Text(s)) => s.trim().to_owned(),
        Some(UserValue::Json(Value::Null)) | None => "None".to_owned(),
        Some(UserValue::Json(other)) => other.to_string(),
    }
}

fn is_true(value: Option<&Value>) -> bool {
    value == Some(&Value::Bool(true))
}

fn is_mutual_exclusion_group(assigned: &Assigned<'_>) -> bool {
    assigned.metadata("flagType").and_then(Value::as_str) == Some(MUTUAL_EXCLUSION_GROUP)
}

/// `"<user_id> <device_id> "` then `"<flag> <variant> "` per flag in sorted flag order.
fn canonical_string(user: &User, assigned: &[Assigned<'_>]) -> String {
    let mut canonical = format!(
        "{} {} ",
        canonical_id(&user.user_id),
        canonical_id(&user.device_id)
    );
    for a in assigned {
        canonical.push_str(a.flag_key().trim());
        canonical.push(' ');
        canonical.push_str(a.variant_key().trim());
        canonical.push(' ');
    }
    canonical
}

fn sorted<'s>(assigned: &[Assigned<'s>]) -> Vec<Assigned<'s>> {
    let mut sorted = assigned.to_vec();
    sorted.sort_by(|a, b| a.flag_key().cmp(b.flag_key()));
    sorted
}

/// The skeleton shared by both event types.
fn base_event(event_type: &str, user: &User, insert_id: String, now_ms: u64) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("event_type".into(), event_type.into());
    for (name, id) in [("user_id", &user.user_id), ("device_id", &user.device_id)] {
        if let Some(id) = id.as_ref().filter(|v| !v.is_null()) {
            event.insert(name.into(), id.to_value());
        }
    }
    event.insert("time".into(), now_ms.into());
    event.insert("insert_id".into(), insert_id.into());
    event.insert("library".into(), LIBRARY.into());
    event
}

/// `"<user_id> <device_id> <hash(canonical)> <day>"`.
fn insert_id(user: &User, canonical: &str, now_ms: u64) -> String {
    format!(
        "{} {} {} {}",
        canonical_id(&user.user_id),
        canonical_id(&user.device_id),
        hash_code(canonical),
        now_ms / DAY_MILLIS
    )
}

/// The assignment event for one evaluate call, or `None` when nothing was assigned.
/// Returns the event and its de-duplication key (the canonical string).
pub fn assignment_event(
    user: &User,
    assigned: &[Assigned<'_>],
    now_ms: u64,
) -> Option<(String, Value)> {
    if assigned.is_empty() {
        return None;
    }
    let assigned = sorted(assigned);
    let canonical = canonical_string(user, &assigned);
    let insert_id = insert_id(user, &canonical, now_ms);
    let mut properties = Map::new();
    let mut set = Map::new();
    let mut unset = Map::new();
    for a in &assigned {
        let flag = a.flag_key();
        properties.insert(format!("{flag}.variant"), a.variant_key().into());
        if let (Some(version), Some(Value::String(segment))) =
            (a.metadata("flagVersion"), a.metadata("segmentName"))
        {
            properties.insert(
                format!("{flag}.details"),
                format!("v{version} rule:{segment}").into(),
            );
        }
        if is_mutual_exclusion_group(a) {
            continue;
        }
        if is_true(a.metadata("default")) {
            unset.insert(format!("[Experiment] {flag}"), "-".into());
        } else {
            set.insert(format!("[Experiment] {flag}"), a.variant_key().into());
        }
    }
    let mut event = base_event(ASSIGNMENT_EVENT, user, insert_id, now_ms);
    event.insert("event_properties".into(), Value::Object(properties));
    event.insert(
        "user_properties".into(),
        json!({"$set": set, "$unset": unset}),
    );
    Some((canonical, Value::Object(event)))
}

/// The exposure events of one evaluation, one per flag, skipping default variants and
/// variants with `trackExposure: false`, with their de-duplication key: as the SDK, the
/// canonical string of the whole evaluation (every assigned flag, defaults included)
/// decides for all of them, and each `insert_id` hashes `"<flag> " + canonical`. `None`
/// when nothing was assigned.
pub fn exposure_events(
    user: &User,
    assigned: &[Assigned<'_>],
    now_ms: u64,
) -> Option<(String, Vec<Value>)> {
    if assigned.is_empty() {
        return None;
    }
    let assigned = sorted(assigned);
    let canonical = canonical_string(user, &assigned);
    let events = assigned
        .iter()
        .filter(|a| {
            !is_true(a.metadata("default"))
                && a.metadata("trackExposure") != Some(&Value::Bool(false))
        })
        .map(|a| {
            let flag = a.flag_key();
            let insert_id = insert_id(user, &format!("{flag} {canonical}"), now_ms);
            let mut properties = Map::new();
            properties.insert("[Experiment] Flag Key".into(), flag.into());
            properties.insert("[Experiment] Variant".into(), a.variant_key().into());
            if let Some(experiment) = a.metadata("experimentKey") {
                properties.insert("[Experiment] Experiment Key".into(), experiment.clone());
            }
            let metadata = a.merged_metadata();
            if !metadata.is_empty() {
                properties.insert("metadata".into(), Value::Object(metadata));
            }
            let mut set = Map::new();
            if !is_mutual_exclusion_group(a) {
                set.insert(format!("[Experiment] {flag}"), a.variant_key().into());
            }
            let mut event = base_event(EXPOSURE_EVENT, user, insert_id, now_ms);
            event.insert("event_properties".into(), Value::Object(properties));
            event.insert("user_properties".into(), json!({"$set": set, "$unset": {}}));
            if let Some(groups) = user.groups.as_ref().filter(|g| !g.is_empty()) {
                event.insert("groups".into(), json!(groups));
            }
            Value::Object(event)
        })
        .collect();
    Some((canonical, events))
}

/// De-duplication: an LRU of canonical strings whose entries live one day.
///
/// Fork safety: the LRU belongs to one process. A forked child starts with an empty one
/// and never touches the parent's lock, which a parent's thread may have held at the
/// fork (the child may then send an event the parent already sent that day).
pub struct Dedup {
    capacity: NonZeroUsize,
    seen: PerProcess<Mutex<LruCache<String, u64>>>,
}

impl Dedup {
    /// An empty filter holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            capacity: NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            seen: PerProcess::default(),
        }
    }

    /// Whether an event with this key should be sent now: true the first time, and again
    /// once the previous entry is a day old.
    pub fn first_time(&self, key: &str, now_ms: u64) -> bool {
        let capacity = self.capacity;
        let Ok(seen) = self
            .seen
            .get_or_start(|_| Ok(Mutex::new(LruCache::new(capacity))))
        else {
            return true;
        };
        let mut seen = lock(&seen);
        if let Some(&at) = seen.get(key) {
            if now_ms.saturating_sub(at) < DAY_MILLIS {
                return false;
            }
        }
        seen.put(key.to_owned(), now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_code_is_java_style_and_unsigned() {
        assert_eq!(hash_code(""), 0);
        assert_eq!(hash_code("a"), 97);
        assert_eq!(hash_code("ab"), 97 * 31 + 98);
        // Java's "hello world".hashCode() is 1794106052; long strings wrap around.
        assert_eq!(hash_code("hello world"), 1_794_106_052);
        assert_eq!(hash_code("polygenelubricants") as i32, i32::MIN);
    }

    #[test]
    fn dedup_forgets_after_a_day() {
        let dedup = Dedup::new(2);
        assert!(dedup.first_time("a", 0));
        assert!(!dedup.first_time("a", DAY_MILLIS - 1));
        assert!(dedup.first_time("a", DAY_MILLIS));
        // Capacity evicts the least recently used.
        assert!(dedup.first_time("b", DAY_MILLIS));
        assert!(dedup.first_time("c", DAY_MILLIS));
        assert!(dedup.first_time("a", DAY_MILLIS + 1));
    }
}
