//! Assignment: the flag → allocation → rule → split walk of Eppo's SDKs, allocation-free
//! on the hot path. Everything returned borrows from the [`Snapshot`].

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::collections::HashMap;

use md5::Digest;
use serde::Serialize;
use serde_json::{json, Map, Number, Value};

use crate::clock::now_millis_signed;
use crate::compare::parse_number;
use crate::eppo::attributes::{BorrowedAttributes, BorrowedValue};
use crate::eppo::compile::{
    self, Allocation, Attribute, Condition, Flag, Operand, Rule, Snapshot, Split, StringSet, Test,
    Variation,
};
use crate::eppo::model::VariationType;

/// The outcome of evaluating a flag, as Eppo names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlagEvaluationCode {
    /// A variation was assigned.
    Match,
    /// No configuration is loaded.
    ConfigurationMissing,
    /// The flag does not exist or is disabled.
    FlagUnrecognizedOrDisabled,
    /// No allocation matched.
    DefaultAllocationNull,
    /// The flag's type is not the requested type.
    TypeMismatch,
    /// The matched split names a missing variation or one with an invalid value.
    AssignmentError,
    /// The flag failed to compile.
    UnexpectedConfigurationError,
}

impl FlagEvaluationCode {
    /// The Eppo spelling (`"MATCH"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FlagEvaluationCode::Match => "MATCH",
            FlagEvaluationCode::ConfigurationMissing => "CONFIGURATION_MISSING",
            FlagEvaluationCode::FlagUnrecognizedOrDisabled => "FLAG_UNRECOGNIZED_OR_DISABLED",
            FlagEvaluationCode::DefaultAllocationNull => "DEFAULT_ALLOCATION_NULL",
            FlagEvaluationCode::TypeMismatch => "TYPE_MISMATCH",
            FlagEvaluationCode::AssignmentError => "ASSIGNMENT_ERROR",
            FlagEvaluationCode::UnexpectedConfigurationError => "UNEXPECTED_CONFIGURATION_ERROR",
        }
    }
}

/// The outcome of evaluating one allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllocationEvaluationCode {
    /// Not reached: an earlier allocation matched.
    Unevaluated,
    /// The allocation matched.
    Match,
    /// `now` is before the allocation's `startAt`.
    BeforeStartTime,
    /// `now` is after the allocation's `endAt`.
    AfterEndTime,
    /// No rule passed.
    FailingRule,
    /// Rules passed but no split contains the subject.
    TrafficExposureMiss,
}

/// The subject of an assignment.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The subject key (also the default of the `id` attribute).
    pub key: &'a str,
    /// The subject's attributes.
    pub attributes: &'a Map<String, Value>,
}

/// The allocation that matched, and what it serves.
#[derive(Clone, Copy)]
pub struct Matched<'s> {
    /// Zero-based position of the allocation in the flag.
    pub index: usize,
    /// The allocation.
    pub allocation: &'s Allocation,
    /// The rule that passed (`None` when the allocation has no rules).
    pub rule: Option<&'s Rule>,
    /// The winning split.
    pub split: &'s Split,
    /// The variation it names, if it exists.
    pub variation: Option<&'s Variation>,
}

/// The result of an assignment.
#[derive(Clone, Copy)]
pub struct Assignment<'s> {
    /// The flag evaluation code.
    pub code: FlagEvaluationCode,
    /// The flag, when it exists and compiled.
    pub flag: Option<&'s Flag>,
    /// The matched allocation (also set for `ASSIGNMENT_ERROR`).
    pub matched: Option<Matched<'s>>,
    /// Why the flag failed to compile (`UNEXPECTED_CONFIGURATION_ERROR`).
    pub config_error: Option<&'s str>,
}

impl<'s> Assignment<'s> {
    fn bare(code: FlagEvaluationCode, flag: Option<&'s Flag>) -> Self {
        Assignment {
            code,
            flag,
            matched: None,
            config_error: None,
        }
    }

    /// The assigned variation when the code is `MATCH`; the caller's default applies otherwise.
    pub fn variation(&self) -> Option<&'s Variation> {
        match self.code {
            FlagEvaluationCode::Match => self.matched.and_then(|m| m.variation),
            _ => None,
        }
    }

    /// Whether the assignment should produce an event (a match on a `doLog` allocation).
    pub fn should_log(&self) -> bool {
        self.code == FlagEvaluationCode::Match && self.matched.is_some_and(|m| m.allocation.do_log)
    }
}

/// Evaluates one flag for one subject at `now_ms` (milliseconds since the epoch).
///
/// `trace`, when given, receives `(index, code)` for every allocation evaluated without
/// matching, for the evaluation-details document.
pub fn assign<'s>(
    snapshot: Option<&'s Snapshot>,
    flag_key: &str,
    subject: Subject<'_>,
    expected: VariationType,
    now_ms: i64,
    trace: Option<&mut Vec<(usize, AllocationEvaluationCode)>>,
) -> Assignment<'s> {
    let attributes = SubjectAttributes::new(subject.attributes);
    assign_to(
        snapshot,
        flag_key,
        subject.key,
        &attributes,
        expected,
        &Now::at(now_ms),
        trace,
    )
}

/// When an assignment happens, in milliseconds since the epoch: a given instant, or the
/// clock's, read on first need (only time windows and events need it).
pub struct Now(Cell<Option<i64>>);

impl Now {
    /// The instant `ms`.
    pub fn at(ms: i64) -> Now {
        Now(Cell::new(Some(ms)))
    }

    /// The clock's instant when first asked.
    pub fn from_clock() -> Now {
        Now(Cell::new(None))
    }

    /// The instant (reading the clock the first time, for [`Now::from_clock`]).
    pub fn ms(&self) -> i64 {
        self.0.get().unwrap_or_else(|| {
            let ms = now_millis_signed();
            self.0.set(Some(ms));
            ms
        })
    }
}

/// [`assign`] with the subject's attributes given as [`SubjectAttributes`], which many
/// assignments of the same attributes (a batch) share, and the instant as [`Now`].
pub fn assign_to<'s>(
    snapshot: Option<&'s Snapshot>,
    flag_key: &str,
    subject_key: &str,
    attributes: &SubjectAttributes<'_>,
    expected: VariationType,
    now: &Now,
    mut trace: Option<&mut Vec<(usize, AllocationEvaluationCode)>>,
) -> Assignment<'s> {
    let Some(snapshot) = snapshot else {
        return Assignment::bare(FlagEvaluationCode::ConfigurationMissing, None);
    };
    let flag = match snapshot.flag(flag_key) {
        None => return Assignment::bare(FlagEvaluationCode::FlagUnrecognizedOrDisabled, None),
        Some(Err(message)) => {
            return Assignment {
                config_error: Some(message),
                ..Assignment::bare(FlagEvaluationCode::UnexpectedConfigurationError, None)
            }
        }
        Some(Ok(flag)) => flag,
    };
    if !flag.enabled {
        return Assignment::bare(FlagEvaluationCode::FlagUnrecognizedOrDisabled, Some(flag));
    }
    if flag.variation_type != expected {
        return Assignment::bare(FlagEvaluationCode::TypeMismatch, Some(flag));
    }
    let attributes = Attributes {
        subject_key,
        attributes,
    };
    let no_attributes = attributes.attributes.is_empty();
    let mut shards = ShardNumbers::default();
    for (index, allocation) in flag.allocations.iter().enumerate() {
        let code = if allocation.start_at.is_some_and(|start| now.ms() < start) {
            AllocationEvaluationCode::BeforeStartTime
        } else if allocation.end_at.is_some_and(|end| now.ms() > end) {
            AllocationEvaluationCode::AfterEndTime
        } else if no_attributes && allocation.needs_attributes {
            AllocationEvaluationCode::FailingRule
        } else {
            match matching_rule(allocation, &attributes) {
                None => AllocationEvaluationCode::FailingRule,
                Some(rule) => match allocation
                    .splits
                    .iter()
                    .find(|split| split_contains(split, flag, subject_key, &mut shards))
                {
                    None => AllocationEvaluationCode::TrafficExposureMiss,
                    Some(split) => {
                        let variation = split.variation.and_then(|i| flag.variations.get(i));
                        let code = match variation {
                            Some(v) if v.invalid.is_none() => FlagEvaluationCode::Match,
                            _ => FlagEvaluationCode::AssignmentError,
                        };
                        return Assignment {
                            matched: Some(Matched {
                                index,
                                allocation,
                                rule,
                                split,
                                variation,
                            }),
                            ..Assignment::bare(code, Some(flag))
                        };
                    }
                },
            }
        };
        if let Some(trace) = trace.as_deref_mut() {
            trace.push((index, code));
        }
    }
    Assignment::bare(FlagEvaluationCode::DefaultAllocationNull, Some(flag))
}

/// What the evaluation details report for one evaluated allocation, as Eppo's SDKs
/// report it: the rules tried, up to the first that passed, each with its conditions up
/// to the first that failed; then, when a rule passed (or there are none), the splits
/// tried, up to the first that contains the subject, each with its shards up to the
/// first that does not.
pub struct Explained {
    /// `{"matched", "conditions": [{"condition", "attributeValue", "matched"}]}` per rule.
    pub rules: Vec<Value>,
    /// `{"variationKey", "matched", "shards": [{"matched", "shard": {"ranges"}, "shardValue"}]}`.
    pub splits: Vec<Value>,
}

/// Re-evaluates one allocation for the details document (never on the assignment path).
pub fn explain(flag: &Flag, allocation: &Allocation, subject: Subject<'_>) -> Explained {
    let subject_attributes = SubjectAttributes::new(subject.attributes);
    let attributes = Attributes {
        subject_key: subject.key,
        attributes: &subject_attributes,
    };
    let mut rules = Vec::new();
    let mut passed = allocation.rules.is_empty();
    for rule in &allocation.rules {
        let mut conditions = Vec::new();
        let mut matched = true;
        for (i, condition) in rule.conditions.iter().enumerate() {
            let holds = condition_holds(condition, &attributes);
            let shown = rule.display["conditions"]
                .get(i)
                .map_or(Value::Null, shown_condition);
            let value = attributes
                .get(condition)
                .map_or(Value::Null, AttributeValue::to_json);
            conditions.push(json!({"condition": shown, "attributeValue": value, "matched": holds}));
            if !holds {
                matched = false;
                break;
            }
        }
        rules.push(json!({"matched": matched, "conditions": conditions}));
        if matched {
            passed = true;
            break;
        }
    }
    let mut splits = Vec::new();
    if passed {
        let mut numbers = ShardNumbers::default();
        for split in &allocation.splits {
            let mut shards = Vec::new();
            let mut matched = true;
            // As Eppo's core: a shard covering every shard number is not reported.
            let partial = split.shards.iter().filter(|shard| {
                !shard
                    .ranges
                    .iter()
                    .any(|&(start, end)| start == 0 && end >= flag.total_shards)
            });
            for shard in partial {
                let number = numbers.get(flag, shard.salt, subject.key);
                let inside = shard
                    .ranges
                    .iter()
                    .any(|&(start, end)| start <= number && number < end);
                let ranges: Vec<Value> = shard
                    .ranges
                    .iter()
                    .map(|&(start, end)| json!({"start": start, "end": end}))
                    .collect();
                shards.push(
                    json!({"matched": inside, "shard": {"ranges": ranges}, "shardValue": number}),
                );
                if !inside {
                    matched = false;
                    break;
                }
            }
            splits.push(
                json!({"variationKey": split.variation_key, "matched": matched, "shards": shards}),
            );
            if matched {
                break;
            }
        }
    }
    Explained { rules, splits }
}

/// A configured condition as the details show it: comparison operands as strings.
fn shown_condition(condition: &Value) -> Value {
    let mut shown = condition.clone();
    let comparison = matches!(
        condition["operator"].as_str(),
        Some("GT" | "GTE" | "LT" | "LTE")
    );
    if let (true, Value::Number(n)) = (comparison, &condition["value"]) {
        shown["value"] = Value::from(number_to_string(n));
    }
    shown
}

/// `Some(rule)` for the first passing rule, `Some(None)` when there are no rules, `None`
/// when every rule fails.
fn matching_rule<'s>(
    allocation: &'s Allocation,
    attributes: &Attributes<'_, '_>,
) -> Option<Option<&'s Rule>> {
    if allocation.rules.is_empty() {
        return Some(None);
    }
    allocation
        .rules
        .iter()
        .find(|rule| {
            rule.conditions
                .iter()
                .all(|c| condition_holds(c, attributes))
        })
        .map(Some)
}

/// The subject's shard number per salt, memoized for the first salts of a flag (splits of
/// one allocation usually share their traffic salt).
#[derive(Default)]
struct ShardNumbers {
    known: u16,
    numbers: [u32; 16],
}

impl ShardNumbers {
    fn get(&mut self, flag: &Flag, salt: usize, subject_key: &str) -> u32 {
        let memo = salt < self.numbers.len();
        if memo && self.known & (1 << salt) != 0 {
            return self.numbers[salt];
        }
        let Some(salted) = flag.salts.get(salt) else {
            return u32::MAX;
        };
        let mut hasher = salted.clone();
        hasher.update(subject_key.as_bytes());
        let digest = hasher.finalize();
        let number =
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % flag.total_shards;
        if memo {
            self.known |= 1 << salt;
            self.numbers[salt] = number;
        }
        number
    }
}

fn split_contains(
    split: &Split,
    flag: &Flag,
    subject_key: &str,
    shards: &mut ShardNumbers,
) -> bool {
    split.shards.iter().all(|shard| {
        let number = shards.get(flag, shard.salt, subject_key);
        shard
            .ranges
            .iter()
            .any(|&(start, end)| start <= number && number < end)
    })
}

/// An attribute value as a condition sees it.
#[derive(Clone, Copy)]
enum AttributeValue<'a> {
    Null,
    Bool(bool),
    Number(&'a Number),
    /// A string, or the subject key standing in for an absent `id`.
    String(&'a str),
    /// An array or an object.
    Composite(&'a Value),
}

impl<'a> AttributeValue<'a> {
    fn of_json(value: &'a Value) -> Self {
        match value {
            Value::Null => AttributeValue::Null,
            Value::Bool(b) => AttributeValue::Bool(*b),
            Value::Number(n) => AttributeValue::Number(n),
            Value::String(s) => AttributeValue::String(s),
            Value::Array(_) | Value::Object(_) => AttributeValue::Composite(value),
        }
    }

    fn of_borrowed(value: &'a BorrowedValue<'_>) -> Self {
        match value {
            BorrowedValue::Null => AttributeValue::Null,
            BorrowedValue::Bool(b) => AttributeValue::Bool(*b),
            BorrowedValue::Number(n) => AttributeValue::Number(n),
            BorrowedValue::String(s) => AttributeValue::String(s),
            BorrowedValue::Composite(value) => AttributeValue::Composite(value),
        }
    }

    /// The value as JSON, for the evaluation details.
    fn to_json(self) -> Value {
        match self {
            AttributeValue::Null => Value::Null,
            AttributeValue::Bool(b) => Value::Bool(b),
            AttributeValue::Number(n) => Value::Number(n.clone()),
            AttributeValue::String(s) => Value::from(s),
            AttributeValue::Composite(value) => value.clone(),
        }
    }
}

/// Where a subject's attributes come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A request's JSON object.
    Map(&'a Map<String, Value>),
    /// The fast lane's attributes, borrowed from the caller's input.
    Borrowed(&'a BorrowedAttributes<'a>),
}

/// A subject's attributes as conditions look them up. Obfuscated configurations name
/// attributes by MD5 digest: the digests of all names are computed on first need, once
/// for every assignment that shares these attributes.
pub struct SubjectAttributes<'a> {
    source: Source<'a>,
    by_digest: OnceCell<HashMap<[u8; 16], AttributeValue<'a>>>,
}

impl<'a> SubjectAttributes<'a> {
    /// Wraps `attributes` (nothing is computed yet).
    pub fn new(attributes: &'a Map<String, Value>) -> Self {
        SubjectAttributes {
            source: Source::Map(attributes),
            by_digest: OnceCell::new(),
        }
    }

    /// Wraps the fast lane's borrowed `attributes` (nothing is computed yet).
    pub fn borrowed(attributes: &'a BorrowedAttributes<'a>) -> Self {
        SubjectAttributes {
            source: Source::Borrowed(attributes),
            by_digest: OnceCell::new(),
        }
    }

    /// Whether the subject has no attributes at all.
    fn is_empty(&self) -> bool {
        match self.source {
            Source::Map(map) => map.is_empty(),
            Source::Borrowed(list) => list.is_empty(),
        }
    }

    /// Whether these are exactly `attributes` (the same map, not an equal one).
    pub fn is_of(&self, attributes: &Map<String, Value>) -> bool {
        matches!(self.source, Source::Map(map) if std::ptr::eq(map, attributes))
    }

    #[inline]
    fn get(&self, attribute: &Attribute) -> Option<AttributeValue<'a>> {
        match (attribute, self.source) {
            (Attribute::Name(name), Source::Map(map)) => map.get(name).map(AttributeValue::of_json),
            (Attribute::Name(name), Source::Borrowed(list)) => {
                list.get(name).map(AttributeValue::of_borrowed)
            }
            (Attribute::Hash(hash), _) => self.by_digest(hash),
        }
    }

    /// The attribute whose name has the MD5 digest `hash`.
    #[inline(never)]
    fn by_digest(&self, hash: &[u8; 16]) -> Option<AttributeValue<'a>> {
        self.by_digest
            .get_or_init(|| match self.source {
                Source::Map(map) => map
                    .iter()
                    .map(|(k, v)| (compile::md5(k.as_bytes()), AttributeValue::of_json(v)))
                    .collect(),
                // In input order: the last of a repeated name wins.
                Source::Borrowed(list) => list
                    .iter()
                    .map(|(k, v)| (compile::md5(k.as_bytes()), AttributeValue::of_borrowed(v)))
                    .collect(),
            })
            .get(hash)
            .copied()
    }
}

/// The attributes of one assignment: the subject's, and its key standing in for `id`.
struct Attributes<'a, 'b> {
    subject_key: &'b str,
    attributes: &'b SubjectAttributes<'a>,
}

impl<'b> Attributes<'_, 'b> {
    #[inline]
    fn get(&self, condition: &Condition) -> Option<AttributeValue<'b>> {
        match self.attributes.get(&condition.attribute) {
            Some(value) => Some(value),
            None if condition.is_id => Some(AttributeValue::String(self.subject_key)),
            None => None,
        }
    }
}

/// Whether `condition` holds: absent attributes and `IS_NULL` are decided here, inline (a
/// rule on an attribute the subject lacks costs no call); other tests in [`test_holds`].
#[inline]
fn condition_holds(condition: &Condition, attributes: &Attributes<'_, '_>) -> bool {
    let value = attributes.get(condition);
    if let Test::IsNull(expected) = condition.test {
        let is_null = matches!(value, None | Some(AttributeValue::Null));
        return is_null == expected;
    }
    value.is_some_and(|value| test_holds(&condition.test, value))
}

/// Whether `test` (other than `IS_NULL`) holds for a present attribute.
#[inline(never)]
fn test_holds(test: &Test, value: AttributeValue<'_>) -> bool {
    match test {
        Test::Matches(regex) => match (regex, as_string(value)) {
            (Some(regex), Some(text)) => regex.is_match(&text),
            _ => false,
        },
        Test::NotMatches(regex) => match (regex, as_string(value)) {
            (Some(regex), Some(text)) => !regex.is_match(&text),
            _ => false,
        },
        Test::OneOf(set) => as_string(value).is_some_and(|text| set_contains(set, &text)),
        Test::NotOneOf(set) => as_string(value).is_some_and(|text| !set_contains(set, &text)),
        Test::Compare(comparison, operand) => {
            let ordering = match operand {
                Operand::Semver(expected) => as_str(value)
                    .and_then(|s| semver::Version::parse(s).ok())
                    .map(|v| v.cmp_precedence(expected)),
                Operand::Number(expected) => as_number(value).and_then(|n| n.partial_cmp(expected)),
                Operand::Unusable => None,
            };
            ordering.is_some_and(|o| comparison.holds(o))
        }
        Test::IsNull(_) => false,
    }
}

fn set_contains(set: &StringSet, text: &str) -> bool {
    match set {
        StringSet::Plain(strings) => strings.contains(text),
        StringSet::Hashed(digests) => digests.contains(&compile::md5(text.as_bytes())),
    }
}

fn as_str(value: AttributeValue<'_>) -> Option<&str> {
    match value {
        AttributeValue::String(s) => Some(s),
        _ => None,
    }
}

/// The attribute coerced to a string: strings as they are, booleans `true`/`false`, numbers
/// in their shortest form (`42.0` → `42`). Null, arrays and objects have no string form.
fn as_string(value: AttributeValue<'_>) -> Option<Cow<'_, str>> {
    match value {
        AttributeValue::String(s) => Some(Cow::Borrowed(s)),
        AttributeValue::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        AttributeValue::Number(n) => Some(Cow::Owned(number_to_string(n))),
        AttributeValue::Null | AttributeValue::Composite(_) => None,
    }
}

fn number_to_string(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// The attribute as a number: numbers, and strings that parse as finite numbers.
fn as_number(value: AttributeValue<'_>) -> Option<f64> {
    match value {
        AttributeValue::Number(n) => n.as_f64(),
        _ => as_str(value).and_then(parse_number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(flags: Value) -> Snapshot {
        Snapshot::from_value(json!({ "flags": flags }), 0).expect("valid UFC")
    }

    fn attributes(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    /// A STRING flag `f` whose single allocation has one condition on attribute `x`.
    fn one_condition(attribute: &str, operator: &str, operand: Value) -> Snapshot {
        snapshot(json!({"f": {
            "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 100,
            "variations": {"on": {"key": "on", "value": "on"}},
            "allocations": [{
                "key": "a",
                "rules": [{"conditions": [{"attribute": attribute, "operator": operator, "value": operand}]}],
                "splits": [{"variationKey": "on", "shards": []}]
            }]
        }}))
    }

    fn holds(operator: &str, operand: Value, attrs: Value) -> bool {
        let snapshot = one_condition("x", operator, operand);
        assert!(
            snapshot.flag_errors.is_empty(),
            "{:?}",
            snapshot.flag_errors
        );
        let code = code_in_both_sources(&snapshot, "subject", &attrs);
        assert!(matches!(
            code,
            FlagEvaluationCode::Match | FlagEvaluationCode::DefaultAllocationNull
        ));
        code == FlagEvaluationCode::Match
    }

    /// The code of flag `f` for `attrs` given as a request's map, which must be the code
    /// for the same attributes borrowed as the fast lane reads them.
    fn code_in_both_sources(snapshot: &Snapshot, key: &str, attrs: &Value) -> FlagEvaluationCode {
        let map = attributes(attrs.clone());
        let subject = Subject {
            key,
            attributes: &map,
        };
        let code = assign(Some(snapshot), "f", subject, VariationType::String, 0, None).code;
        let text = attrs.to_string();
        let borrowed = BorrowedAttributes::from_json(&text).expect("an object");
        let fast = assign_to(
            Some(snapshot),
            "f",
            key,
            &SubjectAttributes::borrowed(&borrowed),
            VariationType::String,
            &Now::at(0),
            None,
        )
        .code;
        assert_eq!(code, fast, "{attrs}");
        code
    }

    /// `one_condition` in the obfuscated (`CLIENT`) format: names, operators, `ONE_OF`
    /// items and `IS_NULL` operands as MD5 digests, other operands in base64.
    fn obfuscated_one_condition(attribute: &str, operator: &str, operand: Value) -> Snapshot {
        use base64::Engine as _;
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let digest = |text: &str| {
            let mut buf = [0u8; 32];
            compile::md5_hex(&compile::md5(text.as_bytes()), &mut buf).to_owned()
        };
        let operand = match operand {
            Value::Bool(b) => Value::from(digest(&b.to_string())),
            Value::Array(items) => items
                .iter()
                .map(|item| Value::from(digest(item.as_str().expect("a string"))))
                .collect(),
            Value::String(text) => Value::from(b64(&text)),
            other => Value::from(b64(&other.to_string())),
        };
        let document = json!({"format": "CLIENT", "flags": {digest("f"): {
            "key": digest("f"), "enabled": true, "variationType": "STRING", "totalShards": 100,
            "variations": {b64("on"): {"key": b64("on"), "value": b64("on")}},
            "allocations": [{
                "key": b64("a"),
                "rules": [{"conditions": [{
                    "attribute": digest(attribute), "operator": digest(operator), "value": operand
                }]}],
                "splits": [{"variationKey": b64("on"), "shards": []}]
            }]
        }}});
        let snapshot = Snapshot::from_value(document, 0).expect("valid UFC");
        assert!(snapshot.is_obfuscated() && snapshot.flag_errors.is_empty());
        snapshot
    }

    #[test]
    fn a_subject_without_attributes_passes_only_rules_that_need_none() {
        let rules = |conditions: Value| json!([{"conditions": conditions}]);
        let condition = |attribute: &str, operator: &str, value: Value| json!({"attribute": attribute, "operator": operator, "value": value});
        let x_one_of = condition("x", "ONE_OF", json!(["a"]));
        // (rules, passes without attributes, needs attributes, passes with x and y)
        let cases = [
            (rules(json!([x_one_of])), false, true, true),
            (
                rules(json!([condition("x", "IS_NULL", json!(true))])),
                true,
                false,
                false,
            ),
            (
                rules(json!([condition("x", "IS_NULL", json!(false))])),
                false,
                true,
                true,
            ),
            (
                rules(json!([condition("id", "ONE_OF", json!(["s"]))])),
                true,
                false,
                true,
            ),
            (
                rules(json!([condition("id", "IS_NULL", json!(false))])),
                true,
                false,
                true,
            ),
            (rules(json!([])), true, false, true),
            (
                json!([{"conditions": [x_one_of]}, {"conditions": []}]),
                true,
                false,
                true,
            ),
            (
                json!([{"conditions": [x_one_of]}, {"conditions": [condition("y", "GT", json!(1))]}]),
                false,
                true,
                true,
            ),
        ];
        for (rules, passes, needs, passes_with) in cases {
            let snapshot = snapshot(json!({"f": {
                "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 100,
                "variations": {"on": {"key": "on", "value": "on"}},
                "allocations": [{"key": "a", "rules": rules, "splits": [{"variationKey": "on", "shards": []}]}]
            }}));
            let Some(Ok(flag)) = snapshot.flag("f") else {
                panic!("{rules}")
            };
            assert_eq!(flag.allocations[0].needs_attributes, needs, "{rules}");
            let code = code_in_both_sources(&snapshot, "s", &json!({}));
            assert_eq!(code == FlagEvaluationCode::Match, passes, "{rules}");
            let code = code_in_both_sources(&snapshot, "s", &json!({"x": "a", "y": 2}));
            assert_eq!(code == FlagEvaluationCode::Match, passes_with, "{rules}");
        }
    }

    #[test]
    fn hashed_attribute_names_are_found_in_both_sources() {
        let snapshot = obfuscated_one_condition("country", "ONE_OF", json!(["US", "CA"]));
        let code = |attrs: Value| code_in_both_sources(&snapshot, "subject", &attrs);
        assert_eq!(code(json!({"country": "CA"})), FlagEvaluationCode::Match);
        assert_eq!(
            code(json!({"a": 1, "country": "US", "b": null})),
            FlagEvaluationCode::Match
        );
        for miss in [
            json!({"country": "FR"}),
            json!({"Country": "US"}),
            json!({}),
        ] {
            assert_eq!(code(miss), FlagEvaluationCode::DefaultAllocationNull);
        }
        // A repeated name: the last value counts, as in a map.
        let text = r#"{"country": "US", "country": "FR"}"#;
        let borrowed = BorrowedAttributes::from_json(text).unwrap();
        let run = |attributes: &SubjectAttributes<'_>| {
            assign_to(
                Some(&snapshot),
                "f",
                "subject",
                attributes,
                VariationType::String,
                &Now::at(0),
                None,
            )
            .code
        };
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(
            run(&SubjectAttributes::borrowed(&borrowed)),
            FlagEvaluationCode::DefaultAllocationNull
        );
        assert_eq!(
            run(&SubjectAttributes::new(&map)),
            FlagEvaluationCode::DefaultAllocationNull
        );
    }

    #[test]
    fn hashed_null_and_id_follow_the_plain_rules() {
        for (expected, attrs, holds) in [
            (true, json!({}), true),
            (true, json!({"x": null}), true),
            (true, json!({"x": 0}), false),
            (false, json!({"x": ""}), true),
            (false, json!({"x": null}), false),
            (false, json!({}), false),
        ] {
            let snapshot = obfuscated_one_condition("x", "IS_NULL", json!(expected));
            let code = code_in_both_sources(&snapshot, "s", &attrs);
            assert_eq!(
                code == FlagEvaluationCode::Match,
                holds,
                "{expected} {attrs}"
            );
        }
        let id = obfuscated_one_condition("id", "MATCHES", json!("^subject$"));
        let code = |attrs: Value| code_in_both_sources(&id, "subject", &attrs);
        assert_eq!(code(json!({"other": 1})), FlagEvaluationCode::Match);
        assert_eq!(code(json!({"id": "subject"})), FlagEvaluationCode::Match);
        for present in [json!({"id": "other"}), json!({"id": null})] {
            assert_eq!(code(present), FlagEvaluationCode::DefaultAllocationNull);
        }
    }

    #[test]
    fn numeric_comparisons_accept_numbers_and_numeric_strings() {
        assert!(holds("GTE", json!(10), json!({"x": 10})));
        assert!(holds("GTE", json!(10), json!({"x": "10"})));
        assert!(holds("GTE", json!(10), json!({"x": 10.5})));
        assert!(!holds("GTE", json!(10), json!({"x": 9.5})));
        assert!(holds("GT", json!("10"), json!({"x": 11})));
        assert!(holds("GT", json!("10"), json!({"x": "1e2"})));
        assert!(!holds("GT", json!(10), json!({"x": 10})));
        assert!(holds("LTE", json!(10), json!({"x": -3})));
        assert!(holds("LT", json!(0.5), json!({"x": "0.25"})));
        assert!(!holds("LT", json!(10), json!({"x": "abc"})));
        assert!(!holds("LT", json!(10), json!({"x": "NaN"})));
        assert!(!holds("LT", json!(10), json!({"x": [1]})));
        assert!(!holds("LT", json!(10), json!({"x": null})));
        assert!(!holds("LT", json!(10), json!({})));
    }

    #[test]
    fn booleans_never_compare() {
        assert!(!holds("GTE", json!(0), json!({"x": true})));
        assert!(!holds("LTE", json!(1), json!({"x": false})));
        assert!(!holds("GTE", json!("0"), json!({"x": "true"})));
    }

    #[test]
    fn semver_operands_compare_as_semver() {
        // Numerically 1.10 < 1.5; as versions 1.10.0 > 1.5.0.
        assert!(holds("GT", json!("1.5.0"), json!({"x": "1.10.0"})));
        assert!(holds("LT", json!("1.5.0"), json!({"x": "1.5.0-beta.1"})));
        assert!(holds("GTE", json!("2.0.0"), json!({"x": "2.0.0"})));
        // Build metadata does not affect precedence.
        assert!(holds("LTE", json!("1.0.0+b"), json!({"x": "1.0.0+a"})));
        assert!(holds("GTE", json!("1.0.0+b"), json!({"x": "1.0.0+a"})));
        // A semver operand needs a semver attribute.
        assert!(!holds("GT", json!("1.5.0"), json!({"x": 2})));
        assert!(!holds("GT", json!("1.5.0"), json!({"x": "2"})));
        assert!(!holds("GT", json!("1.5.0"), json!({"x": "v2.0.0"})));
        // "1.5" is not strict semver, so it compares numerically.
        assert!(holds("GT", json!("1.5"), json!({"x": 1.6})));
        assert!(!holds("GT", json!("1.5"), json!({"x": "1.10"})));
        // An operand that is neither never holds.
        assert!(!holds("GT", json!("v1.2.3"), json!({"x": "v1.2.4"})));
    }

    #[test]
    fn one_of_compares_string_forms_exactly() {
        assert!(holds("ONE_OF", json!(["US", "CA"]), json!({"x": "CA"})));
        assert!(!holds("ONE_OF", json!(["US"]), json!({"x": "us"})));
        assert!(holds("ONE_OF", json!(["true"]), json!({"x": true})));
        assert!(holds("ONE_OF", json!(["false"]), json!({"x": false})));
        assert!(holds("ONE_OF", json!(["42"]), json!({"x": 42})));
        assert!(holds("ONE_OF", json!(["42"]), json!({"x": 42.0})));
        assert!(holds("ONE_OF", json!(["1.5"]), json!({"x": 1.5})));
        assert!(holds("ONE_OF", json!(["-7"]), json!({"x": "-7"})));
        assert!(!holds("ONE_OF", json!(["[1]"]), json!({"x": [1]})));
        assert!(holds("NOT_ONE_OF", json!(["US"]), json!({"x": "CA"})));
        assert!(!holds("NOT_ONE_OF", json!(["US"]), json!({"x": "US"})));
        assert!(!holds("NOT_ONE_OF", json!(["42"]), json!({"x": 42})));
    }

    #[test]
    fn null_and_absent_fail_one_of_and_not_one_of() {
        for attrs in [json!({"x": null}), json!({})] {
            assert!(!holds("ONE_OF", json!(["null"]), attrs.clone()));
            assert!(!holds("NOT_ONE_OF", json!(["US"]), attrs.clone()));
            assert!(!holds("MATCHES", json!(".*"), attrs.clone()));
            assert!(!holds("NOT_MATCHES", json!("x"), attrs));
        }
    }

    #[test]
    fn regexes_search_the_string_form() {
        assert!(holds(
            "MATCHES",
            json!("@example\\.com"),
            json!({"x": "a@example.com"})
        ));
        assert!(holds("MATCHES", json!("^42$"), json!({"x": 42})));
        assert!(holds("MATCHES", json!("^true$"), json!({"x": true})));
        assert!(!holds("MATCHES", json!("^b"), json!({"x": "abc"})));
        assert!(holds("NOT_MATCHES", json!("^b"), json!({"x": "abc"})));
        assert!(!holds("NOT_MATCHES", json!("b"), json!({"x": "abc"})));
    }

    #[test]
    fn invalid_regex_makes_the_condition_false() {
        let snapshot = one_condition("x", "MATCHES", json!("(unclosed"));
        assert!(
            snapshot.flag_errors.is_empty(),
            "an invalid regex is not a flag error"
        );
        assert!(!holds(
            "MATCHES",
            json!("(unclosed"),
            json!({"x": "(unclosed"})
        ));
        assert!(!holds(
            "NOT_MATCHES",
            json!("(unclosed"),
            json!({"x": "anything"})
        ));
    }

    #[test]
    fn is_null_treats_absent_as_null() {
        assert!(holds("IS_NULL", json!(true), json!({})));
        assert!(holds("IS_NULL", json!(true), json!({"x": null})));
        assert!(!holds("IS_NULL", json!(true), json!({"x": 0})));
        assert!(holds("IS_NULL", json!(false), json!({"x": ""})));
        assert!(!holds("IS_NULL", json!(false), json!({})));
    }

    #[test]
    fn id_defaults_to_the_subject_key() {
        let snapshot = one_condition("id", "ONE_OF", json!(["subject"]));
        let run = |attrs: Value| {
            let attrs = attributes(attrs);
            let subject = Subject {
                key: "subject",
                attributes: &attrs,
            };
            assign(
                Some(&snapshot),
                "f",
                subject,
                VariationType::String,
                0,
                None,
            )
            .code
        };
        assert_eq!(run(json!({})), FlagEvaluationCode::Match);
        assert_eq!(
            run(json!({"id": "someone-else"})),
            FlagEvaluationCode::DefaultAllocationNull
        );
        for (attrs, expected) in [
            (json!({"other": 1}), FlagEvaluationCode::Match),
            (
                json!({"id": null}),
                FlagEvaluationCode::DefaultAllocationNull,
            ),
            (
                json!({"id": ["subject"]}),
                FlagEvaluationCode::DefaultAllocationNull,
            ),
        ] {
            assert_eq!(code_in_both_sources(&snapshot, "subject", &attrs), expected);
        }
        // Only `id` defaults: another absent attribute stays absent.
        let other = one_condition("user", "ONE_OF", json!(["subject"]));
        let empty = Map::new();
        let subject = Subject {
            key: "subject",
            attributes: &empty,
        };
        let code = assign(Some(&other), "f", subject, VariationType::String, 0, None).code;
        assert_eq!(code, FlagEvaluationCode::DefaultAllocationNull);
    }

    fn typed_flag(ty: &str, value: Value) -> Snapshot {
        snapshot(json!({"f": {
            "key": "f", "enabled": true, "variationType": ty, "totalShards": 100,
            "variations": {"v": {"key": "v", "value": value}},
            "allocations": [
                {"key": "first", "splits": [{"variationKey": "v", "shards": []}]},
                {"key": "second", "splits": [{"variationKey": "v", "shards": []}]}
            ]
        }}))
    }

    fn run_typed(snapshot: &Snapshot, ty: VariationType) -> (FlagEvaluationCode, Option<Value>) {
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        let assignment = assign(Some(snapshot), "f", subject, ty, 0, None);
        (
            assignment.code,
            assignment.variation().map(|v| v.value.clone()),
        )
    }

    #[test]
    fn integer_variations_must_be_integral() {
        let ok = typed_flag("INTEGER", json!(3));
        assert_eq!(
            run_typed(&ok, VariationType::Integer),
            (FlagEvaluationCode::Match, Some(json!(3)))
        );
        let whole = typed_flag("INTEGER", json!(3.0));
        assert_eq!(
            run_typed(&whole, VariationType::Integer),
            (FlagEvaluationCode::Match, Some(json!(3)))
        );
        for bad in [json!(3.5), json!("3"), json!(true)] {
            let snapshot = typed_flag("INTEGER", bad.clone());
            assert!(
                snapshot.flag_errors.is_empty(),
                "an invalid value is not a flag error"
            );
            assert_eq!(
                run_typed(&snapshot, VariationType::Integer),
                (FlagEvaluationCode::AssignmentError, None),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_types_validate_their_values() {
        let cases = [
            ("STRING", VariationType::String, json!(5), None),
            ("STRING", VariationType::String, json!(""), Some(json!(""))),
            ("NUMERIC", VariationType::Numeric, json!("1.5"), None),
            (
                "NUMERIC",
                VariationType::Numeric,
                json!(1.5),
                Some(json!(1.5)),
            ),
            ("BOOLEAN", VariationType::Boolean, json!("true"), None),
            (
                "BOOLEAN",
                VariationType::Boolean,
                json!(false),
                Some(json!(false)),
            ),
            ("JSON", VariationType::Json, json!("{not json"), None),
            ("JSON", VariationType::Json, json!({"a": 1}), None),
            (
                "JSON",
                VariationType::Json,
                json!("{\"a\": [1, 2]}"),
                Some(json!({"a": [1, 2]})),
            ),
        ];
        for (ty_name, ty, value, expected) in cases {
            let snapshot = typed_flag(ty_name, value.clone());
            let code = if expected.is_some() {
                FlagEvaluationCode::Match
            } else {
                FlagEvaluationCode::AssignmentError
            };
            assert_eq!(
                run_typed(&snapshot, ty),
                (code, expected),
                "{ty_name} {value}"
            );
        }
    }

    #[test]
    fn flag_level_outcomes() {
        let snapshot = typed_flag("STRING", json!("x"));
        assert_eq!(
            run_typed(&snapshot, VariationType::Integer),
            (FlagEvaluationCode::TypeMismatch, None)
        );
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        let unknown = assign(
            Some(&snapshot),
            "nope",
            subject,
            VariationType::String,
            0,
            None,
        );
        assert_eq!(unknown.code, FlagEvaluationCode::FlagUnrecognizedOrDisabled);
        let missing = assign(None, "f", subject, VariationType::String, 0, None);
        assert_eq!(missing.code, FlagEvaluationCode::ConfigurationMissing);
        let disabled = snapshot_with_enabled(false);
        assert_eq!(
            run_typed(&disabled, VariationType::String),
            (FlagEvaluationCode::FlagUnrecognizedOrDisabled, None)
        );
    }

    fn snapshot_with_enabled(enabled: bool) -> Snapshot {
        snapshot(json!({"f": {
            "key": "f", "enabled": enabled, "variationType": "STRING", "totalShards": 100,
            "variations": {"v": {"key": "v", "value": "v"}},
            "allocations": [{"key": "a", "splits": [{"variationKey": "v", "shards": []}]}]
        }}))
    }

    #[test]
    fn missing_variation_is_an_error_without_fall_through() {
        let snapshot = snapshot(json!({"f": {
            "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 100,
            "variations": {"v": {"key": "v", "value": "v"}},
            "allocations": [
                {"key": "broken", "splits": [{"variationKey": "ghost", "shards": []}]},
                {"key": "fine", "splits": [{"variationKey": "v", "shards": []}]}
            ]
        }}));
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        let assignment = assign(
            Some(&snapshot),
            "f",
            subject,
            VariationType::String,
            0,
            None,
        );
        assert_eq!(assignment.code, FlagEvaluationCode::AssignmentError);
        assert_eq!(
            assignment.matched.map(|m| m.allocation.key.as_str()),
            Some("broken")
        );
        assert!(assignment.variation().is_none());
        assert!(!assignment.should_log());
    }

    #[test]
    fn time_windows_are_inclusive_and_skip_outside() {
        let start = "2024-01-01T00:00:00Z";
        let end = "2024-12-31T00:00:00Z";
        let snapshot = snapshot(json!({"f": {
            "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 100,
            "variations": {"in": {"key": "in", "value": "in"}, "out": {"key": "out", "value": "out"}},
            "allocations": [
                {"key": "window", "startAt": start, "endAt": end, "splits": [{"variationKey": "in", "shards": []}]},
                {"key": "fallback", "splits": [{"variationKey": "out", "shards": []}]}
            ]
        }}));
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        let start_ms = crate::eppo::time::parse_rfc3339(start).unwrap();
        let end_ms = crate::eppo::time::parse_rfc3339(end).unwrap();
        let run = |now: i64| {
            let mut trace = Vec::new();
            let a = assign(
                Some(&snapshot),
                "f",
                subject,
                VariationType::String,
                now,
                Some(&mut trace),
            );
            (a.variation().map(|v| v.key.clone()), trace)
        };
        assert_eq!(
            run(start_ms - 1),
            (
                Some("out".into()),
                vec![(0, AllocationEvaluationCode::BeforeStartTime)]
            )
        );
        assert_eq!(run(start_ms), (Some("in".into()), vec![]));
        assert_eq!(run(end_ms), (Some("in".into()), vec![]));
        assert_eq!(
            run(end_ms + 1),
            (
                Some("out".into()),
                vec![(0, AllocationEvaluationCode::AfterEndTime)]
            )
        );
    }

    #[test]
    fn shards_gate_traffic_and_empty_shards_admit_everyone() {
        let snapshot = snapshot(json!({"f": {
            "key": "f", "enabled": true, "variationType": "STRING", "totalShards": 100,
            "variations": {"a": {"key": "a", "value": "a"}, "b": {"key": "b", "value": "b"}},
            "allocations": [
                {"key": "nobody", "splits": [{"variationKey": "a", "shards": [{"salt": "s", "ranges": []}]}]},
                {"key": "all", "splits": [{"variationKey": "b", "shards": [{"salt": "s", "ranges": [{"start": 0, "end": 100}]}]}]}
            ]
        }}));
        let empty = Map::new();
        for key in ["alice", "bob", "carol", ""] {
            let subject = Subject {
                key,
                attributes: &empty,
            };
            let mut trace = Vec::new();
            let a = assign(
                Some(&snapshot),
                "f",
                subject,
                VariationType::String,
                0,
                Some(&mut trace),
            );
            assert_eq!(a.variation().map(|v| v.key.as_str()), Some("b"));
            assert_eq!(
                trace,
                vec![(0, AllocationEvaluationCode::TrafficExposureMiss)]
            );
        }
    }

    #[test]
    fn do_log_defaults_to_true() {
        let snapshot = snapshot(json!({
            "logged": {"key": "logged", "enabled": true, "variationType": "STRING", "totalShards": 1,
                "variations": {"v": {"key": "v", "value": "v"}},
                "allocations": [{"key": "a", "splits": [{"variationKey": "v", "shards": []}]}]},
            "quiet": {"key": "quiet", "enabled": true, "variationType": "STRING", "totalShards": 1,
                "variations": {"v": {"key": "v", "value": "v"}},
                "allocations": [{"key": "a", "doLog": false, "splits": [{"variationKey": "v", "shards": []}]}]}
        }));
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        assert!(assign(
            Some(&snapshot),
            "logged",
            subject,
            VariationType::String,
            0,
            None
        )
        .should_log());
        let quiet = assign(
            Some(&snapshot),
            "quiet",
            subject,
            VariationType::String,
            0,
            None,
        );
        assert_eq!(quiet.code, FlagEvaluationCode::Match);
        assert!(!quiet.should_log());
    }

    #[test]
    fn a_bad_flag_is_isolated() {
        let good = json!({"key": "good", "enabled": true, "variationType": "STRING", "totalShards": 10,
            "variations": {"v": {"key": "v", "value": "v"}},
            "allocations": [{"key": "a", "splits": [{"variationKey": "v", "shards": []}]}]});
        let mut unknown_type = good.clone();
        unknown_type["variationType"] = json!("DATE");
        let mut unknown_operator = good.clone();
        unknown_operator["allocations"][0]["rules"] =
            json!([{"conditions": [{"attribute": "x", "operator": "SOUNDS_LIKE", "value": "y"}]}]);
        let mut zero_shards = good.clone();
        zero_shards["totalShards"] = json!(0);
        let mut bad_date = good.clone();
        bad_date["allocations"][0]["startAt"] = json!("yesterday");
        let snapshot = snapshot(json!({
            "good": good, "unknown_type": unknown_type, "unknown_operator": unknown_operator,
            "zero_shards": zero_shards, "bad_date": bad_date, "not_an_object": 7
        }));
        let failed: Vec<_> = snapshot
            .flag_errors
            .iter()
            .filter_map(|e| e.flag_key.as_deref())
            .collect();
        assert_eq!(
            failed,
            [
                "bad_date",
                "not_an_object",
                "unknown_operator",
                "unknown_type",
                "zero_shards"
            ]
        );
        assert!(
            snapshot.flag_errors[2].message.contains("SOUNDS_LIKE"),
            "{:?}",
            snapshot.flag_errors[2]
        );
        let empty = Map::new();
        let subject = Subject {
            key: "s",
            attributes: &empty,
        };
        let code = |flag: &str| {
            assign(
                Some(&snapshot),
                flag,
                subject,
                VariationType::String,
                0,
                None,
            )
            .code
        };
        assert_eq!(code("good"), FlagEvaluationCode::Match);
        for flag in failed {
            assert_eq!(
                code(flag),
                FlagEvaluationCode::UnexpectedConfigurationError,
                "{flag}"
            );
        }
    }
}
