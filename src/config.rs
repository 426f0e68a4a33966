//! Client configuration: parsing the `allot_init` JSON and dispatching on `provider`.

use std::io::Read;

use serde::de::DeserializeOwned;
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

/// Rejects every key of `object` that is not in `allowed`, naming the field and, when one
/// is close, the valid name the caller probably meant. `context` names the object.
pub fn check_known_fields(
    object: &Map<String, Value>,
    allowed: &[&str],
    context: &str,
) -> Result<()> {
    for key in object.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let nearest = allowed
            .iter()
            .map(|name| (strsim::jaro_winkler(key, name), *name))
            .filter(|(score, _)| *score >= 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = match nearest {
            Some((_, name)) => format!("; did you mean \"{name}\"?"),
            None => format!("; valid fields are: {}", allowed.join(", ")),
        };
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            format!("unknown field \"{key}\" in {context}{hint}"),
        ));
    }
    Ok(())
}

/// Checks the fields of `object` against `allowed`, then deserializes it into `T`
/// (wrong types become `invalid_config` errors that say which field).
pub fn parse_section<T: DeserializeOwned>(
    object: &Map<String, Value>,
    allowed: &[&str],
    context: &str,
) -> Result<T> {
    check_known_fields(object, allowed, context)?;
    serde_json::from_value(Value::Object(object.clone()))
        .map_err(|e| Error::new(ErrorCode::InvalidConfig, format!("{context}: {e}")))
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

    #[test]
    fn unknown_field_names_the_nearest_valid_one() {
        let object = parse_document(r#"{"flag_path": "x"}"#).unwrap();
        let err =
            check_known_fields(&object, &["flags", "flags_path"], "the configuration").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert!(err.message.contains("\"flag_path\""), "{}", err.message);
        assert!(
            err.message.contains("did you mean \"flags_path\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn unrelated_unknown_field_lists_valid_fields() {
        let object = parse_document(r#"{"zzz": 1}"#).unwrap();
        let err =
            check_known_fields(&object, &["flags", "flags_path"], "the configuration").unwrap_err();
        assert!(
            err.message.contains("valid fields are: flags, flags_path"),
            "{}",
            err.message
        );
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
