//! Bandit evaluation, pure: the flag assignment first; when the assigned variation (or
//! the default) is a bandit of the flag, score every action with the bandit's linear
//! model, weigh the scores by inverse-gap weighting, and pick an action with the
//! subject's shard, as Eppo's core does:
//!
//! - score = intercept + Σ action terms + Σ subject terms (numeric terms first, in the
//!   model's order); an action without coefficients scores `defaultActionScore`; a missing
//!   or non-finite numeric value, or a missing or unknown categorical value, adds the
//!   term's `missingValueCoefficient`;
//! - actions are shuffled per subject: sorted by `md5(flag + "-" + subject + "-" + action)`
//!   (first 4 bytes, big-endian, modulo 10000), ties by action key;
//! - the best action (highest score, ties to the smaller key) gets what the others leave;
//!   each other gets `max(1 / (n + gamma × (best − score)), floor / n)`;
//! - the action is the first, in shuffled order, whose cumulative weight exceeds
//!   `(md5(flag + "-" + subject) first 4 bytes big-endian mod 10000) / 10000`.

use std::borrow::Cow;

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use crate::eppo::bandit::compile::{Model, Terms};
use crate::eppo::compile::Snapshot;
use crate::eppo::evaluate::{self, AllocationEvaluationCode, Assignment, Subject};
use crate::eppo::model::VariationType;

/// The shard space of action shuffling and selection.
const TOTAL_SHARDS: u32 = 10_000;

/// A categorical attribute value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Category<'a> {
    /// A string.
    Text(&'a str),
    /// A number (matched against the model by its decimal form, `303.0` → `"303"`).
    Number(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl Category<'_> {
    /// The form matched against the model's value coefficients.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Category::Text(text) => Cow::Borrowed(text),
            Category::Number(n) => Cow::Owned(n.to_string()),
            Category::Bool(true) => Cow::Borrowed("true"),
            Category::Bool(false) => Cow::Borrowed("false"),
        }
    }

    /// The value as JSON.
    pub fn to_value(self) -> Value {
        match self {
            Category::Text(text) => Value::from(text),
            Category::Number(n) => Value::from(n),
            Category::Bool(b) => Value::from(b),
        }
    }
}

/// Subject or action attributes split into numeric and categorical ones, each sorted by
/// key (borrowing the request's JSON).
#[derive(Debug, Default, Clone)]
pub struct ContextAttributes<'a> {
    numeric: Vec<(&'a str, f64)>,
    categorical: Vec<(&'a str, Category<'a>)>,
}

/// An attribute value that is neither a string, a number, a boolean nor null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAttribute(pub String);

impl<'a> ContextAttributes<'a> {
    /// Splits a plain attribute dictionary as Eppo does: numbers are numeric, strings and
    /// booleans categorical, nulls are left out (missing).
    pub fn from_dict(
        attributes: &'a Map<String, Value>,
    ) -> Result<ContextAttributes<'a>, BadAttribute> {
        let mut context = ContextAttributes::default();
        for (key, value) in attributes {
            match value {
                Value::Number(n) => context.numeric.push((key, number(n))),
                Value::String(s) => context.categorical.push((key, Category::Text(s))),
                Value::Bool(b) => context.categorical.push((key, Category::Bool(*b))),
                Value::Null => {}
                Value::Array(_) | Value::Object(_) => return Err(BadAttribute(key.clone())),
            }
        }
        Ok(context)
    }

    /// Takes attributes already split by the caller. Numeric attributes that are not
    /// numbers (booleans count as 1 and 0) and categorical nulls are left out.
    pub fn from_parts(
        numeric: &'a Map<String, Value>,
        categorical: &'a Map<String, Value>,
    ) -> Result<ContextAttributes<'a>, BadAttribute> {
        let mut context = ContextAttributes::default();
        for (key, value) in numeric {
            match value {
                Value::Number(n) => context.numeric.push((key, number(n))),
                Value::Bool(b) => context.numeric.push((key, f64::from(u8::from(*b)))),
                _ => {}
            }
        }
        for (key, value) in categorical {
            let category = match value {
                Value::Number(n) => Category::Number(number(n)),
                Value::String(s) => Category::Text(s),
                Value::Bool(b) => Category::Bool(*b),
                Value::Null => continue,
                Value::Array(_) | Value::Object(_) => return Err(BadAttribute(key.clone())),
            };
            context.categorical.push((key, category));
        }
        Ok(context)
    }

    /// The numeric attribute `key`.
    pub fn numeric(&self, key: &str) -> Option<f64> {
        let i = self.numeric.binary_search_by(|(k, _)| (*k).cmp(key)).ok()?;
        Some(self.numeric[i].1)
    }

    /// The categorical attribute `key`.
    pub fn categorical(&self, key: &str) -> Option<Category<'a>> {
        let i = self
            .categorical
            .binary_search_by(|(k, _)| (*k).cmp(key))
            .ok()?;
        Some(self.categorical[i].1)
    }

    /// Every numeric attribute, sorted by key.
    pub fn numeric_attributes(&self) -> &[(&'a str, f64)] {
        &self.numeric
    }

    /// Every categorical attribute, sorted by key.
    pub fn categorical_attributes(&self) -> &[(&'a str, Category<'a>)] {
        &self.categorical
    }

    /// All attributes in one dictionary, for the flag's rules and the assignment event
    /// (a categorical attribute wins over a numeric one of the same name).
    pub fn to_dict(&self) -> Map<String, Value> {
        let mut dict = Map::new();
        for (key, value) in &self.numeric {
            dict.insert((*key).to_owned(), Value::from(*value));
        }
        for (key, value) in &self.categorical {
            dict.insert((*key).to_owned(), value.to_value());
        }
        dict
    }
}

/// A JSON number as Eppo's core holds it (an `f64`).
fn number(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// One action offered to the bandit.
#[derive(Debug, Clone)]
pub struct Action<'a> {
    /// The action key (unique among the actions).
    pub key: &'a str,
    /// The action's attributes.
    pub attributes: ContextAttributes<'a>,
}

/// The action chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// Its index in the actions given.
    pub index: usize,
    /// The probability it had of being chosen.
    pub probability: f64,
    /// The best score minus its score.
    pub optimality_gap: f64,
}

/// The bandit a flag variation handed over to.
#[derive(Debug, Clone, Copy)]
pub struct BanditPart<'s> {
    /// The bandit key.
    pub key: &'s str,
    /// Its model; `None` when the models lack it or it failed to compile.
    pub model: Option<&'s Model>,
    /// The action chosen; `None` without a model or without actions.
    pub choice: Option<Choice>,
}

/// The result of a bandit evaluation.
#[derive(Clone, Copy)]
pub struct BanditAssignment<'s, 'r> {
    /// The flag assignment (requested as a STRING flag).
    pub assignment: Assignment<'s>,
    /// The variation served: the assigned value on a match, else the caller's default.
    pub variation: &'r str,
    /// The bandit, when the variation is one.
    pub bandit: Option<BanditPart<'s>>,
}

impl<'s> BanditAssignment<'s, '_> {
    /// The chosen action's key.
    pub fn action<'a>(&self, actions: &'a [Action<'a>]) -> Option<&'a str> {
        let choice = self.bandit?.choice?;
        actions.get(choice.index).map(|action| action.key)
    }
}

/// Evaluates `flag_key` for `subject` as a STRING flag and, when the variation served is
/// a bandit of the flag, chooses one of `actions`. `subject.attributes` is
/// [`ContextAttributes::to_dict`] of `context`.
#[allow(clippy::too_many_arguments)]
pub fn bandit_action<'s, 'r>(
    snapshot: Option<&'s Snapshot>,
    flag_key: &str,
    subject: Subject<'_>,
    context: &ContextAttributes<'_>,
    actions: &[Action<'_>],
    default: &'r str,
    now_ms: i64,
    trace: Option<&mut Vec<(usize, AllocationEvaluationCode)>>,
) -> BanditAssignment<'s, 'r>
where
    's: 'r,
{
    let assignment = evaluate::assign(
        snapshot,
        flag_key,
        subject,
        VariationType::String,
        now_ms,
        trace,
    );
    let variation = match assignment.variation().map(|v| &v.value) {
        Some(Value::String(value)) => value.as_str(),
        _ => default,
    };
    let bandit = snapshot.and_then(|snapshot| {
        let key = snapshot.bandit_links.bandit_key(flag_key, variation)?;
        let model = snapshot.bandit_models.get(key).and_then(Result::ok);
        let choice = model.and_then(|m| m.choose(flag_key, subject.key, context, actions));
        Some(BanditPart { key, model, choice })
    });
    BanditAssignment {
        assignment,
        variation,
        bandit,
    }
}

/// An action during selection: its shuffle shard, position in the request, score, weight.
struct Ranked {
    shard: u32,
    index: usize,
    score: f64,
    weight: f64,
}

/// The first four bytes of an MD5 digest, big-endian, modulo [`TOTAL_SHARDS`].
fn shard(hasher: Md5) -> u32 {
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % TOTAL_SHARDS
}

impl Model {
    /// Chooses one of `actions` for the subject; `None` without actions.
    pub fn choose(
        &self,
        flag_key: &str,
        subject_key: &str,
        subject: &ContextAttributes<'_>,
        actions: &[Action<'_>],
    ) -> Option<Choice> {
        if actions.is_empty() {
            return None;
        }
        let mut base = Md5::new();
        base.update(flag_key.as_bytes());
        base.update(b"-");
        base.update(subject_key.as_bytes());
        let selection = f64::from(shard(base.clone())) / f64::from(TOTAL_SHARDS);
        base.update(b"-");
        let mut ranked: Vec<Ranked> = actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                let mut hasher = base.clone();
                hasher.update(action.key.as_bytes());
                Ranked {
                    shard: shard(hasher),
                    index,
                    score: self.score(action, subject),
                    weight: 0.0,
                }
            })
            .collect();
        let key = |r: &Ranked| actions[r.index].key;
        ranked.sort_unstable_by(|a, b| a.shard.cmp(&b.shard).then_with(|| key(a).cmp(key(b))));
        let (best, best_score) = ranked
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| {
                a.score
                    .total_cmp(&b.score)
                    .then_with(|| key(a).cmp(key(b)).reverse())
            })
            .map(|(i, r)| (i, r.score))?;
        let n = ranked.len() as f64;
        let floor = self.action_probability_floor / n;
        for (i, r) in ranked.iter_mut().enumerate() {
            if i != best {
                r.weight = f64::max(1.0 / (n + self.gamma * (best_score - r.score)), floor);
            }
        }
        let others: f64 = ranked.iter().map(|r| r.weight).sum();
        ranked[best].weight = f64::max(1.0 - others, 0.0);
        let mut cumulative = 0.0;
        let chosen = ranked
            .iter()
            .position(|r| {
                cumulative += r.weight;
                cumulative > selection
            })
            .unwrap_or(ranked.len() - 1);
        let chosen = &ranked[chosen];
        Some(Choice {
            index: chosen.index,
            probability: chosen.weight,
            optimality_gap: best_score - chosen.score,
        })
    }

    /// The action's score for the subject.
    pub fn score(&self, action: &Action<'_>, subject: &ContextAttributes<'_>) -> f64 {
        match self.actions.get(action.key) {
            None => self.default_action_score,
            Some(model) => {
                model.intercept
                    + model.action.score(&action.attributes)
                    + model.subject.score(subject)
            }
        }
    }
}

impl Terms {
    /// The sum of the terms on `attributes`.
    fn score(&self, attributes: &ContextAttributes<'_>) -> f64 {
        let numeric = self.numeric.iter().map(|term| {
            attributes
                .numeric(&term.attribute)
                .filter(|value| value.is_finite())
                .map_or(term.missing, |value| value * term.coefficient)
        });
        let categorical = self.categorical.iter().map(|term| {
            attributes
                .categorical(&term.attribute)
                .and_then(|value| term.values.get(&*value.as_text()))
                .copied()
                .unwrap_or(term.missing)
        });
        numeric.chain(categorical).sum()
    }
}
