//! Semantic versions as Amplitude compares them: `MAJOR.MINOR[.PATCH[-PRERELEASE]]`.

use std::cmp::Ordering;

/// A parsed version. A version with a prerelease sorts below the same version without;
/// prereleases compare as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: i32,
    minor: i32,
    patch: i32,
    prerelease: Option<String>,
}

impl Version {
    /// Parses `MAJOR.MINOR[.PATCH[-PRERELEASE]]` (numbers fit an `i32`; the prerelease is
    /// one or more word characters, `-` and single dots, not starting with a dot). Anything
    /// else is not a version (`1`, `1.10.`, `v1.2`, `1.2.3-`).
    pub fn parse(text: &str) -> Option<Version> {
        let (core, prerelease) = match text.find('-') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let mut parts = core.split('.');
        let major = parse_number(parts.next()?)?;
        let minor = parse_number(parts.next()?)?;
        let patch = match parts.next() {
            Some(p) => Some(parse_number(p)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        let prerelease = match prerelease {
            None => None,
            // A prerelease needs a patch number before it.
            Some(_) if patch.is_none() => return None,
            Some(p) if !valid_prerelease(p) => return None,
            Some(p) => Some(p.to_owned()),
        };
        Some(Version {
            major,
            minor,
            patch: patch.unwrap_or(0),
            prerelease,
        })
    }
}

fn parse_number(digits: &str) -> Option<i32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn valid_prerelease(text: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let bytes = text.as_bytes();
    if matches!(bytes.first(), None | Some(b'.')) {
        return false;
    }
    bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| word(b) || (b == b'.' && bytes[i - 1] != b'.'))
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.prerelease, &other.prerelease) {
                (None, None) => Ordering::Equal,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn accepts_major_minor_with_optional_patch_and_prerelease() {
        assert_eq!(v("1.2"), v("1.2.0"));
        assert!(v("1.2.3-alpha.1") < v("1.2.3"));
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("2.0.0-beta") > v("2.0.0-alpha"));
        assert!(v("1.2.3-rc_1-x") < v("1.2.3"));
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        for text in [
            "1",
            "1.10.",
            "v1.2",
            "1.2.3.4",
            "1.2-beta",
            "",
            "1..2",
            "1.2.3-.a",
            "1.2.3-a..b",
            "1.2.3-",
            "99999999999.1",
        ] {
            assert!(Version::parse(text).is_none(), "{text} must not parse");
        }
    }
}
