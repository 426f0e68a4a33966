//! Compiling a flag configuration once into an immutable [`Snapshot`]: selectors
//! resolved, conditions pre-processed, variants indexed, metadata merged and results
//! pre-serialized, dependency order known and cycles rejected.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize as _, Serialize};
use serde_json::{Map, Value};

use super::cohorts::Targets;
use super::condition::{Condition, Selector};
use super::model;
use crate::error::{
    Error, ErrorCode, FlagError, Result, DUPLICATE_FLAG, INVALID_FLAG, UNSUPPORTED_REGEX,
};
use crate::pattern::{Compiled, Patterns};

/// An immutable, compiled flag configuration. Evaluation only reads it.
#[derive(Debug)]
pub struct Snapshot {
    pub(super) flags: Vec<CompiledFlag>,
    pub(super) index: HashMap<String, usize>,
    /// Every flag, parents first (the order used when no keys are requested).
    pub(super) all_order: Vec<usize>,
    errors: Vec<FlagError>,
    /// Process-unique id of this snapshot (never 0): every compiled configuration gets a
    /// new one, so a binding's cache of results keyed by it can never serve a stale result.
    pub(super) id: u64,
    /// Per flag, the first result id of its segment 0 with variant 0 (segment `s`,
    /// variant `v` of a flag with `n` variants has id `base + s * n + v`); ids are counted,
    /// never stored per pair, so a wide flag costs nothing here.
    result_bases: Vec<u64>,
    /// How many result ids the snapshot has.
    result_count: u64,
    /// The cohorts the flags target.
    cohorts: Targets,
}

/// The next snapshot id (ids start at 1; 0 means "no snapshot").
static NEXT_SNAPSHOT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub(super) struct CompiledFlag {
    pub(super) key: String,
    /// The key as a JSON string, ready to be written out.
    pub(super) key_json: String,
    pub(super) dependencies: Vec<usize>,
    pub(super) metadata: Map<String, Value>,
    pub(super) variants: Vec<CompiledVariant>,
    pub(super) segments: Vec<CompiledSegment>,
}

#[derive(Debug)]
pub(super) struct CompiledVariant {
    pub(super) key: String,
    pub(super) value: Option<Value>,
    pub(super) payload: Option<Value>,
    pub(super) metadata: Map<String, Value>,
}

#[derive(Debug)]
pub(super) struct CompiledSegment {
    pub(super) conditions: Option<Vec<Vec<Condition>>>,
    pub(super) bucket: Option<CompiledBucket>,
    /// The segment's own variant, when it names one of the flag's variants.
    pub(super) variant: Option<usize>,
    pub(super) metadata: Map<String, Value>,
    /// `(variant, JSON of the result this segment gives with it)`, by variant, for the
    /// variants the segment can give (see [`CompiledFlag::result_json`]).
    pub(super) results: Vec<(usize, Box<str>)>,
    /// The result id of this segment with the flag's variant 0; variant `v` has id
    /// `first_result + v`.
    pub(super) first_result: u64,
}

#[derive(Debug)]
pub(super) struct CompiledBucket {
    pub(super) selector: Selector,
    /// `salt + "/"`, the prefix of every hashed key.
    pub(super) salt_prefix: String,
    pub(super) allocations: Vec<CompiledAllocation>,
}

#[derive(Debug)]
pub(super) struct CompiledAllocation {
    pub(super) range: [u64; 2],
    /// `(range, variant)`; the variant is `None` when the key names no variant.
    pub(super) distributions: Vec<([u64; 2], Option<usize>)>,
}

impl Snapshot {
    /// Compiles configuration text (a JSON array of flags).
    pub fn from_json(text: &str) -> Result<Snapshot> {
        let flags: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            Error::from_json(
                &e,
                "flag configuration must be a JSON array of flags",
                ErrorCode::InvalidConfig,
            )
        })?;
        Snapshot::compile(&flags)
    }

    /// Compiles parsed flags. Malformed flags are left out and reported in
    /// [`Snapshot::errors`]; a dependency cycle rejects the whole configuration.
    pub fn compile(raw_flags: &[Value]) -> Result<Snapshot> {
        let mut errors = Vec::new();
        let mut parsed: Vec<model::Flag> = Vec::with_capacity(raw_flags.len());
        // Each parsed flag's position in the configuration array.
        let mut positions: Vec<usize> = Vec::with_capacity(raw_flags.len());
        let mut seen = HashMap::with_capacity(raw_flags.len());
        for (position, raw) in raw_flags.iter().enumerate() {
            let flag_key = raw.get("key").and_then(Value::as_str).map(str::to_owned);
            match model::Flag::deserialize(raw) {
                Ok(flag) => {
                    if let Some(&earlier) = seen.get(&flag.key) {
                        errors.push(FlagError {
                            flag_key,
                            index: Some(position),
                            code: DUPLICATE_FLAG,
                            message: "flag key appears more than once; the last one is used".into(),
                        });
                        parsed[earlier] = flag;
                        positions[earlier] = position;
                    } else {
                        seen.insert(flag.key.clone(), parsed.len());
                        parsed.push(flag);
                        positions.push(position);
                    }
                }
                Err(e) => errors.push(FlagError {
                    flag_key,
                    index: Some(position),
                    code: INVALID_FLAG,
                    message: e.to_string(),
                }),
            }
        }
        // Flags whose regexes exceed the size caps are left out before indexing, so that
        // the index (and every `result` selector) names loaded flags only.
        let mut patterns = Patterns::default();
        let mut loaded = Vec::with_capacity(parsed.len());
        for (flag, position) in parsed.into_iter().zip(positions) {
            match compile_patterns(&flag, &mut patterns) {
                Ok(unsupported) => {
                    errors.extend(unsupported.into_iter().map(|(pattern, reason)| FlagError {
                        flag_key: Some(flag.key.clone()),
                        index: Some(position),
                        code: UNSUPPORTED_REGEX,
                        message: format!("regex {pattern:?} never matches: {reason}"),
                    }));
                    loaded.push(flag);
                }
                Err(message) => errors.push(FlagError {
                    flag_key: Some(flag.key),
                    index: Some(position),
                    code: INVALID_FLAG,
                    message,
                }),
            }
        }
        errors.sort_by_key(|e| e.index);
        let index: HashMap<String, usize> = loaded
            .iter()
            .enumerate()
            .map(|(i, flag)| (flag.key.clone(), i))
            .collect();
        let mut result_budget = RESULT_BUDGET_BYTES;
        let mut flags: Vec<CompiledFlag> = loaded
            .iter()
            .map(|flag| compile_flag(flag, &index, &patterns, &mut result_budget))
            .collect();
        let mut result_bases = Vec::with_capacity(flags.len());
        let mut result_count = 0u64;
        for flag in &mut flags {
            result_bases.push(result_count);
            let variants = flag.variants.len() as u64;
            for segment in &mut flag.segments {
                segment.first_result = result_count;
                result_count = result_count.saturating_add(variants);
            }
        }
        let mut snapshot = Snapshot {
            flags,
            index,
            all_order: Vec::new(),
            errors,
            id: NEXT_SNAPSHOT_ID.fetch_add(1, Ordering::Relaxed),
            result_bases,
            result_count,
            cohorts: Targets::of(&loaded),
        };
        let all: Vec<usize> = (0..snapshot.flags.len()).collect();
        snapshot.all_order = snapshot.parents_first(&all).map_err(|cycle| {
            let path: Vec<&str> = cycle
                .iter()
                .map(|&i| snapshot.flags[i].key.as_str())
                .collect();
            Error::new(
                ErrorCode::DependencyCycle,
                format!("flag dependency cycle: {}", path.join(" -> ")),
            )
        })?;
        Ok(snapshot)
    }

    /// The snapshot's process-unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether every result id fits the fast lane's 32-bit ids.
    pub fn has_narrow_result_ids(&self) -> bool {
        self.result_count <= u64::from(u32::MAX) + 1
    }

    /// The flag key and result JSON of a result id, `None` for an id it does not have.
    pub fn result(&self, result_id: u32) -> Option<(&str, Cow<'_, str>)> {
        let id = u64::from(result_id);
        if id >= self.result_count {
            return None;
        }
        let f = self
            .result_bases
            .partition_point(|&base| base <= id)
            .checked_sub(1)?;
        let flag = self.flags.get(f)?;
        let variants = flag.variants.len() as u64;
        let offset = id - self.result_bases[f];
        let segment = flag
            .segments
            .get(usize::try_from(offset.checked_div(variants)?).ok()?)?;
        let variant = usize::try_from(offset.checked_rem(variants)?).ok()?;
        Some((&flag.key_json, flag.result_json(segment, variant)))
    }

    /// Flags that could not be loaded.
    pub fn errors(&self) -> &[FlagError] {
        &self.errors
    }

    /// The cohorts the flags target.
    pub fn cohort_targets(&self) -> &Targets {
        &self.cohorts
    }

    /// Number of loaded flags.
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }

    /// Every loaded flag's key, sorted.
    pub fn flag_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.flags.iter().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        keys
    }

    /// Orders `start` and their ancestors parents first (a depth-first walk from each,
    /// in the given order). On a cycle, returns the cycle's path (first node repeated).
    pub(super) fn parents_first(
        &self,
        start: &[usize],
    ) -> std::result::Result<Vec<usize>, Vec<usize>> {
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        // Only the flags reached are visited: evaluating a few flags of a large
        // configuration costs time in proportion to them, not to the configuration.
        let mut state: HashMap<usize, u8> = HashMap::with_capacity(start.len());
        let mut order = Vec::with_capacity(start.len());
        // An explicit stack of (flag, next dependency to visit): deep chains cannot
        // overflow the thread's stack.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for &root in start {
            if state.contains_key(&root) {
                continue;
            }
            state.insert(root, ON_PATH);
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (flag, next) = *top;
                match self.flags[flag].dependencies.get(next) {
                    Some(&parent) => {
                        top.1 += 1;
                        match state.get(&parent).copied().unwrap_or(NEW) {
                            NEW => {
                                state.insert(parent, ON_PATH);
                                stack.push((parent, 0));
                            }
                            ON_PATH => {
                                let from =
                                    stack.iter().position(|&(f, _)| f == parent).unwrap_or(0);
                                let mut cycle: Vec<usize> =
                                    stack[from..].iter().map(|&(f, _)| f).collect();
                                cycle.push(parent);
                                return Err(cycle);
                            }
                            _ => {}
                        }
                    }
                    None => {
                        state.insert(flag, DONE);
                        order.push(flag);
                        stack.pop();
                    }
                }
            }
        }
        Ok(order)
    }
}

/// Compiles the regexes of a flag's `regex` conditions into `patterns`: the distinct
/// patterns the syntax rejects (they never match) with the reason, or `Err` naming one
/// that is too large (the flag is then left out).
fn compile_patterns(
    flag: &model::Flag,
    patterns: &mut Patterns,
) -> std::result::Result<Vec<(String, String)>, String> {
    let values = flag
        .segments
        .iter()
        .filter_map(|segment| segment.conditions.as_ref())
        .flatten()
        .flatten()
        .filter(|c| Condition::uses_regex(&c.op))
        .flat_map(|c| &c.values);
    let mut unsupported: Vec<(String, String)> = Vec::new();
    let mut reported: HashSet<&str> = HashSet::new();
    for value in values {
        match patterns.compile(value) {
            Compiled::Usable(_) => {}
            Compiled::Unsupported(reason) => {
                if reported.insert(value) {
                    unsupported.push((value.clone(), reason));
                }
            }
            Compiled::TooBig(message) => return Err(message),
        }
    }
    Ok(unsupported)
}

/// The most bytes of results prepared at compile time for one configuration (64 MiB);
/// results past it are written at evaluation time instead.
const RESULT_BUDGET_BYTES: usize = 64 << 20;

impl CompiledFlag {
    /// The JSON of the result `segment` gives with `variant`: prepared at compile time,
    /// or written now when the configuration's budget for prepared results ran out.
    pub(super) fn result_json<'a>(
        &'a self,
        segment: &'a CompiledSegment,
        variant: usize,
    ) -> Cow<'a, str> {
        match segment.results.binary_search_by_key(&variant, |(v, _)| *v) {
            Ok(i) => Cow::Borrowed(&segment.results[i].1),
            Err(_) => {
                let v = &self.variants[variant];
                Cow::Owned(result_json(v, [&self.metadata, &segment.metadata, &v.metadata]).into())
            }
        }
    }
}

fn compile_flag(
    flag: &model::Flag,
    index: &HashMap<String, usize>,
    patterns: &Patterns,
    result_budget: &mut usize,
) -> CompiledFlag {
    let variant_positions: HashMap<&str, usize> = flag
        .variants
        .keys()
        .enumerate()
        .map(|(i, key)| (key.as_str(), i))
        .collect();
    let variant_index = |key: &str| variant_positions.get(key).copied();
    let variants: Vec<CompiledVariant> = flag
        .variants
        .iter()
        .map(|(map_key, v)| CompiledVariant {
            key: v.key.clone().unwrap_or_else(|| map_key.clone()),
            value: v.value.clone().filter(|x| !x.is_null()),
            payload: v.payload.clone().filter(|x| !x.is_null()),
            metadata: v.metadata.clone().unwrap_or_default(),
        })
        .collect();
    let segments: Vec<CompiledSegment> = flag
        .segments
        .iter()
        .map(|segment| CompiledSegment {
            conditions: segment.conditions.as_ref().map(|ors| {
                ors.iter()
                    .map(|ands| {
                        ands.iter()
                            .map(|c| {
                                Condition::compile(
                                    Selector::compile(&c.selector, index),
                                    &c.op,
                                    &c.values,
                                    patterns,
                                )
                            })
                            .collect()
                    })
                    .collect()
            }),
            bucket: segment.bucket.as_ref().map(|bucket| CompiledBucket {
                selector: Selector::compile(&bucket.selector, index),
                salt_prefix: format!("{}/", bucket.salt),
                allocations: bucket
                    .allocations
                    .iter()
                    .map(|a| CompiledAllocation {
                        range: a.range,
                        distributions: a
                            .distributions
                            .iter()
                            .map(|d| (d.range, variant_index(&d.variant)))
                            .collect(),
                    })
                    .collect(),
            }),
            variant: segment.variant.as_deref().and_then(variant_index),
            metadata: segment.metadata.clone().unwrap_or_default(),
            results: Vec::new(),
            first_result: 0,
        })
        .collect();
    let metadata = flag.metadata.clone().unwrap_or_default();
    // Only the variants a segment can give get a prepared result (a segment names one
    // variant and its bucket a few), and only while the configuration's budget lasts.
    let segments = segments
        .into_iter()
        .map(|mut segment: CompiledSegment| {
            let mut reachable: Vec<usize> = segment
                .bucket
                .iter()
                .flat_map(|bucket| &bucket.allocations)
                .flat_map(|allocation| &allocation.distributions)
                .filter_map(|&(_, variant)| variant)
                .chain(segment.variant)
                .collect();
            reachable.sort_unstable();
            reachable.dedup();
            for variant in reachable {
                let v = &variants[variant];
                let json = result_json(v, [&metadata, &segment.metadata, &v.metadata]);
                if json.len() > *result_budget {
                    break;
                }
                *result_budget -= json.len();
                segment.results.push((variant, json));
            }
            segment
        })
        .collect();
    CompiledFlag {
        metadata,
        key: flag.key.clone(),
        key_json: Value::String(flag.key.clone()).to_string(),
        dependencies: flag
            .dependencies
            .iter()
            .flatten()
            .filter_map(|parent| index.get(parent).copied())
            .collect(),
        variants,
        segments,
    }
}

/// A result as written out: metadata merged from flag, segment and variant (later keys win).
#[derive(Serialize)]
struct ResultJson<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<&'a str, &'a Value>,
}

/// Writes the JSON of `variant` as the result of a segment with `layers` of metadata
/// (flag's first, then the segment's, then the variant's).
fn result_json(variant: &CompiledVariant, layers: [&Map<String, Value>; 3]) -> Box<str> {
    let metadata = layers
        .iter()
        .flat_map(|layer| layer.iter())
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let result = ResultJson {
        key: &variant.key,
        value: variant.value.as_ref(),
        payload: variant.payload.as_ref(),
        metadata,
    };
    serde_json::to_string(&result)
        .unwrap_or_default()
        .into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_past_the_budget_are_written_at_evaluation_time() {
        let flag: model::Flag = serde_json::from_value(serde_json::json!({
            "key": "f", "metadata": {"flagType": "release"},
            "variants": {"a": {"key": "a", "value": 1}, "b": {"key": "b", "metadata": {"x": 2}}},
            "segments": [{"variant": "b", "metadata": {"segmentName": "s"}}]
        }))
        .unwrap();
        let index = HashMap::from([("f".to_owned(), 0)]);
        let patterns = Patterns::default();
        let mut unlimited = usize::MAX;
        let prepared = compile_flag(&flag, &index, &patterns, &mut unlimited);
        let written = compile_flag(&flag, &index, &patterns, &mut 0);
        let segment = &prepared.segments[0];
        // Only the segment's own variant ("b", index 1) is prepared.
        assert_eq!(segment.results.len(), 1);
        assert!(written.segments[0].results.is_empty());
        let expected = r#"{"key":"b","metadata":{"flagType":"release","segmentName":"s","x":2}}"#;
        assert_eq!(prepared.result_json(segment, 1), expected);
        assert_eq!(written.result_json(&written.segments[0], 1), expected);
    }
}
