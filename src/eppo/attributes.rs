//! Subject attributes of the fast lane, borrowed from the caller's input: names and string
//! values point into the JSON text or the marshal bytes instead of being copied into a
//! `serde_json::Map` on every call.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// One attribute value, its string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum BorrowedValue<'a> {
    /// `null` / `None`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Cow<'a, str>),
    /// An array or an object (conditions only ever see that it is not null).
    Composite(Value),
}

/// Above this many attributes, lookups search a sorted copy instead of scanning.
const SCANNED: usize = 16;

/// A subject's attributes as `(name, value)` pairs in input order; a repeated name means
/// its last value, as in a JSON object read into a map.
#[derive(Debug, Default)]
pub struct BorrowedAttributes<'a> {
    entries: Vec<(Cow<'a, str>, BorrowedValue<'a>)>,
    /// Whether `entries` is sorted by name (stably: repeated names keep their order).
    sorted: bool,
}

impl<'a> BorrowedAttributes<'a> {
    /// The attributes `entries`, in input order.
    pub fn new(mut entries: Vec<(Cow<'a, str>, BorrowedValue<'a>)>) -> Self {
        // A few attributes are scanned faster than they are sorted and searched; many
        // (a hostile input) must not cost a scan per condition.
        let sorted = entries.len() > SCANNED;
        if sorted {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        BorrowedAttributes { entries, sorted }
    }

    /// Reads a JSON object, borrowing from `text` what needs no unescaping.
    pub fn from_json(text: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// The value of the attribute `name`, if the subject has it.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&BorrowedValue<'a>> {
        if self.sorted {
            return self.search(name);
        }
        let entry = self.entries.iter().rev().find(|(key, _)| key == name);
        entry.map(|(_, value)| value)
    }

    /// [`BorrowedAttributes::get`] on sorted entries.
    #[inline(never)]
    fn search(&self, name: &str) -> Option<&BorrowedValue<'a>> {
        let end = self
            .entries
            .partition_point(|(key, _)| key.as_ref() <= name);
        let entry = self.entries[..end].last().filter(|(key, _)| key == name);
        entry.map(|(_, value)| value)
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every `(name, value)` pair, in no particular order; a repeated name appears once
    /// per occurrence, its last value last.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BorrowedValue<'a>)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_ref(), value))
    }
}

impl<'de> Deserialize<'de> for BorrowedAttributes<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = BorrowedAttributes<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As `serde_json::Map` says it, so that errors read as they did.
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(BorrowedAttributes::new(entries))
    }
}

/// A string, borrowed when the input allows.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(ValueVisitor)
            .and_then(|value| match value {
                BorrowedValue::String(text) => Ok(Text(text)),
                _ => Err(de::Error::custom("a key that is not a string")),
            })
    }
}

impl<'de> Deserialize<'de> for BorrowedValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Builds a [`BorrowedValue`] from the same calls `serde_json::Value` is built from.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = BorrowedValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(f).map_or(BorrowedValue::Null, BorrowedValue::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(BorrowedValue::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(BorrowedValue::Composite)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(BorrowedValue::Composite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_map(attributes: &BorrowedAttributes<'_>) -> Value {
        attributes
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    BorrowedValue::Null => Value::Null,
                    BorrowedValue::Bool(b) => Value::Bool(*b),
                    BorrowedValue::Number(n) => Value::Number(n.clone()),
                    BorrowedValue::String(s) => Value::from(s.as_ref()),
                    BorrowedValue::Composite(v) => v.clone(),
                };
                (key.to_owned(), value)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    #[test]
    fn reads_json_as_serde_json_reads_it() {
        for text in [
            r#"{"a": 1, "b": -2, "c": 1.5, "e": "x\ny", "f": "plain"}"#,
            r#"{"d": 1e400}"#,
            r#"{"n": null, "t": true, "f": false, "u": 18446744073709551615, "z": -0}"#,
            r#"{"list": [1, "a", {"k": null}], "object": {"nested": [true]}}"#,
            r#"{"dup": 1, "other": 2, "dup": "last"}"#,
            r#"{"é\u00e9": "\ud83d\ude00", "": ""}"#,
            "{}",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            match BorrowedAttributes::from_json(text) {
                Ok(attributes) => assert_eq!(as_map(&attributes), expected, "{text}"),
                Err(e) => assert!(expected.is_null(), "{text}: {e}"),
            }
        }
    }

    #[test]
    fn borrows_strings_without_escapes() {
        let text = r#"{"name": "plain", "esc\"aped": "a\tb"}"#;
        let attributes = BorrowedAttributes::from_json(text).unwrap();
        let mut borrowed = 0;
        for (key, value) in &attributes.entries {
            for cow in [
                Some(key),
                Some(value).and_then(|v| match v {
                    BorrowedValue::String(s) => Some(s),
                    _ => None,
                }),
            ]
            .into_iter()
            .flatten()
            {
                borrowed += usize::from(matches!(cow, Cow::Borrowed(_)));
            }
        }
        assert_eq!(borrowed, 2, "{:?}", attributes.entries);
        assert_eq!(
            attributes.get("esc\"aped"),
            Some(&BorrowedValue::String("a\tb".into()))
        );
    }

    #[test]
    fn refuses_what_a_map_refuses_with_the_same_message() {
        for text in [
            r#"["a"]"#,
            r#""x""#,
            "7",
            "null",
            r#"{"a": 1"#,
            r#"{"a": 1} x"#,
        ] {
            let ours = BorrowedAttributes::from_json(text).unwrap_err();
            let map = serde_json::from_str::<serde_json::Map<String, Value>>(text).unwrap_err();
            assert_eq!(ours.to_string(), map.to_string(), "{text}");
            assert_eq!(ours.classify(), map.classify(), "{text}");
        }
    }

    #[test]
    fn the_last_of_repeated_names_wins_scanned_or_sorted() {
        for count in [3, SCANNED + 5] {
            let mut entries: Vec<_> = (0..count)
                .map(|i| (Cow::Owned(format!("k{i}")), BorrowedValue::Number(i.into())))
                .collect();
            entries.insert(1, ("k2".into(), BorrowedValue::Bool(true)));
            entries.push(("k1".into(), BorrowedValue::Null));
            let attributes = BorrowedAttributes::new(entries);
            assert_eq!(attributes.sorted, count > SCANNED);
            assert_eq!(attributes.get("k1"), Some(&BorrowedValue::Null));
            assert_eq!(attributes.get("k2"), Some(&BorrowedValue::Number(2.into())));
            assert_eq!(attributes.get("k0"), Some(&BorrowedValue::Number(0.into())));
            let last = format!("k{}", count - 1);
            assert!(attributes.get(&last).is_some());
            for absent in ["", "k", "k99", "l", "j"] {
                assert_eq!(attributes.get(absent), None, "{absent}");
            }
        }
    }
}
