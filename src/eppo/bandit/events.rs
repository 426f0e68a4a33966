//! The bandit event (what the binding hands to the logger's `log_bandit_action`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::eppo::bandit::evaluate::{Action, Choice, ContextAttributes};
use crate::eppo::events::{write_json_str, META_DATA};

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

/// Appends `{flagKey, banditKey, subject, action, actionProbability, optimalityGap,
/// modelVersion, timestamp, subjectNumericAttributes, subjectCategoricalAttributes,
/// actionNumericAttributes, actionCategoricalAttributes, metaData}`.
pub fn write_bandit_event(out: &mut String, input: &BanditEventInput<'_>) {
    let action = &input.actions[input.choice.index];
    out.push_str("{\"flagKey\":");
    write_json_str(out, input.flag_key);
    out.push_str(",\"banditKey\":");
    write_json_str(out, input.bandit_key);
    out.push_str(",\"subject\":");
    write_json_str(out, input.subject_key);
    out.push_str(",\"action\":");
    write_json_str(out, action.key);
    out.push_str(",\"actionProbability\":");
    write_number(out, input.choice.probability);
    out.push_str(",\"optimalityGap\":");
    write_number(out, input.choice.optimality_gap);
    out.push_str(",\"modelVersion\":");
    write_json_str(out, input.model_version);
    out.push_str(",\"timestamp\":");
    write_json_str(out, input.timestamp);
    write_attributes(out, "subject", input.subject);
    write_attributes(out, "action", &action.attributes);
    out.push_str(",\"metaData\":");
    out.push_str(META_DATA);
    out.push('}');
}

/// Appends `,"<side>NumericAttributes":{…},"<side>CategoricalAttributes":{…}`.
fn write_attributes(out: &mut String, side: &str, attributes: &ContextAttributes<'_>) {
    let _ = write!(out, ",\"{side}NumericAttributes\":{{");
    for (i, (key, value)) in attributes.numeric_attributes().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, key);
        out.push(':');
        write_number(out, *value);
    }
    let _ = write!(out, "}},\"{side}CategoricalAttributes\":{{");
    for (i, (key, value)) in attributes.categorical_attributes().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, key);
        out.push(':');
        let _ = write!(out, "{}", value.to_value());
    }
    out.push('}');
}

/// Appends a number as Eppo's core writes an `f64` (`25.0`; `null` if not finite).
pub fn write_number(out: &mut String, value: f64) {
    let _ = write!(out, "{}", Value::from(value));
}
