//! Errors with stable codes, as they cross the C boundary.

use std::fmt;

/// A stable, machine-readable error code. The snake_case string form is part of the
/// public contract (C header, README, bindings) and never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A required argument was NULL, or a request had the wrong shape or types.
    InvalidArgument,
    /// A string argument was not valid UTF-8.
    InvalidUtf8,
    /// A string argument was not syntactically valid JSON.
    InvalidJson,
    /// The client configuration was rejected (unknown field, wrong type, bad flags).
    InvalidConfig,
    /// An input was larger than the documented size cap.
    InputTooLarge,
    /// The handle is zero, unknown, or was already freed.
    UnknownHandle,
    /// The client was not started with `allot_start` yet.
    NotStarted,
    /// The flag configuration contains a dependency cycle.
    DependencyCycle,
    /// The operation is not supported by this client's provider or mode.
    Unsupported,
    /// A network failure: DNS, connection refused or reset, TLS, proxy, a body cut short.
    Network,
    /// A request or a wait (such as `allot_start`) did not finish within its time limit.
    Timeout,
    /// A server answered with an HTTP status that is not a success (the status is in the
    /// message).
    HttpStatus,
    /// A server's answer could not be used: invalid JSON, the wrong shape, or too large.
    InvalidResponse,
    /// The server rejected the key (HTTP 401 or 403); polling stops.
    Unauthorized,
    /// A bug inside allot (for example a caught panic).
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidUtf8,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidConfig,
        ErrorCode::InputTooLarge,
        ErrorCode::UnknownHandle,
        ErrorCode::NotStarted,
        ErrorCode::DependencyCycle,
        ErrorCode::Unsupported,
        ErrorCode::Network,
        ErrorCode::Timeout,
        ErrorCode::HttpStatus,
        ErrorCode::InvalidResponse,
        ErrorCode::Unauthorized,
        ErrorCode::Internal,
    ];

    /// The stable snake_case name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InputTooLarge => "input_too_large",
            ErrorCode::UnknownHandle => "unknown_handle",
            ErrorCode::NotStarted => "not_started",
            ErrorCode::DependencyCycle => "dependency_cycle",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Network => "network",
            ErrorCode::Timeout => "timeout",
            ErrorCode::HttpStatus => "http_status",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The `flag_errors` code of a flag that was left out of a configuration because it
/// does not fit the provider's model (both providers; the rest of the configuration loads).
pub const INVALID_FLAG: &str = "invalid_flag";
/// The `flag_errors` code of a flag key that appears more than once (the last one wins).
pub const DUPLICATE_FLAG: &str = "duplicate_flag";
/// The `flag_errors` code of a loaded Amplitude flag with a regex the `regex` crate rejects
/// (look-around, backreferences, bad syntax): that pattern never matches.
pub const UNSUPPORTED_REGEX: &str = "unsupported_regex";

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A flag that was left out of a configuration (the rest still loads), both providers, or
/// an Amplitude flag that loaded with a regex that never matches:
/// `{"flag_key", "index"?, "code", "message"}` in the status document's `flag_errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlagError {
    /// The flag's key, when it could be read.
    pub flag_key: Option<String>,
    /// The flag's position, for configurations that list flags in an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// [`INVALID_FLAG`], [`DUPLICATE_FLAG`] or [`UNSUPPORTED_REGEX`].
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// An error: a stable code and a human-readable message (never containing secrets).
/// Serialized as `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// A clear, human-readable explanation.
    pub message: String,
}

impl Error {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// Maps a serde_json error to `invalid_json` (syntax) or to `shape_code` (wrong shape or
    /// types), prefixing the message with what was being parsed.
    pub fn from_json(err: &serde_json::Error, what: &str, shape_code: ErrorCode) -> Self {
        use serde_json::error::Category;
        let code = match err.classify() {
            Category::Syntax | Category::Eof => ErrorCode::InvalidJson,
            Category::Data | Category::Io => shape_code,
        };
        Error::new(code, format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;
