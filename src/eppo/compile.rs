//! The compiled, immutable snapshot of a UFC document: regexes compiled once, semver and
//! numeric operands parsed, ONE_OF sets built, JSON variation values parsed, shard salts
//! pre-hashed, and the obfuscated (`CLIENT`) format decoded into the same form.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::compare::{parse_number, Comparison};
use crate::eppo::bandit::compile::{BanditLinks, BanditModels};
use crate::eppo::events::Members;
use crate::eppo::model::{self, UfcDocument, VariationType};
use crate::eppo::time;
use crate::error::{Error, ErrorCode, FlagError, Result, INVALID_FLAG};
use crate::pattern::{Compiled, Pattern, Patterns};

/// A map looked up on every assignment, with a hasher several times faster than std's on
/// short keys (seeded per process; keys come from the configuration).
type FastMap<K, V> = HashMap<K, V, RandomState>;
/// A set probed on every assignment, hashed as [`FastMap`].
type FastSet<T> = HashSet<T, RandomState>;

/// A loaded configuration. Immutable; readers share it through an `Arc`.
pub struct Snapshot {
    flags: FastMap<Box<str>, std::result::Result<Flag, String>>,
    obfuscated: bool,
    /// The environment name of the configuration, if it has one.
    pub environment: Option<String>,
    /// The configuration's `createdAt`, reported as `configPublishedAt`.
    pub published_at: Option<String>,
    /// When allot loaded the configuration (RFC 3339), reported as `configFetchedAt`.
    pub fetched_at: String,
    /// Flags that failed to compile; each evaluates to the default.
    pub flag_errors: Vec<FlagError>,
    /// Which flag variations are bandits.
    pub bandit_links: BanditLinks,
    /// The bandit models served with these flags.
    pub bandit_models: Arc<BanditModels>,
    /// The UFC document as loaded (JSON text), handed back by `allot_configuration`.
    pub source: Box<str>,
}

/// A compiled flag.
pub struct Flag {
    /// Disabled flags serve the default.
    pub enabled: bool,
    /// The type of every variation.
    pub variation_type: VariationType,
    /// The variations; splits refer to them by index.
    pub variations: Vec<Variation>,
    /// The allocations, in evaluation order.
    pub allocations: Vec<Allocation>,
    /// The size of the shard space.
    pub total_shards: u32,
    /// The distinct shard salts, each as the MD5 state after hashing `salt + "-"`; the
    /// subject key is appended per evaluation.
    pub salts: Vec<Md5>,
}

/// A compiled variation.
pub struct Variation {
    /// The variation key (decoded).
    pub key: String,
    /// The value: typed for valid variations (JSON values parsed), raw for invalid ones.
    pub value: Value,
    /// `value` serialized as JSON, ready to be written into responses.
    pub value_json: String,
    /// Why the value does not fit the flag's type, if it does not.
    pub invalid: Option<String>,
}

/// A compiled allocation.
pub struct Allocation {
    /// The allocation key (decoded).
    pub key: String,
    /// Start of the time window, in milliseconds since the epoch.
    pub start_at: Option<i64>,
    /// End of the time window, in milliseconds since the epoch.
    pub end_at: Option<i64>,
    /// Rules, OR-ed; empty means everyone passes.
    pub rules: Vec<Rule>,
    /// Splits, the first containing the subject wins.
    pub splits: Vec<Split>,
    /// Whether a match produces an assignment event.
    pub do_log: bool,
    /// Whether only a subject with attributes can pass: every rule has a condition that
    /// fails on an absent attribute (so a subject without any skips the rules at once).
    pub needs_attributes: bool,
}

/// A compiled rule.
pub struct Rule {
    /// Conditions, AND-ed.
    pub conditions: Vec<Condition>,
    /// The rule as configured, reported as `matchedRule` in evaluation details.
    pub display: Value,
}

/// A compiled condition.
pub struct Condition {
    /// Which attribute it reads.
    pub attribute: Attribute,
    /// Whether the attribute is `id`, which defaults to the subject key.
    pub is_id: bool,
    /// The test applied to the attribute.
    pub test: Test,
}

/// How a condition names its attribute.
pub enum Attribute {
    /// By name (plain format).
    Name(String),
    /// By the MD5 of the name (obfuscated format).
    Hash([u8; 16]),
}

/// The test of a condition, with its operand pre-processed.
pub enum Test {
    /// `MATCHES`; `None` when the regex is invalid (the condition is then false). A regex
    /// over the size caps of [`crate::pattern`] makes the whole flag invalid instead.
    Matches(Option<Pattern>),
    /// `NOT_MATCHES`; `None` when the regex is invalid (the condition is then false).
    NotMatches(Option<Pattern>),
    /// `ONE_OF`.
    OneOf(StringSet),
    /// `NOT_ONE_OF`.
    NotOneOf(StringSet),
    /// `GTE`, `GT`, `LTE`, `LT`.
    Compare(Comparison, Operand),
    /// `IS_NULL` with the expected nullness.
    IsNull(bool),
}

/// A set of strings for `ONE_OF` / `NOT_ONE_OF`.
pub enum StringSet {
    /// The strings themselves (plain format).
    Plain(FastSet<String>),
    /// MD5 digests of the strings (obfuscated format).
    Hashed(HashSet<[u8; 16]>),
}

/// The operand of a comparison.
pub enum Operand {
    /// A strict semver string: the attribute must be semver too.
    Semver(semver::Version),
    /// A number or numeric string: the attribute must be numeric too.
    Number(f64),
    /// A string that is neither: the condition is always false.
    Unusable,
}

/// A compiled split.
pub struct Split {
    /// The variation key it names (decoded).
    pub variation_key: String,
    /// Index into [`Flag::variations`]; `None` when the variation does not exist.
    pub variation: Option<usize>,
    /// Shards, all of which must contain the subject.
    pub shards: Vec<Shard>,
    /// `extraLogging` rendered as `,"key":"value"` members for the assignment event, minus
    /// keys that would shadow the event's own fields.
    pub extra_logging_json: String,
}

/// A compiled shard.
pub struct Shard {
    /// Index of its salt in [`Flag::salts`].
    pub salt: usize,
    /// Half-open ranges `(start, end)`.
    pub ranges: Vec<(u32, u32)>,
}

/// The event fields `extraLogging` may not override.
pub const EVENT_FIELDS: &[&str] = &[
    "featureFlag",
    "allocation",
    "experiment",
    "variation",
    "subject",
    "subjectAttributes",
    "timestamp",
    "metaData",
];

/// The operator names of the UFC.
const OPERATORS: &[&str] = &[
    "MATCHES",
    "NOT_MATCHES",
    "ONE_OF",
    "NOT_ONE_OF",
    "GTE",
    "GT",
    "LTE",
    "LT",
    "IS_NULL",
];

/// MD5 digest of `text`.
pub fn md5(text: &[u8]) -> [u8; 16] {
    Md5::digest(text).into()
}

/// Writes the lowercase hex form of an MD5 digest into `buf` and returns it as a string.
pub fn md5_hex<'b>(digest: &[u8; 16], buf: &'b mut [u8; 32]) -> &'b str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in digest.iter().enumerate() {
        buf[2 * i] = HEX[usize::from(byte >> 4)];
        buf[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(buf).unwrap_or_default()
}

fn parse_hex_digest(text: &str) -> std::result::Result<[u8; 16], String> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return Err(format!("\"{text}\" is not an MD5 hex digest"));
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
            _ => return Err(format!("\"{text}\" is not an MD5 hex digest")),
        }
    }
    Ok(out)
}

/// Decodes the strings of the obfuscated format (base64), or passes plain ones through.
struct Decoder {
    obfuscated: bool,
}

impl Decoder {
    fn text(&self, value: &str) -> std::result::Result<String, String> {
        if !self.obfuscated {
            return Ok(value.to_owned());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|e| format!("\"{value}\" is not valid base64: {e}"))?;
        String::from_utf8(bytes).map_err(|_| format!("\"{value}\" does not decode to UTF-8"))
    }
}

impl Snapshot {
    /// Compiles a UFC document given as JSON text. `fetched_at_ms` is the load time.
    pub fn from_json(text: &str, fetched_at_ms: i64) -> Result<Snapshot> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorCode::InvalidConfig, format!("UFC configuration: {e}")))?;
        Snapshot::compile(value, text.into(), fetched_at_ms)
    }

    /// Compiles a UFC document. The document's shape errors fail; a bad flag is isolated
    /// (listed in [`Snapshot::flag_errors`] and evaluated to the default).
    pub fn from_value(value: Value, fetched_at_ms: i64) -> Result<Snapshot> {
        let source = value.to_string().into_boxed_str();
        Snapshot::compile(value, source, fetched_at_ms)
    }

    fn compile(mut value: Value, source: Box<str>, fetched_at_ms: i64) -> Result<Snapshot> {
        let bandit_links = BanditLinks::take_from(&mut value)?;
        let doc = UfcDocument::deserialize(value)
            .map_err(|e| Error::new(ErrorCode::InvalidConfig, format!("UFC configuration: {e}")))?;
        let obfuscated = match doc.format.as_deref() {
            None | Some("SERVER") => false,
            Some("CLIENT") => true,
            Some(other) => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    format!("UFC configuration: unsupported format \"{other}\" (expected \"SERVER\" or \"CLIENT\")"),
                ))
            }
        };
        let decoder = Decoder { obfuscated };
        let mut flags = FastMap::with_capacity_and_hasher(doc.flags.len(), Default::default());
        let mut flag_errors = Vec::new();
        let mut patterns = Patterns::default();
        for (key, raw) in doc.flags {
            let compiled = model::Flag::deserialize(raw)
                .map_err(|e| e.to_string())
                .and_then(|flag| compile_flag(flag, &decoder, &mut patterns));
            if let Err(message) = &compiled {
                flag_errors.push(FlagError {
                    flag_key: Some(key.clone()),
                    index: None,
                    code: INVALID_FLAG,
                    message: message.clone(),
                });
            }
            flags.insert(key.into_boxed_str(), compiled);
        }
        flag_errors.sort_by(|a, b| a.flag_key.cmp(&b.flag_key));
        Ok(Snapshot {
            flags,
            obfuscated,
            environment: doc.environment.and_then(|e| e.name),
            published_at: doc.created_at,
            fetched_at: time::format_rfc3339(fetched_at_ms),
            flag_errors,
            bandit_links,
            bandit_models: Arc::default(),
            source,
        })
    }

    /// Looks a flag up by its plain key: `None` if unknown, `Some(Err(message))` if it
    /// failed to compile.
    pub fn flag(&self, flag_key: &str) -> Option<std::result::Result<&Flag, &str>> {
        let entry = if self.obfuscated {
            let mut buf = [0u8; 32];
            self.flags.get(md5_hex(&md5(flag_key.as_bytes()), &mut buf))
        } else {
            self.flags.get(flag_key)
        }?;
        Some(entry.as_ref().map_err(String::as_str))
    }

    /// Whether the configuration was in the obfuscated (`CLIENT`) format.
    pub fn is_obfuscated(&self) -> bool {
        self.obfuscated
    }

    /// Every flag key, sorted (MD5 hashes for an obfuscated configuration).
    pub fn flag_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.flags.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        keys
    }

    /// The number of flags in the configuration, including those that failed to compile.
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }
}

fn compile_flag(
    flag: model::Flag,
    decoder: &Decoder,
    patterns: &mut Patterns,
) -> std::result::Result<Flag, String> {
    if flag.total_shards == 0 {
        return Err("totalShards must be positive".to_owned());
    }
    let mut variations = Vec::with_capacity(flag.variations.len());
    for variation in flag.variations.into_values() {
        let key = decoder.text(&variation.key)?;
        variations.push(compile_variation(
            key,
            variation.value,
            flag.variation_type,
            decoder,
        )?);
    }
    variations.sort_by(|a, b| a.key.cmp(&b.key));
    let mut salts = Salts::default();
    let allocations = flag
        .allocations
        .into_iter()
        .map(|allocation| {
            compile_allocation(allocation, &variations, &mut salts, decoder, patterns)
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(Flag {
        enabled: flag.enabled,
        variation_type: flag.variation_type,
        variations,
        allocations,
        total_shards: flag.total_shards,
        salts: salts.states,
    })
}

fn compile_variation(
    key: String,
    raw: Value,
    ty: VariationType,
    decoder: &Decoder,
) -> std::result::Result<Variation, String> {
    // The obfuscated format stores every value as base64 of its string form.
    let raw = match (decoder.obfuscated, raw) {
        (false, raw) => raw,
        (true, Value::String(encoded)) => {
            let text = decoder.text(&encoded)?;
            match ty {
                VariationType::String | VariationType::Json => Value::String(text),
                VariationType::Integer | VariationType::Numeric | VariationType::Boolean => {
                    serde_json::from_str::<Value>(&text)
                        .ok()
                        .filter(|v| v.is_number() || v.is_boolean())
                        .unwrap_or(Value::String(text))
                }
            }
        }
        (true, other) => {
            return Err(format!(
                "variation \"{key}\": obfuscated value {other} is not a string"
            ))
        }
    };
    let typed = match (ty, &raw) {
        (VariationType::String, Value::String(_))
        | (VariationType::Boolean, Value::Bool(_))
        | (VariationType::Numeric, Value::Number(_)) => Some(raw.clone()),
        (VariationType::Integer, Value::Number(n)) => integral(n).map(Value::from),
        (VariationType::Json, Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
        _ => None,
    };
    let (value, invalid) = match typed {
        Some(value) => (value, None),
        None => {
            let why = format!(
                "Variation ({key}) is configured for type {}, but is set to incompatible value ({raw})",
                ty.as_str()
            );
            (raw, Some(why))
        }
    };
    let value_json = value.to_string();
    Ok(Variation {
        key,
        value,
        value_json,
        invalid,
    })
}

/// The value of an integral number (`3` or `3.0`), or `None`.
fn integral(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // i64::MAX as f64 rounds up to 2^63, which is out of range, hence the strict bound.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

/// Distinct salts of a flag: their salted MD5 states in order of appearance, and each
/// salt's position there.
#[derive(Default)]
struct Salts {
    states: Vec<Md5>,
    index: HashMap<String, usize>,
}

fn compile_allocation(
    allocation: model::Allocation,
    variations: &[Variation],
    salts: &mut Salts,
    decoder: &Decoder,
    patterns: &mut Patterns,
) -> std::result::Result<Allocation, String> {
    let key = decoder.text(&allocation.key)?;
    let instant = |field: &str, raw: Option<String>| -> std::result::Result<Option<i64>, String> {
        let Some(raw) = raw else { return Ok(None) };
        let text = decoder.text(&raw)?;
        time::parse_rfc3339(&text).map(Some).ok_or_else(|| {
            format!("allocation \"{key}\": {field} \"{text}\" is not an RFC 3339 date-time")
        })
    };
    let start_at = instant("startAt", allocation.start_at)?;
    let end_at = instant("endAt", allocation.end_at)?;
    let rules: Vec<Rule> = allocation
        .rules
        .unwrap_or_default()
        .into_iter()
        .map(|rule| compile_rule(rule, decoder, patterns))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("allocation \"{key}\": {e}"))?;
    let splits = allocation
        .splits
        .into_iter()
        .map(|split| compile_split(split, variations, salts, decoder))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("allocation \"{key}\": {e}"))?;
    // An absent attribute fails every test but `IS_NULL true`; an absent `id` is the
    // subject key.
    let needs_attribute = |c: &Condition| !c.is_id && !matches!(c.test, Test::IsNull(true));
    let needs_attributes = !rules.is_empty()
        && rules
            .iter()
            .all(|rule: &Rule| rule.conditions.iter().any(needs_attribute));
    Ok(Allocation {
        key,
        start_at,
        end_at,
        rules,
        splits,
        do_log: allocation.do_log.unwrap_or(true),
        needs_attributes,
    })
}

fn compile_rule(
    rule: model::Rule,
    decoder: &Decoder,
    patterns: &mut Patterns,
) -> std::result::Result<Rule, String> {
    let display = json!({
        "conditions": rule
            .conditions
            .iter()
            .map(|c| json!({"attribute": c.attribute, "operator": c.operator, "value": c.value}))
            .collect::<Vec<_>>()
    });
    let conditions = rule
        .conditions
        .into_iter()
        .map(|c| compile_condition(c, decoder, patterns))
        .collect::<std::result::Result<_, _>>()?;
    Ok(Rule {
        conditions,
        display,
    })
}

fn compile_condition(
    condition: model::Condition,
    decoder: &Decoder,
    patterns: &mut Patterns,
) -> std::result::Result<Condition, String> {
    let (attribute, is_id, operator) = if decoder.obfuscated {
        let hash = parse_hex_digest(&condition.attribute)?;
        let operator = OPERATORS
            .iter()
            .find(|name| parse_hex_digest(&condition.operator).ok() == Some(md5(name.as_bytes())))
            .ok_or_else(|| format!("unknown obfuscated operator \"{}\"", condition.operator))?;
        (Attribute::Hash(hash), hash == md5(b"id"), *operator)
    } else {
        let operator = OPERATORS
            .iter()
            .find(|name| **name == condition.operator)
            .ok_or_else(|| format!("unknown operator \"{}\"", condition.operator))?;
        let is_id = condition.attribute == "id";
        (Attribute::Name(condition.attribute), is_id, *operator)
    };
    let value = condition.value;
    let string_operand = |value: &Value| match value {
        Value::String(s) => decoder.text(s),
        other => Err(format!(
            "operator {operator} needs a string operand, got {other}"
        )),
    };
    let test = match operator {
        "MATCHES" => Test::Matches(usable(patterns.compile(&string_operand(&value)?))?),
        "NOT_MATCHES" => Test::NotMatches(usable(patterns.compile(&string_operand(&value)?))?),
        "ONE_OF" => Test::OneOf(string_set(&value, decoder, operator)?),
        "NOT_ONE_OF" => Test::NotOneOf(string_set(&value, decoder, operator)?),
        "IS_NULL" => Test::IsNull(match (&value, decoder.obfuscated) {
            (Value::Bool(b), false) => *b,
            (Value::String(s), true) if parse_hex_digest(s).ok() == Some(md5(b"true")) => true,
            (Value::String(s), true) if parse_hex_digest(s).ok() == Some(md5(b"false")) => false,
            (other, _) => {
                return Err(format!(
                    "operator IS_NULL needs a boolean operand, got {other}"
                ))
            }
        }),
        _ => {
            let comparison = match operator {
                "GTE" => Comparison::GreaterOrEqual,
                "GT" => Comparison::Greater,
                "LTE" => Comparison::LessOrEqual,
                _ => Comparison::Less,
            };
            let operand = match &value {
                Value::Number(n) if !decoder.obfuscated => {
                    n.as_f64().map_or(Operand::Unusable, Operand::Number)
                }
                Value::String(_) => {
                    let text = string_operand(&value)?;
                    match semver::Version::parse(&text) {
                        Ok(version) => Operand::Semver(version),
                        Err(_) => parse_number(&text).map_or(Operand::Unusable, Operand::Number),
                    }
                }
                other => {
                    return Err(format!(
                        "operator {operator} needs a number or string operand, got {other}"
                    ))
                }
            };
            Test::Compare(comparison, operand)
        }
    };
    Ok(Condition {
        attribute,
        is_id,
        test,
    })
}

/// A compiled regex operand: `None` when the syntax rejects it (the condition is then
/// false), `Err` when it is too large (the flag is then invalid).
fn usable(compiled: Compiled) -> std::result::Result<Option<Pattern>, String> {
    match compiled {
        Compiled::Usable(pattern) => Ok(Some(pattern)),
        Compiled::Unsupported(_) => Ok(None),
        Compiled::TooBig(message) => Err(message),
    }
}

fn string_set(
    value: &Value,
    decoder: &Decoder,
    operator: &str,
) -> std::result::Result<StringSet, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("operator {operator} needs a list of strings, got {value}"))?;
    let strings = items.iter().map(|item| {
        item.as_str()
            .ok_or_else(|| format!("operator {operator} needs a list of strings, got item {item}"))
    });
    if decoder.obfuscated {
        strings
            .map(|s| s.and_then(parse_hex_digest))
            .collect::<std::result::Result<_, _>>()
            .map(StringSet::Hashed)
    } else {
        strings
            .map(|s| s.map(str::to_owned))
            .collect::<std::result::Result<_, _>>()
            .map(StringSet::Plain)
    }
}

fn compile_split(
    split: model::Split,
    variations: &[Variation],
    salts: &mut Salts,
    decoder: &Decoder,
) -> std::result::Result<Split, String> {
    let variation_key = decoder.text(&split.variation_key)?;
    // `variations` is sorted by key: the first with this key, in logarithmic time.
    let first = variations.partition_point(|v| v.key < variation_key);
    let variation = variations
        .get(first)
        .filter(|v| v.key == variation_key)
        .map(|_| first);
    let shards = split
        .shards
        .into_iter()
        .map(|shard| {
            let salt = decoder.text(&shard.salt)?;
            let next = salts.states.len();
            let index = *salts.index.entry(salt).or_insert_with_key(|salt| {
                let mut salted = Md5::new();
                salted.update(salt.as_bytes());
                salted.update(b"-");
                salts.states.push(salted);
                next
            });
            Ok(Shard {
                salt: index,
                ranges: shard.ranges.iter().map(|r| (r.start, r.end)).collect(),
            })
        })
        .collect::<std::result::Result<_, String>>()?;
    let mut extra_logging = Vec::new();
    for (key, value) in split.extra_logging.unwrap_or_default() {
        let key = decoder.text(&key)?;
        if !EVENT_FIELDS.contains(&key.as_str()) {
            extra_logging.push((key, decoder.text(&value)?));
        }
    }
    // `{"k":"v",…}` as `,"k":"v",…` (nothing when empty); serializing strings cannot fail.
    let members = serde_json::to_string(&Members(&extra_logging)).unwrap_or_default();
    let extra_logging_json = match members.get(1..members.len() - 1) {
        Some(inner) if !inner.is_empty() => format!(",{inner}"),
        _ => String::new(),
    };
    Ok(Split {
        variation_key,
        variation,
        shards,
        extra_logging_json,
    })
}
