//! The wall clock, in milliseconds since the Unix epoch: for timestamps in events and
//! the status document, and for evaluating dates. Durations use `Instant`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (0 if the system clock is set before 1970).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`now_millis`] as a signed number, for arithmetic with parsed dates (which may
/// precede the epoch).
pub fn now_millis_signed() -> i64 {
    i64::try_from(now_millis()).unwrap_or(i64::MAX)
}
