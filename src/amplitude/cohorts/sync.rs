//! Keeping cohorts current: a [`CohortSync`] downloads the cohorts a new configuration
//! targets before it is served (on the flag worker's thread), and its own
//! [`Worker`] refreshes every targeted cohort at the polling interval with
//! `lastModified`. Downloads run a few at a time; every outcome is applied to the
//! [`Store`] in one swap.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::download::download;
use super::settings::CohortSettings;
use super::store::{enrich, Cohort, Loaded, Store};
use super::Targets;
use crate::amplitude::sync::Served;
use crate::amplitude::user::User;
use crate::error::{Error, Result};
use crate::runtime::{fan_out, Control, Launch, Worker};
use crate::transport::Http;

/// Cohort synchronisation of one local client.
pub struct CohortSync {
    job: Arc<Job>,
    worker: Worker<()>,
    /// Set when the client goes away: no download starts after it.
    closed: AtomicBool,
}

/// What the worker thread and the flag thread share.
struct Job {
    settings: CohortSettings,
    store: Store,
    served: Arc<Served>,
}

/// The status document's `cohort_sync` object.
#[derive(Serialize)]
pub struct CohortStatus {
    /// The cohort server.
    pub server_url: String,
    /// A background thread refreshes the cohorts in this process.
    pub polling: bool,
    /// Time between refreshes, in milliseconds (the minimum applied).
    pub polling_interval_millis: u64,
    /// Every cohort held or tried, by id.
    pub cohorts: std::collections::BTreeMap<String, Cohort>,
}

impl CohortSync {
    /// Prepares cohort sync for the configurations served in `served`; nothing runs
    /// before [`CohortSync::ensure_running`] or the first [`CohortSync::load_new`].
    pub fn new(settings: CohortSettings, served: Arc<Served>) -> CohortSync {
        CohortSync {
            job: Arc::new(Job {
                settings,
                store: Store::default(),
                served,
            }),
            worker: Worker::new("allot-amplitude-cohorts"),
            closed: AtomicBool::new(false),
        }
    }

    fn launch(&self, forked: bool) -> Launch<()> {
        let settings = &self.job.settings;
        if forked {
            self.job.log("fork detected: restarting the cohort thread");
        }
        let http = Http::new(
            &settings.secret_key,
            settings.max_response_bytes,
            settings.server_url.is_https(),
        )
        .without_key_header();
        let job = Arc::clone(&self.job);
        let on_panic = Arc::clone(&self.job);
        Launch {
            http,
            state: (),
            run: Box::new(move |control| job.refresh_loop(control)),
            on_panic: Box::new(move |_, error| on_panic.log(&error.message)),
        }
    }

    /// Starts the refresh thread if this process has none (the first call, or the
    /// first in a forked child).
    pub fn ensure_running(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.worker.ensure(|forked| self.launch(forked))
    }

    /// [`CohortSync::ensure_running`] from an evaluating or status call: a failure to
    /// restart after a fork is logged; the memberships held keep serving.
    pub fn follow_fork(&self) {
        if let Err(error) = self.ensure_running() {
            self.job
                .log(&format!("cannot restart the cohort thread: {error}"));
        }
    }

    /// Downloads the cohorts `targets` names that are not held yet (new, or failed so
    /// far), before the configuration they belong to is served. Runs on the caller's
    /// thread (the flag worker), with the cohort thread's connections.
    pub fn load_new(&self, targets: &Targets) {
        let index = self.job.store.load();
        let missing: Vec<(String, Option<u64>)> = targets
            .ids()
            .into_iter()
            .filter(|id| index.get(id).map_or(true, |c| c.members.is_none()))
            .map(|id| (id.to_owned(), None))
            .collect();
        if !missing.is_empty() && !self.closed.load(Ordering::Acquire) {
            match self.worker.get_or_start(|forked| self.launch(forked)) {
                Ok(control) => self.job.load(&control, missing),
                Err(error) => self
                    .job
                    .log(&format!("cannot start the cohort thread: {error}")),
            }
        }
        self.job.warn_missing(targets);
    }

    /// Sets the user's cohort ids from the memberships held (see [`enrich`]); reads the
    /// index without a lock.
    pub fn enrich(&self, user: &mut User<'_>, targets: &Targets) {
        enrich(user, targets, &self.job.store.load());
    }

    /// Forgets the cohorts the configuration now served no longer targets.
    pub fn retain(&self, targets: &Targets) {
        self.job.store.retain(targets);
    }

    /// The status document's `cohort_sync` object.
    pub fn status(&self) -> CohortStatus {
        CohortStatus {
            server_url: self.job.settings.server_url.to_string(),
            polling: self.worker.started_here() && !self.closed.load(Ordering::Acquire),
            polling_interval_millis: u64::try_from(self.job.settings.polling_interval.as_millis())
                .unwrap_or(u64::MAX),
            cohorts: self.job.store.status(),
        }
    }

    /// Stops the refresh thread and interrupts downloads in flight (on any thread);
    /// none starts afterwards.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.worker.stop(Duration::ZERO);
    }
}

impl Job {
    fn refresh_loop(&self, control: &Control<()>) {
        loop {
            if !control.sleep_until(Instant::now() + self.settings.polling_interval) {
                return;
            }
            let Some(snapshot) = self.served.snapshot.load_full() else {
                continue;
            };
            let index = self.store.load();
            let all = snapshot
                .cohort_targets()
                .ids()
                .into_iter()
                .map(|id| {
                    let held = index.get(id).filter(|c| c.members.is_some());
                    (id.to_owned(), held.and_then(|c| c.last_modified))
                })
                .collect();
            self.load(control, all);
            self.warn_missing(snapshot.cohort_targets());
        }
    }

    /// Downloads `cohorts` (id, `lastModified` held), at most `max_concurrent` at once,
    /// and applies every outcome in one swap (none when stopped meanwhile).
    fn load(&self, control: &Control<()>, cohorts: Vec<(String, Option<u64>)>) {
        if cohorts.is_empty() {
            return;
        }
        let next = AtomicUsize::new(0);
        let work = || {
            let mut outcomes = Vec::new();
            while let Some((id, held)) = cohorts.get(next.fetch_add(1, Ordering::Relaxed)) {
                let outcome = match download(control, control.http(), &self.settings, id, *held) {
                    Ok(Some(cohort)) => {
                        self.log(&format!(
                            "cohort {id}: {} members loaded",
                            cohort.member_ids.count()
                        ));
                        Loaded::Cohort(cohort)
                    }
                    Ok(None) => Loaded::NotModified,
                    Err(error) => {
                        let error = self.redact(error);
                        self.log(&format!("cohort download failed: {error}"));
                        Loaded::Failed(error)
                    }
                };
                outcomes.push((id.clone(), outcome));
            }
            outcomes
        };
        let threads = self.settings.max_concurrent.min(cohorts.len());
        // Helpers start like every worker thread (not with std::thread), so that a child
        // forked while a thread was starting or ending can still download.
        let outcomes: Vec<(String, Loaded)> = fan_out(
            "allot-amplitude-cohort-download",
            threads.saturating_sub(1),
            &work,
        )
        .into_iter()
        .flatten()
        .collect();
        if !control.stopped() {
            self.store.apply(outcomes);
        }
    }

    /// Logs, for each flag, the targeted cohorts not held: the flag is evaluated as if
    /// no one were in them.
    fn warn_missing(&self, targets: &Targets) {
        if !self.settings.debug {
            return;
        }
        let index = self.store.load();
        for (flag, ids) in &targets.by_flag {
            let missing: Vec<&str> = ids
                .iter()
                .filter(|id| index.get(id).map_or(true, |c| c.members.is_none()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                self.log(&format!(
                    "warning: flag {flag} targets cohorts that are not loaded ({}); it is evaluated as if no one were in them",
                    missing.join(", ")
                ));
            }
        }
    }

    fn redact(&self, mut error: Error) -> Error {
        error.message = self.settings.redact(&error.message);
        error
    }

    /// Writes a debug line to stderr when `debug` is on (never with a key).
    fn log(&self, message: &str) {
        if self.settings.debug {
            eprintln!(
                "[allot] amplitude cohorts: {}",
                self.settings.redact(message)
            );
        }
    }
}
