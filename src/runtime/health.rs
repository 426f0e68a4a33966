//! [`Health`]: the last success and the last failure of a background job, as the status
//! document reports them.

use serde::Serialize;

use crate::clock::now_millis;
use crate::error::Error;

/// A failure and when it happened: `{"code", "message", "at"}` in the status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    /// What went wrong.
    #[serde(flatten)]
    pub error: Error,
    /// When, in ms since the Unix epoch.
    pub at: u64,
}

/// The outcome of a job's last attempts: `{"last_success_at": <ms>|null, "last_error":
/// {"code", "message", "at"}|null}` when serialized (flattened into a status document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// When the job last succeeded, in ms since the Unix epoch.
    pub last_success_at: Option<u64>,
    /// The last failure; cleared by a success.
    pub last_error: Option<LastError>,
}

impl Health {
    /// Records a success now.
    pub fn succeeded(&mut self) {
        self.last_success_at = Some(now_millis());
        self.last_error = None;
    }

    /// Records a failure now.
    pub fn failed(&mut self, error: &Error) {
        self.last_error = Some(LastError {
            error: error.clone(),
            at: now_millis(),
        });
    }

    /// The last failure, if the last attempt failed.
    pub fn error(&self) -> Option<&Error> {
        self.last_error.as_ref().map(|e| &e.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn serializes_successes_and_failures() {
        let mut health = Health::default();
        assert_eq!(
            serde_json::to_value(&health).unwrap(),
            serde_json::json!({"last_success_at": null, "last_error": null})
        );
        health.failed(&Error::new(ErrorCode::Network, "refused"));
        let doc = serde_json::to_value(&health).unwrap();
        assert_eq!(doc["last_error"]["code"], "network");
        assert_eq!(doc["last_error"]["message"], "refused");
        assert!(doc["last_error"]["at"].as_u64().unwrap() > 0);
        health.succeeded();
        let doc = serde_json::to_value(&health).unwrap();
        assert!(doc["last_success_at"].as_u64().unwrap() > 0);
        assert_eq!(doc["last_error"], serde_json::Value::Null);
    }
}
