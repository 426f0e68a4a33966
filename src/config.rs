//! Client configuration: parsing the `allot_init` JSON and dispatching on `provider`.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::ffi::MAX_CONFIG_BYTES;

/// Reads a configuration file (`flags_path`, `configuration_path`) as UTF-8 text without
/// ever blocking or reading without bound: only a regular file of at most
/// [`MAX_CONFIG_BYTES`] is read (a FIFO, a device such as `/dev/zero` or a directory is
/// `invalid_config`; a larger file is `input_too_large`). `field` names the setting in
/// messages.
pub fn read_config_file(path: &str, field: &str) -> Result<String> {
    let fail = |detail: String| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!("\"{field}\": cannot read \"{path}\": {detail}"),
        )
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading blocks until a writer appears, unless non-blocking.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| fail(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !metadata.is_file() {
        return Err(fail("not a regular file".to_owned()));
    }
    if metadata.len() > MAX_CONFIG_BYTES as u64 {
        return Err(too_large(path, field, metadata.len()));
    }
    // The file may grow while it is read: never read past the cap.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(too_large(path, field, bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn too_large(path: &str, field: &str, len: u64) -> Error {
    Error::new(
        ErrorCode::InputTooLarge,
        format!("\"{field}\": \"{path}\" is {len} bytes; the limit is {MAX_CONFIG_BYTES} bytes"),
    )
}

/// The longest duration a setting may have (a year), so that every instant and sum
/// computed from settings stays representable: no background thread can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `duration` if it is at most [`MAX_DURATION`], else an `invalid_config` error naming
/// `field`.
pub fn bounded(duration: Duration, field: &str) -> Result<Duration> {
    if duration <= MAX_DURATION {
        Ok(duration)
    } else {
        Err(Error::new(
            ErrorCode::InvalidConfig,
            format!(
                "\"{field}\" is too long: at most {} seconds (a year)",
                MAX_DURATION.as_secs()
            ),
        ))
    }
}

/// Deserializes the typed section `T` from `object`, borrowing from it (nothing is
/// copied but the fields `T` keeps). Errors are `invalid_config`; see [`field_error`].
pub fn from_object<'de, T: Deserialize<'de>>(
    object: &'de Map<String, Value>,
    what: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(object)
        .map_err(|e| field_error(e, what, ErrorCode::InvalidConfig))
}

/// Deserializes `T` from JSON text (`T` may borrow from it). Syntax errors are
/// `invalid_json`, shape errors `code`; see [`field_error`]. Requests are parsed on
/// every evaluation: the field path is tracked only to explain a failure (a second,
/// identical parse).
pub fn from_text<'de, T: Deserialize<'de>>(
    text: &'de str,
    what: &str,
    code: ErrorCode,
) -> Result<T> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| field_error(e, what, code))?;
    deserializer
        .end()
        .map_err(|e| Error::from_json(&e, what, code))?;
    Ok(value)
}

/// The error of a typed document (`what` names it): the path of the field at fault and
/// serde's reason; an unknown field is named with its object and, when one is close, the
/// valid name the caller probably meant (else the valid names).
fn field_error(
    error: serde_path_to_error::Error<serde_json::Error>,
    what: &str,
    code: ErrorCode,
) -> Error {
    let path = error.path().to_string();
    let error = error.into_inner();
    let reason = error.to_string();
    if let Some((field, valid)) = unknown_field(&reason) {
        // The path ends with the unknown field: name its object.
        let object = match path.strip_suffix(field).and_then(|p| p.strip_suffix('.')) {
            Some(object) => object,
            None => what,
        };
        return Error::new(
            code,
            format!(
                "unknown field \"{field}\" in {object}{}",
                hint(field, &valid)
            ),
        );
    }
    let error = Error::from_json(&error, what, code);
    match path.as_str() {
        "." => error,
        _ => Error::new(error.code, format!("{what}: {path}: {reason}")),
    }
}

/// The field and the valid names of serde's `unknown field `x`, expected one of `a`, `b``
/// (or ``expected `a` or `b``, or `there are no fields`).
fn unknown_field(reason: &str) -> Option<(&str, Vec<&str>)> {
    let rest = reason.strip_prefix("unknown field `")?;
    let (field, valid) = match rest.find("`, expected ") {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest.split_once("`, there are no fields")?.0, ""),
    };
    Some((field, valid.split('`').skip(1).step_by(2).collect()))
}

/// `; did you mean "name"?` for the valid name closest to `field`, or the list of valid
/// names when none is close.
fn hint(field: &str, valid: &[&str]) -> String {
    let nearest = valid
        .iter()
        .map(|name| (strsim::jaro_winkler(field, name), *name))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((_, name)) => format!("; did you mean \"{name}\"?"),
        None if valid.is_empty() => "; it takes no fields".to_owned(),
        None => format!("; valid fields are: {}", valid.join(", ")),
    }
}

/// Whether the typed section `T` has a field `name` (for example a field of another
/// mode), found by deserializing `{name: null}` and seeing whether serde knows the name.
pub fn has_field<'de, T: Deserialize<'de>>(name: &str) -> bool {
    let probe = Value::Object(Map::from_iter([(name.to_owned(), Value::Null)]));
    match T::deserialize(probe) {
        Ok(_) => true,
        Err(e) => unknown_field(&e.to_string()).is_none(),
    }
}

/// A base URL, the one type and validation of every provider's URL settings: `http://`
/// or `https://` and a host, trimmed, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// `value`, or `default` when absent, checked; anything else is an `invalid_config`
    /// error naming the setting `name`.
    pub fn parse(value: Option<&str>, default: &str, name: &str) -> Result<BaseUrl> {
        let value = value.unwrap_or(default).trim().trim_end_matches('/');
        let lower = value.to_ascii_lowercase();
        let host = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        match host {
            Some(rest) if !rest.is_empty() => Ok(BaseUrl(value.to_owned())),
            _ => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("{name} must be an http:// or https:// URL, got \"{value}\""),
            )),
        }
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the URL is `https://` (the TLS configuration is built only then).
    pub fn is_https(&self) -> bool {
        self.0
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for BaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Parses the configuration document into its top-level JSON object.
pub fn parse_document(config_json: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(config_json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::new(
            ErrorCode::InvalidConfig,
            "configuration must be a JSON object",
        )),
        Err(e) => Err(Error::from_json(
            &e,
            "configuration",
            ErrorCode::InvalidConfig,
        )),
    }
}

/// Reads the required string field `provider` of the configuration.
pub fn provider_name(config: &Map<String, Value>) -> Result<&str> {
    match config.get("provider") {
        Some(Value::String(name)) => Ok(name),
        Some(_) => Err(Error::new(
            ErrorCode::InvalidConfig,
            "\"provider\" must be a string",
        )),
        None => Err(Error::new(
            ErrorCode::InvalidConfig,
            "missing field \"provider\" (\"amplitude\" or \"eppo\")",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by Debug only
    struct Section {
        flags: Option<Vec<u8>>,
        flags_path: Option<String>,
        inner: Option<Box<Section>>,
    }

    fn section(text: &str) -> Result<Section> {
        from_object(&parse_document(text).unwrap(), "the configuration")
    }

    #[test]
    fn unknown_field_names_the_nearest_valid_one() {
        let err = section(r#"{"flag_path": "x"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert_eq!(
            err.message,
            "unknown field \"flag_path\" in the configuration; did you mean \"flags_path\"?"
        );
        let err = section(r#"{"inner": {"inner": {"flag": []}}}"#).unwrap_err();
        assert_eq!(
            err.message,
            "unknown field \"flag\" in inner.inner; did you mean \"flags\"?"
        );
    }

    #[test]
    fn unrelated_unknown_field_lists_valid_fields() {
        let err = section(r#"{"zzz": 1}"#).unwrap_err();
        assert!(
            err.message
                .contains("valid fields are: flags, flags_path, inner"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrong_types_name_the_field_path() {
        let err = section(r#"{"inner": {"flags": [1, "two"]}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert!(
            err.message
                .starts_with("the configuration: inner.flags[1]: invalid type"),
            "{}",
            err.message
        );
        let err = from_text::<Section>(r#"{"flags": 7}"#, "request", ErrorCode::InvalidArgument)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message.starts_with("request: flags: "),
            "{}",
            err.message
        );
        let err =
            from_text::<Section>(r#"{} {}"#, "request", ErrorCode::InvalidArgument).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson, "{}", err.message);
    }

    #[test]
    fn fields_of_a_section_are_known_by_name() {
        assert!(has_field::<Section>("flags_path"));
        assert!(!has_field::<Section>("fetch_retries"));
    }

    #[test]
    fn base_urls_need_a_scheme_and_a_host() {
        let url = BaseUrl::parse(Some(" https://h.example/api/ "), "x", "u").unwrap();
        assert_eq!(url, "https://h.example/api");
        assert!(url.is_https());
        let url = BaseUrl::parse(None, "http://d", "u").unwrap();
        assert_eq!(url, "http://d");
        assert!(!url.is_https());
        for bad in ["http://", "https:///", "ftp://h", "h.example", ""] {
            let err = BaseUrl::parse(Some(bad), "x", "base_url").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidConfig, "{bad}");
            assert!(err.message.contains("base_url"), "{}", err.message);
        }
    }

    #[test]
    fn syntax_errors_are_invalid_json_and_non_objects_invalid_config() {
        assert_eq!(
            parse_document("{").unwrap_err().code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            parse_document("[]").unwrap_err().code,
            ErrorCode::InvalidConfig
        );
    }
}
