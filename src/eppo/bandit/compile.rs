//! Compiled bandits: the links from flag variations to bandits (from the UFC document)
//! and the bandit models (from the bandits document), both immutable and held by the
//! [`Snapshot`] so that flags and models are swapped together.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::eppo::bandit::model::{self, BanditsDocument, UfcBandits};
use crate::eppo::compile::Snapshot;
use crate::error::{Error, ErrorCode, Result, INVALID_BANDIT};

/// Which flag variations are bandits, and the model versions the flags were published with.
#[derive(Debug, Default)]
pub struct BanditLinks {
    /// Flag key → the flag's bandit variations.
    by_flag: HashMap<Box<str>, Vec<Link>>,
    /// Bandit key → the referenced model version (`banditReferences`; `None`: any).
    references: BTreeMap<String, Option<String>>,
}

impl BanditLinks {
    /// Takes the bandit members (`bandits`, `banditReferences`) out of a UFC document; a
    /// member of the wrong shape fails the document.
    pub fn take_from(ufc: &mut Value) -> Result<BanditLinks> {
        let Value::Object(object) = ufc else {
            return Ok(BanditLinks::default());
        };
        let mut members = serde_json::Map::new();
        for key in ["bandits", "banditReferences"] {
            if let Some(value) = object.remove(key) {
                members.insert(key.to_owned(), value);
            }
        }
        if members.is_empty() {
            return Ok(BanditLinks::default());
        }
        let mut doc = UfcBandits::deserialize(Value::Object(members)).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("UFC configuration: bandit references: {e}"),
            )
        })?;
        let mut variations: Vec<_> = doc.bandits.into_values().flatten().collect();
        for reference in doc.bandit_references.values_mut() {
            variations.append(&mut reference.flag_variations);
        }
        let mut links = BanditLinks::default();
        for variation in variations {
            let pairs = links
                .by_flag
                .entry(variation.flag_key.into_boxed_str())
                .or_default();
            if !pairs
                .iter()
                .any(|(value, _)| **value == *variation.variation_value)
            {
                pairs.push((variation.variation_value.into(), variation.key.into()));
            }
        }
        links.references = doc
            .bandit_references
            .into_iter()
            .map(|(key, reference)| (key, reference.model_version))
            .collect();
        Ok(links)
    }

    /// The bandit behind `variation` of `flag_key`, if that variation is a bandit.
    pub fn bandit_key(&self, flag_key: &str, variation: &str) -> Option<&str> {
        self.by_flag
            .get(flag_key)?
            .iter()
            .find(|(value, _)| **value == *variation)
            .map(|(_, key)| &**key)
    }

    /// Whether any flag variation is a bandit.
    pub fn is_empty(&self) -> bool {
        self.by_flag.is_empty()
    }

    /// Whether `models` lacks a referenced model version, so the models must be fetched.
    /// Without `banditReferences` (only `bandits` links), the versions are unknown: always.
    pub fn needs_models(&self, models: &BanditModels) -> bool {
        if self.is_empty() {
            return false;
        }
        self.references.is_empty()
            || self
                .references
                .iter()
                .any(|(key, version)| match models.get(key) {
                    Some(Ok(model)) => version.as_ref().is_some_and(|v| *v != model.model_version),
                    _ => true,
                })
    }
}

/// A bandit variation of a flag: `(variation value, bandit key)`.
type Link = (Box<str>, Box<str>);

/// The bandit models document, compiled. Immutable; shared by the snapshots that use it.
#[derive(Debug, Default)]
pub struct BanditModels {
    models: HashMap<Box<str>, std::result::Result<Model, String>>,
    /// The document's `updatedAt`.
    pub updated_at: Option<String>,
    /// Models that failed to compile, sorted by bandit key; a flag variation that hands
    /// over to one of them gets no action.
    pub errors: Vec<BanditError>,
    /// The document as loaded (JSON text), handed back by `allot_configuration`; `None`
    /// when no models were loaded.
    pub source: Option<Box<str>>,
}

/// A bandit model that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanditError {
    /// The bandit key.
    pub bandit_key: String,
    /// What was wrong.
    pub message: String,
}

/// A compiled bandit model.
#[derive(Debug)]
pub struct Model {
    /// The model version, reported in bandit events.
    pub model_version: String,
    /// How strongly probability concentrates on the best action.
    pub gamma: f64,
    /// The score of an action without coefficients.
    pub default_action_score: f64,
    /// The least probability, spread over the actions, every action keeps.
    pub action_probability_floor: f64,
    /// The linear model of each action with coefficients.
    pub actions: HashMap<Box<str>, ActionModel>,
}

/// The linear score of one action: intercept plus action terms plus subject terms.
#[derive(Debug)]
pub struct ActionModel {
    /// The constant term.
    pub intercept: f64,
    /// Terms on the action's attributes.
    pub action: Terms,
    /// Terms on the subject's attributes.
    pub subject: Terms,
}

/// The terms on one side (subject or action), numeric first, in the model's order.
#[derive(Debug)]
pub struct Terms {
    /// Numeric terms.
    pub numeric: Vec<NumericTerm>,
    /// Categorical terms.
    pub categorical: Vec<CategoricalTerm>,
}

/// `coefficient × value`, or `missing` without a finite value.
#[derive(Debug)]
pub struct NumericTerm {
    /// The attribute.
    pub attribute: Box<str>,
    /// The factor.
    pub coefficient: f64,
    /// The term when the attribute is missing.
    pub missing: f64,
}

/// The value's coefficient, or `missing` for a missing or unknown value.
#[derive(Debug)]
pub struct CategoricalTerm {
    /// The attribute.
    pub attribute: Box<str>,
    /// The term of each known value.
    pub values: HashMap<Box<str>, f64>,
    /// The term when the attribute is missing or its value unknown.
    pub missing: f64,
}

impl BanditModels {
    /// Compiles a bandit models document given as JSON text.
    pub fn from_json(text: &str) -> Result<BanditModels> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("bandit models configuration: {e}"),
            )
        })?;
        BanditModels::compile(value, text.into())
    }

    /// Compiles a bandit models document. The document's shape errors fail; a model that
    /// does not fit is isolated (listed in [`BanditModels::errors`]).
    pub fn from_value(value: Value) -> Result<BanditModels> {
        let source = value.to_string().into_boxed_str();
        BanditModels::compile(value, source)
    }

    fn compile(value: Value, source: Box<str>) -> Result<BanditModels> {
        let doc = BanditsDocument::deserialize(value).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("bandit models configuration: {e}"),
            )
        })?;
        let mut models = HashMap::with_capacity(doc.bandits.len());
        let mut errors = Vec::new();
        for (key, raw) in doc.bandits {
            let compiled = model::Bandit::deserialize(raw)
                .map(compile_model)
                .map_err(|e| e.to_string());
            if let Err(message) = &compiled {
                errors.push(BanditError {
                    bandit_key: key.clone(),
                    message: message.clone(),
                });
            }
            models.insert(key.into_boxed_str(), compiled);
        }
        errors.sort_by(|a, b| a.bandit_key.cmp(&b.bandit_key));
        Ok(BanditModels {
            models,
            updated_at: doc.updated_at,
            errors,
            source: Some(source),
        })
    }

    /// Looks a model up: `None` if unknown, `Some(Err(message))` if it failed to compile.
    pub fn get(&self, bandit_key: &str) -> Option<std::result::Result<&Model, &str>> {
        Some(
            self.models
                .get(bandit_key)?
                .as_ref()
                .map_err(String::as_str),
        )
    }

    /// Every bandit key, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.models.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        keys
    }
}

fn compile_model(bandit: model::Bandit) -> Model {
    let data = bandit.model_data;
    Model {
        model_version: bandit.model_version,
        gamma: data.gamma,
        default_action_score: data.default_action_score,
        action_probability_floor: data.action_probability_floor,
        actions: data
            .coefficients
            .into_iter()
            .map(|(key, c)| {
                let action = ActionModel {
                    intercept: c.intercept,
                    action: terms(
                        c.action_numeric_coefficients,
                        c.action_categorical_coefficients,
                    ),
                    subject: terms(
                        c.subject_numeric_coefficients,
                        c.subject_categorical_coefficients,
                    ),
                };
                (key.into_boxed_str(), action)
            })
            .collect(),
    }
}

fn terms(
    numeric: Vec<model::NumericCoefficient>,
    categorical: Vec<model::CategoricalCoefficient>,
) -> Terms {
    Terms {
        numeric: numeric
            .into_iter()
            .map(|c| NumericTerm {
                attribute: c.attribute_key.into(),
                coefficient: c.coefficient,
                missing: c.missing_value_coefficient,
            })
            .collect(),
        categorical: categorical
            .into_iter()
            .map(|c| CategoricalTerm {
                attribute: c.attribute_key.into(),
                values: c
                    .value_coefficients
                    .into_iter()
                    .map(|(value, coefficient)| (value.into_boxed_str(), coefficient))
                    .collect(),
                missing: c.missing_value_coefficient,
            })
            .collect(),
    }
}

impl Snapshot {
    /// The status document's `"bandit_keys"` (sorted) and `"bandit_errors"`
    /// (`[{"bandit_key", "code": "invalid_bandit", "message"}]`).
    pub fn bandit_status(&self) -> (Value, Value) {
        let errors = self
            .bandit_models
            .errors
            .iter()
            .map(|e| json!({"bandit_key": e.bandit_key, "code": INVALID_BANDIT, "message": e.message}))
            .collect();
        (json!(self.bandit_models.keys()), Value::Array(errors))
    }

    /// The same flags served with `models` (flags and models are swapped together).
    pub fn with_bandit_models(mut self, models: Arc<BanditModels>) -> Snapshot {
        self.bandit_models = models;
        self
    }
}
