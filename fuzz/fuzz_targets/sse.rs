//! The server-sent events reader (the Amplitude flag stream): any byte stream, read whole
//! and in small pieces, must give the same events, each within the size cap.
#![no_main]

use std::io::Read;

use allot::fuzzing::{sse_items, SseItem};

/// Hands out at most `piece` bytes per read, as a slow network would.
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.piece.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [cap, piece, stream @ ..] = data else {
        return;
    };
    let cap = [1, 2, 7, 64, 4096, 1 << 20][usize::from(*cap) % 6];
    let piece = usize::from(*piece % 32) + 1;
    let whole = sse_items(stream, cap);
    let pieces = sse_items(
        Pieces {
            data: stream,
            piece,
        },
        cap,
    );
    assert_eq!(
        whole, pieces,
        "reading in {piece}-byte pieces changed the events"
    );
    for item in &whole {
        match item {
            SseItem::Data(event) => assert!(event.len() <= cap, "event over the cap"),
            SseItem::Comment => {}
            SseItem::Error(code) => assert_eq!(*code, "invalid_response"),
        }
    }
});
