//! Assignment events (what the binding hands to the user's logger) and the optional
//! deduplication cache.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::eppo::evaluate::Matched;
use crate::process::{lock, PerProcess};

/// The `metaData` member of every event.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaData {
    sdk_name: &'static str,
    sdk_version: &'static str,
    core_version: &'static str,
}

/// allot's `metaData`.
pub const META_DATA: MetaData = MetaData {
    sdk_name: "allot",
    sdk_version: env!("CARGO_PKG_VERSION"),
    core_version: env!("CARGO_PKG_VERSION"),
};

/// Appends `value` as JSON (writing to a buffer cannot fail but for a map with non-string
/// keys, which no caller passes).
pub fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// Appends the assignment event of a match: `{featureFlag, allocation, experiment,
/// variation, subject, subjectAttributes, timestamp, metaData, …extraLogging}`.
///
/// Written by hand around serde-written members (as the results that carry it): a
/// derived `Serialize` escapes every member name again on each call, which cost 12–20%
/// on the `eppo_c_abi` benchmarks.
pub fn write_event(
    out: &mut Vec<u8>,
    flag_key: &str,
    matched: &Matched<'_>,
    subject_key: &str,
    subject_attributes: &Map<String, Value>,
    timestamp: &str,
) -> serde_json::Result<()> {
    let allocation = matched.allocation.key.as_str();
    out.extend_from_slice(b"{\"featureFlag\":");
    write_json(out, flag_key)?;
    out.extend_from_slice(b",\"allocation\":");
    write_json(out, allocation)?;
    out.extend_from_slice(b",\"experiment\":");
    serde_json::Serializer::new(&mut *out).collect_str(&format_args!("{flag_key}-{allocation}"))?;
    out.extend_from_slice(b",\"variation\":");
    write_json(out, &matched.split.variation_key)?;
    out.extend_from_slice(b",\"subject\":");
    write_json(out, subject_key)?;
    out.extend_from_slice(b",\"subjectAttributes\":");
    write_json(out, subject_attributes)?;
    out.extend_from_slice(b",\"timestamp\":");
    write_json(out, timestamp)?;
    out.extend_from_slice(b",\"metaData\":");
    write_json(out, &META_DATA)?;
    out.extend_from_slice(matched.split.extra_logging_json.as_bytes());
    out.push(b'}');
    Ok(())
}

/// String members, serialized as an object's members.
pub struct Members<'a>(pub &'a [(String, String)]);

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, value)| (key, value)))
    }
}

/// The cache's entries: `(flag, subject)` → the logged `(allocation, variation)` and when.
type Entries = LruCache<String, (String, String, Instant)>;

/// Remembers the last logged `(allocation, variation)` of each `(flag, subject)` so that a
/// repeated assignment produces no event. An LRU of bounded capacity, with an optional TTL.
///
/// Fork safety: the LRU belongs to one process. A forked child starts with an empty one
/// and never touches the parent's lock, which a parent's thread may have held at the
/// fork (the child may then log an assignment the parent already logged).
pub struct AssignmentCache {
    capacity: NonZeroUsize,
    entries: PerProcess<Mutex<Entries>>,
    ttl: Option<Duration>,
}

impl AssignmentCache {
    /// A cache of at most `capacity` subjects-and-flags; entries older than `ttl` are ignored.
    pub fn new(capacity: NonZeroUsize, ttl: Option<Duration>) -> Self {
        AssignmentCache {
            capacity,
            entries: PerProcess::default(),
            ttl,
        }
    }

    /// Whether an event should be produced for this assignment; records it if so.
    pub fn should_log(
        &self,
        flag_key: &str,
        subject_key: &str,
        allocation: &str,
        variation: &str,
    ) -> bool {
        // Length-prefixed so that no two (flag, subject) pairs share a key.
        let key = format!("{}:{flag_key}{subject_key}", flag_key.len());
        let now = Instant::now();
        let capacity = self.capacity;
        let Ok(entries) = self
            .entries
            .get_or_start(|_| Ok(Mutex::new(LruCache::new(capacity))))
        else {
            return true;
        };
        let mut entries = lock(&entries);
        if let Some((logged_allocation, logged_variation, at)) = entries.get(&key) {
            let fresh = self.ttl.map_or(true, |ttl| now.duration_since(*at) < ttl);
            if fresh && logged_allocation == allocation && logged_variation == variation {
                return false;
            }
        }
        entries.put(key, (allocation.to_owned(), variation.to_owned(), now));
        true
    }

    /// Takes back what [`AssignmentCache::should_log`] recorded for an event that was not
    /// handed out after all, so the next identical assignment logs it.
    pub fn forget(&self, flag_key: &str, subject_key: &str, allocation: &str, variation: &str) {
        let key = format!("{}:{flag_key}{subject_key}", flag_key.len());
        let Some(entries) = self.entries.current() else {
            return;
        };
        let mut entries = lock(&entries);
        if entries
            .peek(&key)
            .is_some_and(|(a, v, _)| a == allocation && v == variation)
        {
            entries.pop(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_an_objects_members_escaped() {
        let members = [("k\"".to_owned(), "a\"b\\c\nd\u{1}é😀".to_owned())];
        let json = serde_json::to_string(&Members(&members)).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            serde_json::json!({"k\"": "a\"b\\c\nd\u{1}é😀"})
        );
    }

    #[test]
    fn cache_dedups_until_the_assignment_changes_or_is_evicted() {
        let cache = AssignmentCache::new(NonZeroUsize::new(2).unwrap(), None);
        assert!(cache.should_log("f", "s1", "a", "v"));
        assert!(!cache.should_log("f", "s1", "a", "v"));
        assert!(cache.should_log("f", "s1", "a", "w"));
        assert!(cache.should_log("f", "s1", "a", "v"));
        // Same subject, other flag; the key prefix keeps ("f", "1s") apart from ("f1", "s").
        assert!(cache.should_log("f1", "s", "a", "v"));
        assert!(cache.should_log("f", "1s", "a", "v"));
        // Capacity 2: ("f", "s1") was evicted by the two above.
        assert!(cache.should_log("f", "s1", "a", "v"));
    }

    #[test]
    fn cache_entries_expire_after_the_ttl() {
        let cache = AssignmentCache::new(
            NonZeroUsize::new(10).unwrap(),
            Some(Duration::from_millis(30)),
        );
        assert!(cache.should_log("f", "s", "a", "v"));
        assert!(!cache.should_log("f", "s", "a", "v"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.should_log("f", "s", "a", "v"));
    }
}
