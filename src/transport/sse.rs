//! A minimal server-sent events reader: `data:` lines joined into events, comments and
//! other fields ignored, each event's data capped in size.

use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, ErrorCode, Result};

/// Reads events from a byte stream.
pub struct EventReader<R: Read> {
    input: BufReader<R>,
    max_event_bytes: usize,
    line: Vec<u8>,
}

/// One thing read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete event's data (its `data:` lines joined with `\n`).
    Data(String),
    /// A comment line (`: …`): the server is alive.
    Comment,
}

impl<R: Read> EventReader<R> {
    /// Wraps `input`; an event whose data exceeds `max_event_bytes` is an error.
    pub fn new(input: R, max_event_bytes: usize) -> Self {
        EventReader {
            input: BufReader::new(input),
            max_event_bytes,
            line: Vec::new(),
        }
    }

    /// The next event; `Ok(None)` when the stream ended cleanly. Read errors map like
    /// any transport error (`timeout` when the stream stayed silent too long).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        let mut data: Option<String> = None;
        loop {
            self.line.clear();
            let read = (&mut self.input)
                .take(self.max_event_bytes as u64 + 2)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| Error::new(super::io_code(&e), format!("reading the stream: {e}")))?;
            if read == 0 {
                return Ok(None);
            }
            if !self.line.ends_with(b"\n") && self.line.len() > self.max_event_bytes {
                return Err(self.too_large());
            }
            while matches!(self.line.last(), Some(b'\n' | b'\r')) {
                self.line.pop();
            }
            if self.line.is_empty() {
                match data.take() {
                    Some(event) => return Ok(Some(Event::Data(event))),
                    None => continue,
                }
            }
            if self.line.starts_with(b":") {
                if data.is_none() {
                    return Ok(Some(Event::Comment));
                }
                continue;
            }
            let text = String::from_utf8_lossy(&self.line);
            let (field, value) = match text.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (text.as_ref(), ""),
            };
            if field != "data" {
                continue;
            }
            let buffer = match data.as_mut() {
                Some(buffer) => {
                    buffer.push('\n');
                    buffer
                }
                None => data.insert(String::new()),
            };
            buffer.push_str(value);
            if buffer.len() > self.max_event_bytes {
                return Err(self.too_large());
            }
        }
    }

    fn too_large(&self) -> Error {
        Error::new(
            ErrorCode::InvalidResponse,
            format!(
                "a stream event is larger than the {}-byte limit",
                self.max_event_bytes
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str, cap: usize) -> Vec<Result<Option<Event>>> {
        let mut reader = EventReader::new(text.as_bytes(), cap);
        let mut out = Vec::new();
        loop {
            let next = reader.next_event();
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn joins_data_lines_and_skips_other_fields() {
        let got = events(
            ": hello\r\nevent: x\ndata: [1,\ndata:2]\nid: 7\n\ndata:  \n\n\n",
            100,
        );
        assert_eq!(got[0], Ok(Some(Event::Comment)));
        assert_eq!(got[1], Ok(Some(Event::Data("[1,\n2]".into()))));
        assert_eq!(got[2], Ok(Some(Event::Data(" ".into()))));
        assert_eq!(got[3], Ok(None));
    }

    #[test]
    fn oversized_events_are_rejected() {
        let got = events(&format!("data: {}\n\n", "x".repeat(50)), 10);
        assert_eq!(
            got[0].as_ref().unwrap_err().code,
            ErrorCode::InvalidResponse
        );
        let got = events("data: 12345\ndata: 67890\n\n", 10);
        assert_eq!(
            got[0].as_ref().unwrap_err().code,
            ErrorCode::InvalidResponse
        );
    }
}
