//! Client configuration: parsing the `allot_init` JSON and dispatching on `provider`.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

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
