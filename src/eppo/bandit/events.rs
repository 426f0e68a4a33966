//! The bandit event (what the binding hands to the logger's `log_bandit_action`).

use serde::{Serialize, Serializer};

use crate::eppo::bandit::evaluate::{Action, Choice, ContextAttributes};
use crate::eppo::events::{MetaData, META_DATA};

/// What a bandit event is written from.
pub struct BanditEventInput<'a> {
    /// The flag evaluated.
    pub flag_key: &'a str,
    /// The subject key.
    pub subject_key: &'a str,
    /// The subject's attributes.
    pub subject: &'a ContextAttributes<'a>,
    /// The bandit key.
    pub bandit_key: &'a str,
    /// The model version.
    pub model_version: &'a str,
    /// The action chosen.
    pub choice: Choice,
    /// The actions offered.
    pub actions: &'a [Action<'a>],
    /// The evaluation instant (RFC 3339).
    pub timestamp: &'a str,
}

/// `{flagKey, banditKey, subject, action, actionProbability, optimalityGap, modelVersion,
/// timestamp, subjectNumericAttributes, subjectCategoricalAttributes,
/// actionNumericAttributes, actionCategoricalAttributes, metaData}`; numbers as Eppo's
/// core writes an `f64` (`25.0`; `null` if not finite).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BanditEvent<'a> {
    flag_key: &'a str,
    bandit_key: &'a str,
    subject: &'a str,
    action: &'a str,
    action_probability: f64,
    optimality_gap: f64,
    model_version: &'a str,
    timestamp: &'a str,
    #[serde(serialize_with = "numeric")]
    subject_numeric_attributes: &'a ContextAttributes<'a>,
    #[serde(serialize_with = "categorical")]
    subject_categorical_attributes: &'a ContextAttributes<'a>,
    #[serde(serialize_with = "numeric")]
    action_numeric_attributes: &'a ContextAttributes<'a>,
    #[serde(serialize_with = "categorical")]
    action_categorical_attributes: &'a ContextAttributes<'a>,
    meta_data: MetaData,
}

impl<'a> BanditEvent<'a> {
    /// The event of `input`'s choice.
    pub fn new(input: &BanditEventInput<'a>) -> BanditEvent<'a> {
        let action = &input.actions[input.choice.index];
        BanditEvent {
            flag_key: input.flag_key,
            bandit_key: input.bandit_key,
            subject: input.subject_key,
            action: action.key,
            action_probability: input.choice.probability,
            optimality_gap: input.choice.optimality_gap,
            model_version: input.model_version,
            timestamp: input.timestamp,
            subject_numeric_attributes: input.subject,
            subject_categorical_attributes: input.subject,
            action_numeric_attributes: &action.attributes,
            action_categorical_attributes: &action.attributes,
            meta_data: META_DATA,
        }
    }
}

fn numeric<S: Serializer>(
    attributes: &&ContextAttributes<'_>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(attributes.numeric_attributes().iter().map(|(k, v)| (k, v)))
}

fn categorical<S: Serializer>(
    attributes: &&ContextAttributes<'_>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        attributes
            .categorical_attributes()
            .iter()
            .map(|(k, v)| (k, v.to_value())),
    )
}
