//! Assignment events (what the binding hands to the user's logger) and the optional
//! deduplication cache.

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;
use serde_json::{Map, Value};

use crate::eppo::evaluate::Matched;
use crate::process::{lock, PerProcess};

/// The `metaData` member of every event.
const META_DATA: &str = concat!(
    "{\"sdkName\":\"allot\",\"sdkVersion\":\"",
    env!("CARGO_PKG_VERSION"),
    "\",\"coreVersion\":\"",
    env!("CARGO_PKG_VERSION"),
    "\"}"
);

/// Appends `s` to `out` as a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    write_json_str_body(out, s);
    out.push('"');
}

/// Appends `s` to `out` escaped for the inside of a JSON string literal.
fn write_json_str_body(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // The bytes matched above are ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends a JSON object to `out` (keys escaped, values serialized compactly).
pub fn write_json_object(out: &mut String, object: &Map<String, Value>) {
    out.push('{');
    for (i, (key, value)) in object.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, key);
        out.push(':');
        // `Value`'s Display writes compact JSON; writing to a String cannot fail.
        let _ = write!(out, "{value}");
    }
    out.push('}');
}

/// Appends the assignment event of a match:
/// `{featureFlag, allocation, experiment, variation, subject, subjectAttributes, timestamp,
/// metaData, …extraLogging}`.
pub fn write_event(
    out: &mut String,
    flag_key: &str,
    matched: &Matched<'_>,
    subject_key: &str,
    subject_attributes: &Map<String, Value>,
    timestamp: &str,
) {
    let allocation = matched.allocation.key.as_str();
    out.push_str("{\"featureFlag\":");
    write_json_str(out, flag_key);
    out.push_str(",\"allocation\":");
    write_json_str(out, allocation);
    out.push_str(",\"experiment\":\"");
    write_json_str_body(out, flag_key);
    out.push('-');
    write_json_str_body(out, allocation);
    out.push_str("\",\"variation\":");
    write_json_str(out, &matched.split.variation_key);
    out.push_str(",\"subject\":");
    write_json_str(out, subject_key);
    out.push_str(",\"subjectAttributes\":");
    write_json_object(out, subject_attributes);
    out.push_str(",\"timestamp\":");
    write_json_str(out, timestamp);
    out.push_str(",\"metaData\":");
    out.push_str(META_DATA);
    out.push_str(&matched.split.extra_logging_json);
    out.push('}');
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é😀");
        assert_eq!(
            serde_json::from_str::<String>(&out).unwrap(),
            "a\"b\\c\nd\u{1}é😀"
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
