//! RFC 3339 timestamps as milliseconds since the Unix epoch (UTC), with the `time` crate.

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Eppo writes timestamps.
const MILLIS_UTC: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

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

/// Appends `ms` formatted as by [`format_rfc3339`] to `out` (nothing for an instant
/// outside the years 1–9999).
pub fn write_rfc3339(out: &mut String, ms: i64) {
    let formatted = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|instant| instant.format(MILLIS_UTC).ok());
    if let Some(text) = formatted {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
