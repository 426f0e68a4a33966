//! Assignment: the flag → allocation → rule → split walk of Eppo's SDKs, allocation-free
//! on the hot path. Everything returned borrows from the [`Snapshot`].

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use md5::Digest;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::eppo::compile::{
    self, Allocation, Attribute, Comparison, Condition, Flag, Operand, Rule, Snapshot, Split,
    StringSet, Test, Variation,
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
    let attributes = Attributes::new(subject);
    for (index, allocation) in flag.allocations.iter().enumerate() {
        let code = if allocation.start_at.is_some_and(|start| now_ms < start) {
            AllocationEvaluationCode::BeforeStartTime
        } else if allocation.end_at.is_some_and(|end| now_ms > end) {
            AllocationEvaluationCode::AfterEndTime
        } else {
            match matching_rule(allocation, &attributes) {
                None => AllocationEvaluationCode::FailingRule,
                Some(rule) => match allocation
                    .splits
                    .iter()
                    .find(|split| split_contains(split, subject.key, flag.total_shards))
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

/// `Some(rule)` for the first passing rule, `Some(None)` when there are no rules, `None`
/// when every rule fails.
fn matching_rule<'s>(
    allocation: &'s Allocation,
    attributes: &Attributes<'_>,
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

fn split_contains(split: &Split, subject_key: &str, total_shards: u32) -> bool {
    split.shards.iter().all(|shard| {
        let mut hasher = shard.salted.clone();
        hasher.update(subject_key.as_bytes());
        let digest = hasher.finalize();
        let shard_number =
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % total_shards;
        shard
            .ranges
            .iter()
            .any(|&(start, end)| start <= shard_number && shard_number < end)
    })
}

/// An attribute value as a condition sees it.
#[derive(Clone, Copy)]
enum AttributeValue<'a> {
    Json(&'a Value),
    /// The subject key standing in for an absent `id`.
    SubjectKey(&'a str),
}

/// The subject's attributes, with MD5s of their names computed on first need
/// (obfuscated configurations name attributes by digest).
struct Attributes<'a> {
    subject: Subject<'a>,
    hashed: OnceCell<Vec<([u8; 16], &'a Value)>>,
}

impl<'a> Attributes<'a> {
    fn new(subject: Subject<'a>) -> Self {
        Attributes {
            subject,
            hashed: OnceCell::new(),
        }
    }

    fn get(&self, condition: &Condition) -> Option<AttributeValue<'a>> {
        let found = match &condition.attribute {
            Attribute::Name(name) => self.subject.attributes.get(name),
            Attribute::Hash(hash) => self
                .hashed
                .get_or_init(|| {
                    let attributes: &'a Map<String, Value> = self.subject.attributes;
                    attributes
                        .iter()
                        .map(|(k, v)| (compile::md5(k.as_bytes()), v))
                        .collect()
                })
                .iter()
                .find(|(h, _)| h == hash)
                .map(|(_, v)| *v),
        };
        match found {
            Some(value) => Some(AttributeValue::Json(value)),
            None if condition.is_id => Some(AttributeValue::SubjectKey(self.subject.key)),
            None => None,
        }
    }
}

fn condition_holds(condition: &Condition, attributes: &Attributes<'_>) -> bool {
    let value = attributes.get(condition);
    if let Test::IsNull(expected) = condition.test {
        let is_null = matches!(value, None | Some(AttributeValue::Json(Value::Null)));
        return is_null == expected;
    }
    let Some(value) = value else { return false };
    match &condition.test {
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
            ordering.is_some_and(|o| match comparison {
                Comparison::Gte => o != Ordering::Less,
                Comparison::Gt => o == Ordering::Greater,
                Comparison::Lte => o != Ordering::Greater,
                Comparison::Lt => o == Ordering::Less,
            })
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
        AttributeValue::Json(Value::String(s)) => Some(s),
        AttributeValue::SubjectKey(s) => Some(s),
        AttributeValue::Json(_) => None,
    }
}

/// The attribute coerced to a string: strings as they are, booleans `true`/`false`, numbers
/// in their shortest form (`42.0` → `42`). Null, arrays and objects have no string form.
fn as_string(value: AttributeValue<'_>) -> Option<Cow<'_, str>> {
    if let Some(s) = as_str(value) {
        return Some(Cow::Borrowed(s));
    }
    match value {
        AttributeValue::Json(Value::Bool(b)) => {
            Some(Cow::Borrowed(if *b { "true" } else { "false" }))
        }
        AttributeValue::Json(Value::Number(n)) => Some(Cow::Owned(number_to_string(n))),
        _ => None,
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
        AttributeValue::Json(Value::Number(n)) => n.as_f64(),
        _ => as_str(value).and_then(compile::parse_number),
    }
}
