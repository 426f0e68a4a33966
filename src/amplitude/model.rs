//! The flag configuration as Amplitude serves it ("evaluation v2"), exactly as parsed.
//! Unknown fields are ignored; values and payloads may be any JSON.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One flag of the configuration array.
#[derive(Debug, Clone, Deserialize)]
pub struct Flag {
    /// The flag key.
    pub key: String,
    /// Variants by key.
    #[serde(default)]
    pub variants: BTreeMap<String, Variant>,
    /// Segments, tried in order.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Keys of flags that must be evaluated before this one.
    #[serde(default)]
    pub dependencies: Option<Vec<String>>,
    /// Flag metadata (`flagType`, `flagVersion`, `deployed`, …).
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// A variant a flag can assign.
#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    /// The variant key (defaults to its key in the flag's `variants` map).
    #[serde(default)]
    pub key: Option<String>,
    /// The variant value.
    #[serde(default)]
    pub value: Option<Value>,
    /// The variant payload.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Variant metadata (`default`, `trackExposure`, …).
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// A targeting segment: conditions, then bucketing or a fixed variant.
#[derive(Debug, Clone, Deserialize)]
pub struct Segment {
    /// Bucketing; absent means the segment's `variant`.
    #[serde(default)]
    pub bucket: Option<Bucket>,
    /// OR of ANDs; absent or null matches everyone, `[]` no one.
    #[serde(default)]
    pub conditions: Option<Vec<Vec<Condition>>>,
    /// The variant when bucketing gives none.
    #[serde(default)]
    pub variant: Option<String>,
    /// Segment metadata (`segmentName`, …).
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// One condition of a segment.
#[derive(Debug, Clone, Deserialize)]
pub struct Condition {
    /// Path into the evaluation target.
    pub selector: Vec<String>,
    /// Operator name.
    pub op: String,
    /// Filter values.
    pub values: Vec<String>,
}

/// Hash-based bucketing of a segment.
#[derive(Debug, Clone, Deserialize)]
pub struct Bucket {
    /// Path of the value that is hashed.
    pub selector: Vec<String>,
    /// Salt prefixed to the hashed value.
    pub salt: String,
    /// Allocations, first match wins.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

/// A range of `hash % 100` and its distributions.
#[derive(Debug, Clone, Deserialize)]
pub struct Allocation {
    /// `[start, end)` over `hash % 100`.
    pub range: [u64; 2],
    /// Distributions over `hash / 100`, first match wins.
    #[serde(default)]
    pub distributions: Vec<Distribution>,
}

/// A range of `hash / 100` assigned to a variant.
#[derive(Debug, Clone, Deserialize)]
pub struct Distribution {
    /// The variant key.
    pub variant: String,
    /// `[start, end)` over `hash / 100`.
    pub range: [u64; 2],
}
