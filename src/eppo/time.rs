//! RFC 3339 timestamps as milliseconds since the Unix epoch (UTC): parsed with the `time`
//! crate, written by hand.

use time::format_description::well_known::Rfc3339;
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

/// Appends `ms` formatted as by [`format_rfc3339`] to `out` (nothing for an instant
/// outside the years 1–9999). Written by hand (every assignment event carries one; the
/// `time` crate's formatter costs several times more); the tests check it against that
/// formatter.
pub fn write_rfc3339(out: &mut String, ms: i64) {
    if !WRITABLE_MS.contains(&ms) {
        return;
    }
    let (year, month, day) = civil_from_days(ms.div_euclid(86_400_000));
    let of_day = ms.rem_euclid(86_400_000);
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            // A digit: value % 10 is 0..=9 (the fields are non-negative here).
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3_600_000);
    put(14, 2, of_day / 60_000 % 60);
    put(17, 2, of_day / 1000 % 60);
    put(20, 3, of_day % 1000);
    out.extend(text.iter().map(|&b| char::from(b)));
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

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
