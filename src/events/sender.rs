//! Delivering events from a background thread: batches of up to `flush_queue_size`
//! events or every `flush_interval`, `POST {"api_key", "events": [...]}`, retries of
//! network errors, 429 and 5xx with exponential backoff, and a bounded queue whose
//! overflow drops the oldest events (counted). Enqueuing never touches the network and
//! never waits for a send: the queue's mutex is held only to push or pop.
//!
//! Fork safety: the worker is a [`PerProcess`]: a forked child's next enqueue abandons the
//! parent's queue and thread without touching them and starts its own (empty) ones.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::process::PerProcess;
use crate::transport::{now_millis, ApiKey, Http, Request};

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
    /// Queue capacity; beyond it the oldest events are dropped.
    pub max_queue_size: usize,
    /// Each request's timeout.
    pub request_timeout: Duration,
    /// First wait after a retryable failure (doubled each time, up to `retry_max`).
    pub retry_min: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// How long freeing the client may spend sending what is queued.
    pub shutdown_timeout: Duration,
}

/// Counters for the status document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SenderStats {
    /// Events waiting to be sent (including a batch in flight).
    pub queued: usize,
    /// Events the server accepted.
    pub sent: u64,
    /// Events dropped: queue overflow, rejected by the server, or unsent at shutdown.
    pub dropped: u64,
    /// The last send failure and when (ms since the epoch); cleared by a success.
    pub last_error: Option<(Error, u64)>,
}

impl SenderStats {
    /// The status document's `{"queued", "sent", "dropped", "last_error"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "queued": self.queued,
            "sent": self.sent,
            "dropped": self.dropped,
            "last_error": self.last_error.as_ref().map(|(e, at)| json!({
                "code": e.code.as_str(), "message": e.message, "at": at
            })),
        })
    }
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Value>,
    in_flight: usize,
    /// Send now, whatever the interval or backoff (one attempt).
    flush_requested: bool,
    stopping: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    stats: SenderStats,
}

struct Shared {
    settings: SenderSettings,
    queue: Mutex<Queue>,
    changed: Condvar,
    http: Http,
}

struct Worker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A background event sender, started on the first event of each process.
pub struct Sender {
    settings: SenderSettings,
    worker: PerProcess<Worker>,
    /// Events dropped because the event thread could not start, and why.
    unstarted: Mutex<(u64, Option<(Error, u64)>)>,
}

impl Sender {
    /// A sender that starts its thread when the first events arrive.
    pub fn new(settings: SenderSettings) -> Sender {
        Sender {
            settings,
            worker: PerProcess::default(),
            unstarted: Mutex::new((0, None)),
        }
    }

    /// Queues events for delivery; never blocks on the network. If the event thread
    /// cannot start, the events are counted as dropped and the error is reported.
    pub fn enqueue(&self, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let worker = match self.worker.get_or_start(|_| self.spawn()) {
            Ok(worker) => worker,
            Err(error) => {
                let mut unstarted = self.unstarted.lock();
                unstarted.0 += events.len() as u64;
                unstarted.1 = Some((error, now_millis()));
                return;
            }
        };
        let shared = &worker.shared;
        let mut queue = shared.queue.lock();
        for event in events {
            if queue.events.len() >= shared.settings.max_queue_size.max(1) {
                queue.events.pop_front();
                queue.stats.dropped += 1;
            }
            queue.events.push_back(event);
        }
        if queue.events.len() >= shared.settings.flush_queue_size {
            shared.changed.notify_all();
        }
    }

    /// Sends everything queued now; waits at most `timeout` for the queue to empty.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let Some(worker) = self.worker_of_this_process() else {
            return Ok(());
        };
        let shared = &worker.shared;
        let deadline = Instant::now() + timeout;
        let mut queue = shared.queue.lock();
        queue.flush_requested = true;
        shared.changed.notify_all();
        while !(queue.events.is_empty() && queue.in_flight == 0) {
            if shared.changed.wait_until(&mut queue, deadline).timed_out() {
                let pending = queue.events.len() + queue.in_flight;
                return Err(Error::new(
                    ErrorCode::Timeout,
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
        let mut stats = match self.worker_of_this_process() {
            Some(worker) => {
                let queue = worker.shared.queue.lock();
                SenderStats {
                    queued: queue.events.len() + queue.in_flight,
                    ..queue.stats.clone()
                }
            }
            None => SenderStats::default(),
        };
        let unstarted = self.unstarted.lock();
        stats.dropped += unstarted.0;
        if stats.last_error.is_none() {
            stats.last_error.clone_from(&unstarted.1);
        }
        stats
    }

    fn worker_of_this_process(&self) -> Option<Arc<Worker>> {
        self.worker.current()
    }

    fn spawn(&self) -> Result<Worker> {
        let shared = Arc::new(Shared {
            // The analytics API takes the key in the body only.
            http: Http::new(
                &self.settings.api_key,
                1 << 20,
                self.settings.url.starts_with("https"),
            )
            .without_key_header(),
            settings: self.settings.clone(),
            queue: Mutex::new(Queue {
                backoff: self.settings.retry_min,
                ..Queue::default()
            }),
            changed: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("allot-events".into())
            .spawn(move || run(&for_thread))
            .map_err(|e| {
                Error::new(
                    ErrorCode::Internal,
                    format!("cannot start the event thread: {e}"),
                )
            })?;
        Ok(Worker {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Drop for Sender {
    /// Sends what is queued for at most `shutdown_timeout`, then stops the thread.
    fn drop(&mut self) {
        let Some(worker) = self.worker.take_own() else {
            return;
        };
        let shared = &worker.shared;
        let deadline = Instant::now() + shared.settings.shutdown_timeout;
        {
            let mut queue = shared.queue.lock();
            queue.stopping = Some(deadline);
            shared.changed.notify_all();
        }
        let thread = worker.thread.lock().take();
        if let Some(thread) = thread {
            // Interrupt a request still running at the deadline.
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if !thread.is_finished() {
                shared.http.shutdown();
            }
            let _ = thread.join();
        }
    }
}

/// The worker thread: waits for a reason to send, sends one batch, repeats.
fn run(shared: &Shared) {
    let settings = &shared.settings;
    let mut last_send = Instant::now();
    let mut queue = shared.queue.lock();
    loop {
        let now = Instant::now();
        if let Some(deadline) = queue.stopping {
            if queue.events.is_empty() || now >= deadline {
                queue.stats.dropped += queue.events.len() as u64;
                queue.events.clear();
                shared.changed.notify_all();
                return;
            }
        }
        if queue.events.is_empty() {
            queue.flush_requested = false;
            shared.changed.notify_all();
            shared.changed.wait_for(&mut queue, settings.flush_interval);
            continue;
        }
        let urgent = queue.flush_requested || queue.stopping.is_some();
        let due = urgent
            || queue.events.len() >= settings.flush_queue_size
            || now >= last_send + settings.flush_interval;
        let wait_until = match queue.retry_at {
            Some(retry_at) if now < retry_at && !urgent => Some(retry_at),
            _ if !due => Some(last_send + settings.flush_interval),
            _ => None,
        };
        if let Some(until) = wait_until {
            let until = queue.stopping.map_or(until, |deadline| until.min(deadline));
            shared.changed.wait_until(&mut queue, until);
            continue;
        }
        let take = queue.events.len().min(settings.flush_queue_size.max(1));
        let batch: Vec<Value> = queue.events.drain(..take).collect();
        queue.in_flight = batch.len();
        let timeout = match queue.stopping {
            Some(deadline) => settings
                .request_timeout
                .min(deadline.saturating_duration_since(now)),
            None => settings.request_timeout,
        };
        // The network is never touched with the queue locked.
        let result =
            parking_lot::MutexGuard::unlocked(&mut queue, || send(shared, &batch, timeout));
        last_send = Instant::now();
        queue.in_flight = 0;
        queue.flush_requested = false;
        match result {
            Ok(()) => {
                queue.stats.sent += batch.len() as u64;
                queue.stats.last_error = None;
                queue.retry_at = None;
                queue.backoff = settings.retry_min;
                if !queue.events.is_empty() {
                    // Keep draining a flush or a backlog without waiting for the interval.
                    queue.flush_requested = true;
                }
            }
            Err(failure) => {
                queue.stats.last_error = Some((failure.error.clone(), now_millis()));
                if failure.retryable {
                    for event in batch.into_iter().rev() {
                        queue.events.push_front(event);
                    }
                    while queue.events.len() > settings.max_queue_size.max(1) {
                        queue.events.pop_front();
                        queue.stats.dropped += 1;
                    }
                    queue.retry_at = Some(last_send + queue.backoff);
                    queue.backoff = (queue.backoff * 2).min(settings.retry_max);
                } else {
                    queue.stats.dropped += batch.len() as u64;
                }
            }
        }
        shared.changed.notify_all();
    }
}

fn send(
    shared: &Shared,
    batch: &[Value],
    timeout: Duration,
) -> std::result::Result<(), crate::transport::Failure> {
    let body = json!({"api_key": shared.settings.api_key.expose(), "events": batch}).to_string();
    let request = Request {
        url: &shared.settings.url,
        headers: vec![("Content-Type", "application/json".to_owned())],
        body: Some(body.as_bytes()),
        timeout,
        etag: None,
    };
    shared.http.send(&request).map(drop)
}
