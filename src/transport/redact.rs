//! Keys and how they are kept out of every message: [`ApiKey`] (never printed),
//! [`redact`] (a key removed from a text) and [`quote`] (a server's text, redacted, then
//! cut to a length without leaving part of a key at the cut).

use crate::error::{Error, ErrorCode, Result};

/// A deployment key: printed as `<redacted>` by `Debug`, read only with [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The one validation of every provider's keys: a string that is not blank, else an
    /// `invalid_config` error that says which key (`what`) is missing.
    pub fn parse(key: Option<&str>, what: &str) -> Result<ApiKey> {
        match key {
            Some(key) if !key.trim().is_empty() => Ok(ApiKey(key.to_owned())),
            _ => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("{what} is required: a non-empty string"),
            )),
        }
    }

    /// The key itself, for the `Authorization` header and redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Keys shorter than this are redacted only where they stand alone (between characters
/// that cannot be part of a key), so that a short test key such as `k` does not garble
/// `/sdk/v2/flags`; longer keys are redacted wherever they appear.
const SECRET_MIN_LEN: usize = 8;

/// A key prefix this long left at the end of a cut text is redacted too.
const PREFIX_MIN_LEN: usize = 4;

/// Replaces `secret`, raw or as [`query_value`] encodes it, in `text` by `<redacted>`:
/// every occurrence of a key of at least 8 characters; only standalone occurrences of a
/// shorter one (see `SECRET_MIN_LEN`).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let encoded = query_value(secret);
    let mut text = replace_key(text, secret);
    if encoded != secret {
        text = replace_key(&text, &encoded);
    }
    text
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%' | '+' | '/')
}

fn replace_key(text: &str, key: &str) -> String {
    if key.chars().count() >= SECRET_MIN_LEN {
        return text.replace(key, "<redacted>");
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + key.len()..].chars().next();
        let standalone = !before.is_some_and(is_key_char) && !after.is_some_and(is_key_char);
        out.push_str(&rest[..at]);
        out.push_str(if standalone { "<redacted>" } else { key });
        rest = &rest[at + key.len()..];
    }
    out.push_str(rest);
    out
}

/// `text` redacted (see [`redact`]), then cut to at most `max_chars` characters; if the
/// cut leaves the start of the key (raw or encoded, at least 4 characters) at the end,
/// that is redacted too.
pub fn quote(text: &str, secret: &str, max_chars: usize) -> String {
    let redacted = redact(text, secret);
    let Some((cut, _)) = redacted.char_indices().nth(max_chars) else {
        return redacted;
    };
    let mut quoted = redacted[..cut].to_owned();
    if !secret.is_empty() {
        for key in [secret.to_owned(), query_value(secret)] {
            let longest = (PREFIX_MIN_LEN..key.len())
                .rev()
                .filter(|&n| key.is_char_boundary(n))
                .find(|&n| quoted.ends_with(&key[..n]));
            if let Some(n) = longest {
                quoted.truncate(quoted.len() - n);
                quoted.push_str("<redacted>");
                break;
            }
        }
    }
    quoted.push('…');
    quoted
}

/// Characters a URL query value keeps as they are (RFC 3986 unreserved).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a URL query value.
pub fn query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_redacted_everywhere_raw_and_encoded() {
        assert_eq!(
            redact("bad key server-abc in url", "server-abc"),
            "bad key <redacted> in url"
        );
        assert_eq!(redact("nothing", ""), "nothing");
        assert_eq!(query_value("a+b/c=d.e"), "a%2Bb%2Fc%3Dd.e");
        assert_eq!(
            redact("GET /x?apiKey=a%2Bb%3D&y=1 or a+b=", "a+b="),
            "GET /x?apiKey=<redacted>&y=1 or <redacted>"
        );
        assert_eq!(redact("xserver-abcx", "server-abc"), "x<redacted>x");
    }

    #[test]
    fn short_keys_are_redacted_only_where_they_stand_alone() {
        assert_eq!(
            redact("GET http://h/sdk/v2/flags?apiKey=k&x=1 (key k)", "k"),
            "GET http://h/sdk/v2/flags?apiKey=<redacted>&x=1 (key <redacted>)"
        );
        assert_eq!(
            redact("Api-Key abc rejected", "abc"),
            "Api-Key <redacted> rejected"
        );
        assert_eq!(redact("abcdef", "abc"), "abcdef");
    }

    #[test]
    fn a_quote_is_redacted_before_it_is_cut_and_no_key_prefix_survives_the_cut() {
        let key = "server-AMPKEY-0123456789abcdef";
        // The key straddles the cut at 20 characters.
        let body = format!("error for key {key} and more text");
        let quoted = quote(&body, key, 20);
        assert!(!quoted.contains("server-AMP"), "{quoted}");
        assert!(quoted.starts_with("error for key "), "{quoted}");
        // Redacted first: a key inside the quoted part is replaced whole.
        let quoted = quote(&format!("{key} then a long tail of text"), key, 20);
        assert!(quoted.starts_with("<redacted> then"), "{quoted}");
        // Short texts are not cut.
        assert_eq!(quote("short", key, 20), "short");
    }
}
