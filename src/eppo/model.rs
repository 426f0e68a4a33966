//! The Universal Flag Configuration (UFC) exactly as Eppo serves it, deserialized with
//! serde. Flags stay raw JSON in [`UfcDocument`] so that one malformed flag can be isolated.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The type of a flag's variations, and the type a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VariationType {
    /// A string.
    String,
    /// An integral number.
    Integer,
    /// Any number.
    Numeric,
    /// `true` or `false`.
    Boolean,
    /// A JSON value (stored in the UFC as a JSON-encoded string).
    Json,
}

impl VariationType {
    /// The type numbered `index` in the fast lane (0 `STRING` … 4 `JSON`).
    pub fn from_index(index: u32) -> Option<VariationType> {
        const ALL: [VariationType; 5] = [
            VariationType::String,
            VariationType::Integer,
            VariationType::Numeric,
            VariationType::Boolean,
            VariationType::Json,
        ];
        ALL.get(usize::try_from(index).ok()?).copied()
    }

    /// The UFC spelling (`"STRING"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VariationType::String => "STRING",
            VariationType::Integer => "INTEGER",
            VariationType::Numeric => "NUMERIC",
            VariationType::Boolean => "BOOLEAN",
            VariationType::Json => "JSON",
        }
    }
}

/// The top of a UFC document. Unknown top-level members (for example `bandits`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UfcDocument {
    /// When Eppo published the configuration (RFC 3339), reported as `configPublishedAt`.
    #[serde(default)]
    pub created_at: Option<String>,
    /// `"SERVER"` (plain, the default) or `"CLIENT"` (obfuscated).
    #[serde(default)]
    pub format: Option<String>,
    /// The Eppo environment the configuration belongs to.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Flags by key (MD5 of the key in the obfuscated format), each still raw JSON.
    pub flags: Map<String, Value>,
}

/// The `environment` member of a UFC document.
#[derive(Debug, Deserialize)]
pub struct Environment {
    /// The environment's name, e.g. `"Production"`.
    #[serde(default)]
    pub name: Option<String>,
}

/// One flag.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flag {
    /// The flag key: required by the UFC schema (a flag without one is malformed);
    /// evaluation uses the key of the `flags` map.
    #[allow(dead_code)]
    pub key: String,
    /// A disabled flag always serves the default.
    pub enabled: bool,
    /// The type of every variation value.
    pub variation_type: VariationType,
    /// Variations by key, in key order (the first invalid one is the one reported, the
    /// same each time).
    pub variations: BTreeMap<String, Variation>,
    /// Allocations, evaluated in order.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// The size of the shard space, e.g. 10000.
    pub total_shards: u32,
}

/// One variation: its key and its value (type-checked at compile time).
#[derive(Debug, Deserialize)]
pub struct Variation {
    /// The variation key.
    pub key: String,
    /// The raw value.
    pub value: Value,
}

/// One allocation: optional time window, targeting rules and traffic splits.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    /// The allocation key.
    pub key: String,
    /// Rules, OR-ed; absent or empty means everyone passes.
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    /// The allocation is skipped before this instant (RFC 3339).
    #[serde(default)]
    pub start_at: Option<String>,
    /// The allocation is skipped after this instant (RFC 3339).
    #[serde(default)]
    pub end_at: Option<String>,
    /// Splits, the first containing the subject wins.
    #[serde(default)]
    pub splits: Vec<Split>,
    /// Whether a match produces an assignment event (default true).
    #[serde(default)]
    pub do_log: Option<bool>,
}

/// A rule: conditions AND-ed.
#[derive(Debug, Deserialize)]
pub struct Rule {
    /// The conditions.
    pub conditions: Vec<Condition>,
}

/// One condition on a subject attribute.
#[derive(Debug, Deserialize)]
pub struct Condition {
    /// The attribute name (MD5 hex in the obfuscated format).
    pub attribute: String,
    /// The operator name (MD5 hex in the obfuscated format).
    pub operator: String,
    /// The operand; its shape depends on the operator.
    pub value: Value,
}

/// A traffic split: a variation and the shards a subject must fall in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Split {
    /// The variation served.
    pub variation_key: String,
    /// Shards, all of which must contain the subject; none means everyone.
    #[serde(default)]
    pub shards: Vec<Shard>,
    /// Extra fields flattened into the assignment event.
    #[serde(default)]
    pub extra_logging: Option<BTreeMap<String, String>>,
}

/// A shard: a salt and the ranges of the shard space it covers.
#[derive(Debug, Deserialize)]
pub struct Shard {
    /// The salt hashed before the subject key.
    pub salt: String,
    /// Half-open ranges `[start, end)`.
    pub ranges: Vec<ShardRange>,
}

/// A half-open range `[start, end)` of shard numbers.
#[derive(Debug, Deserialize)]
pub struct ShardRange {
    /// First shard included.
    pub start: u32,
    /// First shard excluded.
    pub end: u32,
}
