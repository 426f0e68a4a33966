//! Every failure mapped to a stable [`ErrorCode`], and whether a retry may help.

use std::io::{self, Read};

use ureq::http::header::LOCATION;
use ureq::Body;

use super::redact::quote;
use super::Request;
use crate::error::{Error, ErrorCode};

/// How many characters of an error response's body are quoted in the error message.
const ERROR_BODY_QUOTE: usize = 200;

/// A failed attempt: the error, and whether trying again could help (network errors,
/// timeouts, 429 and 5xx can; other 4xx, 401/403 and unusable answers cannot).
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong, with a stable code.
    pub error: Error,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The HTTP status of the answer, when the server gave one.
    pub status: Option<u16>,
    /// The start of the answer's body (the key redacted), when the server gave one.
    pub body: Option<String>,
}

impl Failure {
    /// A failure with a code and a message.
    pub fn new(code: ErrorCode, message: String, retryable: bool) -> Failure {
        Failure {
            error: Error::new(code, message),
            retryable,
            status: None,
            body: None,
        }
    }

    /// The same failure, recording the server's answer: its status and body.
    fn with_answer(mut self, status: u16, body: Option<String>) -> Failure {
        self.status = Some(status);
        self.body = body;
        self
    }
}

/// The failure for a non-success status: 401/403 → `unauthorized`; 429 and 5xx →
/// retryable `http_status`; a redirect (never followed for a `POST`) and other statuses
/// → `http_status`. Quotes the start of the body, with `secret` redacted before the cut.
pub fn status_failure(
    status: u16,
    response: &mut ureq::http::Response<Body>,
    secret: &str,
) -> Failure {
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" to {}", quote(l, secret, ERROR_BODY_QUOTE)))
            .unwrap_or_default();
        return Failure::new(
            ErrorCode::HttpStatus,
            format!(
                "the server answered HTTP {status}, a redirect{location}; allot does not follow redirects of POST requests (configure the final URL)"
            ),
            false,
        )
        .with_answer(status, None);
    }
    let mut bytes = Vec::new();
    // Read past the quote by a key's length, so that a key straddling the cut is seen
    // whole and redacted. Best effort: a body that cannot be read is simply not quoted.
    let _ = response
        .body_mut()
        .as_reader()
        .take((ERROR_BODY_QUOTE * 4 + secret.len()) as u64)
        .read_to_end(&mut bytes);
    let body = quote(String::from_utf8_lossy(&bytes).trim(), secret, usize::MAX);
    let text = quote(&body, secret, ERROR_BODY_QUOTE);
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    let failure = match status {
        401 | 403 => Failure::new(
            ErrorCode::Unauthorized,
            format!("the server rejected the key (HTTP {status}){detail}"),
            false,
        ),
        429 | 500..=599 => Failure::new(
            ErrorCode::HttpStatus,
            format!("the server answered HTTP {status}{detail}"),
            true,
        ),
        _ => Failure::new(
            ErrorCode::HttpStatus,
            format!("the server answered HTTP {status}{detail}"),
            false,
        ),
    };
    failure.with_answer(status, Some(body).filter(|b| !b.is_empty()))
}

/// Maps a transport error to `timeout`, `network` or `invalid_response`.
pub fn transport_failure(err: &ureq::Error, request: &Request<'_>) -> Failure {
    let url = request.url;
    match err {
        ureq::Error::Timeout(phase) => Failure::new(
            ErrorCode::Timeout,
            format!(
                "request to {url} timed out after {} ms ({phase})",
                request.timeout.as_millis()
            ),
            true,
        ),
        ureq::Error::Io(io) => io_failure(io, request),
        ureq::Error::HostNotFound => Failure::new(
            ErrorCode::Network,
            format!("request to {url} failed: host not found"),
            true,
        ),
        ureq::Error::BadUri(detail) => Failure::new(
            ErrorCode::Network,
            format!("invalid URL {url}: {detail}"),
            false,
        ),
        ureq::Error::Protocol(detail) => Failure::new(
            ErrorCode::InvalidResponse,
            format!("request to {url} got a malformed HTTP response: {detail}"),
            true,
        ),
        other => Failure::new(
            ErrorCode::Network,
            format!("request to {url} failed: {other}"),
            true,
        ),
    }
}

fn io_failure(io: &io::Error, request: &Request<'_>) -> Failure {
    if let Some(inner) = io.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return transport_failure(inner, request);
    }
    let url = request.url;
    let what = match io.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            return Failure::new(
                ErrorCode::Timeout,
                format!("request to {url} timed out: {io}"),
                true,
            )
        }
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::UnexpectedEof => {
            "the connection closed before the whole response arrived".to_owned()
        }
        _ => io.to_string(),
    };
    Failure::new(
        ErrorCode::Network,
        format!("request to {url} failed: {what}"),
        true,
    )
}

/// The code of a read error: `timeout` for a timeout (ureq's or the socket's), else
/// `network`.
pub fn io_code(err: &io::Error) -> ErrorCode {
    let ureq_timeout = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
    if ureq_timeout
        || matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    {
        ErrorCode::Timeout
    } else {
        ErrorCode::Network
    }
}
