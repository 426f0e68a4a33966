//! `allot_eppo_assign_marshal`: a byte that picks one of the conformance flags (with its
//! variation type), then any bytes as the marshalled subject attributes of an assignment
//! on the conformance UFC. Either an answer (a flags byte, then well-formed
//! length-prefixed fields, the same for the same input apart from the timestamp) or an
//! error document with a stable code, never `internal`.
#![no_main]

use std::ffi::CString;
use std::sync::OnceLock;

use allot::ffi;
use allot_fuzz::{checked, envelope, init_ok, shared_json};
use serde_json::json;

fn client() -> u64 {
    static CLIENT: OnceLock<u64> = OnceLock::new();
    *CLIENT.get_or_init(|| {
        // Started (the fast lane refuses clients that are not), without polling.
        let handle = init_ok(&json!({"provider": "eppo", "api_key": "fuzz-key",
            "base_url": "http://127.0.0.1:9", "poll_interval_seconds": null,
            "initial_configuration": shared_json("conformance/eppo/flags-v1.json")}));
        checked(ffi::allot_start(handle, 0));
        handle
    })
}

/// The conformance UFC's flags in key order, each with the index of its variation type
/// (an input's first byte picks one, modulo their count).
fn flags() -> &'static [(CString, u32)] {
    static FLAGS: OnceLock<Vec<(CString, u32)>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let types = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"];
        let ufc = shared_json("conformance/eppo/flags-v1.json");
        let mut flags: Vec<(CString, u32)> = ufc["flags"]
            .as_object()
            .expect("the UFC has flags")
            .iter()
            .map(|(key, flag)| {
                let ty = flag["variationType"].as_str().unwrap_or("STRING");
                let index = types.iter().position(|t| *t == ty).unwrap_or(0);
                (CString::new(key.as_str()).unwrap(), index as u32)
            })
            .collect();
        flags.sort();
        flags
    })
}

/// One assignment; the answer without its timestamp, or the error document.
fn assign(data: &[u8]) -> Result<Vec<u8>, String> {
    let Some((&pick, data)) = data.split_first() else {
        return Err(String::new());
    };
    let flags = flags();
    let (flag, variation_type) = &flags[usize::from(pick) % flags.len()];
    let variation_type = *variation_type;
    let mut out = vec![0u8; 64 << 10];
    // SAFETY: valid C strings, `data.len()` readable bytes, `out.len()` writable bytes.
    let n = unsafe {
        ffi::allot_eppo_assign_marshal(
            client(),
            flag.as_ptr(),
            c"alice".as_ptr(),
            data.as_ptr(),
            data.len(),
            variation_type,
            true,
            out.as_mut_ptr(),
            out.len(),
        )
    };
    let length = usize::try_from(n.unsigned_abs()).unwrap();
    assert!(length <= out.len(), "answer of {length} bytes does not fit");
    out.truncate(length);
    if n < 0 {
        let text = String::from_utf8(out).expect("error document is UTF-8");
        envelope(&text);
        return Err(text);
    }
    // Fields: a u32 length, then that many UTF-8 bytes, to the end.
    let mut at = 1;
    let mut fields = Vec::new();
    while at < out.len() {
        let len = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        std::str::from_utf8(&out[at + 4..at + 4 + len]).expect("field is UTF-8");
        fields.push((at, len));
        at += 4 + len;
    }
    assert_eq!(at, out.len(), "fields span the answer");
    if out[0] & 2 != 0 {
        let (ts_at, ts_len) = fields[0];
        out.drain(ts_at..ts_at + 4 + ts_len);
    }
    Ok(out)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert_eq!(
        assign(data),
        assign(data),
        "allot_eppo_assign_marshal is not deterministic"
    );
});
