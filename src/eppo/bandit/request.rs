//! The bandit request of `allot_evaluate` and its result.
//!
//! `{"flag_key", "subject_key", "subject_attributes"?: <attributes>, "actions": {"<action
//! key>": <attributes>, …}, "default": "<string>", "details"?: bool, "now"?: "<RFC 3339>"}`
//! where `<attributes>` is either a plain dictionary (numbers are numeric, strings and
//! booleans categorical, nulls missing) or `{"numeric_attributes": {…},
//! "categorical_attributes": {…}}` → `{"variation", "action", "code", "bandit_key",
//! "action_probability", "optimality_gap", "events": [<assignment event>],
//! "bandit_events": [<bandit event>], "details"?: {…}}`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::clock::now_millis_signed;
use crate::config::from_text;
use crate::eppo::bandit::evaluate::{bandit_action, Action, ContextAttributes};
use crate::eppo::bandit::events::{write_bandit_event, write_number, BanditEventInput};
use crate::eppo::compile::Snapshot;
use crate::eppo::details::{self, DetailsInput};
use crate::eppo::evaluate::Subject;
use crate::eppo::events::{self, AssignmentCache};
use crate::eppo::model::VariationType;
use crate::eppo::time;
use crate::error::{Error, ErrorCode, Result};

/// The request as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BanditRequest<'a> {
    #[serde(borrow)]
    flag_key: Cow<'a, str>,
    #[serde(borrow)]
    subject_key: Cow<'a, str>,
    #[serde(default)]
    subject_attributes: Option<Map<String, Value>>,
    actions: Map<String, Value>,
    default: String,
    #[serde(default)]
    details: bool,
    #[serde(borrow, default)]
    now: Option<Cow<'a, str>>,
}

/// Whether a request document has a top-level `actions` member (read only to explain an
/// unparsable request).
fn has_actions(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        actions: Option<IgnoredAny>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|probe| probe.actions.is_some())
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

/// Reads `<attributes>`: split (`numeric_attributes` / `categorical_attributes` objects
/// only) or a plain dictionary.
fn context<'a>(
    attributes: &'a Map<String, Value>,
    empty: &'a Map<String, Value>,
    what: &str,
) -> Result<ContextAttributes<'a>> {
    let split = !attributes.is_empty()
        && attributes.iter().all(|(key, value)| {
            matches!(
                key.as_str(),
                "numeric_attributes" | "categorical_attributes"
            ) && value.is_object()
        });
    let part = |key: &str| match attributes.get(key) {
        Some(Value::Object(part)) => part,
        _ => empty,
    };
    let context = if split {
        ContextAttributes::from_parts(part("numeric_attributes"), part("categorical_attributes"))
    } else {
        ContextAttributes::from_dict(attributes)
    };
    context.map_err(|bad| {
        invalid(format!(
            "{what}: attribute \"{}\" must be a string, a number, a boolean or null",
            bad.0
        ))
    })
}

/// Evaluates `text` against `snapshot` when it is a bandit request (it has a top-level
/// `actions` member) and returns the `ok` payload; `None` for any other request.
pub fn evaluate(
    text: &str,
    snapshot: Option<&Snapshot>,
    cache: Option<&AssignmentCache>,
) -> Option<Result<String>> {
    if !text.contains("\"actions\"") {
        return None;
    }
    match from_text::<BanditRequest<'_>>(text, "bandit request", ErrorCode::InvalidArgument) {
        Ok(request) => Some(evaluate_request(&request, snapshot, cache)),
        Err(e) if has_actions(text) => Some(Err(e)),
        Err(_) => None,
    }
}

fn evaluate_request(
    request: &BanditRequest<'_>,
    snapshot: Option<&Snapshot>,
    cache: Option<&AssignmentCache>,
) -> Result<String> {
    let now_ms = match request.now.as_deref() {
        None => now_millis_signed(),
        Some(text) => time::parse_rfc3339(text).ok_or_else(|| {
            invalid(
                "bandit request: \"now\" must be an RFC 3339 date-time such as \"2024-01-31T12:00:00Z\""
                    .to_owned(),
            )
        })?,
    };
    let empty = Map::new();
    let subject_attributes = request.subject_attributes.as_ref().unwrap_or(&empty);
    let subject = context(subject_attributes, &empty, "\"subject_attributes\"")?;
    let actions = request
        .actions
        .iter()
        .map(|(key, attributes)| match attributes {
            Value::Object(attributes) => Ok(Action {
                key,
                attributes: context(attributes, &empty, &format!("action \"{key}\""))?,
            }),
            _ => Err(invalid(format!(
                "bandit request: action \"{key}\" must map to an attributes object"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    let dict = subject.to_dict();
    let flag_key = &*request.flag_key;
    let subject_key = &*request.subject_key;
    let mut trace = Vec::new();
    let result = bandit_action(
        snapshot,
        flag_key,
        Subject {
            key: subject_key,
            attributes: &dict,
        },
        &subject,
        &actions,
        &request.default,
        now_ms,
        request.details.then_some(&mut trace),
    );
    let assignment = &result.assignment;
    let choice = result.bandit.and_then(|b| b.choice);
    let mut timestamp = String::new();
    time::write_rfc3339(&mut timestamp, now_ms);
    let mut out = String::with_capacity(1024);
    out.push_str("{\"variation\":");
    events::write_json_str(&mut out, result.variation);
    out.push_str(",\"action\":");
    match result.action(&actions) {
        Some(action) => events::write_json_str(&mut out, action),
        None => out.push_str("null"),
    }
    out.push_str(",\"code\":\"");
    out.push_str(assignment.code.as_str());
    out.push_str("\",\"bandit_key\":");
    match result.bandit {
        Some(bandit) => events::write_json_str(&mut out, bandit.key),
        None => out.push_str("null"),
    }
    out.push_str(",\"action_probability\":");
    match choice {
        Some(choice) => write_number(&mut out, choice.probability),
        None => out.push_str("null"),
    }
    out.push_str(",\"optimality_gap\":");
    match choice {
        Some(choice) => write_number(&mut out, choice.optimality_gap),
        None => out.push_str("null"),
    }
    out.push_str(",\"events\":[");
    if let Some(m) = assignment.matched.filter(|_| assignment.should_log()) {
        let log = cache.map_or(true, |cache| {
            cache.should_log(
                flag_key,
                subject_key,
                &m.allocation.key,
                &m.split.variation_key,
            )
        });
        if log {
            events::write_event(&mut out, flag_key, &m, subject_key, &dict, &timestamp);
        }
    }
    out.push_str("],\"bandit_events\":[");
    if let (Some(bandit), Some(choice)) = (result.bandit, choice) {
        let model_version = bandit.model.map_or("", |m| m.model_version.as_str());
        write_bandit_event(
            &mut out,
            &BanditEventInput {
                flag_key,
                subject_key,
                subject: &subject,
                bandit_key: bandit.key,
                model_version,
                choice,
                actions: &actions,
                timestamp: &timestamp,
            },
        );
    }
    out.push(']');
    if request.details {
        let input = DetailsInput {
            snapshot,
            flag_key,
            subject_key,
            subject_attributes: &dict,
            expected: VariationType::String,
            timestamp: &timestamp,
            trace: &trace,
        };
        let mut document = details::build(&input, assignment);
        document.bandit_key = result.bandit.map(|b| b.key);
        document.bandit_action = result.action(&actions);
        let json = serde_json::to_string(&document).map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("serializing evaluation details: {e}"),
            )
        })?;
        out.push_str(",\"details\":");
        out.push_str(&json);
    }
    out.push('}');
    Ok(out)
}
