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
use crate::eppo::bandit::events::{BanditEvent, BanditEventInput};
use crate::eppo::compile::Snapshot;
use crate::eppo::details::{self, DetailsInput};
use crate::eppo::evaluate::Subject;
use crate::eppo::events::{self, write_json, AssignmentCache};
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
    let logged = assignment
        .matched
        .filter(|_| assignment.should_log())
        .filter(|m| {
            cache.map_or(true, |cache| {
                cache.should_log(
                    flag_key,
                    subject_key,
                    &m.allocation.key,
                    &m.split.variation_key,
                )
            })
        });
    let bandit_event = result
        .bandit
        .zip(choice)
        .map(|(bandit, choice)| BanditEventInput {
            flag_key,
            subject_key,
            subject: &subject,
            bandit_key: bandit.key,
            model_version: bandit.model.map_or("", |m| m.model_version.as_str()),
            choice,
            actions: &actions,
            timestamp: &timestamp,
        });
    let details = request.details.then(|| {
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
        document
    });
    // Written by hand around serde-written members, as the assignment results are.
    let mut out = Vec::with_capacity(1024);
    let written = (|| -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"variation\":");
        write_json(&mut out, result.variation)?;
        out.extend_from_slice(b",\"action\":");
        write_json(&mut out, &result.action(&actions))?;
        out.extend_from_slice(b",\"code\":");
        write_json(&mut out, assignment.code.as_str())?;
        out.extend_from_slice(b",\"bandit_key\":");
        write_json(&mut out, &result.bandit.map(|b| b.key))?;
        out.extend_from_slice(b",\"action_probability\":");
        write_json(&mut out, &choice.map(|c| c.probability))?;
        out.extend_from_slice(b",\"optimality_gap\":");
        write_json(&mut out, &choice.map(|c| c.optimality_gap))?;
        out.extend_from_slice(b",\"events\":[");
        if let Some(m) = logged {
            events::write_event(&mut out, flag_key, &m, subject_key, &dict, &timestamp)?;
        }
        out.extend_from_slice(b"],\"bandit_events\":[");
        if let Some(input) = &bandit_event {
            write_json(&mut out, &BanditEvent::new(input))?;
        }
        out.push(b']');
        if let Some(details) = &details {
            out.extend_from_slice(b",\"details\":");
            write_json(&mut out, details)?;
        }
        out.push(b'}');
        Ok(())
    })();
    written
        .map_err(|e| e.to_string())
        .and_then(|()| String::from_utf8(out).map_err(|e| e.to_string()))
        .map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("serializing the bandit result: {e}"),
            )
        })
}
