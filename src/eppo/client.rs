//! The Eppo client behind an `allot_init` handle: lifecycle, the JSON-in/JSON-out
//! evaluation path and the status document.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::bandit;
use super::compile::Snapshot;
use super::config::{Settings, SyncSettings};
use super::details::{self, DetailsInput};
use super::evaluate::{
    self, AllocationEvaluationCode, Assignment, Matched, Now, SubjectAttributes,
};
use super::events::{self, write_json, AssignmentCache};
use super::model::VariationType;
use super::request::{self, AssignmentRequest, Request};
use super::sync::{Served, Updater};
use super::time;
use crate::client::{Client, Provider, TypedAssignment};
use crate::error::{Error, ErrorCode, Result};
use crate::ffi::MAX_RESULT_BYTES;
use crate::transport::poller::{LocalStatus, Progress};

/// An Eppo client: immutable settings, a swappable configuration snapshot that evaluating
/// threads read without locking, its updater (`None` when offline), and the optional
/// assignment cache.
pub struct EppoClient {
    settings: Arc<SyncSettings>,
    served: Arc<Served>,
    updater: Option<Updater>,
    started: AtomicBool,
    cache: Option<AssignmentCache>,
}

/// Builds an Eppo client from its `allot_init` configuration.
pub fn create(config: Map<String, Value>) -> Result<Client> {
    Ok(Arc::new(EppoClient::new(config)?))
}

impl EppoClient {
    /// Validates the configuration and loads `initial_configuration` / `configuration_path`.
    pub fn new(config: Map<String, Value>) -> Result<EppoClient> {
        let Settings {
            sync,
            cache,
            bootstrap,
        } = Settings::parse(config)?;
        let settings = Arc::new(sync);
        let served = Arc::new(Served::new(bootstrap));
        let updater =
            (!settings.offline).then(|| Updater::new(Arc::clone(&settings), Arc::clone(&served)));
        Ok(EppoClient {
            settings,
            served,
            updater,
            started: AtomicBool::new(false),
            cache,
        })
    }

    /// The validated settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Restarts the polling thread in a forked child (a no-op otherwise).
    fn follow_fork(&self) {
        if let Some(updater) = &self.updater {
            if self.started.load(Ordering::Acquire) {
                updater.follow_fork();
            }
        }
    }

    /// Evaluates a request document and writes the `ok` payload.
    fn evaluate_document(&self, text: &str) -> Result<String> {
        let guard = self.served.snapshot.load();
        if let Some(result) = bandit::request::evaluate(text, guard.as_deref(), self.cache.as_ref())
        {
            return result;
        }
        let document = request::parse_document(text)?;
        let empty = Map::new();
        let request = document.resolve(&empty)?;
        let snapshot = guard.as_deref();
        // The result is written by hand around serde-written members: serializing a
        // struct costs ~20% more on this path (`eppo_c_abi` benchmarks), most of it
        // escaping the member names again on every call.
        let mut out = Vec::with_capacity(512);
        match request {
            Request::Single(request) => {
                let attributes = SubjectAttributes::new(request.subject_attributes);
                self.write_result(&mut out, snapshot, &request, &attributes)?;
            }
            Request::Batch(requests) => {
                out.extend_from_slice(b"{\"assignments\":[");
                // Items that inherit the shared attributes share their lookup too.
                let mut attributes = SubjectAttributes::new(&empty);
                for (i, request) in requests.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if !attributes.is_of(request.subject_attributes) {
                        attributes = SubjectAttributes::new(request.subject_attributes);
                    }
                    self.write_result(&mut out, snapshot, request, &attributes)?;
                    if out.len() > MAX_RESULT_BYTES {
                        return Err(result_too_large(i + 1, requests.len()));
                    }
                }
                out.extend_from_slice(b"]}");
            }
        }
        String::from_utf8(out).map_err(|e| serialization_error(serde::ser::Error::custom(e)))
    }

    /// Assigns one flag and consults the deduplication cache: the assignment, the match
    /// that serves a value, and whether the match produces an event.
    #[allow(clippy::too_many_arguments)]
    fn decide<'s>(
        &self,
        snapshot: Option<&'s Snapshot>,
        flag_key: &str,
        subject_key: &str,
        attributes: &SubjectAttributes<'_>,
        expected: VariationType,
        now: &Now,
        trace: Option<&mut Vec<(usize, AllocationEvaluationCode)>>,
    ) -> Decision<'s> {
        let assignment = evaluate::assign_to(
            snapshot,
            flag_key,
            subject_key,
            attributes,
            expected,
            now,
            trace,
        );
        let matched = assignment
            .matched
            .filter(|_| assignment.variation().is_some());
        let logged = matched.filter(|_| assignment.should_log()).filter(|m| {
            self.cache.as_ref().map_or(true, |cache| {
                cache.should_log(
                    flag_key,
                    subject_key,
                    &m.allocation.key,
                    &m.split.variation_key,
                )
            })
        });
        Decision {
            assignment,
            matched,
            logged,
        }
    }

    /// Appends `{"value", "variation_key", "code", "allocation_key", "events",
    /// "details"?}` (`attributes` are the request's `subject_attributes`).
    fn write_result(
        &self,
        out: &mut Vec<u8>,
        snapshot: Option<&Snapshot>,
        request: &AssignmentRequest<'_>,
        attributes: &SubjectAttributes<'_>,
    ) -> Result<()> {
        let now = request.now_ms.map_or_else(Now::from_clock, Now::at);
        let mut trace = Vec::new();
        let Decision {
            assignment,
            matched,
            logged,
        } = self.decide(
            snapshot,
            request.flag_key,
            request.subject_key,
            attributes,
            request.variation_type,
            &now,
            request.details.then_some(&mut trace),
        );
        let mut timestamp = String::new();
        if logged.is_some() || request.details {
            time::write_rfc3339(&mut timestamp, now.ms());
        }
        let variation = assignment.variation();
        out.extend_from_slice(b"{\"value\":");
        out.extend_from_slice(
            variation
                .map_or(request.default.get(), |v| v.value_json.as_str())
                .as_bytes(),
        );
        out.extend_from_slice(b",\"variation_key\":");
        write_json(out, &variation.map(|v| v.key.as_str())).map_err(serialization_error)?;
        out.extend_from_slice(b",\"code\":");
        write_json(out, assignment.code.as_str()).map_err(serialization_error)?;
        out.extend_from_slice(b",\"allocation_key\":");
        write_json(out, &matched.map(|m| m.allocation.key.as_str()))
            .map_err(serialization_error)?;
        out.extend_from_slice(b",\"events\":[");
        if let Some(m) = logged {
            events::write_event(
                out,
                request.flag_key,
                &m,
                request.subject_key,
                request.subject_attributes,
                &timestamp,
            )
            .map_err(serialization_error)?;
        }
        out.push(b']');
        if request.details {
            let input = DetailsInput {
                snapshot,
                flag_key: request.flag_key,
                subject_key: request.subject_key,
                subject_attributes: request.subject_attributes,
                expected: request.variation_type,
                timestamp: &timestamp,
                trace: &trace,
            };
            out.extend_from_slice(b",\"details\":");
            write_json(out, &details::build(&input, &assignment)).map_err(serialization_error)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// The status document (see [`LocalStatus`]) with Eppo's `"environment"` and
    /// `"published_at"` (ms since the epoch) of the configuration served.
    /// The fast lane's typed assignment (see `allot_eppo_assign`): appends the compact
    /// answer to `out`.
    fn assign_compact(&self, request: &TypedAssignment<'_>, out: &mut Vec<u8>) {
        let guard = self.served.snapshot.load();
        let now = Now::from_clock();
        let attributes = SubjectAttributes::borrowed(request.subject_attributes);
        let Decision {
            assignment,
            matched,
            logged,
        } = self.decide(
            guard.as_deref(),
            request.flag_key,
            request.subject_key,
            &attributes,
            request.variation_type,
            &now,
            None,
        );
        let served = matched.zip(assignment.variation());
        let event = logged.filter(|_| request.wants_event);
        out.push(u8::from(served.is_some()) | (u8::from(event.is_some()) << 1));
        // The timestamp first, so that the rest of an answer is the same for every call
        // served by the same split (bindings cache what they decode under it).
        if event.is_some() {
            let timestamp = time::rfc3339_bytes(now.ms());
            put_field(out, timestamp.as_ref().map_or(&[], |text| &text[..]));
        }
        put_field(out, assignment.code.as_str().as_bytes());
        if let Some((m, variation)) = served {
            let value = match (&variation.value, request.variation_type) {
                (Value::String(text), VariationType::String) => text.as_str(),
                _ => variation.value_json.as_str(),
            };
            put_field(out, value.as_bytes());
            put_field(out, variation.key.as_bytes());
            put_field(out, m.allocation.key.as_bytes());
        }
        if let Some(m) = event {
            // `,"k":v` members as an object; empty when the split logs nothing extra.
            let extra = m.split.extra_logging_json.as_str();
            match extra.strip_prefix(',') {
                Some(members) => {
                    let length = u32::try_from(members.len() + 2).unwrap_or(u32::MAX);
                    out.extend_from_slice(&length.to_le_bytes());
                    out.push(b'{');
                    out.extend_from_slice(members.as_bytes());
                    out.push(b'}');
                }
                None => put_field(out, b""),
            }
            // An answer that does not fit is not handed out: its event was not logged.
            if let (true, Some(cache)) = (out.len() > request.capacity, &self.cache) {
                cache.forget(
                    request.flag_key,
                    request.subject_key,
                    &m.allocation.key,
                    &m.split.variation_key,
                );
            }
        }
    }

    fn status_json(&self) -> Result<String> {
        let guard = self.served.snapshot.load();
        let snapshot = guard.as_deref();
        // The configuration records when it was loaded (its details' `configFetchedAt`).
        let mut progress = Progress::clone(&self.served.progress.load());
        progress.loaded_at = snapshot
            .and_then(|s| time::parse_rfc3339(&s.fetched_at))
            .and_then(|ms| u64::try_from(ms).ok());
        let mut extra = Map::new();
        extra.insert(
            "environment".into(),
            snapshot.and_then(|s| s.environment.clone()).into(),
        );
        extra.insert(
            "published_at".into(),
            snapshot
                .and_then(|s| s.published_at.as_deref())
                .and_then(time::parse_rfc3339)
                .into(),
        );
        let (bandit_keys, bandit_errors) =
            snapshot.map_or_else(|| (json!([]), json!([])), Snapshot::bandit_status);
        extra.insert("bandit_keys".into(), bandit_keys);
        extra.insert("bandit_errors".into(), bandit_errors);
        let started = self.started.load(Ordering::Acquire);
        LocalStatus {
            provider: "eppo",
            started,
            snapshot: snapshot.map(|s| (s.flag_keys(), s.flag_errors.as_slice())),
            progress: &progress,
            server_url: self
                .updater
                .as_ref()
                .map(|_| self.settings.base_url.as_str()),
            stream_server_url: None,
            polling: started && self.updater.as_ref().is_some_and(Updater::running),
            extra,
        }
        .to_json()
    }
}

/// The error of a result that could not be serialized (not expected: every member is a
/// string, a number or a JSON value).
fn serialization_error(error: serde_json::Error) -> Error {
    Error::new(
        ErrorCode::Internal,
        format!("serializing the result: {error}"),
    )
}

/// The error for a batch whose result outgrew [`MAX_RESULT_BYTES`] after `written` of
/// `total` items.
fn result_too_large(written: usize, total: usize) -> Error {
    Error::new(
        ErrorCode::InputTooLarge,
        format!(
            "the result of this batch would exceed {MAX_RESULT_BYTES} bytes (reached after \
             {written} of {total} assignments); send fewer assignments or a smaller \
             \"default\" / \"subject_attributes\""
        ),
    )
}

impl Provider for EppoClient {
    fn start(&self, timeout: Duration) -> Result<String> {
        if let Some(updater) = &self.updater {
            updater.ensure_running()?;
        }
        self.started.store(true, Ordering::Release);
        if let Some(updater) = self.updater.as_ref() {
            if self.served.snapshot.load().is_none() {
                updater.await_configuration(timeout)?;
            }
        }
        self.status_json()
    }

    fn evaluate(&self, request_json: &str) -> Result<String> {
        if !self.started.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before allot_evaluate",
            ));
        }
        self.follow_fork();
        self.evaluate_document(request_json)
    }

    fn fetch(&self, _request_json: &str) -> Result<String> {
        Err(Error::new(
            ErrorCode::Unsupported,
            "Eppo clients evaluate locally; use allot_evaluate",
        ))
    }

    fn status(&self) -> Result<String> {
        self.follow_fork();
        self.status_json()
    }

    fn stop(&self, _timeout: Duration) -> Result<String> {
        if let Some(updater) = &self.updater {
            updater.stop();
        }
        self.status_json()
    }

    fn configuration(&self) -> Result<String> {
        // The snapshot served now, read without a lock; its documents are valid JSON text.
        let guard = self.served.snapshot.load();
        let Some(snapshot) = guard.as_deref() else {
            return Ok(r#"{"flags":null,"bandits":null}"#.to_owned());
        };
        let bandits = snapshot.bandit_models.source.as_deref().unwrap_or("null");
        let mut out = String::with_capacity(snapshot.source.len() + bandits.len() + 24);
        out.push_str("{\"flags\":");
        out.push_str(&snapshot.source);
        out.push_str(",\"bandits\":");
        out.push_str(bandits);
        out.push('}');
        Ok(out)
    }

    fn assign_typed(&self, request: &TypedAssignment<'_>, out: &mut Vec<u8>) -> Result<()> {
        if !self.started.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::NotStarted,
                "call allot_start before allot_eppo_assign",
            ));
        }
        self.follow_fork();
        self.assign_compact(request, out);
        Ok(())
    }
}

/// What [`EppoClient::decide`] found.
struct Decision<'s> {
    assignment: Assignment<'s>,
    /// The match, when it serves a value.
    matched: Option<Matched<'s>>,
    /// The match, when it produces an event (a `doLog` allocation the cache let through).
    logged: Option<Matched<'s>>,
}

/// Appends a length-prefixed field: its length as a little-endian `u32`, then its bytes.
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
}
