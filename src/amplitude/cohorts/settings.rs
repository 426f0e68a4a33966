//! The `cohort_sync` section of an Amplitude local configuration, with the defaults of
//! the vendor's `CohortSyncConfig` and its rule that cohorts are polled at most once a
//! minute.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::config::BaseUrl;
use crate::error::{Error, ErrorCode, Result};
use crate::transport::{redact, ApiKey};

/// The cohort server, US and EU.
pub const COHORT_URL: [&str; 2] = [
    "https://cohort-v2.lab.amplitude.com",
    "https://cohort-v2.lab.eu.amplitude.com",
];

/// The shortest cohort polling interval, in milliseconds: Amplitude's SDKs raise a
/// shorter `cohort_polling_interval_millis` to it. Tests lower it with
/// `min_cohort_polling_interval_millis`.
pub const MIN_POLLING_INTERVAL_MILLIS: u64 = 60_000;

/// `cohort_sync`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortSyncConfig {
    api_key: Option<String>,
    secret_key: Option<String>,
    max_cohort_size: Option<u64>,
    cohort_polling_interval_millis: Option<u64>,
    min_cohort_polling_interval_millis: Option<u64>,
    cohort_server_url: Option<String>,
    cohort_request_timeout_millis: Option<u64>,
    max_concurrent_downloads: Option<u64>,
}

/// Cohort synchronisation settings.
#[derive(Debug, Clone)]
pub struct CohortSettings {
    /// The project API key (never printed).
    pub api_key: ApiKey,
    /// The project secret key (never printed).
    pub secret_key: ApiKey,
    /// Cohorts with more members are not downloaded (the server answers 413).
    pub max_cohort_size: u64,
    /// Time between refreshes of every cohort: `cohort_polling_interval_millis`, at
    /// least `min_cohort_polling_interval_millis` (default 60000).
    pub polling_interval: Duration,
    /// The cohort server, as configured or picked by the server zone.
    pub server_url: BaseUrl,
    /// Each download request's timeout.
    pub request_timeout: Duration,
    /// How many cohorts download at once.
    pub max_concurrent: usize,
    /// The response size cap in bytes (the client's `max_response_bytes`).
    pub max_response_bytes: u64,
    /// Log to stderr.
    pub debug: bool,
}

impl CohortSettings {
    /// Checks `cohort_sync` and applies its defaults; `zone` is 0 for US, 1 for EU.
    pub fn parse(
        raw: CohortSyncConfig,
        zone: usize,
        max_response_bytes: u64,
        debug: bool,
    ) -> Result<CohortSettings> {
        let key = |value: Option<String>, name: &str| {
            ApiKey::parse(
                value.as_deref(),
                &format!("cohort_sync.\"{name}\" (the project's {name})"),
            )
        };
        let positive = |value: Option<u64>, default: u64, name: &str| match value {
            Some(0) => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("cohort_sync.{name} must be greater than 0"),
            )),
            other => Ok(other.unwrap_or(default)),
        };
        let server_url = BaseUrl::parse(
            raw.cohort_server_url.as_deref(),
            COHORT_URL[zone],
            "cohort_sync.cohort_server_url",
        )?;
        Ok(CohortSettings {
            api_key: key(raw.api_key, "api_key")?,
            secret_key: key(raw.secret_key, "secret_key")?,
            max_cohort_size: positive(raw.max_cohort_size, 2_147_483_647, "max_cohort_size")?,
            polling_interval: Duration::from_millis(
                positive(
                    raw.cohort_polling_interval_millis,
                    MIN_POLLING_INTERVAL_MILLIS,
                    "cohort_polling_interval_millis",
                )?
                .max(positive(
                    raw.min_cohort_polling_interval_millis,
                    MIN_POLLING_INTERVAL_MILLIS,
                    "min_cohort_polling_interval_millis",
                )?),
            ),
            server_url,
            request_timeout: Duration::from_millis(positive(
                raw.cohort_request_timeout_millis,
                10_000,
                "cohort_request_timeout_millis",
            )?),
            max_concurrent: usize::try_from(positive(
                raw.max_concurrent_downloads,
                4,
                "max_concurrent_downloads",
            )?)
            .unwrap_or(usize::MAX),
            max_response_bytes,
            debug,
        })
    }

    /// `{cohort_server_url}/sdk/v1/cohort/{id}?maxCohortSize=N[&lastModified=T]`.
    pub fn cohort_url(&self, id: &str, last_modified: Option<u64>) -> String {
        let mut url = format!(
            "{}/sdk/v1/cohort/{}?maxCohortSize={}",
            self.server_url,
            crate::transport::query_value(id),
            self.max_cohort_size
        );
        if let Some(t) = last_modified {
            url.push_str(&format!("&lastModified={t}"));
        }
        url
    }

    /// The `Authorization` header value: `Basic base64(api_key:secret_key)`.
    pub fn authorization(&self) -> String {
        format!("Basic {}", self.credentials())
    }

    fn credentials(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.api_key.expose(),
            self.secret_key.expose()
        ))
    }

    /// `text` with both keys and the encoded credentials replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let text = redact(text, &self.credentials());
        let text = redact(&text, self.secret_key.expose());
        redact(&text, self.api_key.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, zone: usize) -> Result<CohortSettings> {
        let object = crate::config::parse_document(text).unwrap();
        let raw = crate::config::from_object(&object, "cohort_sync")?;
        CohortSettings::parse(raw, zone, 1 << 20, false)
    }

    #[test]
    fn defaults_urls_and_secrets() {
        let settings = parse(r#"{"api_key": "proj-api", "secret_key": "proj-secret"}"#, 1).unwrap();
        assert_eq!(settings.server_url, COHORT_URL[1]);
        assert_eq!(settings.max_cohort_size, 2_147_483_647);
        assert_eq!(settings.polling_interval, Duration::from_millis(60_000));
        assert_eq!(
            settings.cohort_url("a b", Some(7)),
            "https://cohort-v2.lab.eu.amplitude.com/sdk/v1/cohort/a%20b?maxCohortSize=2147483647&lastModified=7"
        );
        // A shorter interval is raised to the minimum, unless a test lowers the minimum.
        let raised = r#"{"api_key": "a", "secret_key": "s", "cohort_polling_interval_millis": 10}"#;
        assert_eq!(
            parse(raised, 0).unwrap().polling_interval,
            Duration::from_millis(60_000)
        );
        let lowered = r#"{"api_key": "a", "secret_key": "s", "cohort_polling_interval_millis": 10,
                          "min_cohort_polling_interval_millis": 5}"#;
        assert_eq!(
            parse(lowered, 0).unwrap().polling_interval,
            Duration::from_millis(10)
        );
        let floor_only =
            r#"{"api_key": "a", "secret_key": "s", "min_cohort_polling_interval_millis": 5}"#;
        assert_eq!(
            parse(floor_only, 0).unwrap().polling_interval,
            Duration::from_millis(60_000)
        );
        assert!(parse(
            r#"{"api_key": "a", "secret_key": "s", "min_cohort_polling_interval_millis": 0}"#,
            0
        )
        .is_err());
        // base64("proj-api:proj-secret")
        assert_eq!(
            settings.authorization(),
            "Basic cHJvai1hcGk6cHJvai1zZWNyZXQ="
        );
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("proj-secret") && !printed.contains("proj-api"),
            "{printed}"
        );
        assert_eq!(
            settings.redact("proj-api proj-secret cHJvai1hcGk6cHJvai1zZWNyZXQ="),
            "<redacted> <redacted> <redacted>"
        );
    }
}
