//! Retries with exponential backoff, and jitter.

use std::time::Duration;

use super::Failure;
use crate::error::{Error, Result};

/// Retries with exponential backoff, as the Amplitude SDKs configure them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first attempt's timeout.
    pub first_timeout: Duration,
    /// Each retry's timeout.
    pub retry_timeout: Duration,
    /// The wait before the first retry.
    pub backoff_min: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// The factor applied to the wait after each retry.
    pub backoff_scalar: f64,
}

impl RetryPolicy {
    /// Runs `attempt` (given its timeout) until it succeeds, fails with a non-retryable
    /// failure, or every attempt is spent. The final error keeps the last failure's code
    /// and says how many attempts were made.
    pub fn run<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut(Duration) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let attempts = self.retries.saturating_add(1);
        let mut delay = self.backoff_min;
        let mut made = 0;
        loop {
            made += 1;
            let timeout = if made == 1 {
                self.first_timeout
            } else {
                self.retry_timeout
            };
            let failure = match attempt(timeout) {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !failure.retryable || made >= attempts {
                let plural = if made == 1 { "" } else { "s" };
                return Err(Error::new(
                    failure.error.code,
                    format!(
                        "{what} failed after {made} attempt{plural}; the last one failed: {}",
                        failure.error.message
                    ),
                ));
            }
            std::thread::sleep(delay);
            delay = delay
                .mul_f64(self.backoff_scalar.max(0.0))
                .min(self.backoff_max);
        }
    }
}

/// `base` plus or minus up to `spread`, uniformly (never below zero).
pub fn jittered(base: Duration, spread: Duration) -> Duration {
    let spread_ms = spread.as_millis().min(u128::from(u32::MAX)) as u64;
    if spread_ms == 0 {
        return base;
    }
    let offset = fastrand::u64(0..=2 * spread_ms);
    (base + Duration::from_millis(offset)).saturating_sub(spread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    #[test]
    fn jitter_stays_within_its_spread() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(15_000), Duration::from_millis(1_000));
            assert!(d >= Duration::from_millis(14_000) && d <= Duration::from_millis(16_000));
        }
        assert_eq!(
            jittered(Duration::from_millis(5), Duration::ZERO),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn retries_stop_on_a_non_retryable_failure_and_count_attempts() {
        let policy = RetryPolicy {
            retries: 3,
            first_timeout: Duration::from_millis(100),
            retry_timeout: Duration::from_millis(200),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            backoff_scalar: 2.0,
        };
        let mut timeouts = Vec::new();
        let err = policy
            .run::<()>("fetch", |t| {
                timeouts.push(t);
                Err(Failure::new(ErrorCode::HttpStatus, "HTTP 503".into(), true))
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::HttpStatus);
        assert!(err.message.contains("after 4 attempts"), "{}", err.message);
        assert!(err.message.contains("HTTP 503"), "{}", err.message);
        assert_eq!(
            timeouts,
            [100, 200, 200, 200].map(Duration::from_millis).to_vec()
        );
        let mut calls = 0;
        let err = policy
            .run::<()>("fetch", |_| {
                calls += 1;
                Err(Failure::new(
                    ErrorCode::HttpStatus,
                    "HTTP 400".into(),
                    false,
                ))
            })
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.message.contains("after 1 attempt;"), "{}", err.message);
    }
}
