//! Compiled conditions: selectors resolved to typed lookups, operators parsed, filter
//! values pre-processed (numbers, versions, regexes, lower-cased strings) once.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use serde_json::Value;

use crate::compare::{parse_number, Comparison};

use super::user::{Prop, UserField};
use super::version::Version;
use crate::pattern::{Pattern, Patterns};

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
enum Op {
    Is,
    IsNot,
    Contains,
    DoesNotContain,
    Number(Comparison),
    Version(Comparison),
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
            "less" => Op::Number(Comparison::Less),
            "less or equal" => Op::Number(Comparison::LessOrEqual),
            "greater" => Op::Number(Comparison::Greater),
            "greater or equal" => Op::Number(Comparison::GreaterOrEqual),
            "version less" => Op::Version(Comparison::Less),
            "version less or equal" => Op::Version(Comparison::LessOrEqual),
            "version greater" => Op::Version(Comparison::Greater),
            "version greater or equal" => Op::Version(Comparison::GreaterOrEqual),
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

/// The smallest and the largest of some filter values: an "any value" comparison holds
/// for some value exactly when it holds for one of these two.
#[derive(Debug, Clone)]
struct Extremes<T> {
    min: T,
    max: T,
}

impl<T: Clone> Extremes<T> {
    fn of(mut items: impl Iterator<Item = T>, order: impl Fn(&T, &T) -> Ordering) -> Option<Self> {
        let first = items.next()?;
        Some(items.fold(
            Extremes {
                min: first.clone(),
                max: first,
            },
            |mut acc, item| {
                if order(&item, &acc.min) == Ordering::Less {
                    acc.min = item.clone();
                }
                if order(&item, &acc.max) == Ordering::Greater {
                    acc.max = item;
                }
                acc
            },
        ))
    }

    /// Whether `prop <cmp> value` holds for some value, given `order(value)` = how the
    /// property compares with `value`.
    fn any(&self, cmp: Comparison, order: impl Fn(&T) -> Ordering) -> bool {
        match cmp {
            Comparison::Less | Comparison::LessOrEqual => cmp.holds(order(&self.max)),
            Comparison::Greater | Comparison::GreaterOrEqual => cmp.holds(order(&self.min)),
        }
    }
}

/// Which boolean texts a set of strings holds, compared case-insensitively.
#[derive(Debug, Clone, Copy, Default)]
struct Booleans {
    has_true: bool,
    has_false: bool,
}

impl Booleans {
    fn of<'v>(values: impl IntoIterator<Item = &'v str>) -> Booleans {
        values
            .into_iter()
            .fold(Booleans::default(), |acc, v| Booleans {
                has_true: acc.has_true || v.eq_ignore_ascii_case("true"),
                has_false: acc.has_false || v.eq_ignore_ascii_case("false"),
            })
    }

    fn any(self) -> bool {
        self.has_true || self.has_false
    }

    /// Whether `text`, a boolean text, is among them.
    fn contains(self, text: &str) -> bool {
        if text.eq_ignore_ascii_case("true") {
            self.has_true
        } else {
            self.has_false
        }
    }
}

/// `is` semantics: exact equality with any value, except that booleans compare
/// case-insensitively when the values contain a boolean. Constant time.
fn matches_is<S: Borrow<str> + Eq + Hash>(
    prop: &str,
    values: &HashSet<S>,
    booleans: Booleans,
) -> bool {
    if booleans.any() && is_boolean_text(prop) {
        return booleans.contains(prop);
    }
    values.contains(prop)
}

/// A condition compiled for fast matching: equality and set operators look values up in
/// a hash set, comparisons use the smallest and largest value, so matching a list
/// property is linear in its length.
#[derive(Debug)]
pub struct Condition {
    selector: Selector,
    op: Op,
    /// Distinct filter values.
    values: HashSet<Box<str>>,
    contains_none: bool,
    /// Boolean texts among the values (`is` compares them case-insensitively).
    booleans: Booleans,
    lowered: Vec<String>,
    numbers: Option<Extremes<f64>>,
    versions: Option<Extremes<Version>>,
    strings: Option<Extremes<Box<str>>>,
    regexes: Vec<Pattern>,
}

impl Condition {
    /// Whether the operator `op` takes regexes (compiled into [`Patterns`] beforehand).
    pub fn uses_regex(op: &str) -> bool {
        matches!(Op::parse(op), Op::RegexMatch | Op::RegexDoesNotMatch)
    }

    /// Compiles a condition; only what its operator needs is pre-processed. Its regexes
    /// come from `patterns` (a pattern missing there never matches).
    pub fn compile(
        selector: Selector,
        op: &str,
        values: &[String],
        patterns: &Patterns,
    ) -> Condition {
        let op = Op::parse(op);
        let values: HashSet<Box<str>> = values.iter().map(|v| Box::from(v.as_str())).collect();
        let mut condition = Condition {
            selector,
            op,
            contains_none: values.contains(NONE_VALUE),
            booleans: Booleans::of(values.iter().map(|v| &**v)),
            values,
            lowered: Vec::new(),
            numbers: None,
            versions: None,
            strings: None,
            regexes: Vec::new(),
        };
        match op {
            Op::Contains | Op::DoesNotContain => {
                condition.lowered = condition.values.iter().map(|v| v.to_lowercase()).collect();
            }
            Op::Number(_) | Op::Version(_) => {
                let values = || condition.values.iter();
                condition.numbers =
                    Extremes::of(values().filter_map(|v| parse_number(v)), |a, b| {
                        compare_numbers(*a, *b)
                    });
                condition.versions =
                    Extremes::of(values().filter_map(|v| Version::parse(v)), Version::cmp);
                condition.strings = Extremes::of(values().cloned(), Ord::cmp);
            }
            // An invalid pattern never matches.
            Op::RegexMatch | Op::RegexDoesNotMatch => {
                condition.regexes = condition
                    .values
                    .iter()
                    .filter_map(|v| patterns.get(v))
                    .collect();
            }
            _ => {}
        }
        condition
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
            Op::Is => matches_is(prop, &self.values, self.booleans),
            Op::IsNot => !matches_is(prop, &self.values, self.booleans),
            Op::Contains => self.contains(prop),
            Op::DoesNotContain => !self.contains(prop),
            Op::Number(cmp) => match (parse_number(prop), &self.numbers) {
                (Some(p), Some(numbers)) => numbers.any(cmp, |f| compare_numbers(p, *f)),
                _ => self.compare_strings(prop, cmp),
            },
            Op::Version(cmp) => match (Version::parse(prop), &self.versions) {
                (Some(p), Some(versions)) => versions.any(cmp, |f| p.cmp(f)),
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

    fn compare_strings(&self, prop: &str, cmp: Comparison) -> bool {
        self.strings
            .as_ref()
            .is_some_and(|strings| strings.any(cmp, |f| prop.cmp(f)))
    }

    fn matches_set(&self, list: Vec<Cow<'_, str>>) -> bool {
        let props: HashSet<&str> = list.iter().map(AsRef::as_ref).collect();
        let props_booleans = Booleans::of(props.iter().copied());
        let contains_all = || {
            props.len() >= self.values.len()
                && self
                    .values
                    .iter()
                    .all(|f| matches_is(f, &props, props_booleans))
        };
        let contains_any = || {
            self.values
                .iter()
                .any(|f| matches_is(f, &props, props_booleans))
        };
        let equal =
            || props.len() == self.values.len() && props.iter().all(|p| self.values.contains(*p));
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

/// Orders two finite numbers (`-0` equals `0`).
fn compare_numbers(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// A property as a list of strings: JSON arrays, cohort lists, and strings that hold a
/// JSON array. Nulls are dropped.
fn string_list(prop: Prop<'_>) -> Option<Vec<Cow<'_, str>>> {
    let items: Vec<Cow<'_, str>> = match prop {
        Prop::List(list) => list.iter().map(|s| Cow::Borrowed(&**s)).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A target whose every selector reads one value.
    struct Only(Value);

    impl Lookup for Only {
        fn lookup(&self, _: &Selector) -> Prop<'_> {
            Prop::Json(&self.0)
        }
    }

    fn holds(op: &str, values: &[&str], prop: Value) -> bool {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Condition::compile(Selector::Nothing, op, &values, &Patterns::default())
            .matches(&Only(prop))
    }

    #[test]
    fn comparisons_hold_when_they_hold_for_some_value() {
        assert!(holds("less", &["1", "20", "5"], json!(10)));
        assert!(!holds("less", &["1", "5", "10"], json!(10)));
        assert!(holds("less or equal", &["1", "10"], json!(10)));
        assert!(holds("greater", &["30", "9", "50"], json!(10)));
        assert!(!holds("greater", &["10", "30"], json!(10)));
        assert!(holds("greater or equal", &["-0", "7"], json!(0)));
        assert!(holds("less or equal", &["0"], json!("-0")));
        assert!(holds(
            "version less",
            &["1.0.0", "2.0.0-beta"],
            json!("1.9.9")
        ));
        assert!(!holds(
            "version greater",
            &["1.2.3", "2.0.0"],
            json!("1.2.3")
        ));
        // Not numbers: strings compare.
        assert!(holds("less", &["a", "c"], json!("b")));
        assert!(!holds("greater", &["b", "c"], json!("b")));
    }

    #[test]
    fn sets_compare_booleans_case_insensitively_except_set_is() {
        assert!(holds(
            "set contains",
            &["TRUE", "x"],
            json!(["true", "x", "y"])
        ));
        assert!(holds("set contains any", &["False"], json!([false])));
        assert!(!holds("set is", &["TRUE", "x"], json!(["true", "x"])));
        assert!(holds("set is", &["x", "y"], json!(["y", "x", "y"])));
        assert!(holds("is", &["True"], json!(true)));
        assert!(!holds("is", &["true"], json!("yes")));
    }
}
