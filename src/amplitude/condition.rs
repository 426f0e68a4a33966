//! Compiled conditions: selectors resolved to typed lookups, operators parsed, filter
//! values pre-processed (numbers, versions, regexes, lower-cased strings) once.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

use super::user::{Prop, UserField};
use super::version::Version;

/// The filter value that matches a missing (null) property.
const NONE_VALUE: &str = "(none)";

/// Where a selector reads from, resolved at compile time.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `["context","user",<scalar field>]`
    UserField(UserField),
    /// `["context","user","user_properties",…path]`
    UserProperty(Vec<String>),
    /// `["context","user","cohort_ids"]`
    UserCohortIds,
    /// `["context","groups",<type>,"group_name"]`
    GroupName(String),
    /// `["context","groups",<type>,"group_properties",…path]`
    GroupProperty(String, Vec<String>),
    /// `["context","groups",<type>,"cohort_ids"]`
    GroupCohortIds(String),
    /// `["result",<flag>,…path]`: a field of an already evaluated flag's variant.
    Result(usize, Vec<String>),
    /// A path that names nothing allot knows (always null).
    Nothing,
}

impl Selector {
    /// Resolves a selector path; `flag_index` maps flag keys to their positions.
    pub fn compile(path: &[String], flag_index: &HashMap<String, usize>) -> Selector {
        let strs: Vec<&str> = path.iter().map(String::as_str).collect();
        let tail = |n: usize| path[n..].to_vec();
        match strs.as_slice() {
            ["context", "user", "user_properties", _, ..] => Selector::UserProperty(tail(3)),
            ["context", "user", "cohort_ids"] => Selector::UserCohortIds,
            ["context", "user", field] => {
                UserField::from_name(field).map_or(Selector::Nothing, Selector::UserField)
            }
            ["context", "groups", group, "group_name"] => Selector::GroupName(group.to_string()),
            ["context", "groups", group, "group_properties", _, ..] => {
                Selector::GroupProperty(group.to_string(), tail(4))
            }
            ["context", "groups", group, "cohort_ids"] => {
                Selector::GroupCohortIds(group.to_string())
            }
            ["result", flag, _, ..] => match flag_index.get(*flag) {
                Some(&index) => Selector::Result(index, tail(2)),
                None => Selector::Nothing,
            },
            _ => Selector::Nothing,
        }
    }
}

/// Reads selectors from an evaluation target.
pub trait Lookup {
    /// The value the selector points at.
    fn lookup(&self, selector: &Selector) -> Prop<'_>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Compare {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Compare::Less => ordering == Ordering::Less,
            Compare::LessOrEqual => ordering != Ordering::Greater,
            Compare::Greater => ordering == Ordering::Greater,
            Compare::GreaterOrEqual => ordering != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Is,
    IsNot,
    Contains,
    DoesNotContain,
    Number(Compare),
    Version(Compare),
    SetIs,
    SetIsNot,
    SetContains,
    SetDoesNotContain,
    SetContainsAny,
    SetDoesNotContainAny,
    RegexMatch,
    RegexDoesNotMatch,
    Unknown,
}

impl Op {
    fn parse(name: &str) -> Op {
        match name {
            "is" => Op::Is,
            "is not" => Op::IsNot,
            "contains" => Op::Contains,
            "does not contain" => Op::DoesNotContain,
            "less" => Op::Number(Compare::Less),
            "less or equal" => Op::Number(Compare::LessOrEqual),
            "greater" => Op::Number(Compare::Greater),
            "greater or equal" => Op::Number(Compare::GreaterOrEqual),
            "version less" => Op::Version(Compare::Less),
            "version less or equal" => Op::Version(Compare::LessOrEqual),
            "version greater" => Op::Version(Compare::Greater),
            "version greater or equal" => Op::Version(Compare::GreaterOrEqual),
            "set is" => Op::SetIs,
            "set is not" => Op::SetIsNot,
            "set contains" => Op::SetContains,
            "set does not contain" => Op::SetDoesNotContain,
            "set contains any" => Op::SetContainsAny,
            "set does not contain any" => Op::SetDoesNotContainAny,
            "regex match" => Op::RegexMatch,
            "regex does not match" => Op::RegexDoesNotMatch,
            _ => Op::Unknown,
        }
    }

    fn is_set(self) -> bool {
        matches!(
            self,
            Op::SetIs
                | Op::SetIsNot
                | Op::SetContains
                | Op::SetDoesNotContain
                | Op::SetContainsAny
                | Op::SetDoesNotContainAny
        )
    }

    /// The result for a missing (null) property.
    fn on_null(self, contains_none: bool) -> bool {
        match self {
            Op::Is
            | Op::Contains
            | Op::Number(_)
            | Op::Version(_)
            | Op::SetIs
            | Op::SetContains
            | Op::SetContainsAny => contains_none,
            Op::IsNot | Op::DoesNotContain | Op::SetDoesNotContain | Op::SetDoesNotContainAny => {
                !contains_none
            }
            Op::RegexDoesNotMatch | Op::SetIsNot => true,
            Op::RegexMatch | Op::Unknown => false,
        }
    }
}

/// Compiled patterns by source text, shared by the conditions of one configuration
/// (configurations repeat patterns; compiling each once keeps compiles fast).
#[derive(Debug, Default)]
pub struct RegexCache(HashMap<String, Option<Regex>>);

impl RegexCache {
    /// The compiled pattern, or `None` when it is invalid (it then never matches).
    fn get(&mut self, pattern: &str) -> Option<Regex> {
        if let Some(compiled) = self.0.get(pattern) {
            return compiled.clone();
        }
        let compiled = Regex::new(pattern).ok();
        self.0.insert(pattern.to_owned(), compiled.clone());
        compiled
    }
}

/// A condition compiled for fast matching.
#[derive(Debug, Clone)]
pub struct Condition {
    selector: Selector,
    op: Op,
    /// Distinct filter values, in order.
    values: Vec<String>,
    contains_none: bool,
    /// Whether a filter value is `true`/`false` in any case.
    has_boolean: bool,
    lowered: Vec<String>,
    numbers: Vec<f64>,
    versions: Vec<Version>,
    regexes: Vec<Regex>,
}

impl Condition {
    /// Compiles a condition; only what its operator needs is pre-processed.
    pub fn compile(
        selector: Selector,
        op: &str,
        values: &[String],
        regexes: &mut RegexCache,
    ) -> Condition {
        let op = Op::parse(op);
        let mut distinct: Vec<String> = Vec::with_capacity(values.len());
        for v in values {
            if !distinct.contains(v) {
                distinct.push(v.clone());
            }
        }
        let mut condition = Condition {
            selector,
            op,
            contains_none: distinct.iter().any(|v| v == NONE_VALUE),
            has_boolean: has_boolean(&distinct),
            values: distinct,
            lowered: Vec::new(),
            numbers: Vec::new(),
            versions: Vec::new(),
            regexes: Vec::new(),
        };
        match op {
            Op::Contains | Op::DoesNotContain => {
                condition.lowered = condition.values.iter().map(|v| v.to_lowercase()).collect();
            }
            Op::Number(_) => {
                condition.numbers = condition
                    .values
                    .iter()
                    .filter_map(|v| parse_number(v))
                    .collect()
            }
            Op::Version(_) => {
                condition.versions = condition
                    .values
                    .iter()
                    .filter_map(|v| Version::parse(v))
                    .collect()
            }
            // An invalid pattern never matches.
            Op::RegexMatch | Op::RegexDoesNotMatch => {
                condition.regexes = condition
                    .values
                    .iter()
                    .filter_map(|v| regexes.get(v))
                    .collect();
            }
            _ => {}
        }
        condition
    }

    /// The patterns of a regex condition that the `regex` crate rejects (look-around,
    /// backreferences, bad syntax), which never match, each with the crate's reason.
    pub fn rejected_patterns(&self) -> Vec<(&str, String)> {
        if !matches!(self.op, Op::RegexMatch | Op::RegexDoesNotMatch)
            || self.regexes.len() == self.values.len()
        {
            return Vec::new();
        }
        self.values
            .iter()
            .filter(|pattern| !self.regexes.iter().any(|r| r.as_str() == pattern.as_str()))
            .map(|pattern| {
                // The crate's message ends with a line saying what is not supported.
                let reason = Regex::new(pattern).err().map_or_else(
                    || "rejected".to_owned(),
                    |e| e.to_string().lines().last().unwrap_or_default().to_owned(),
                );
                let reason = reason.trim_start_matches("error: ").to_owned();
                (pattern.as_str(), reason)
            })
            .collect()
    }

    /// Whether the condition holds for the target.
    pub fn matches(&self, target: &impl Lookup) -> bool {
        let prop = target.lookup(&self.selector);
        if let Prop::Null = prop {
            return self.op.on_null(self.contains_none);
        }
        let list = string_list(prop);
        if self.op.is_set() {
            return list.is_some_and(|list| self.matches_set(list));
        }
        match list {
            Some(list) => list.iter().any(|item| self.matches_string(item)),
            None => self.matches_string(&coerce_string(prop)),
        }
    }

    fn matches_string(&self, prop: &str) -> bool {
        match self.op {
            Op::Is => matches_is(prop, &self.values, self.has_boolean),
            Op::IsNot => !matches_is(prop, &self.values, self.has_boolean),
            Op::Contains => self.contains(prop),
            Op::DoesNotContain => !self.contains(prop),
            Op::Number(cmp) => match parse_number(prop) {
                Some(p) if !self.numbers.is_empty() => self
                    .numbers
                    .iter()
                    .any(|f| p.partial_cmp(f).is_some_and(|o| cmp.holds(o))),
                _ => self.compare_strings(prop, cmp),
            },
            Op::Version(cmp) => match Version::parse(prop) {
                Some(p) if !self.versions.is_empty() => {
                    self.versions.iter().any(|f| cmp.holds(p.cmp(f)))
                }
                _ => self.compare_strings(prop, cmp),
            },
            Op::RegexMatch => self.regexes.iter().any(|r| r.is_match(prop)),
            Op::RegexDoesNotMatch => !self.regexes.iter().any(|r| r.is_match(prop)),
            _ => false,
        }
    }

    fn contains(&self, prop: &str) -> bool {
        let prop = prop.to_lowercase();
        self.lowered.iter().any(|f| prop.contains(f.as_str()))
    }

    fn compare_strings(&self, prop: &str, cmp: Compare) -> bool {
        self.values.iter().any(|f| cmp.holds(prop.cmp(f.as_str())))
    }

    fn matches_set(&self, list: Vec<Cow<'_, str>>) -> bool {
        let mut props: Vec<&str> = Vec::with_capacity(list.len());
        for item in &list {
            if !props.contains(&item.as_ref()) {
                props.push(item);
            }
        }
        let props_have_boolean = has_boolean(&props);
        let contains_all = || {
            props.len() >= self.values.len()
                && self
                    .values
                    .iter()
                    .all(|f| matches_is(f, &props, props_have_boolean))
        };
        let contains_any = || {
            self.values
                .iter()
                .any(|f| matches_is(f, &props, props_have_boolean))
        };
        let equal = || {
            props.len() == self.values.len()
                && props.iter().all(|p| self.values.iter().any(|f| f == p))
        };
        match self.op {
            Op::SetIs => equal(),
            Op::SetIsNot => !equal(),
            Op::SetContains => contains_all(),
            Op::SetDoesNotContain => !contains_all(),
            Op::SetContainsAny => contains_any(),
            Op::SetDoesNotContainAny => !contains_any(),
            _ => false,
        }
    }
}

fn is_boolean_text(s: &str) -> bool {
    s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
}

fn has_boolean<S: AsRef<str>>(values: &[S]) -> bool {
    values.iter().any(|v| is_boolean_text(v.as_ref()))
}

/// `is` semantics: exact equality with any value, except that booleans compare
/// case-insensitively when the values contain a boolean.
fn matches_is<S: AsRef<str>>(prop: &str, values: &[S], values_have_boolean: bool) -> bool {
    if values_have_boolean && is_boolean_text(prop) {
        return values.iter().any(|v| v.as_ref().eq_ignore_ascii_case(prop));
    }
    values.iter().any(|v| v.as_ref() == prop)
}

/// A finite number, or nothing (then the comparison falls back to strings).
fn parse_number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A property as a list of strings: JSON arrays, cohort lists, and strings that hold a
/// JSON array. Nulls are dropped.
fn string_list(prop: Prop<'_>) -> Option<Vec<Cow<'_, str>>> {
    let items: Vec<Cow<'_, str>> = match prop {
        Prop::List(list) => list.iter().map(|s| Cow::Borrowed(s.as_str())).collect(),
        Prop::Json(Value::Array(items)) => items.iter().filter_map(json_to_string).collect(),
        Prop::Text(text) if text.starts_with('[') => {
            let items: Vec<Value> = serde_json::from_str(text).ok()?;
            items
                .iter()
                .filter_map(|v| json_to_string(v).map(|s| Cow::Owned(s.into_owned())))
                .collect()
        }
        _ => return None,
    };
    Some(items)
}

fn json_to_string(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// A scalar property as a string: numbers in JSON form, booleans as `true`/`false`,
/// objects and arrays as compact JSON.
pub fn coerce_string(prop: Prop<'_>) -> Cow<'_, str> {
    match prop {
        Prop::Null => Cow::Borrowed(""),
        Prop::Text(s) => Cow::Borrowed(s),
        Prop::Json(v) => json_to_string(v).unwrap_or(Cow::Borrowed("")),
        Prop::List(list) => Cow::Owned(serde_json::to_string(list).unwrap_or_default()),
    }
}
