//! Evaluating a compiled [`Snapshot`] for one user: dependency order, segment matching,
//! murmur3 bucketing, and the `evaluate_v2` result document.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Cursor;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::compile::{CompiledBucket, CompiledFlag, CompiledSegment, CompiledVariant, Snapshot};
use super::condition::{coerce_string, Lookup, Selector};
use super::user::{walk, walk_value, Prop, User};
use crate::config::from_text;
use crate::error::{ErrorCode, Result};

/// The `allot_evaluate` request of an Amplitude local client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest<'a> {
    /// The user to evaluate.
    #[serde(borrow)]
    pub user: User<'a>,
    /// Flags to evaluate (with their dependencies); absent or empty means all.
    #[serde(default)]
    pub flag_keys: Option<Vec<String>>,
    /// Send an assignment event (default: on when `assignment_config` is set).
    #[serde(default)]
    pub tracks_assignment: Option<bool>,
    /// Send exposure events (default: off; needs `exposure_config`).
    #[serde(default)]
    pub tracks_exposure: Option<bool>,
    /// The evaluation time in ms since the epoch, for events and their one-day
    /// de-duplication (default: the system clock).
    #[serde(default)]
    pub timestamp_millis: Option<u64>,
}

impl<'a> EvaluateRequest<'a> {
    /// Parses a request document (`invalid_json` or `invalid_argument` on failure).
    pub fn parse(text: &'a str) -> Result<EvaluateRequest<'a>> {
        from_text(text, "evaluate request", ErrorCode::InvalidArgument)
    }
}

/// The options of a fast-lane evaluation (`allot_evaluate_compact`): a JSON array of
/// flag keys, or an object with the request's other members than `user` and
/// `timestamp_millis`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactOptions {
    /// As the request's `flag_keys`.
    #[serde(default)]
    pub flag_keys: Option<Vec<String>>,
    /// As the request's `tracks_assignment`.
    #[serde(default)]
    pub tracks_assignment: Option<bool>,
    /// As the request's `tracks_exposure`.
    #[serde(default)]
    pub tracks_exposure: Option<bool>,
}

impl CompactOptions {
    /// Parses the options text: an array is the flag keys (`invalid_json` or
    /// `invalid_argument` on failure).
    pub fn parse(text: &str) -> Result<CompactOptions> {
        if text.trim_start().starts_with('[') {
            let flag_keys = from_text(text, "flag_keys", ErrorCode::InvalidArgument)?;
            Ok(CompactOptions {
                flag_keys: Some(flag_keys),
                ..CompactOptions::default()
            })
        } else {
            from_text(text, "options", ErrorCode::InvalidArgument)
        }
    }
}

/// Which segment and variant a flag resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    segment: usize,
    variant: usize,
}

/// The results of the flags evaluated so far: indexed by flag when every flag is
/// evaluated, in a map when only some are (so that their cost does not grow with the
/// configuration).
#[derive(Debug)]
enum Hits {
    Every(Vec<Option<Hit>>),
    Some(HashMap<usize, Hit>),
}

impl Hits {
    fn get(&self, flag: usize) -> Option<Hit> {
        match self {
            Hits::Every(hits) => hits.get(flag).copied().flatten(),
            Hits::Some(hits) => hits.get(&flag).copied(),
        }
    }

    fn set(&mut self, flag: usize, hit: Option<Hit>) {
        match (self, hit) {
            (Hits::Every(hits), hit) => hits[flag] = hit,
            (Hits::Some(hits), Some(hit)) => {
                hits.insert(flag, hit);
            }
            (Hits::Some(_), None) => {}
        }
    }
}

/// The outcome of evaluating a snapshot for one user.
#[derive(Debug)]
pub struct Evaluation<'s> {
    snapshot: &'s Snapshot,
    order: Cow<'s, [usize]>,
    hits: Hits,
}

/// The evaluation target: the user, and the results of flags evaluated so far.
struct Target<'a> {
    user: &'a User<'a>,
    snapshot: &'a Snapshot,
    hits: &'a Hits,
}

impl Lookup for Target<'_> {
    fn lookup(&self, selector: &Selector) -> Prop<'_> {
        let user = self.user;
        match selector {
            Selector::UserField(field) => user.field(*field),
            Selector::UserProperty(path) => walk(user.user_properties.as_ref(), path),
            Selector::UserCohortIds => user.cohort_ids.as_deref().map_or(Prop::Null, Prop::List),
            Selector::GroupName(group) => user.group_name(group).map_or(Prop::Null, Prop::Text),
            Selector::GroupProperty(group, path) => walk(user.group_properties(group), path),
            Selector::GroupCohortIds(group) => {
                user.group_cohort_ids(group).map_or(Prop::Null, Prop::List)
            }
            Selector::Result(flag, path) => self.result_field(*flag, path),
            Selector::Nothing => Prop::Null,
        }
    }
}

impl Target<'_> {
    fn result_field(&self, flag_index: usize, path: &[String]) -> Prop<'_> {
        let Some(hit) = self.hits.get(flag_index) else {
            return Prop::Null;
        };
        let flag = &self.snapshot.flags[flag_index];
        let variant = &flag.variants[hit.variant];
        let (first, rest) = match path.split_first() {
            Some(split) => split,
            None => return Prop::Null,
        };
        let root = match first.as_str() {
            "key" if rest.is_empty() => return Prop::Text(&variant.key),
            "value" => variant.value.as_ref(),
            "payload" => variant.payload.as_ref(),
            "metadata" => {
                // Later layers win: the variant's, then the segment's, then the flag's.
                let segment = &flag.segments[hit.segment];
                let Some((key, rest)) = rest.split_first() else {
                    return Prop::Null;
                };
                let layers = [&variant.metadata, &segment.metadata, &flag.metadata];
                let found = layers.iter().find_map(|layer| layer.get(key));
                return walk_value(found, rest);
            }
            _ => None,
        };
        walk_value(root, rest)
    }
}

impl Snapshot {
    /// Evaluates the requested flags (all when `flag_keys` is `None` or empty) and their
    /// dependencies, parents first. Unknown keys are skipped.
    pub fn evaluate<'s>(&'s self, user: &User<'_>, flag_keys: Option<&[String]>) -> Evaluation<'s> {
        let (order, mut hits): (Cow<'s, [usize]>, Hits) = match flag_keys {
            Some(keys) if !keys.is_empty() => {
                let start: Vec<usize> = keys
                    .iter()
                    .filter_map(|k| self.index.get(k).copied())
                    .collect();
                // Compilation rejected cycles, so ordering cannot fail here.
                let order = self.parents_first(&start).unwrap_or_default();
                let hits = Hits::Some(HashMap::with_capacity(order.len()));
                (Cow::Owned(order), hits)
            }
            _ => (
                Cow::Borrowed(&self.all_order),
                Hits::Every(vec![None; self.flags.len()]),
            ),
        };
        for &flag_index in order.iter() {
            let target = Target {
                user,
                snapshot: self,
                hits: &hits,
            };
            let hit = evaluate_flag(&self.flags[flag_index], &target);
            hits.set(flag_index, hit);
        }
        Evaluation {
            snapshot: self,
            order,
            hits,
        }
    }
}

fn evaluate_flag(flag: &CompiledFlag, target: &Target<'_>) -> Option<Hit> {
    flag.segments
        .iter()
        .enumerate()
        .find_map(|(segment_index, segment)| {
            if !segment_matches(segment, target) {
                return None;
            }
            let variant = match &segment.bucket {
                Some(bucket) => bucket_variant(bucket, target).unwrap_or(segment.variant),
                None => segment.variant,
            }?;
            Some(Hit {
                segment: segment_index,
                variant,
            })
        })
}

/// Absent conditions match everyone; `[]` matches no one; otherwise OR of ANDs.
fn segment_matches(segment: &CompiledSegment, target: &Target<'_>) -> bool {
    match &segment.conditions {
        None => true,
        Some(any_of) => any_of
            .iter()
            .any(|all_of| all_of.iter().all(|c| c.matches(target))),
    }
}

/// `Some(variant)` when an allocation and distribution contain the user's hash (the
/// variant is `None` when it names no variant of the flag); `None` when nothing does,
/// or the bucketing value is null or empty (then the segment's variant applies).
fn bucket_variant(bucket: &CompiledBucket, target: &Target<'_>) -> Option<Option<usize>> {
    let value = target.lookup(&bucket.selector);
    if let Prop::Null = value {
        return None;
    }
    let value = coerce_string(value);
    if value.is_empty() {
        return None;
    }
    let hash = bucket_hash(&bucket.salt_prefix, &value);
    let allocation_value = u64::from(hash % 100);
    let distribution_value = u64::from(hash / 100);
    let within = |range: &[u64; 2], v: u64| range[0] <= v && v < range[1];
    bucket
        .allocations
        .iter()
        .filter(|a| within(&a.range, allocation_value))
        .flat_map(|a| a.distributions.iter())
        .find(|(range, _)| within(range, distribution_value))
        .map(|&(_, variant)| variant)
}

/// `murmur3_x86_32(utf8(salt + "/" + value), seed 0)`.
fn bucket_hash(salt_prefix: &str, value: &str) -> u32 {
    let mut key = String::with_capacity(salt_prefix.len() + value.len());
    key.push_str(salt_prefix);
    key.push_str(value);
    murmur3_32(key.as_bytes(), 0)
}

/// murmur3_x86_32 of `bytes` with `seed`, as an unsigned integer.
pub fn murmur3_32(bytes: &[u8], seed: u32) -> u32 {
    // Reading from an in-memory cursor cannot fail.
    murmur3::murmur3_32(&mut Cursor::new(bytes), seed).unwrap_or(0)
}

/// One flag's result in an [`Evaluation`].
#[derive(Debug, Clone, Copy)]
pub struct Assigned<'s> {
    flag: &'s CompiledFlag,
    segment: &'s CompiledSegment,
    variant: &'s CompiledVariant,
}

impl<'s> Assigned<'s> {
    /// The flag key.
    pub fn flag_key(&self) -> &'s str {
        &self.flag.key
    }

    /// The variant key.
    pub fn variant_key(&self) -> &'s str {
        &self.variant.key
    }

    /// A key of the merged metadata (variant over segment over flag).
    pub fn metadata(&self, key: &str) -> Option<&'s Value> {
        [
            &self.variant.metadata,
            &self.segment.metadata,
            &self.flag.metadata,
        ]
        .into_iter()
        .find_map(|layer| layer.get(key))
    }

    /// The merged metadata.
    pub fn merged_metadata(&self) -> Map<String, Value> {
        let mut merged = self.flag.metadata.clone();
        for layer in [&self.segment.metadata, &self.variant.metadata] {
            merged.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        merged
    }
}

impl<'s> Evaluation<'s> {
    /// The evaluated flags that produced a variant, in evaluation order.
    pub fn assigned(&self) -> impl Iterator<Item = Assigned<'s>> + '_ {
        let snapshot = self.snapshot;
        self.order.iter().filter_map(move |&i| {
            let hit = self.hits.get(i)?;
            let flag = &snapshot.flags[i];
            Some(Assigned {
                flag,
                segment: &flag.segments[hit.segment],
                variant: &flag.variants[hit.variant],
            })
        })
    }

    /// Appends the result id of every evaluated flag that produced a variant, in
    /// evaluation order, as little-endian `u32`s; returns how many it appended.
    pub fn write_result_ids(&self, out: &mut Vec<u8>) -> u32 {
        let mut count = 0;
        for &i in self.order.iter() {
            let Some(hit) = self.hits.get(i) else {
                continue;
            };
            let segment = &self.snapshot.flags[i].segments[hit.segment];
            // Snapshot::has_narrow_result_ids was checked: every id fits.
            let id = u32::try_from(segment.first_result + hit.variant as u64).unwrap_or(u32::MAX);
            out.extend_from_slice(&id.to_le_bytes());
            count += 1;
        }
        count
    }

    /// Writes `{"variants": {flagKey: {"key", "value"?, "payload"?, "metadata"?}}}`.
    ///
    /// Written by hand from fragments serde wrote at compile time (`key_json`, each
    /// result's JSON): as `RawValue` members they would be parsed again on every call
    /// (`RawValue` validates text it did not write), which doubled the time of
    /// `c_abi/evaluate_all_60_flags` (27 µs → 49–60 µs).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + 160 * self.order.len());
        out.push_str("{\"variants\":{");
        let mut first = true;
        for &i in self.order.iter() {
            let Some(hit) = self.hits.get(i) else {
                continue;
            };
            let flag = &self.snapshot.flags[i];
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&flag.key_json);
            out.push(':');
            out.push_str(&flag.result_json(&flag.segments[hit.segment], hit.variant));
        }
        out.push_str("}}");
        out
    }
}
