//! RFC 3339 timestamps as milliseconds since the Unix epoch (UTC), with the `time` crate.

use std::cell::Cell;

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// Parses an RFC 3339 date-time (`2024-04-17T19:40:53.716Z`, `2024-04-17T21:40:53+02:00`)
/// into milliseconds since the Unix epoch. Fractions beyond milliseconds are truncated.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let instant = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(instant.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// The first and last instants [`format_rfc3339`] can write: 0001-01-01T00:00:00.000Z and
/// 9999-12-31T23:59:59.999Z, in milliseconds since the epoch.
pub const WRITABLE_MS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_rfc3339(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, ms);
    out
}

/// `YYYY-MM-DDTHH:MM:SS`, as Eppo writes the whole seconds of a timestamp.
const SECONDS_UTC: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

thread_local! {
    /// The last whole second written on this thread and its text: every event of one
    /// second shares it, so the `time` crate formats a second once per thread (the
    /// formatter costs several times an assignment; plain data, safe across fork).
    static LAST_SECOND: Cell<Option<(i64, [u8; 19])>> = const { Cell::new(None) };
}

/// Appends `ms` formatted as by [`format_rfc3339`] to `out` (nothing for an instant
/// outside the years 1–9999).
pub fn write_rfc3339(out: &mut String, ms: i64) {
    if let Some(text) = rfc3339_bytes(ms) {
        // Only ASCII was written.
        out.extend(text.iter().map(|&b| char::from(b)));
    }
}

/// `ms` formatted as by [`format_rfc3339`], as ASCII bytes (`None` for an instant outside
/// the years 1–9999).
pub fn rfc3339_bytes(ms: i64) -> Option<[u8; 24]> {
    if !WRITABLE_MS.contains(&ms) {
        return None;
    }
    let second = ms.div_euclid(1000);
    let cached = LAST_SECOND
        .get()
        .filter(|(at, _)| *at == second)
        .map(|(_, text)| text);
    let text = cached.or_else(|| {
        let formatted = OffsetDateTime::from_unix_timestamp(second)
            .ok()?
            .format(SECONDS_UTC)
            .ok()?;
        let text: [u8; 19] = formatted.as_bytes().try_into().ok()?;
        LAST_SECOND.set(Some((second, text)));
        Some(text)
    })?;
    let millis = ms.rem_euclid(1000);
    let mut out = [0u8; 24];
    out[..19].copy_from_slice(&text);
    out[19] = b'.';
    out[20] = b'0' + (millis / 100) as u8;
    out[21] = b'0' + (millis / 10 % 10) as u8;
    out[22] = b'0' + (millis % 10) as u8;
    out[23] = b'Z';
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in the `time` crate's terms: the oracle.
    const MILLIS_UTC: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

    fn by_the_time_crate(ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .format(MILLIS_UTC)
            .unwrap()
    }

    #[test]
    fn writes_what_the_time_crate_writes() {
        // Leap days and century years, then instants a pseudo-random walk of 1 to 61
        // days apart over years 1 to 9999 (each with the millisecond before it and the
        // day's last millisecond).
        for text in [
            "0004-02-29T12:00:00.000Z",
            "1900-02-28T23:59:59.999Z",
            "1900-03-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "2100-03-01T00:00:00.001Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(text).unwrap()), text);
        }
        let mut ms = *WRITABLE_MS.start();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        while ms <= *WRITABLE_MS.end() {
            for probe in [ms, ms - 1, ms + 86_399_999] {
                if WRITABLE_MS.contains(&probe) {
                    assert_eq!(format_rfc3339(probe), by_the_time_crate(probe), "{probe}");
                }
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Up to about 60 days ahead, at any millisecond of the day.
            ms += 86_400_000 + i64::try_from(state % 5_184_000_000).unwrap();
        }
    }

    #[test]
    fn parses_utc_with_millis() {
        // 2024-04-17 is day 19830 since the epoch (54 years incl. 13 leap days + 107 days).
        let expected = (19_830 * 86_400 + 19 * 3600 + 40 * 60 + 53) * 1000 + 716;
        assert_eq!(parse_rfc3339("2024-04-17T19:40:53.716Z"), Some(expected));
    }

    #[test]
    fn offsets_and_fractions() {
        let utc = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2024-01-01T02:00:00+02:00"), Some(utc));
        assert_eq!(parse_rfc3339("2023-12-31T23:30:00-00:30"), Some(utc));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00.5Z"), Some(utc + 500));
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.123456789Z"),
            Some(utc + 123)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T00:00:00+0200",
            "２０24-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn the_writable_range_is_years_1_to_9999() {
        assert_eq!(
            format_rfc3339(*WRITABLE_MS.start()),
            "0001-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339(*WRITABLE_MS.end()),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(format_rfc3339(WRITABLE_MS.end() + 1), "");
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59-23:59").map(|ms| WRITABLE_MS.contains(&ms)),
            Some(false)
        );
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        for text in [
            "2024-04-17T19:40:53.716Z",
            "2000-02-29T12:00:00.001Z",
            "2052-10-31T09:00:00.594Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(text).unwrap()), text);
        }
    }
}
