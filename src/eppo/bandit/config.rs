//! The bandit settings of `allot_init`: a bandit models document given up front
//! (`initial_bandits`, an object or its JSON text, or `bandits_path`, a file), served with
//! `initial_configuration` / `configuration_path` as the vendor's
//! `Configuration(flags_configuration=…, bandits_configuration=…)`.

use serde_json::Value;

use crate::config::read_config_file;
use crate::eppo::bandit::compile::BanditModels;
use crate::error::{Error, ErrorCode, Result};

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

/// The bandit models given up front (`initial_bandits`, moved out of the configuration,
/// or `bandits_path`), if any. `has_flags`: a flags configuration was given too (the
/// models are useless without one).
pub fn initial_models(
    initial_bandits: Option<Value>,
    bandits_path: Option<&str>,
    has_flags: bool,
) -> Result<Option<BanditModels>> {
    let models = match (initial_bandits, bandits_path) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "\"initial_bandits\" and \"bandits_path\" are exclusive; give one",
            ))
        }
        (Some(doc @ Value::Object(_)), None) => BanditModels::from_value(doc)?,
        (Some(Value::String(text)), None) => BanditModels::from_json(&text)?,
        (Some(_), None) => {
            return Err(invalid(
                "\"initial_bandits\" must be a bandit models JSON object (or its JSON text)",
            ))
        }
        (None, Some(path)) => BanditModels::from_json(&read_config_file(path, "bandits_path")?)?,
    };
    if !has_flags {
        return Err(invalid(
            "\"initial_bandits\" / \"bandits_path\" need \"initial_configuration\" or \"configuration_path\"",
        ));
    }
    Ok(Some(models))
}
