//! Eppo's evaluation-details document (what `*_assignment_details` returns).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::eppo::compile::Snapshot;
use crate::eppo::evaluate::{
    explain, AllocationEvaluationCode, Assignment, FlagEvaluationCode, Subject,
};
use crate::eppo::model::VariationType;

/// The evaluation-details document, serialized with Eppo's camelCase field names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationDetails<'a> {
    /// The flag requested.
    pub flag_key: &'a str,
    /// The subject key.
    pub subject_key: &'a str,
    /// The subject attributes as the caller passed them.
    pub subject_attributes: &'a Map<String, Value>,
    /// The evaluation instant (RFC 3339).
    pub timestamp: &'a str,
    /// When the configuration was loaded.
    pub config_fetched_at: Option<&'a str>,
    /// The configuration's `createdAt`.
    pub config_published_at: Option<&'a str>,
    /// The configuration's environment.
    pub environment_name: Option<&'a str>,
    /// Always null: allot evaluates no bandits.
    pub bandit_evaluation_code: Option<&'a str>,
    /// The flag evaluation code.
    pub flag_evaluation_code: FlagEvaluationCode,
    /// A human-readable explanation, worded as Eppo's SDKs word it.
    pub flag_evaluation_description: String,
    /// The variation of the matched split (also on `ASSIGNMENT_ERROR`).
    pub variation_key: Option<&'a str>,
    /// That variation's value.
    pub variation_value: Option<&'a Value>,
    /// The bandit of a bandit request's variation (null otherwise).
    pub bandit_key: Option<&'a str>,
    /// The action a bandit request chose (null otherwise).
    pub bandit_action: Option<&'a str>,
    /// The rule that matched, as configured.
    pub matched_rule: Option<&'a Value>,
    /// The allocation that matched.
    pub matched_allocation: Option<AllocationDetails<'a>>,
    /// Allocations evaluated before the match (or all of them) that did not match.
    pub unmatched_allocations: Vec<AllocationDetails<'a>>,
    /// Allocations after the match, which were not evaluated.
    pub unevaluated_allocations: Vec<AllocationDetails<'a>>,
    /// Every allocation in order, with the rules and splits evaluated (Eppo's SDKs'
    /// `allocations`); empty when the flag was not evaluated.
    pub allocations: Vec<AllocationDetails<'a>>,
}

/// One allocation in the details document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationDetails<'a> {
    /// The allocation key.
    pub key: &'a str,
    /// How it evaluated.
    pub allocation_evaluation_code: AllocationEvaluationCode,
    /// Its one-based position in the flag.
    pub order_position: usize,
    /// In `allocations` only: the rules evaluated (see [`crate::eppo::evaluate::explain`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated_rules: Option<Vec<Value>>,
    /// In `allocations` only: the splits evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated_splits: Option<Vec<Value>>,
}

/// What the details document is built from.
pub struct DetailsInput<'a> {
    /// The configuration evaluated against, if any.
    pub snapshot: Option<&'a Snapshot>,
    /// The flag requested.
    pub flag_key: &'a str,
    /// The subject key.
    pub subject_key: &'a str,
    /// The subject attributes.
    pub subject_attributes: &'a Map<String, Value>,
    /// The requested type.
    pub expected: VariationType,
    /// The evaluation instant (RFC 3339).
    pub timestamp: &'a str,
    /// The allocations evaluated without matching, from [`crate::eppo::evaluate::assign`]'s trace.
    pub trace: &'a [(usize, AllocationEvaluationCode)],
}

/// Builds the details document of an assignment.
pub fn build<'a>(input: &DetailsInput<'a>, assignment: &Assignment<'a>) -> EvaluationDetails<'a> {
    let matched = assignment.matched;
    let allocation_details = |index: usize, code| {
        assignment
            .flag
            .and_then(|flag| flag.allocations.get(index))
            .map(|allocation| AllocationDetails {
                key: &allocation.key,
                allocation_evaluation_code: code,
                order_position: index + 1,
                evaluated_rules: None,
                evaluated_splits: None,
            })
    };
    let unmatched = input
        .trace
        .iter()
        .filter_map(|&(index, code)| allocation_details(index, code))
        .collect();
    let unevaluated = match (assignment.flag, matched) {
        (Some(flag), Some(m)) => ((m.index + 1)..flag.allocations.len())
            .filter_map(|index| allocation_details(index, AllocationEvaluationCode::Unevaluated))
            .collect(),
        _ => Vec::new(),
    };
    let allocations = match (assignment.flag, assignment.code) {
        (
            Some(flag),
            FlagEvaluationCode::Match
            | FlagEvaluationCode::AssignmentError
            | FlagEvaluationCode::DefaultAllocationNull
            | FlagEvaluationCode::TypeMismatch,
        ) => flag
            .allocations
            .iter()
            .enumerate()
            .map(|(index, allocation)| {
                let code = if assignment.code == FlagEvaluationCode::TypeMismatch {
                    AllocationEvaluationCode::Unevaluated
                } else if matched.is_some_and(|m| m.index == index) {
                    AllocationEvaluationCode::Match
                } else {
                    input
                        .trace
                        .iter()
                        .find(|&&(i, _)| i == index)
                        .map_or(AllocationEvaluationCode::Unevaluated, |&(_, code)| code)
                };
                let evaluated = matches!(
                    code,
                    AllocationEvaluationCode::Match
                        | AllocationEvaluationCode::FailingRule
                        | AllocationEvaluationCode::TrafficExposureMiss
                );
                let (rules, splits) = if evaluated {
                    let subject = Subject {
                        key: input.subject_key,
                        attributes: input.subject_attributes,
                    };
                    let explained = explain(flag, allocation, subject);
                    (explained.rules, explained.splits)
                } else {
                    (Vec::new(), Vec::new())
                };
                AllocationDetails {
                    key: &allocation.key,
                    allocation_evaluation_code: code,
                    order_position: index + 1,
                    evaluated_rules: Some(rules),
                    evaluated_splits: Some(splits),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    EvaluationDetails {
        flag_key: input.flag_key,
        subject_key: input.subject_key,
        subject_attributes: input.subject_attributes,
        timestamp: input.timestamp,
        config_fetched_at: input.snapshot.map(|s| s.fetched_at.as_str()),
        config_published_at: input.snapshot.and_then(|s| s.published_at.as_deref()),
        environment_name: input.snapshot.and_then(|s| s.environment.as_deref()),
        bandit_evaluation_code: None,
        flag_evaluation_code: assignment.code,
        flag_evaluation_description: description(input, assignment),
        variation_key: matched.map(|m| m.split.variation_key.as_str()),
        variation_value: matched.and_then(|m| m.variation).map(|v| &v.value),
        bandit_key: None,
        bandit_action: None,
        matched_rule: matched.and_then(|m| m.rule).map(|r| &r.display),
        matched_allocation: matched
            .and_then(|m| allocation_details(m.index, AllocationEvaluationCode::Match)),
        unmatched_allocations: unmatched,
        unevaluated_allocations: unevaluated,
        allocations,
    }
}

/// A variation type as eppo-server-sdk names it in descriptions: `Integer`, `Json`, ….
fn type_name(variation_type: VariationType) -> &'static str {
    match variation_type {
        VariationType::String => "String",
        VariationType::Integer => "Integer",
        VariationType::Numeric => "Numeric",
        VariationType::Boolean => "Boolean",
        VariationType::Json => "Json",
    }
}

fn description(input: &DetailsInput<'_>, assignment: &Assignment<'_>) -> String {
    let flag_key = input.flag_key;
    match (assignment.code, assignment.matched) {
        (FlagEvaluationCode::ConfigurationMissing, _) => {
            "Configuration has not been loaded yet".to_owned()
        }
        (FlagEvaluationCode::FlagUnrecognizedOrDisabled, _) => {
            format!("Unrecognized or disabled flag: {flag_key}")
        }
        (FlagEvaluationCode::UnexpectedConfigurationError, _) => format!(
            "Flag {flag_key} could not be parsed: {}",
            assignment.config_error.unwrap_or("unknown error")
        ),
        // eppo-server-sdk's wording, with its names of the types.
        (FlagEvaluationCode::TypeMismatch, _) => {
            format!(
            "Variation value does not have the correct type. Found: {} != {} for flag {flag_key}",
            assignment.flag.map_or("Unknown", |f| type_name(f.variation_type)),
            type_name(input.expected)
        )
        }
        (FlagEvaluationCode::DefaultAllocationNull, _) | (_, None) => {
            "No allocations matched. Falling back to \"Default Allocation\", serving NULL"
                .to_owned()
        }
        (FlagEvaluationCode::AssignmentError, Some(m)) => match m.variation {
            Some(variation) => variation.invalid.clone().unwrap_or_default(),
            None => format!(
                "Variation ({}) referenced by allocation \"{}\" is not configured",
                m.split.variation_key, m.allocation.key
            ),
        },
        (FlagEvaluationCode::Match, Some(m)) => {
            let allocation = &m.allocation.key;
            let variation = &m.split.variation_key;
            let subject = input.subject_key;
            let has_rules = !m.allocation.rules.is_empty();
            let experiment_or_rollout = m.allocation.splits.len() > 1 || m.split.shards.len() > 1;
            // Keys quoted as eppo-server-sdk quotes them (`"` and `\` escaped).
            if has_rules && experiment_or_rollout {
                format!(
                    "Supplied attributes match rules defined in allocation {allocation:?} and {subject} belongs to the range of traffic assigned to {variation:?}."
                )
            } else if has_rules {
                format!("Supplied attributes match rules defined in allocation {allocation:?}.")
            } else {
                format!("{subject} belongs to the range of traffic assigned to {variation:?} defined in allocation {allocation:?}.")
            }
        }
    }
}
