//! The bandit settings of `allot_init`: a bandit models document given up front
//! (`initial_bandits`, an object or its JSON text, or `bandits_path`, a file), served with
//! `initial_configuration` / `configuration_path` as the vendor's
//! `Configuration(flags_configuration=…, bandits_configuration=…)`.

use serde_json::{Map, Value};

use crate::config::read_config_file;
use crate::eppo::bandit::compile::BanditModels;
use crate::error::{Error, ErrorCode, Result};

/// The `allot_init` fields read here.
pub const FIELDS: &[&str] = &["initial_bandits", "bandits_path"];

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// The bandit models given up front, if any. `has_flags`: a flags configuration was given
/// too (the models are useless without one).
pub fn initial_models(
    config: &Map<String, Value>,
    has_flags: bool,
) -> Result<Option<BanditModels>> {
    let models = match (config.get("initial_bandits"), config.get("bandits_path")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "\"initial_bandits\" and \"bandits_path\" are exclusive; give one",
            ))
        }
        (Some(Value::Object(doc)), None) => BanditModels::from_value(Value::Object(doc.clone()))?,
        (Some(Value::String(text)), None) => BanditModels::from_json(text)?,
        (Some(_), None) => {
            return Err(invalid(
                "\"initial_bandits\" must be a bandit models JSON object (or its JSON text)",
            ))
        }
        (None, Some(Value::String(path))) => {
            BanditModels::from_json(&read_config_file(path, "bandits_path")?)?
        }
        (None, Some(_)) => return Err(invalid("\"bandits_path\" must be a string")),
    };
    if !has_flags {
        return Err(invalid(
            "\"initial_bandits\" / \"bandits_path\" need \"initial_configuration\" or \"configuration_path\"",
        ));
    }
    Ok(Some(models))
}
