//! The `allot_evaluate` request of Eppo clients: one assignment, or a batch sharing fields.
//!
//! `{"flag_key", "subject_key", "subject_attributes"?: {…}, "variation_type", "default",
//! "details"?: bool, "now"?: "<RFC 3339>"}` or `{"assignments": [<request>, …], <any of the
//! fields above, inherited by every item that omits them>}`.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::from_text;
use crate::eppo::model::VariationType;
use crate::eppo::time;
use crate::error::{Error, ErrorCode, Result};

/// The request document as sent: every field optional until resolved.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDocument<'a> {
    #[serde(borrow, default)]
    assignments: Option<Vec<RequestDocument<'a>>>,
    #[serde(borrow, default)]
    flag_key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject_key: Option<Cow<'a, str>>,
    #[serde(default)]
    subject_attributes: Option<Map<String, Value>>,
    #[serde(default)]
    variation_type: Option<VariationType>,
    #[serde(borrow, default, deserialize_with = "present")]
    default: Option<&'a RawValue>,
    #[serde(default)]
    details: Option<bool>,
    #[serde(borrow, default)]
    now: Option<Cow<'a, str>>,
}

/// Keeps an explicit `null` as `Some(null)` (a missing field stays `None`).
fn present<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(deserializer).map(Some)
}

/// One resolved assignment request.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentRequest<'a> {
    /// The flag to evaluate.
    pub flag_key: &'a str,
    /// The subject key.
    pub subject_key: &'a str,
    /// The subject attributes.
    pub subject_attributes: &'a Map<String, Value>,
    /// The type the caller expects.
    pub variation_type: VariationType,
    /// The caller's default, as sent (already checked against `variation_type`).
    pub default: &'a RawValue,
    /// Whether to return the evaluation-details document.
    pub details: bool,
    /// The evaluation instant; `None` means the system clock.
    pub now_ms: Option<i64>,
}

/// A parsed request: a single assignment or a batch.
pub enum Request<'a> {
    /// `{"flag_key", …}`.
    Single(AssignmentRequest<'a>),
    /// `{"assignments": […]}`.
    Batch(Vec<AssignmentRequest<'a>>),
}

/// Parses the request text (the result borrows from `text` and `document`).
pub fn parse_document(text: &str) -> Result<RequestDocument<'_>> {
    from_text(text, "request", ErrorCode::InvalidArgument)
}

impl<'a> RequestDocument<'a> {
    /// Resolves the document into assignment requests, inheriting shared batch fields.
    pub fn resolve<'d>(&'d self, empty: &'d Map<String, Value>) -> Result<Request<'d>> {
        match &self.assignments {
            None => resolve_one(self, None, empty, "request").map(Request::Single),
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    if item.assignments.is_some() {
                        return Err(Error::new(
                            ErrorCode::InvalidArgument,
                            format!("assignments[{i}]: \"assignments\" cannot be nested"),
                        ));
                    }
                    resolve_one(item, Some(self), empty, &format!("assignments[{i}]"))
                })
                .collect::<Result<_>>()
                .map(Request::Batch),
        }
    }
}

fn resolve_one<'d>(
    item: &'d RequestDocument<'_>,
    shared: Option<&'d RequestDocument<'_>>,
    empty: &'d Map<String, Value>,
    context: &str,
) -> Result<AssignmentRequest<'d>> {
    fn pick<'d, T: ?Sized>(
        item: &'d RequestDocument<'_>,
        shared: Option<&'d RequestDocument<'_>>,
        get: impl Fn(&'d RequestDocument<'_>) -> Option<&'d T>,
    ) -> Option<&'d T> {
        get(item).or_else(|| shared.and_then(&get))
    }
    let missing = |field: &str| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!("{context}: missing field \"{field}\""),
        )
    };
    let flag_key =
        pick(item, shared, |d| d.flag_key.as_deref()).ok_or_else(|| missing("flag_key"))?;
    let subject_key =
        pick(item, shared, |d| d.subject_key.as_deref()).ok_or_else(|| missing("subject_key"))?;
    let subject_attributes = pick(item, shared, |d| d.subject_attributes.as_ref()).unwrap_or(empty);
    let variation_type = *pick(item, shared, |d| d.variation_type.as_ref())
        .ok_or_else(|| missing("variation_type"))?;
    let default = pick(item, shared, |d| d.default).ok_or_else(|| missing("default"))?;
    if !default_matches(variation_type, default.get()) {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "{context}: \"default\" {default} is not a {} value",
                variation_type.as_str()
            ),
        ));
    }
    let details = pick(item, shared, |d| d.details.as_ref())
        .copied()
        .unwrap_or(false);
    let now_ms = match pick(item, shared, |d| d.now.as_deref()) {
        None => None,
        Some(text) => Some(
            time::parse_rfc3339(text)
                .filter(|ms| time::WRITABLE_MS.contains(ms))
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::InvalidArgument,
                        format!(
                            "{context}: \"now\" must be an RFC 3339 date-time such as \"2024-01-31T12:00:00Z\", \
                             between the years 0001 and 9999 in UTC"
                        ),
                    )
                })?,
        ),
    };
    Ok(AssignmentRequest {
        flag_key,
        subject_key,
        subject_attributes,
        variation_type,
        default,
        details,
        now_ms,
    })
}

/// Whether the JSON text `raw` (a valid JSON value) fits `ty`.
fn default_matches(ty: VariationType, raw: &str) -> bool {
    let first = raw.as_bytes().first().copied();
    match ty {
        VariationType::String => first == Some(b'"'),
        VariationType::Boolean => raw == "true" || raw == "false",
        VariationType::Numeric => matches!(first, Some(b'-' | b'0'..=b'9')),
        VariationType::Integer => serde_json::from_str::<i64>(raw).is_ok(),
        VariationType::Json => true,
    }
}
