//! Assignment and exposure tracking of a local client: build the events of an
//! evaluation, drop the ones seen within a day, and queue the rest for the sender.

use std::time::Duration;

use serde_json::{Map, Value};

use super::config::{Tracking, TrackingSettings};
use super::evaluate::Evaluation;
use super::events::{assignment_event, exposure_events, Dedup};
use super::user::User;
use crate::error::Result;
use crate::events::sender::Sender;

/// One event stream (assignment or exposure): its de-duplication and its sender.
struct Tracker {
    dedup: Dedup,
    sender: Sender,
    send_evaluated_props: bool,
    /// `plan` and `ingestion_metadata` for every event.
    event_fields: Map<String, Value>,
}

impl Tracker {
    fn new(settings: TrackingSettings) -> Tracker {
        Tracker {
            dedup: Dedup::new(settings.cache_capacity),
            send_evaluated_props: settings.send_evaluated_props,
            event_fields: settings.event_fields,
            sender: Sender::new(settings.sender),
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
fn add_user_context(event: &mut Value, user: &User) {
    let Value::Object(event) = event else { return };
    let fields: [(&str, &Option<Value>); 12] = [
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
    ];
    for (name, value) in fields {
        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
            event.insert(name.into(), value.clone());
        }
    }
    if let Some(ip) = user.ip_address.as_ref().filter(|v| !v.is_null()) {
        event.insert("ip".into(), ip.clone());
    }
    // As the SDK: the user's properties beside `$set`/`$unset`.
    if let (Some(properties), Some(Value::Object(target))) =
        (&user.user_properties, event.get_mut("user_properties"))
    {
        for (name, value) in properties {
            target.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// What one evaluate call asks to track.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackOptions {
    /// `tracks_assignment` (default: on when `assignment_config` is set).
    pub assignment: Option<bool>,
    /// `tracks_exposure` (default: off).
    pub exposure: Option<bool>,
}

/// A local client's trackers.
pub struct Trackers {
    assignment: Option<Tracker>,
    exposure: Option<Tracker>,
}

impl Trackers {
    /// Trackers for the configured event streams (none when neither is configured).
    pub fn new(tracking: Tracking) -> Trackers {
        Trackers {
            assignment: tracking.assignment.map(Tracker::new),
            exposure: tracking.exposure.map(Tracker::new),
        }
    }

    /// Builds and queues the events of one evaluation.
    pub fn track(
        &self,
        user: &User,
        evaluation: &Evaluation<'_>,
        options: TrackOptions,
        now_ms: u64,
    ) {
        let assignment = self
            .assignment
            .as_ref()
            .filter(|_| options.assignment.unwrap_or(true));
        let exposure = self
            .exposure
            .as_ref()
            .filter(|_| options.exposure.unwrap_or(false));
        if assignment.is_none() && exposure.is_none() {
            return;
        }
        let assigned: Vec<_> = evaluation.assigned().collect();
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
