//! Contextual bandits as Eppo serves them (serde): the links from flag variations to
//! bandits on the UFC document, and the bandit models document
//! (`GET {base}/flag-config/v1/bandits`). Each model stays raw JSON in
//! [`BanditsDocument`] so that one malformed model can be isolated.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The bandit members of a UFC document (the rest is [`crate::eppo::model::UfcDocument`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UfcBandits {
    /// `{banditKey: [BanditVariation]}`: the variations that are bandits (what Eppo's core
    /// reads).
    #[serde(default)]
    pub bandits: HashMap<String, Vec<BanditVariation>>,
    /// `{banditKey: {modelVersion, flagVariations}}`: the same links plus the model version
    /// each bandit needs (what decides whether the models must be fetched again).
    #[serde(default)]
    pub bandit_references: HashMap<String, BanditReference>,
}

/// A flag variation whose assignment hands over to a bandit.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanditVariation {
    /// The bandit key.
    pub key: String,
    /// The flag.
    pub flag_key: String,
    /// The variation value (a string) that selects the bandit.
    pub variation_value: String,
}

/// A bandit referenced by the flags configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanditReference {
    /// The model version the flags configuration was published with (`null`: any).
    #[serde(default)]
    pub model_version: Option<String>,
    /// The variations that are this bandit.
    #[serde(default)]
    pub flag_variations: Vec<BanditVariation>,
}

/// The bandit models document.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanditsDocument {
    /// When Eppo last updated the models (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Models by bandit key, each still raw JSON.
    pub bandits: Map<String, Value>,
}

/// One bandit model.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandit {
    /// The model version, reported in bandit events.
    pub model_version: String,
    /// The model's parameters.
    pub model_data: ModelData,
}

/// The parameters of a contextual bandit (a linear score per action, inverse-gap weighting).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelData {
    /// How strongly probability concentrates on the best action.
    pub gamma: f64,
    /// The score of an action without coefficients.
    pub default_action_score: f64,
    /// The least probability, spread over the actions, every action keeps.
    pub action_probability_floor: f64,
    /// Coefficients by action key.
    pub coefficients: HashMap<String, ActionCoefficients>,
}

/// The linear model of one action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionCoefficients {
    /// The constant term.
    pub intercept: f64,
    /// Terms on the subject's numeric attributes.
    pub subject_numeric_coefficients: Vec<NumericCoefficient>,
    /// Terms on the subject's categorical attributes.
    pub subject_categorical_coefficients: Vec<CategoricalCoefficient>,
    /// Terms on the action's numeric attributes.
    pub action_numeric_coefficients: Vec<NumericCoefficient>,
    /// Terms on the action's categorical attributes.
    pub action_categorical_coefficients: Vec<CategoricalCoefficient>,
}

/// `coefficient × value`, or `missingValueCoefficient` without a (finite) value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumericCoefficient {
    /// The attribute.
    pub attribute_key: String,
    /// The factor.
    pub coefficient: f64,
    /// The term when the attribute is missing.
    pub missing_value_coefficient: f64,
}

/// The value's coefficient, or `missingValueCoefficient` for a missing or unknown value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoricalCoefficient {
    /// The attribute.
    pub attribute_key: String,
    /// The term of each known value.
    pub value_coefficients: HashMap<String, f64>,
    /// The term when the attribute is missing or its value unknown.
    pub missing_value_coefficient: f64,
}
