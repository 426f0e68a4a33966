//! The Amplitude analytics cookie: its name, and how a device and user id are stored in
//! it, in the classic format and the Browser SDK 2.0 format.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

/// Characters Python's `urllib.parse.quote` leaves as they are: `_ . - ~ /`.
const QUOTE_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// The user a cookie identifies (absent ids are left out).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CookieUser {
    /// The device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The cookie name: `amp_` + the first 6 characters of the API key, or in the new format
/// `AMP_` + the first 10. A shorter key is an `invalid_argument` error.
pub fn cookie_name(api_key: &str, new_format: bool) -> Result<String> {
    let (prefix, length) = if new_format {
        ("AMP_", 10)
    } else {
        ("amp_", 6)
    };
    let head: String = api_key.chars().take(length).collect();
    if head.chars().count() < length {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("the API key is too short for a cookie name: {length} characters are needed"),
        ));
    }
    Ok(format!("{prefix}{head}"))
}

/// A cookie value for a device: `device_id` + ten dots, or in the new format
/// `base64(quote(json({"deviceId": …})))` exactly as the Python SDK writes it.
pub fn generate(device_id: &str, new_format: bool) -> String {
    if !new_format {
        return format!("{device_id}..........");
    }
    let json = format!("{{\"deviceId\": {}}}", python_json_string(device_id));
    BASE64.encode(utf8_percent_encode(&json, QUOTE_SAFE).to_string())
}

/// The user stored in a cookie value. A value that does not decode gives an empty user.
pub fn parse(value: &str, new_format: bool) -> CookieUser {
    if new_format {
        return parse_new(value).unwrap_or_default();
    }
    let mut fields = value.split('.');
    let device_id = fields.next().filter(|d| !d.is_empty()).map(str::to_owned);
    let user_id = fields
        .next()
        .filter(|u| !u.is_empty())
        .and_then(|u| BASE64.decode(u).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    CookieUser { device_id, user_id }
}

fn parse_new(value: &str) -> Option<CookieUser> {
    #[derive(Deserialize)]
    struct Session {
        #[serde(rename = "deviceId")]
        device_id: Option<String>,
        #[serde(rename = "userId")]
        user_id: Option<String>,
    }
    let decoded = String::from_utf8(BASE64.decode(value.trim()).ok()?).ok()?;
    let json = percent_decode_str(&decoded).decode_utf8().ok()?;
    let session: Session = serde_json::from_str(&json).ok()?;
    Some(CookieUser {
        device_id: session.device_id,
        user_id: session.user_id,
    })
}

/// A JSON string literal as Python's `json.dumps` writes it (non-ASCII as `\uXXXX`).
fn python_json_string(text: &str) -> String {
    let escaped = serde_json::Value::String(text.to_owned()).to_string();
    let mut out = String::with_capacity(escaped.len());
    for c in escaped.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_format_matches_the_reference_vector() {
        assert_eq!(
            generate("someDeviceId", true),
            "JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjAlMjJzb21lRGV2aWNlSWQlMjIlN0Q="
        );
    }

    #[test]
    fn both_formats_round_trip() {
        for device in ["someDeviceId", "dé-vice/1", "emoji-😀"] {
            for new_format in [false, true] {
                let user = parse(&generate(device, new_format), new_format);
                assert_eq!(
                    user.device_id.as_deref(),
                    Some(device),
                    "{device} new={new_format}"
                );
                assert_eq!(user.user_id, None);
            }
        }
    }

    #[test]
    fn old_format_decodes_the_base64_user_id() {
        let cookie = format!("dev-1.{}........", BASE64.encode("user@example.com"));
        assert_eq!(
            parse(&cookie, false),
            CookieUser {
                device_id: Some("dev-1".into()),
                user_id: Some("user@example.com".into())
            }
        );
    }

    #[test]
    fn new_format_reads_the_user_id() {
        let json = r#"{"deviceId": "d", "userId": "u"}"#;
        let cookie = BASE64.encode(utf8_percent_encode(json, QUOTE_SAFE).to_string());
        assert_eq!(parse(&cookie, true).user_id.as_deref(), Some("u"));
    }

    #[test]
    fn malformed_values_give_an_empty_user() {
        assert_eq!(parse("%%%not base64", true), CookieUser::default());
        assert_eq!(
            parse(&BASE64.encode("not json"), true),
            CookieUser::default()
        );
        assert_eq!(parse("", false), CookieUser::default());
        assert_eq!(parse("dev.%%%", false).user_id, None);
    }

    #[test]
    fn names_take_six_or_ten_characters_of_the_key() {
        assert_eq!(cookie_name("1234567890abc", false).unwrap(), "amp_123456");
        assert_eq!(
            cookie_name("1234567890abc", true).unwrap(),
            "AMP_1234567890"
        );
        assert_eq!(
            cookie_name("12345", false).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let err = cookie_name("123456789", true).unwrap_err();
        assert!(
            !err.message.contains("123456789"),
            "the key must not be echoed"
        );
    }
}
