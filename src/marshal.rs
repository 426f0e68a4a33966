//! A reader for the compact binary input of the fast lane: CPython's `marshal` format,
//! version 2, restricted to what JSON can say (None, bool, int, float, str, list, tuple,
//! dict with str keys). A binding writes it with `marshal.dumps(value, 2)`, several times
//! faster than encoding JSON; anything else (bytes, sets, integers beyond 64 bits, NaN,
//! a key that is not a string) is refused, and the binding then sends JSON instead.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::eppo::attributes::{BorrowedAttributes, BorrowedValue};
use crate::error::{Error, ErrorCode, Result};

/// Deepest nesting accepted (serde_json's own limit is 128 too).
const MAX_DEPTH: usize = 128;

/// Reads one marshal document, which must span all of `bytes`, as a JSON value.
pub fn read(bytes: &[u8]) -> Result<Value> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(0)?;
    if reader.at != bytes.len() {
        return Err(reader.error("trailing bytes after the value"));
    }
    Ok(value)
}

/// Reads a marshalled dict with str keys, borrowing its keys and strings from `bytes`;
/// `None` for a valid document of another type.
pub fn read_attributes(bytes: &[u8]) -> Result<Option<BorrowedAttributes<'_>>> {
    if bytes.first() != Some(&b'{') {
        return read(bytes).map(|_| None);
    }
    let mut reader = Reader { bytes, at: 1 };
    let mut entries = Vec::new();
    reader.dict(|reader, key| {
        entries.push((Cow::Borrowed(key), reader.attribute()?));
        Ok(())
    })?;
    if reader.at != bytes.len() {
        return Err(reader.error("trailing bytes after the value"));
    }
    Ok(Some(BorrowedAttributes::new(entries)))
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

/// A position in a marshal document.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> Error {
        Error::new(
            ErrorCode::InvalidArgument,
            format!("unsupported marshal input at byte {}: {what}", self.at),
        )
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.error("truncated"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length or count: non-negative, and at most the bytes left (every item takes
    /// at least one byte), so a forged count cannot make us allocate.
    fn count(&mut self) -> Result<usize> {
        let n = self.i32()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.at)
            .ok_or_else(|| self.error("bad length"))
    }

    fn string(&mut self) -> Result<&'a str> {
        let n = self.count()?;
        let raw = self.take(n)?;
        utf8(raw).map_err(|_| self.error("a string that is not UTF-8"))
    }

    /// `TYPE_LONG`: a signed count of 15-bit digits, least significant first.
    fn long(&mut self) -> Result<Value> {
        let n = self.i32()?;
        let digits = n.unsigned_abs() as usize;
        if digits > 5 {
            return Err(self.error("an integer beyond 64 bits"));
        }
        let mut magnitude: u128 = 0;
        for i in 0..digits {
            let b = self.take(2)?;
            let digit = u16::from_le_bytes([b[0], b[1]]);
            if digit >= 1 << 15 {
                return Err(self.error("a bad integer digit"));
            }
            magnitude |= u128::from(digit) << (15 * i);
        }
        let number = if n < 0 {
            i64::try_from(magnitude)
                .map(|m| Number::from(-m))
                .or_else(|_| {
                    if magnitude == 1 << 63 {
                        Ok(Number::from(i64::MIN))
                    } else {
                        Err(())
                    }
                })
        } else {
            u64::try_from(magnitude).map(Number::from).map_err(|_| ())
        };
        number
            .map(Value::Number)
            .map_err(|()| self.error("an integer beyond 64 bits"))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.byte()? {
            b'N' => Ok(Value::Null),
            b'T' => Ok(Value::Bool(true)),
            b'F' => Ok(Value::Bool(false)),
            b'i' => Ok(Value::from(self.i32()?)),
            b'l' => self.long(),
            b'g' => {
                let b = self.take(8)?;
                let float = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                Number::from_f64(float)
                    .map(Value::Number)
                    .ok_or_else(|| self.error("a float that is not finite"))
            }
            b'u' => Ok(Value::from(self.string()?)),
            b'[' | b'(' => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            b'{' => {
                let mut map = Map::new();
                self.dict(|reader, key| {
                    map.insert(key.to_owned(), reader.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Value::Object(map))
            }
            _ => Err(self.error("a type JSON does not have")),
        }
    }

    /// The members of a dict (its `{` read), each key passed to `member`, which reads
    /// the value.
    fn dict(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Result<()>) -> Result<()> {
        loop {
            match self.byte()? {
                b'0' => return Ok(()),
                b'u' => {
                    let key = self.string()?;
                    member(self, key)?;
                }
                _ => return Err(self.error("a dict key that is not a str")),
            }
        }
    }

    /// A member of the top-level dict of [`read_attributes`]: strings borrowed.
    fn attribute(&mut self) -> Result<BorrowedValue<'a>> {
        let start = self.at;
        Ok(match self.byte()? {
            b'N' => BorrowedValue::Null,
            b'T' => BorrowedValue::Bool(true),
            b'F' => BorrowedValue::Bool(false),
            b'u' => BorrowedValue::String(Cow::Borrowed(self.string()?)),
            _ => {
                self.at = start;
                match self.value(1)? {
                    Value::Number(n) => BorrowedValue::Number(n),
                    other => BorrowedValue::Composite(other),
                }
            }
        })
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
