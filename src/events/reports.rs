//! Delivery reports: the outcome of every event a client queued (sent, or dropped and
//! why), kept for the host to take with `allot_delivery_reports` — the Analytics SDK's
//! per-event `callback(event, code, message)`, without the library ever calling into the
//! host. Only the event threads push and the host's waiting thread takes; evaluating
//! threads push only the reports of events a full queue dropped. The channel belongs to
//! one process: a forked child starts with a fresh, empty one.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::process::{lock, PerProcess};

/// Reports kept for the host at most; beyond it the oldest are dropped (counted).
pub const MAX_REPORTS: usize = 16_384;
/// Bytes of event JSON kept for the host at most; beyond it the oldest are dropped.
pub const MAX_REPORT_BYTES: usize = 32 << 20;

/// The code of an event that got no HTTP answer (a network error, or dropped unsent), as
/// the Analytics SDK reports a request that failed without one.
pub const NO_RESPONSE: i64 = -1;
/// The code of a request that timed out, as the Analytics SDK reports it.
pub const TIMED_OUT: i64 = 408;

/// One event's outcome.
#[derive(Serialize)]
struct Report {
    /// `"assignment"` or `"exposure"`.
    stream: &'static str,
    /// The event, as it was sent.
    event: Box<RawValue>,
    /// The HTTP answer's code, or [`NO_RESPONSE`] / [`TIMED_OUT`].
    code: i64,
    message: String,
}

#[derive(Default)]
struct State {
    reports: VecDeque<Report>,
    bytes: usize,
    /// Reports dropped because the host did not take them in time, since the last take.
    dropped: u64,
    /// The client was freed: no more reports will come.
    closed: bool,
}

#[derive(Default)]
struct Channel {
    state: Mutex<State>,
    ready: Condvar,
}

/// A client's delivery reports (one channel per process).
#[derive(Default)]
pub struct Reports {
    channel: PerProcess<Channel>,
}

impl Reports {
    /// Records the same outcome for each event of `events`.
    pub fn push(&self, stream: &'static str, events: Vec<Box<RawValue>>, code: i64, message: &str) {
        if events.is_empty() {
            return;
        }
        let Ok(channel) = self.channel.get_or_start(|_| Ok(Channel::default())) else {
            return;
        };
        let mut state = lock(&channel.state);
        for event in events {
            state.bytes += event.get().len();
            state.reports.push_back(Report {
                stream,
                event,
                code,
                message: message.to_owned(),
            });
        }
        while state.reports.len() > MAX_REPORTS
            || (state.bytes > MAX_REPORT_BYTES && state.reports.len() > 1)
        {
            if let Some(report) = state.reports.pop_front() {
                state.bytes -= report.event.get().len();
                state.dropped += 1;
            }
        }
        channel.ready.notify_all();
    }

    /// Says that no more reports will come (the client is being freed) and wakes the
    /// waiting host.
    pub fn close(&self) {
        if let Some(channel) = self.channel.current() {
            lock(&channel.state).closed = true;
            channel.ready.notify_all();
        }
    }

    /// Takes every report kept, waiting at most `timeout` for one: `{"reports": [{"stream",
    /// "event", "code", "message"}], "dropped": N, "closed": bool}`.
    pub fn take(&self, timeout: Duration) -> crate::error::Result<String> {
        let channel = self.channel.get_or_start(|_| Ok(Channel::default()))?;
        let deadline = Instant::now() + timeout;
        let mut state = lock(&channel.state);
        while state.reports.is_empty() && !state.closed {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                break;
            }
            state = channel
                .ready
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let reports = std::mem::take(&mut state.reports);
        let dropped = std::mem::take(&mut state.dropped);
        let closed = state.closed;
        state.bytes = 0;
        drop(state);
        /// What the host takes.
        #[derive(Serialize)]
        struct Taken {
            reports: VecDeque<Report>,
            dropped: u64,
            closed: bool,
        }
        let taken = Taken {
            reports,
            dropped,
            closed,
        };
        // Strings, numbers and JSON text already checked: serializing cannot fail.
        Ok(serde_json::to_string(&taken).unwrap_or_default())
    }
}

/// Where one event stream's sender reports: the client's reports, under the stream's name.
#[derive(Clone)]
pub struct Reporter {
    /// The client's reports.
    pub reports: std::sync::Arc<Reports>,
    /// `"assignment"` or `"exposure"`.
    pub stream: &'static str,
}

impl Reporter {
    /// Records the same outcome for each event of `events`.
    pub fn report(&self, events: Vec<Box<RawValue>>, code: i64, message: &str) {
        self.reports.push(self.stream, events, code, message);
    }
}
