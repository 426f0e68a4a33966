//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`); not part of the API.
//! Everything else the targets reach goes through the C ABI in [`crate::ffi`].

use std::io::Read;

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

/// Reads `input` to its end (or its first error) with events capped at `max_event_bytes`.
pub fn sse_items(input: impl Read, max_event_bytes: usize) -> Vec<SseItem> {
    let mut reader = EventReader::new(input, max_event_bytes);
    let mut items = Vec::new();
    loop {
        match reader.next_event() {
            Ok(Some(Event::Data(data))) => items.push(SseItem::Data(data)),
            Ok(Some(Event::Comment)) => items.push(SseItem::Comment),
            Ok(None) => return items,
            Err(err) => {
                items.push(SseItem::Error(err.code.as_str()));
                return items;
            }
        }
    }
}
