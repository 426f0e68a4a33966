//! [`Members`]: the member ids of one cohort in a compact, immutable hash set. The ids
//! are stored back to back in one buffer; an open-addressing table of `u32` indexes
//! finds them, so a cohort costs its id bytes plus about 10 bytes per member, with no
//! allocation per member.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::amplitude::evaluate::murmur3_32;

/// The member ids of one cohort.
pub struct Members {
    /// Every distinct id, back to back.
    bytes: String,
    /// Where each id ends in `bytes` (id `i` starts where id `i - 1` ends).
    ends: Vec<u32>,
    /// Open addressing, linear probing: 0 is empty, `i + 1` is id `i`.
    slots: Vec<u32>,
    /// How many distinct ids.
    distinct: usize,
}

impl Members {
    /// Builds the set from ids (duplicates are kept once). Fails when the ids add up to
    /// 4 GiB or more.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<Members, String> {
        let mut builder = Builder::default();
        for id in ids {
            builder.push(id)?;
        }
        Ok(builder.finish())
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: &str) -> bool {
        self.contains_hashed(&Key::new(id))
    }

    /// Whether `key` is a member (its hash computed once for many cohorts).
    pub fn contains_hashed(&self, key: &Key<'_>) -> bool {
        if self.ends.is_empty() {
            return false;
        }
        let id = key.id;
        let mask = self.slots.len() - 1;
        let mut slot = key.hash as usize & mask;
        loop {
            match self.slots[slot] {
                0 => return false,
                entry if self.id((entry - 1) as usize) == id => return true,
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// How many distinct members.
    pub fn count(&self) -> usize {
        self.distinct
    }

    fn id(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            i => self.ends[i - 1] as usize,
        };
        &self.bytes[start..self.ends[index] as usize]
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Members({} ids)", self.distinct)
    }
}

/// An id with its hash, to look it up in many cohorts.
pub struct Key<'a> {
    id: &'a str,
    hash: u32,
}

impl Key<'_> {
    /// Hashes `id`.
    pub fn new(id: &str) -> Key<'_> {
        Key {
            id,
            hash: murmur3_32(id.as_bytes(), 0),
        }
    }
}

/// Collects ids, then indexes them.
#[derive(Default)]
struct Builder {
    bytes: String,
    ends: Vec<u32>,
}

impl Builder {
    fn push(&mut self, id: &str) -> Result<(), String> {
        self.bytes.push_str(id);
        let end = u32::try_from(self.bytes.len())
            .map_err(|_| "the cohort's member ids add up to 4 GiB or more".to_owned())?;
        self.ends.push(end);
        Ok(())
    }

    fn finish(self) -> Members {
        // Load factor between 1/3 and 2/3.
        let capacity = (self.ends.len() + self.ends.len() / 2 + 1)
            .next_power_of_two()
            .max(8);
        let mut members = Members {
            bytes: self.bytes,
            ends: self.ends,
            slots: vec![0; capacity],
            distinct: 0,
        };
        members.bytes.shrink_to_fit();
        members.ends.shrink_to_fit();
        let mask = capacity - 1;
        for index in 0..members.ends.len() {
            let id = members.id(index);
            let mut slot = murmur3_32(id.as_bytes(), 0) as usize & mask;
            // A duplicate keeps its bytes but gets no slot: only its first copy is found.
            let duplicate = loop {
                match members.slots[slot] {
                    0 => break false,
                    entry if members.id((entry - 1) as usize) == id => break true,
                    _ => slot = (slot + 1) & mask,
                }
            };
            if !duplicate {
                // Fits: the builder checked that every offset fits in a u32.
                members.slots[slot] = index as u32 + 1;
                members.distinct += 1;
            }
        }
        members
    }
}

/// One id of a `memberIds` array, borrowed from the response when it has no escapes.
#[derive(Deserialize)]
struct Id<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for Members {
    /// Reads a JSON array of strings without allocating a string per member.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct Ids;
        impl<'de> Visitor<'de> for Ids {
            type Value = Members;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of member id strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members, A::Error> {
                let mut builder = Builder::default();
                while let Some(Id(id)) = seq.next_element::<Id<'de>>()? {
                    builder.push(&id).map_err(serde::de::Error::custom)?;
                }
                Ok(builder.finish())
            }
        }
        deserializer.deserialize_seq(Ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_and_only_members() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
        let members = Members::new(ids.iter().map(String::as_str)).unwrap();
        assert_eq!(members.count(), 10_000);
        assert!(ids.iter().all(|id| members.contains(id)));
        assert!(!members.contains("user-10000"));
        assert!(!members.contains(""));
        assert!(!members.contains("user-"));
        let empty = Members::new([]).unwrap();
        assert!(!empty.contains("user-1"));
    }

    #[test]
    fn reads_json_with_duplicates_and_escapes() {
        let members: Members =
            serde_json::from_str(r#"["a", "b\u00e9", "a", "", "c\"d"]"#).unwrap();
        assert_eq!(members.count(), 4);
        for id in ["a", "bé", "", "c\"d"] {
            assert!(members.contains(id), "{id}");
        }
        assert!(!members.contains("b"));
        assert!(serde_json::from_str::<Members>("[1, 2]").is_err());
    }
}
