//! A reader for the compact binary input of the fast lane: CPython's `marshal` format,
//! version 2, restricted to what JSON can say (None, bool, int, float, str, list, tuple,
//! dict with str keys). A binding writes it with `marshal.dumps(value, 2)`, several times
//! faster than encoding JSON; anything else (bytes, sets, integers beyond 64 bits, NaN,
//! a key that is not a string) is refused, and the binding then sends JSON instead.
//!
//! The reader is a serde [`Deserializer`](de::Deserializer): strings are borrowed from the
//! input, None is an absent `Option`, and a struct is a tuple or list of its fields in
//! declaration order (never a dict), so typed inputs get serde's own type checks.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::eppo::attributes::{BorrowedAttributes, BorrowedValue};
use crate::error::{Error, ErrorCode, Result};

/// Most containers nested in one another: 127, as serde_json reads JSON (it refuses the
/// 128th), so that a value reads in either form or in neither.
const MAX_DEPTH: usize = 127;

/// Reads one marshal document, which must span all of `bytes`, as a JSON value.
pub fn read(bytes: &[u8]) -> Result<Value> {
    from_bytes(bytes)
}

/// Deserializes a `T` from one marshal document that must span all of `bytes`, borrowing
/// its strings from `bytes`. A refusal is `invalid_argument`, naming the byte offset.
pub fn from_bytes<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    let mut reader = Reader {
        bytes,
        at: 0,
        depth: 0,
    };
    let value = T::deserialize(&mut reader);
    reader.finish(value)
}

/// Reads a marshalled dict with str keys, borrowing its keys and strings from `bytes`;
/// `None` for a valid document of another type.
pub fn read_attributes(bytes: &[u8]) -> Result<Option<BorrowedAttributes<'_>>> {
    if bytes.first() != Some(&b'{') {
        return read(bytes).map(|_| None);
    }
    // The dict's `{` read: its members are one container deep.
    let mut reader = Reader {
        bytes,
        at: 1,
        depth: 1,
    };
    let entries = reader.attributes();
    reader
        .finish(entries)
        .map(|entries| Some(BorrowedAttributes::new(entries)))
}

/// `bytes` as UTF-8 text: ASCII (checked a word at a time) at once, anything else through
/// `from_utf8`, several times slower on the short strings of an assignment.
pub fn utf8(bytes: &[u8]) -> std::result::Result<&str, std::str::Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
}

/// Why an input was refused (the reader's error type; see [`from_bytes`]).
#[derive(Debug)]
struct Refusal(String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl de::Error for Refusal {
    fn custom<T: fmt::Display>(what: T) -> Self {
        Refusal(what.to_string())
    }
}

type Read<T> = std::result::Result<T, Refusal>;

fn refuse<T>(what: &str) -> Read<T> {
    Err(Refusal(what.to_owned()))
}

/// A `TYPE_LONG` that fits 64 bits.
enum Long {
    Negative(i64),
    NonNegative(u64),
}

/// A position in a marshal document, and how deep in containers it is.
struct Reader<'de> {
    bytes: &'de [u8],
    at: usize,
    depth: usize,
}

impl<'de> Reader<'de> {
    /// What a read came to: a refusal, or bytes left after the value, is
    /// `invalid_argument` naming the byte offset.
    fn finish<T>(&self, read: Read<T>) -> Result<T> {
        let read = read.and_then(|value| {
            if self.at == self.bytes.len() {
                Ok(value)
            } else {
                refuse("trailing bytes after the value")
            }
        });
        read.map_err(|Refusal(what)| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!("unsupported marshal input at byte {}: {what}", self.at),
            )
        })
    }

    fn take(&mut self, n: usize) -> Read<&'de [u8]> {
        let bytes = self.bytes;
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| Refusal("truncated".to_owned()))?;
        let taken = &bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Read<u8> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Read<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length or count: non-negative, and at most the bytes left (every item takes
    /// at least one byte), so a forged count cannot make us allocate.
    fn count(&mut self) -> Read<usize> {
        let n = self.i32()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.at)
            .ok_or_else(|| Refusal("bad length".to_owned()))
    }

    /// The text of a `TYPE_UNICODE` (its type byte already read).
    fn str(&mut self) -> Read<&'de str> {
        let n = self.count()?;
        utf8(self.take(n)?).map_err(|_| Refusal("a string that is not UTF-8".to_owned()))
    }

    /// The members of [`read_attributes`]'s dict (its `{` read), up to its `0`.
    fn attributes(&mut self) -> Read<Vec<(Cow<'de, str>, BorrowedValue<'de>)>> {
        let mut entries = Vec::new();
        loop {
            match self.byte()? {
                b'0' => return Ok(entries),
                b'u' => {
                    let key = self.str()?;
                    entries.push((Cow::Borrowed(key), self.attribute()?));
                }
                _ => return refuse("a dict key that is not a str"),
            }
        }
    }

    /// A member of [`read_attributes`]'s dict: strings borrowed.
    fn attribute(&mut self) -> Read<BorrowedValue<'de>> {
        let start = self.at;
        Ok(match self.byte()? {
            b'N' => BorrowedValue::Null,
            b'T' => BorrowedValue::Bool(true),
            b'F' => BorrowedValue::Bool(false),
            b'u' => BorrowedValue::String(Cow::Borrowed(self.str()?)),
            _ => {
                self.at = start;
                match Value::deserialize(&mut *self)? {
                    Value::Number(n) => BorrowedValue::Number(n),
                    other => BorrowedValue::Composite(other),
                }
            }
        })
    }

    /// `TYPE_LONG`: a signed count of 15-bit digits, least significant first.
    fn long(&mut self) -> Read<Long> {
        let n = self.i32()?;
        let digits = n.unsigned_abs() as usize;
        if digits > 5 {
            return refuse("an integer beyond 64 bits");
        }
        let mut magnitude: u128 = 0;
        for i in 0..digits {
            let b = self.take(2)?;
            let digit = u16::from_le_bytes([b[0], b[1]]);
            if digit >= 1 << 15 {
                return refuse("a bad integer digit");
            }
            magnitude |= u128::from(digit) << (15 * i);
        }
        if n < 0 {
            // -(2**63) is the one negative whose magnitude is not an i64.
            match i64::try_from(magnitude) {
                Ok(m) => Ok(Long::Negative(-m)),
                Err(_) if magnitude == 1 << 63 => Ok(Long::Negative(i64::MIN)),
                Err(_) => refuse("an integer beyond 64 bits"),
            }
        } else {
            u64::try_from(magnitude)
                .map(Long::NonNegative)
                .or_else(|_| refuse("an integer beyond 64 bits"))
        }
    }

    /// Runs `visit` one container deeper.
    fn nested<T>(&mut self, visit: impl FnOnce(&mut Self) -> Read<T>) -> Read<T> {
        if self.depth == MAX_DEPTH {
            return refuse("nested too deeply");
        }
        self.depth += 1;
        let value = visit(self)?;
        self.depth -= 1;
        Ok(value)
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Refusal;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Read<V::Value> {
        match self.byte()? {
            b'N' => visitor.visit_unit(),
            b'T' => visitor.visit_bool(true),
            b'F' => visitor.visit_bool(false),
            b'i' => visitor.visit_i64(self.i32()?.into()),
            b'l' => match self.long()? {
                Long::Negative(n) => visitor.visit_i64(n),
                Long::NonNegative(n) => visitor.visit_u64(n),
            },
            b'g' => {
                let b = self.take(8)?;
                let float = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if !float.is_finite() {
                    return refuse("a float that is not finite");
                }
                visitor.visit_f64(float)
            }
            b'u' => visitor.visit_borrowed_str(self.str()?),
            b'[' | b'(' => {
                let left = self.count()?;
                self.nested(|reader| {
                    let mut items = Items { reader, left };
                    let value = visitor.visit_seq(&mut items)?;
                    if items.left != 0 {
                        return refuse("more items than expected");
                    }
                    Ok(value)
                })
            }
            b'{' => self.nested(|reader| {
                let mut entries = Entries {
                    reader,
                    done: false,
                };
                let value = visitor.visit_map(&mut entries)?;
                if !entries.done {
                    return refuse("more dict entries than expected");
                }
                Ok(value)
            }),
            _ => refuse("a type JSON does not have"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Read<V::Value> {
        if self.bytes.get(self.at) == Some(&b'N') {
            self.at += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Read<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    /// A struct is positional: a tuple or list of its fields, never a dict.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Read<V::Value> {
        match self.bytes.get(self.at) {
            Some(b'(' | b'[') => self.deserialize_any(visitor),
            _ => refuse("a struct that is not a tuple or list"),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The items of a tuple or list.
struct Items<'r, 'de> {
    reader: &'r mut Reader<'de>,
    left: usize,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Refusal;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Read<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The entries of a dict, up to its `0` (`TYPE_NULL`) terminator.
struct Entries<'r, 'de> {
    reader: &'r mut Reader<'de>,
    done: bool,
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Refusal;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Read<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        match self.reader.byte()? {
            b'0' => {
                self.done = true;
                Ok(None)
            }
            b'u' => {
                let key = self.reader.str()?;
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            _ => refuse("a dict key that is not a str"),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Read<V::Value> {
        seed.deserialize(&mut *self.reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Written by CPython 3.11: marshal.dumps(value, 2).
    #[test]
    fn reads_what_cpython_writes() {
        // {"a": 1, "b": [None, True, False], "c": 1.5, "d": "é"}
        let doc = b"{u\x01\x00\x00\x00ai\x01\x00\x00\x00u\x01\x00\x00\x00b[\x03\x00\x00\x00NTFu\x01\x00\x00\x00cg\x00\x00\x00\x00\x00\x00\xf8?u\x01\x00\x00\x00du\x02\x00\x00\x00\xc3\xa90";
        assert_eq!(
            read(doc).unwrap(),
            json!({"a": 1, "b": [null, true, false], "c": 1.5, "d": "é"})
        );
        // (1, -2) as a tuple: an array.
        let tuple = b"(\x02\x00\x00\x00i\x01\x00\x00\x00i\xfe\xff\xff\xff";
        assert_eq!(read(tuple).unwrap(), json!([1, -2]));
    }

    #[test]
    fn reads_64_bit_integers_and_refuses_larger_ones() {
        // 2**40 = digits [0, 0, 1024] (15 bits each); -(2**63) and 2**64 - 1.
        let big = b"l\x03\x00\x00\x00\x00\x00\x00\x00\x00\x04";
        assert_eq!(read(big).unwrap(), json!(1u64 << 40));
        let min = b"l\xfb\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x08\x00";
        assert_eq!(read(min).unwrap(), json!(i64::MIN));
        let max = b"l\x05\x00\x00\x00\xff\x7f\xff\x7f\xff\x7f\xff\x7f\x0f\x00";
        assert_eq!(read(max).unwrap(), json!(u64::MAX));
        // 2**64: refused (the binding sends JSON instead).
        let over = b"l\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00";
        assert!(read(over).is_err());
        let over_negative = b"l\xfb\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00\x08\x00";
        assert!(read(over_negative).is_err());
    }

    #[test]
    fn refuses_what_json_cannot_say_and_broken_input() {
        for bad in [
            &b""[..],
            b"s\x01\x00\x00\x00a",                // bytes
            b"<\x00\x00\x00\x00",                 // set
            b"g\x00\x00\x00\x00\x00\x00\xf8\x7f", // NaN
            b"{i\x01\x00\x00\x00N0",              // an int key
            b"u\x02\x00\x00\x00\xff\xfe",         // not UTF-8
            b"u\xff\xff\xff\x7f",                 // a length past the end
            b"[\xff\xff\xff\xff",                 // a negative count
            b"NN",                                // trailing bytes
            b"{u\x01\x00\x00\x00a",               // truncated
            b"\xe9\x01\x00\x00\x00",              // FLAG_REF (version 3+)
        ] {
            let err = read(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad:?}");
        }
        let deep = [b"[\x01\x00\x00\x00".repeat(200), b"N".to_vec()].concat();
        assert!(read(&deep).is_err());
    }

    /// 127 nested lists read, 128 do not: the limit of serde_json on the same value.
    #[test]
    fn nesting_is_limited_as_json_is() {
        let marshalled = |n: usize| [b"[\x01\x00\x00\x00".repeat(n), b"N".to_vec()].concat();
        let json = |n: usize| format!("{}null{}", "[".repeat(n), "]".repeat(n));
        for (n, readable) in [(127, true), (128, false)] {
            assert_eq!(read(&marshalled(n)).is_ok(), readable, "{n}");
            assert_eq!(
                serde_json::from_str::<Value>(&json(n)).is_ok(),
                readable,
                "{n}"
            );
        }
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Pair<'a> {
        name: &'a str,
        size: Option<u32>,
    }

    /// A struct is a tuple of its fields in order (None an absent `Option`), with its
    /// strings borrowed from the input; another length, a dict or a wrong type is refused.
    #[test]
    fn structs_are_positional_and_borrow_their_strings() {
        // ("ab", None) and ["ab", 7]
        let tuple = b"(\x02\x00\x00\x00u\x02\x00\x00\x00abN";
        let pair: Pair<'_> = from_bytes(tuple).unwrap();
        assert_eq!(
            pair,
            Pair {
                name: "ab",
                size: None
            }
        );
        assert_eq!(pair.name.as_ptr(), tuple[10..].as_ptr());
        let list = b"[\x02\x00\x00\x00u\x02\x00\x00\x00abi\x07\x00\x00\x00";
        assert_eq!(from_bytes::<Pair<'_>>(list).unwrap().size, Some(7));
        for bad in [
            &b"(\x01\x00\x00\x00u\x02\x00\x00\x00ab"[..], // too short
            b"(\x03\x00\x00\x00u\x02\x00\x00\x00abNN",    // too long
            b"(\x02\x00\x00\x00i\x01\x00\x00\x00N",       // a name that is not a str
            b"(\x02\x00\x00\x00u\x02\x00\x00\x00abi\xff\xff\xff\xff", // a negative size
            b"{u\x04\x00\x00\x00nameu\x02\x00\x00\x00ab0", // a dict
            b"N",
        ] {
            let err = from_bytes::<Pair<'_>>(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad:?}");
            assert!(
                err.message.starts_with("unsupported marshal input at byte"),
                "{err}"
            );
        }
    }

    #[test]
    fn utf8_takes_ascii_at_once_and_checks_the_rest() {
        assert_eq!(utf8(b"plain key 42"), Ok("plain key 42"));
        assert_eq!(utf8("é or 😀".as_bytes()), Ok("é or 😀"));
        assert_eq!(utf8(b"ab\xffcd").unwrap_err().valid_up_to(), 2);
        assert_eq!(utf8(b"\xc3").unwrap_err().valid_up_to(), 0);
    }

    #[test]
    fn attributes_borrow_what_read_would_copy() {
        // {"a": 1, "b": [None, True, False], "c": 1.5, "d": "é", "e": None, "f": {"g": "h"}}
        let doc = b"{u\x01\x00\x00\x00ai\x01\x00\x00\x00u\x01\x00\x00\x00b[\x03\x00\x00\x00NTFu\x01\x00\x00\x00cg\x00\x00\x00\x00\x00\x00\xf8?u\x01\x00\x00\x00du\x02\x00\x00\x00\xc3\xa9u\x01\x00\x00\x00eNu\x01\x00\x00\x00f{u\x01\x00\x00\x00gu\x01\x00\x00\x00h00";
        let attributes = read_attributes(doc).unwrap().expect("a dict");
        let Value::Object(map) = read(doc).unwrap() else {
            panic!("a dict")
        };
        assert_eq!(attributes.iter().count(), map.len());
        for (key, value) in &map {
            let expected = match value {
                Value::Null => BorrowedValue::Null,
                Value::Bool(b) => BorrowedValue::Bool(*b),
                Value::Number(n) => BorrowedValue::Number(n.clone()),
                Value::String(s) => BorrowedValue::String(Cow::Borrowed(s)),
                other => BorrowedValue::Composite(other.clone()),
            };
            assert_eq!(attributes.get(key), Some(&expected), "{key}");
        }
        assert!(matches!(
            attributes.get("d"),
            Some(BorrowedValue::String(Cow::Borrowed("é")))
        ));
        // Another type of document: no attributes, but no error either.
        assert!(read_attributes(b"(\x00\x00\x00\x00").unwrap().is_none());
    }

    #[test]
    fn attributes_refuse_what_read_refuses_with_the_same_error() {
        for bad in [
            &b""[..],
            b"{i\x01\x00\x00\x00N0",
            b"{u\x01\x00\x00\x00a",
            b"{u\x01\x00\x00\x00a<\x00\x00\x00\x000",
            b"{u\x01\x00\x00\x00au\x02\x00\x00\x00\xff\xfe0",
            b"{u\x01\x00\x00\x00ag\x00\x00\x00\x00\x00\x00\xf8\x7f0",
            b"{u\x01\x00\x00\x00a[\x01\x00\x00\x00s\x00\x00\x00\x000",
            b"{0N",
            b"[\xff\xff\xff\xff",
        ] {
            let ours = read_attributes(bad).unwrap_err();
            let theirs = read(bad).unwrap_err();
            assert_eq!(ours.code, theirs.code, "{bad:?}");
            assert_eq!(ours.message, theirs.message, "{bad:?}");
        }
        let deep = [
            b"{u\x01\x00\x00\x00a".to_vec(),
            b"[\x01\x00\x00\x00".repeat(200),
            b"N0".to_vec(),
        ]
        .concat();
        assert_eq!(
            read_attributes(&deep).unwrap_err().message,
            read(&deep).unwrap_err().message
        );
    }
}
