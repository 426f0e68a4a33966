//! Delivering events from a background thread: batches of up to `flush_queue_size`
//! events or every `flush_interval`, `POST {"api_key", "events": [...]}`, retries of
//! network errors, 429 and 5xx with exponential backoff, and a queue bounded in events
//! and in bytes whose overflow drops the oldest events (counted). Enqueuing never touches the network and
//! never waits for a send: the queue's mutex is held only to push or pop.
//!
//! With a [`Reporter`], every event's outcome is reported once: sent (with the answer's
//! code), or dropped (retries exhausted, rejected, queue overflow, unsent at shutdown).
//!
//! Fork safety: the queue lives in the sender's [`Worker`], which belongs to one process:
//! a forked child's next enqueue abandons the parent's queue and thread without touching
//! them and starts its own (empty) ones.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use super::reports::{Reporter, NO_RESPONSE, TIMED_OUT};
use crate::error::{Error, ErrorCode, Result};
use crate::runtime::{Control, Health, Launch, Worker};
use crate::transport::{ApiKey, Http, Request};

/// How and where events are sent.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// The full URL events are posted to.
    pub url: String,
    /// The analytics API key, sent in the body (never printed).
    pub api_key: ApiKey,
    /// Largest batch; a full batch is sent at once.
    pub flush_queue_size: usize,
    /// Longest time an event waits before its batch is sent.
    pub flush_interval: Duration,
    /// Queue capacity in events; beyond it the oldest events are dropped.
    pub max_queue_size: usize,
    /// Queue capacity in bytes of event JSON; beyond it the oldest events are dropped.
    pub max_queue_bytes: usize,
    /// Each request's timeout.
    pub request_timeout: Duration,
    /// First wait after a retryable failure (doubled each time, up to `retry_max`).
    pub retry_min: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// How long freeing the client may spend sending what is queued.
    pub shutdown_timeout: Duration,
    /// Sends of one batch that failed retryably after which it is dropped (at least one
    /// send), as the Analytics SDK's `flush_max_retries`.
    pub max_retries: usize,
    /// The upload's `options` member (e.g. `{"min_id_length": 3}`), when set.
    pub options: Option<Value>,
}

/// Counters for the status document: `{"queued", "sent", "dropped", "last_success_at",
/// "last_error"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SenderStats {
    /// Events waiting to be sent (including a batch in flight).
    pub queued: usize,
    /// Events the server accepted.
    pub sent: u64,
    /// Events dropped: queue overflow, rejected by the server, or unsent at shutdown.
    pub dropped: u64,
    /// The last send.
    #[serde(flatten)]
    pub health: Health,
}

/// The sender thread's state, shared with enqueuing threads.
#[derive(Default)]
struct Queue {
    /// Each event's JSON text, oldest first.
    events: VecDeque<Box<RawValue>>,
    /// The total length of `events`.
    bytes: usize,
    in_flight: usize,
    /// Send now, whatever the interval or backoff (one attempt).
    flush_requested: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Retryable failures of the batch at the head of the queue.
    failures: usize,
    stats: SenderStats,
}

/// A background event sender, started on the first event of each process.
pub struct Sender {
    settings: SenderSettings,
    worker: Worker<Queue>,
    /// Events dropped because the event thread could not start, and the last reason
    /// (atomics: enqueuing threads never lock anything a forked child could inherit).
    unstarted_dropped: AtomicU64,
    unstarted_error: ArcSwapOption<Health>,
    /// Where each event's outcome is reported, when the host asked for reports.
    reporter: Option<Reporter>,
}

impl Sender {
    /// A sender that starts its thread when the first events arrive, reporting each
    /// event's outcome to `reporter` when given.
    pub fn new(settings: SenderSettings, reporter: Option<Reporter>) -> Sender {
        Sender {
            settings,
            worker: Worker::new("allot-events"),
            unstarted_dropped: AtomicU64::new(0),
            unstarted_error: ArcSwapOption::empty(),
            reporter,
        }
    }

    /// Queues events for delivery; never blocks on the network. If the event thread
    /// cannot start, the events are counted as dropped and the error is reported.
    pub fn enqueue(&self, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let control = match self.worker.get_or_start(|_| self.launch()) {
            Ok(control) => control,
            Err(error) => {
                self.unstarted_dropped
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                let mut health = Health::default();
                health.failed(&error);
                self.unstarted_error.store(Some(health.into()));
                if let Some(reporter) = &self.reporter {
                    let events = events.iter().filter_map(|e| to_raw_value(e).ok()).collect();
                    let message = format!("Event dropped: {}", error.message);
                    reporter.report(events, NO_RESPONSE, &message);
                }
                return;
            }
        };
        let settings = &self.settings;
        // Serialized before taking the lock: the queue holds text, sent as it is.
        // Serializing a `Value` cannot fail.
        let events: Vec<Box<RawValue>> =
            events.iter().filter_map(|e| to_raw_value(e).ok()).collect();
        let mut queue = control.lock();
        for event in events {
            queue.bytes += event.get().len();
            queue.events.push_back(event);
        }
        let dropped = queue.trim(settings);
        if queue.events.len() >= settings.flush_queue_size {
            control.notify_locked(&queue);
        }
        drop(queue);
        report_overflow(self.reporter.as_ref(), settings, dropped);
    }

    /// Sends everything queued now; waits at most `timeout` for the queue to empty.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let Some(control) = self.worker.current() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let mut queue = control.lock();
        queue.flush_requested = true;
        control.notify_locked(&queue);
        while !(queue.events.is_empty() && queue.in_flight == 0) {
            let (guard, timed_out) = control.wait_until(queue, deadline);
            queue = guard;
            if timed_out && !(queue.events.is_empty() && queue.in_flight == 0) {
                let pending = queue.events.len() + queue.in_flight;
                return Err(Error::new(
                    crate::error::ErrorCode::Timeout,
                    format!(
                        "{pending} events were still queued after {} ms",
                        timeout.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The counters (zero before the first event).
    pub fn stats(&self) -> SenderStats {
        let mut stats = match self.worker.current() {
            Some(control) => {
                let queue = control.lock();
                SenderStats {
                    queued: queue.events.len() + queue.in_flight,
                    ..queue.stats.clone()
                }
            }
            None => SenderStats::default(),
        };
        stats.dropped += self.unstarted_dropped.load(Ordering::Relaxed);
        if stats.health.last_error.is_none() {
            if let Some(unstarted) = self.unstarted_error.load_full() {
                stats.health.last_error.clone_from(&unstarted.last_error);
            }
        }
        stats
    }

    fn launch(&self) -> Launch<Queue> {
        let settings = self.settings.clone();
        let reporter = self.reporter.clone();
        let panic_reporter = self.reporter.clone();
        Launch {
            // The analytics API takes the key in the body only.
            http: Http::new(
                &self.settings.api_key,
                1 << 20,
                self.settings.url.starts_with("https"),
            )
            .without_key_header(),
            state: Queue {
                backoff: self.settings.retry_min,
                ..Queue::default()
            },
            run: Box::new(move |control| run(control, &settings, reporter.as_ref())),
            on_panic: Box::new(move |control, error| {
                let mut queue = control.lock();
                queue.stats.dropped += (queue.events.len() + queue.in_flight) as u64;
                let lost: Vec<Box<RawValue>> = queue.events.drain(..).collect();
                queue.bytes = 0;
                queue.in_flight = 0;
                queue.stats.health.failed(&error);
                drop(queue);
                if let Some(reporter) = panic_reporter {
                    let message = format!("Event dropped: {}", error.message);
                    reporter.report(lost, NO_RESPONSE, &message);
                }
            }),
        }
    }
}

impl Queue {
    /// Drops the oldest events (counted) until both capacities hold; returns them.
    fn trim(&mut self, settings: &SenderSettings) -> Vec<Box<RawValue>> {
        let mut dropped = Vec::new();
        while self.events.len() > settings.max_queue_size.max(1)
            || (self.bytes > settings.max_queue_bytes && self.events.len() > 1)
        {
            if let Some(event) = self.events.pop_front() {
                self.bytes -= event.get().len();
                self.stats.dropped += 1;
                dropped.push(event);
            }
        }
        dropped
    }

    /// Takes up to `count` of the oldest events.
    fn take(&mut self, count: usize) -> Vec<Box<RawValue>> {
        let batch: Vec<_> = self.events.drain(..count.min(self.events.len())).collect();
        self.bytes -= batch.iter().map(|e| e.get().len()).sum::<usize>();
        batch
    }
}

impl Drop for Sender {
    /// Sends what is queued for at most `shutdown_timeout`, then stops the thread.
    fn drop(&mut self) {
        self.worker.stop(self.settings.shutdown_timeout);
    }
}

/// Reports the events a full queue dropped.
fn report_overflow(
    reporter: Option<&Reporter>,
    settings: &SenderSettings,
    dropped: Vec<Box<RawValue>>,
) {
    if let (Some(reporter), false) = (reporter, dropped.is_empty()) {
        let message = format!(
            "Event dropped: the event queue was full (max_queue_size {}, max_queue_bytes {})",
            settings.max_queue_size, settings.max_queue_bytes
        );
        reporter.report(dropped, NO_RESPONSE, &message);
    }
}

/// The worker thread: waits for a reason to send, sends one batch, repeats; when asked
/// to stop, sends what is queued until the grace period ends.
fn run(control: &Control<Queue>, settings: &SenderSettings, reporter: Option<&Reporter>) {
    let mut last_send = Instant::now();
    let mut queue = control.lock();
    loop {
        let now = Instant::now();
        // Set when the owner stops the sender: send what is queued until then.
        let stopping = control.finish_by();
        if let Some(deadline) = stopping {
            if queue.events.is_empty() || now >= deadline {
                queue.stats.dropped += queue.events.len() as u64;
                let unsent: Vec<Box<RawValue>> = queue.events.drain(..).collect();
                queue.bytes = 0;
                drop(queue);
                if let Some(reporter) = reporter {
                    let message = "Event dropped: not sent before the client was freed";
                    reporter.report(unsent, NO_RESPONSE, message);
                }
                return;
            }
        }
        if queue.events.is_empty() {
            queue.flush_requested = false;
            control.notify_locked(&queue);
            queue = control.wait_until(queue, now + settings.flush_interval).0;
            continue;
        }
        let urgent = queue.flush_requested || stopping.is_some();
        let due = urgent
            || queue.events.len() >= settings.flush_queue_size
            || now >= last_send + settings.flush_interval;
        let wait_until = match queue.retry_at {
            Some(retry_at) if now < retry_at && !urgent => Some(retry_at),
            _ if !due => Some(last_send + settings.flush_interval),
            _ => None,
        };
        if let Some(until) = wait_until {
            queue = control.wait_until(queue, until).0;
            continue;
        }
        let batch = queue.take(settings.flush_queue_size.max(1));
        queue.in_flight = batch.len();
        let timeout = match stopping {
            Some(deadline) => settings
                .request_timeout
                .min(deadline.saturating_duration_since(now)),
            None => settings.request_timeout,
        };
        // The network is never touched with the queue locked.
        drop(queue);
        let result = send(control.http(), settings, &batch, timeout);
        queue = control.lock();
        last_send = Instant::now();
        queue.in_flight = 0;
        queue.flush_requested = false;
        // (events, code, message) of the batch's final outcome.
        let mut outcome = None;
        let mut overflow = Vec::new();
        match result {
            Ok(code) => {
                queue.stats.sent += batch.len() as u64;
                queue.stats.health.succeeded();
                queue.retry_at = None;
                queue.backoff = settings.retry_min;
                queue.failures = 0;
                if !queue.events.is_empty() {
                    // Keep draining a flush or a backlog without waiting for the interval.
                    queue.flush_requested = true;
                }
                outcome = Some((batch, code, "Event sent successfully.".to_owned()));
            }
            Err(failure) => {
                queue.stats.health.failed(&failure.error);
                queue.failures += 1;
                if failure.retryable && queue.failures < settings.max_retries {
                    for event in batch.into_iter().rev() {
                        queue.bytes += event.get().len();
                        queue.events.push_front(event);
                    }
                    overflow = queue.trim(settings);
                    queue.retry_at = Some(last_send + queue.backoff);
                    queue.backoff = (queue.backoff * 2).min(settings.retry_max);
                } else {
                    queue.stats.dropped += batch.len() as u64;
                    queue.failures = 0;
                    // The Analytics SDK's code: the status, 408 for a timeout, else -1.
                    let code = match (failure.status, failure.error.code) {
                        (Some(status), _) => i64::from(status),
                        (None, ErrorCode::Timeout) => TIMED_OUT,
                        (None, _) => NO_RESPONSE,
                    };
                    let message = if failure.retryable {
                        format!("Event reached max retry times {}.", settings.max_retries)
                    } else {
                        rejection(failure.body.as_deref()).unwrap_or(failure.error.message)
                    };
                    outcome = Some((batch, code, message));
                }
            }
        }
        // Reported before waking a flush, so that the reports are there when it returns
        // (a few moves into memory: the queue lock is held no longer than that).
        report_overflow(reporter, settings, overflow);
        if let (Some(reporter), Some((events, code, message))) = (reporter, outcome) {
            reporter.report(events, code, &message);
        }
        control.notify_locked(&queue);
    }
}

/// Why the server rejected a batch, worded as the Analytics SDK words its answer: its
/// `missing_field`, else its `error`.
fn rejection(body: Option<&str>) -> Option<String> {
    let answer: Value = serde_json::from_str(body?).ok()?;
    if let Some(field) = answer.get("missing_field").and_then(Value::as_str) {
        return Some(format!("Request missing required field {field}"));
    }
    answer
        .get("error")
        .and_then(Value::as_str)
        .filter(|error| !error.is_empty())
        .map(str::to_owned)
}

/// Sends one batch; answers the code of the server's answer: its body's `code` (as the
/// Analytics SDK reads it), else 200.
fn send(
    http: &Http,
    settings: &SenderSettings,
    batch: &[Box<RawValue>],
    timeout: Duration,
) -> std::result::Result<i64, crate::transport::Failure> {
    /// The upload: `{"api_key", "events": [...], "options"?}`.
    #[derive(Serialize)]
    struct Upload<'a> {
        api_key: &'a str,
        events: &'a [Box<RawValue>],
        #[serde(skip_serializing_if = "Option::is_none")]
        options: Option<&'a Value>,
    }
    let upload = Upload {
        api_key: settings.api_key.expose(),
        events: batch,
        options: settings.options.as_ref(),
    };
    // Serializing strings and JSON values cannot fail.
    let body = serde_json::to_vec(&upload).unwrap_or_default();
    let request = Request {
        url: &settings.url,
        headers: vec![("Content-Type", "application/json".to_owned())],
        body: Some(&body),
        timeout,
        etag: None,
    };
    http.send(&request).map(|outcome| match outcome {
        crate::transport::Outcome::Body { bytes, .. } => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|body| body.get("code").and_then(Value::as_i64))
            .unwrap_or(200),
        crate::transport::Outcome::NotModified => 304,
    })
}
