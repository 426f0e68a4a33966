//! Assignment and exposure tracking of a local client: build the events of an
//! evaluation, drop the ones seen within a day, and queue the rest for the sender.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{Tracking, TrackingSettings};
use super::evaluate::Evaluation;
use super::events::{assignment_event, exposure_events, Dedup};
use super::user::{User, UserValue};
use crate::error::{Error, ErrorCode, Result};
use crate::events::reports::{Reporter, Reports};
use crate::events::sender::Sender;
use crate::ffi::MAX_RESULT_BYTES;

/// One event stream (assignment or exposure): its de-duplication and its sender.
struct Tracker {
    dedup: Dedup,
    sender: Sender,
    send_evaluated_props: bool,
    /// `plan` and `ingestion_metadata` for every event.
    event_fields: Map<String, Value>,
}

impl Tracker {
    /// A tracker of the stream `stream`, reporting to `reports` when its settings ask.
    fn new(settings: TrackingSettings, reports: &Arc<Reports>, stream: &'static str) -> Tracker {
        let reporter = settings.delivery_reports.then(|| Reporter {
            reports: Arc::clone(reports),
            stream,
        });
        Tracker {
            dedup: Dedup::new(settings.cache_capacity),
            send_evaluated_props: settings.send_evaluated_props,
            event_fields: settings.event_fields,
            sender: Sender::new(settings.sender, reporter),
        }
    }

    /// Queues the events of a key not seen within a day. Never waits for the network.
    fn track(&self, user: &User, key: String, events: Vec<Value>, now_ms: u64) {
        if events.is_empty() || !self.dedup.first_time(&key, now_ms) {
            return;
        }
        let events = events
            .into_iter()
            .map(|mut event| {
                if self.send_evaluated_props {
                    add_user_context(&mut event, user);
                }
                if let Value::Object(fields) = &mut event {
                    for (name, value) in &self.event_fields {
                        fields.insert(name.clone(), value.clone());
                    }
                }
                event
            })
            .collect();
        // A failure to start the event thread is reported by the sender's stats.
        self.sender.enqueue(events);
    }
}

/// The user's context fields, under the analytics HTTP API's names.
fn user_context<'u, 'a>(user: &'u User<'a>) -> [(&'static str, &'u Option<UserValue<'a>>); 13] {
    [
        ("country", &user.country),
        ("city", &user.city),
        ("region", &user.region),
        ("dma", &user.dma),
        ("language", &user.language),
        ("platform", &user.platform),
        ("app_version", &user.version),
        ("os_name", &user.os),
        ("device_manufacturer", &user.device_manufacturer),
        ("device_brand", &user.device_brand),
        ("device_model", &user.device_model),
        ("carrier", &user.carrier),
        ("ip", &user.ip_address),
    ]
}

/// Adds the user's context fields to an event.
fn add_user_context(event: &mut Value, user: &User) {
    let Value::Object(event) = event else { return };
    for (name, value) in user_context(user) {
        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
            event.insert(name.into(), value.to_value());
        }
    }
    // As the SDK: the user's properties beside `$set`/`$unset`.
    if let (Some(properties), Some(Value::Object(target))) =
        (&user.user_properties, event.get_mut("user_properties"))
    {
        for (name, value) in properties {
            target
                .entry(name.to_string())
                .or_insert_with(|| value.to_value());
        }
    }
}

/// About how many bytes of the user each event of `tracker` repeats: the ids (written
/// into the event, its `insert_id` and its de-duplication key) and, with
/// `send_evaluated_props`, the context fields and the user's properties.
fn user_bytes_per_event(user: &User, tracker: &Tracker) -> usize {
    let len = |value: &Option<UserValue<'_>>| match value {
        Some(UserValue::Text(s)) => s.len(),
        Some(UserValue::Json(other)) => other.to_string().len(),
        None => 0,
    };
    let ids = 4 * (len(&user.user_id) + len(&user.device_id));
    let context = if tracker.send_evaluated_props {
        let properties = user
            .user_properties
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok())
            .map_or(0, |text| text.len());
        user_context(user)
            .iter()
            .map(|(_, value)| len(value))
            .sum::<usize>()
            + properties
    } else {
        0
    };
    ids + context
}

/// What one evaluate call asks to track.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackOptions {
    /// `tracks_assignment` (default: on when `assignment_config` is set).
    pub assignment: Option<bool>,
    /// `tracks_exposure` (default: off).
    pub exposure: Option<bool>,
}

/// A local client's trackers, and the delivery reports of their events.
pub struct Trackers {
    assignment: Option<Tracker>,
    exposure: Option<Tracker>,
    reports: Arc<Reports>,
}

impl Trackers {
    /// Trackers for the configured event streams (none when neither is configured).
    pub fn new(tracking: Tracking) -> Trackers {
        let reports = Arc::new(Reports::default());
        Trackers {
            assignment: tracking
                .assignment
                .map(|settings| Tracker::new(settings, &reports, "assignment")),
            exposure: tracking
                .exposure
                .map(|settings| Tracker::new(settings, &reports, "exposure")),
            reports,
        }
    }

    /// The delivery reports of the streams with `delivery_reports`.
    pub fn reports(&self) -> Arc<Reports> {
        Arc::clone(&self.reports)
    }

    /// Builds and queues the events of one evaluation. Events that would repeat the user
    /// beyond [`MAX_RESULT_BYTES`] (an exposure event per flag) are `input_too_large`,
    /// refused before anything is built or queued.
    pub fn track(
        &self,
        user: &User,
        evaluation: &Evaluation<'_>,
        options: TrackOptions,
        now_ms: u64,
    ) -> Result<()> {
        let assignment = self
            .assignment
            .as_ref()
            .filter(|_| options.assignment.unwrap_or(true));
        let exposure = self
            .exposure
            .as_ref()
            .filter(|_| options.exposure.unwrap_or(false));
        if assignment.is_none() && exposure.is_none() {
            return Ok(());
        }
        let assigned: Vec<_> = evaluation.assigned().collect();
        if let Some(tracker) = exposure {
            let bytes = assigned
                .len()
                .saturating_mul(user_bytes_per_event(user, tracker));
            if bytes > MAX_RESULT_BYTES {
                return Err(Error::new(
                    ErrorCode::InputTooLarge,
                    format!(
                        "the {} exposure events of this request would repeat the user's ids \
                         and context {bytes} bytes in all, over the {MAX_RESULT_BYTES}-byte \
                         cap; track fewer flags or send a smaller user",
                        assigned.len()
                    ),
                ));
            }
        }
        if let Some(tracker) = assignment {
            if let Some((key, event)) = assignment_event(user, &assigned, now_ms) {
                tracker.track(user, key, vec![event], now_ms);
            }
        }
        if let Some(tracker) = exposure {
            if let Some((key, events)) = exposure_events(user, &assigned, now_ms) {
                tracker.track(user, key, events, now_ms);
            }
        }
        Ok(())
    }

    /// Sends everything queued, waiting at most `timeout` in all.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        for tracker in [&self.assignment, &self.exposure].into_iter().flatten() {
            tracker
                .sender
                .flush(deadline.saturating_duration_since(std::time::Instant::now()))?;
        }
        Ok(())
    }

    /// `{"assignment_events": stats|null, "exposure_events": stats|null}` for the status.
    pub fn status(&self) -> Map<String, Value> {
        let stats = |t: &Option<Tracker>| {
            t.as_ref().map_or(Value::Null, |t| {
                serde_json::to_value(t.sender.stats()).unwrap_or_default()
            })
        };
        let mut map = Map::new();
        map.insert("assignment_events".into(), stats(&self.assignment));
        map.insert("exposure_events".into(), stats(&self.exposure));
        map
    }
}

impl Drop for Trackers {
    /// Stops the senders (sending what is queued, each outcome reported), then tells a
    /// host waiting for reports that no more will come.
    fn drop(&mut self) {
        drop(self.assignment.take());
        drop(self.exposure.take());
        self.reports.close();
    }
}
