//! Downloading one cohort: `GET {server}/sdk/v1/cohort/{id}?maxCohortSize=N
//! [&lastModified=T]` with Basic auth, and what each answer means (200 the cohort, 204
//! not modified, 202 still computing, 413 too large, 429 and 5xx retried with backoff).

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::members::Members;
use super::settings::CohortSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::runtime::Control;
use crate::transport::{Http, Request, LIBRARY};

/// The group type of user cohorts.
pub const USER_GROUP_TYPE: &str = "User";

/// The first wait before asking again (202, 429, 5xx), as the vendor waits.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Failed tries (network errors, 5xx) that end a download, as the vendor counts them.
const MAX_ERRORS: u32 = 3;
/// Answers that only ask to wait (202, 429) that end a download.
const MAX_WAITS: u32 = 30;
/// How much of an error body is quoted.
const QUOTE: usize = 200;

/// A downloaded cohort.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Downloaded {
    /// `cohortId`.
    #[serde(rename = "cohortId")]
    pub id: String,
    /// `groupType` (`User` when absent).
    #[serde(default)]
    pub group_type: Option<String>,
    /// `lastModified`, sent back as `lastModified` on the next download.
    pub last_modified: u64,
    /// `size`, as the server counts it.
    #[serde(default)]
    pub size: Option<u64>,
    /// `memberIds`.
    pub member_ids: Members,
}

/// Downloads cohort `id` on `control`'s thread; `held` is the `lastModified` of the copy
/// held. `Ok(None)`: not modified. Waits between tries end early on a stop (an
/// `internal` error that callers drop when they see the stop).
pub fn download(
    control: &Control<()>,
    http: &Http,
    settings: &CohortSettings,
    id: &str,
    held: Option<u64>,
) -> Result<Option<Downloaded>> {
    let url = settings.cohort_url(id, held);
    let headers = vec![
        ("Authorization", settings.authorization()),
        ("X-Amp-Exp-Library", LIBRARY.to_owned()),
    ];
    let mut errors = 0;
    let mut waits = 0;
    let mut delay = RETRY_DELAY;
    loop {
        let request = Request {
            url: &url,
            headers: headers.clone(),
            body: None,
            timeout: settings.request_timeout,
            etag: None,
        };
        let error = match http.send_any(&request) {
            Ok((200, bytes)) => return parse(id, &bytes).map(Some),
            Ok((204, _)) => return Ok(None),
            Ok((202, _)) | Ok((429, _)) => {
                waits += 1;
                if waits >= MAX_WAITS {
                    return Err(Error::new(
                        ErrorCode::Timeout,
                        format!("cohort {id}: the server was still not ready after {waits} tries"),
                    ));
                }
                None
            }
            Ok((413, _)) => {
                return Err(Error::new(
                    ErrorCode::HttpStatus,
                    format!(
                        "cohort {id} has more than max_cohort_size ({}) members (HTTP 413)",
                        settings.max_cohort_size
                    ),
                ))
            }
            Ok((status @ (401 | 403), _)) => {
                return Err(Error::new(
                    ErrorCode::Unauthorized,
                    format!(
                    "cohort {id}: the server rejected the api_key and secret_key (HTTP {status})"
                ),
                ))
            }
            Ok((status, body)) => {
                let quote = String::from_utf8_lossy(&body[..body.len().min(QUOTE)])
                    .trim()
                    .to_owned();
                let error = Error::new(
                    ErrorCode::HttpStatus,
                    format!("cohort {id}: the server answered HTTP {status}: {quote}"),
                );
                if status < 500 {
                    return Err(error);
                }
                Some(error)
            }
            Err(failure) if failure.retryable => Some(failure.error),
            Err(failure) => return Err(failure.error),
        };
        if let Some(error) = error {
            errors += 1;
            if errors >= MAX_ERRORS {
                return Err(Error::new(
                    error.code,
                    format!("{} (after {errors} tries)", error.message),
                ));
            }
        }
        if !control.sleep_until(Instant::now() + delay) {
            return Err(Error::new(
                ErrorCode::Internal,
                format!("cohort {id}: the download was interrupted by a stop"),
            ));
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

fn parse(id: &str, bytes: &[u8]) -> Result<Downloaded> {
    let cohort: Downloaded = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("cohort {id}: the server sent an unusable cohort: {e}"),
        )
    })?;
    if cohort.id != id {
        return Err(Error::new(
            ErrorCode::InvalidResponse,
            format!("cohort {id}: the server sent cohort {} instead", cohort.id),
        ));
    }
    Ok(cohort)
}
