//! CPython's `marshal` format written from JSON values, for the fast lane's tests and
//! benchmarks (a standalone file: `benches/fast_lane.rs` includes it by path).

use serde_json::Value;

/// `value` as CPython's `marshal.dumps(value, 2)` writes it (ints as `TYPE_INT` when
/// they fit 32 bits, else `TYPE_LONG`; floats as `TYPE_BINARY_FLOAT`).
pub fn marshal(out: &mut Vec<u8>, value: &Value) {
    let string = |out: &mut Vec<u8>, text: &str| {
        out.push(b'u');
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    };
    match value {
        Value::Null => out.push(b'N'),
        Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i32::try_from(i).is_ok() => {
                out.push(b'i');
                out.extend_from_slice(&(i as i32).to_le_bytes());
            }
            (i, u) if i.is_some() || u.is_some() => {
                let negative = i.is_some_and(|i| i < 0);
                let mut magnitude = u.unwrap_or_else(|| i.unwrap().unsigned_abs());
                let mut digits = Vec::new();
                while magnitude > 0 {
                    digits.push((magnitude & 0x7fff) as u16);
                    magnitude >>= 15;
                }
                let count = digits.len() as i32;
                out.push(b'l');
                out.extend_from_slice(&(if negative { -count } else { count }).to_le_bytes());
                for d in digits {
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
            _ => {
                out.push(b'g');
                out.extend_from_slice(&n.as_f64().unwrap().to_le_bytes());
            }
        },
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            items.iter().for_each(|item| marshal(out, item));
        }
        Value::Object(map) => {
            out.push(b'{');
            for (k, v) in map {
                string(out, k);
                marshal(out, v);
            }
            out.push(b'0');
        }
    }
}

/// The fields of the Python SDK's `User`, in the order `allot_evaluate_compact_marshal`
/// takes them.
const USER_FIELDS: [&str; 21] = [
    "device_id",
    "user_id",
    "country",
    "city",
    "region",
    "dma",
    "language",
    "platform",
    "version",
    "os",
    "device_manufacturer",
    "device_brand",
    "device_model",
    "carrier",
    "library",
    "ip_address",
    "user_properties",
    "groups",
    "group_properties",
    "group_cohort_ids",
    "cohort_ids",
];

/// A JSON user as the Python binding marshals it: the tuple of its fields (a tuple is
/// written as a list is, with `(` for `[`), absent ones None.
pub fn marshal_user(user: &Value) -> Vec<u8> {
    let fields: Vec<Value> = USER_FIELDS
        .iter()
        .map(|name| user.get(*name).cloned().unwrap_or(Value::Null))
        .collect();
    let mut packed = Vec::new();
    marshal(&mut packed, &Value::Array(fields));
    packed[0] = b'(';
    packed
}
