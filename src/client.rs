//! The provider-independent client: what every handle in the registry points to.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{parse_document, provider_name};
use crate::eppo::attributes::BorrowedAttributes;
use crate::eppo::model::VariationType;
use crate::error::{Error, ErrorCode, Result};
use crate::events::reports::Reports;

/// One flag provider's client. Every method may be called from any number of threads at
/// once; results are the JSON of the `"ok"` member of the response envelope.
pub trait Provider: Send + Sync {
    /// Loads the configuration (and, for networked clients, waits up to `timeout` for it).
    fn start(&self, timeout: Duration) -> Result<String>;
    /// Evaluates flags locally for the request document.
    fn evaluate(&self, request_json: &str) -> Result<String>;
    /// Evaluates flags remotely for the request document.
    fn fetch(&self, request_json: &str) -> Result<String>;
    /// Describes the client's state as a JSON document.
    fn status(&self) -> Result<String>;
    /// Sends queued analytics events, waiting at most `timeout`; clients that queue
    /// nothing answer at once.
    fn flush(&self, _timeout: Duration) -> Result<String> {
        Ok("{}".to_owned())
    }
    /// Stops background synchronisation for good and sends queued events (waiting at
    /// most `timeout`); evaluation goes on with the last configuration. Answers the
    /// status document.
    fn stop(&self, timeout: Duration) -> Result<String> {
        self.flush(timeout)?;
        self.status()
    }
    /// The delivery reports of the client's analytics events (see
    /// `allot_delivery_reports`).
    fn delivery_reports(&self) -> Result<Arc<Reports>> {
        Err(unsupported("allot_delivery_reports"))
    }
    /// The configuration served now, `{"flags", "bandits"}` (see `allot_configuration`).
    fn configuration(&self) -> Result<String> {
        Err(unsupported("allot_configuration"))
    }
    /// Fast lane, Amplitude local evaluation: appends the compact answer of
    /// `allot_evaluate_compact` (or `allot_evaluate_compact_marshal`) to `out`.
    fn evaluate_compact(
        &self,
        _user: UserInput<'_>,
        _options_json: Option<&str>,
        _out: &mut Vec<u8>,
    ) -> Result<()> {
        Err(unsupported("allot_evaluate_compact"))
    }
    /// Fast lane: appends `{"flag_key", "variant"}` of a result id to `out`, or nothing
    /// when `snapshot_id` is no longer the current snapshot.
    fn result_json(&self, _snapshot_id: u64, _result_id: u32, _out: &mut Vec<u8>) -> Result<()> {
        Err(unsupported("allot_result_json"))
    }
    /// Fast lane, Eppo: appends the compact answer of `allot_eppo_assign` to `out`.
    fn assign_typed(&self, _request: &TypedAssignment<'_>, _out: &mut Vec<u8>) -> Result<()> {
        Err(unsupported("allot_eppo_assign"))
    }
}

/// The error of a fast-lane call this client's provider or mode does not have.
fn unsupported(function: &str) -> Error {
    Error::new(
        ErrorCode::Unsupported,
        format!("{function} is not available for this client's provider or mode"),
    )
}

/// The user of an Amplitude fast-lane evaluation, as the caller encoded it.
#[derive(Debug, Clone, Copy)]
pub enum UserInput<'a> {
    /// A JSON object (`allot_evaluate_compact`).
    Json(&'a str),
    /// A marshalled tuple of the user's fields (`allot_evaluate_compact_marshal`).
    Marshal(&'a [u8]),
}

/// One typed Eppo assignment of the fast lane.
pub struct TypedAssignment<'a> {
    /// The flag to evaluate.
    pub flag_key: &'a str,
    /// The subject key.
    pub subject_key: &'a str,
    /// The subject attributes.
    pub subject_attributes: &'a BorrowedAttributes<'a>,
    /// The type the caller expects.
    pub variation_type: VariationType,
    /// Whether the answer should carry the assignment event's fields.
    pub wants_event: bool,
    /// The caller's buffer: an answer longer than this is not handed out, so the event
    /// it carries is not recorded as logged (the caller asks again with room for it).
    pub capacity: usize,
}

/// A shared, thread-safe client.
pub type Client = Arc<dyn Provider>;

/// Builds a client from an `allot_init` configuration document.
pub fn create(config_json: &str) -> Result<Client> {
    let config = parse_document(config_json)?;
    match provider_name(&config)? {
        "amplitude" => crate::amplitude::client::create(config),
        "eppo" => crate::eppo::client::create(config),
        other => Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("unknown provider \"{other}\"; expected \"amplitude\" or \"eppo\""),
        )),
    }
}
