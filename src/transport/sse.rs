//! A minimal server-sent events reader: `data:` lines joined into events, comments and
//! other fields ignored, each event's data capped in size. The stream must deliver a
//! complete event or a keep-alive comment within the keep-alive timeout (bytes that
//! trickle in without completing one do not count), and it ends at its maximum age
//! whether or not an event arrives (checked at every read; a silent connection's read
//! ends within the keep-alive timeout).

use std::io::{self, BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};

/// Reads events from a byte stream.
pub struct EventReader<R: Read> {
    input: BufReader<Deadlines<R>>,
    max_event_bytes: usize,
    keepalive: Duration,
    line: Vec<u8>,
}

/// The input, failing reads once the keep-alive deadline or the maximum age passed.
struct Deadlines<R> {
    inner: R,
    /// A complete event or comment must arrive before this.
    idle_until: Instant,
    /// The connection's end of life.
    end_at: Option<Instant>,
}

/// The error a read fails with at the connection's maximum age.
#[derive(Debug)]
struct MaxAge;

impl std::fmt::Display for MaxAge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream reached its maximum age")
    }
}

impl std::error::Error for MaxAge {}

impl<R: Read> Read for Deadlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let now = Instant::now();
        if self.end_at.is_some_and(|end| now >= end) {
            return Err(io::Error::other(MaxAge));
        }
        if now >= self.idle_until {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete event or keep-alive arrived in time",
            ));
        }
        self.inner.read(buf)
    }
}

/// One thing read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete event's data (its `data:` lines joined with `\n`).
    Data(String),
    /// A comment line (`: …`): the server is alive.
    Comment,
    /// The connection reached its maximum age: reconnect.
    MaxAge,
}

impl<R: Read> EventReader<R> {
    /// Wraps `input`: an event whose data exceeds `max_event_bytes` is an error, so is
    /// no complete event or comment within `keepalive`; at `end_at` the reader gives
    /// [`Event::MaxAge`].
    pub fn new(
        input: R,
        max_event_bytes: usize,
        keepalive: Duration,
        end_at: Option<Instant>,
    ) -> Self {
        let input = Deadlines {
            inner: input,
            idle_until: Instant::now() + keepalive,
            end_at,
        };
        EventReader {
            input: BufReader::new(input),
            max_event_bytes,
            keepalive,
            line: Vec::new(),
        }
    }

    /// The next event; `Ok(None)` when the stream ended cleanly. Read errors map like
    /// any transport error (`timeout` when no complete event or comment came in time).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        let event = self.read_event();
        if matches!(event, Ok(Some(Event::Data(_) | Event::Comment))) {
            self.input.get_mut().idle_until = Instant::now() + self.keepalive;
        }
        event
    }

    fn read_event(&mut self) -> Result<Option<Event>> {
        let mut data: Option<String> = None;
        loop {
            self.line.clear();
            let read = (&mut self.input)
                .take(self.max_event_bytes as u64 + 2)
                .read_until(b'\n', &mut self.line);
            let read = match read {
                Ok(read) => read,
                Err(e) if e.get_ref().is_some_and(|inner| inner.is::<MaxAge>()) => {
                    return Ok(Some(Event::MaxAge))
                }
                Err(e) => {
                    let code = super::io_code(&e);
                    return Err(Error::new(code, format!("reading the stream: {e}")));
                }
            };
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
        let mut reader = EventReader::new(text.as_bytes(), cap, Duration::from_secs(5), None);
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

    /// A reader that yields one byte per read, slowly.
    struct Trickle(Duration);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn trickling_bytes_do_not_keep_a_stream_alive() {
        let begun = Instant::now();
        let mut reader = EventReader::new(
            Trickle(Duration::from_millis(5)),
            1 << 20,
            Duration::from_millis(100),
            None,
        );
        let error = reader.next_event().unwrap_err();
        assert_eq!(error.code, ErrorCode::Timeout, "{error}");
        assert!(begun.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_maximum_age_ends_a_stream_without_an_event() {
        let begun = Instant::now();
        let end_at = Instant::now() + Duration::from_millis(50);
        let mut reader = EventReader::new(
            Trickle(Duration::from_millis(5)),
            1 << 20,
            Duration::from_secs(60),
            Some(end_at),
        );
        assert_eq!(reader.next_event(), Ok(Some(Event::MaxAge)));
        assert!(begun.elapsed() < Duration::from_secs(2));
    }
}
