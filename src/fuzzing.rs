//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not part of the API.
//! Everything else the targets reach goes through the C ABI in [`crate::ffi`].

use std::io::Read;
use std::time::Duration;

use crate::transport::sse::{Event, EventReader};

/// One thing the server-sent events reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event's data.
    Data(String),
    /// A comment line.
    Comment,
    /// The error code that ended the stream.
    Error(&'static str),
}

/// Reads `input` to its end (or its first error) with events capped at `max_event_bytes`
/// (no maximum age, and a keep-alive long enough that in-memory input never times out).
pub fn sse_items(input: impl Read, max_event_bytes: usize) -> Vec<SseItem> {
    let keepalive = Duration::from_secs(3600);
    let mut reader = EventReader::new(input, max_event_bytes, keepalive, None);
    let mut items = Vec::new();
    loop {
        match reader.next_event() {
            Ok(Some(Event::Data(data))) => items.push(SseItem::Data(data)),
            Ok(Some(Event::Comment)) => items.push(SseItem::Comment),
            Ok(None | Some(Event::MaxAge)) => return items,
            Err(err) => {
                items.push(SseItem::Error(err.code.as_str()));
                return items;
            }
        }
    }
}

/// The JSON value the fast lane's marshal reader makes of `bytes` (CPython's `marshal`
/// version 2 form), or the error code of its refusal.
pub fn marshal_value(bytes: &[u8]) -> Result<serde_json::Value, &'static str> {
    crate::marshal::read(bytes).map_err(|err| err.code.as_str())
}
