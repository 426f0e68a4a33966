//! The membership index: every cohort held, immutable, swapped whole on every change so
//! that evaluating threads read it without a lock; and enriching a user with the
//! targeted cohorts it belongs to, as the vendor's SDKs do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;

use super::download::{Downloaded, USER_GROUP_TYPE};
use super::members::{Key, Members};
use super::Targets;
use crate::amplitude::user::{ByGroup, Text, User, UserValue};
use crate::error::Error;
use crate::runtime::Health;

/// What is held about one cohort; the status document's per-cohort entry
/// `{"group_type", "size", "member_count", "last_modified", "last_success_at",
/// "last_error"}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cohort {
    /// The cohort's group type (`User` or a group type), once downloaded.
    pub group_type: Option<String>,
    /// The cohort's size as the server counts it.
    pub size: Option<u64>,
    /// Distinct member ids held.
    pub member_count: Option<usize>,
    /// The server's `lastModified` of the copy held.
    pub last_modified: Option<u64>,
    /// The last download: its success, or its failure (the copy held, if any, stays).
    #[serde(flatten)]
    pub health: Health,
    /// The members; `None` until a download succeeded.
    #[serde(skip)]
    pub members: Option<Arc<Members>>,
}

/// How one download ended.
#[derive(Debug)]
pub enum Loaded {
    /// A new copy.
    Cohort(Downloaded),
    /// Not modified since the copy held.
    NotModified,
    /// Failed; the copy held, if any, stays.
    Failed(Error),
}

/// Every cohort held, by id. Immutable: changes build a new one.
#[derive(Debug, Default, Clone)]
pub struct Memberships {
    cohorts: HashMap<String, Arc<Cohort>>,
}

impl Memberships {
    /// The cohort `id`, if held or tried.
    pub fn get(&self, id: &str) -> Option<&Cohort> {
        self.cohorts.get(id).map(Arc::as_ref)
    }

    /// Whether `member` is in cohort `id` of `group_type` (a cohort whose group type
    /// differs counts as not containing it, as in the vendor's storage).
    fn contains(&self, id: &str, group_type: &str, member: &Key<'_>) -> bool {
        self.cohorts.get(id).is_some_and(|cohort| {
            cohort.group_type.as_deref() == Some(group_type)
                && cohort
                    .members
                    .as_ref()
                    .is_some_and(|m| m.contains_hashed(member))
        })
    }

    /// This index with the updates applied.
    fn with(&self, updates: &[(String, Update)]) -> Memberships {
        let mut next = self.clone();
        for (id, update) in updates {
            let mut cohort = next
                .cohorts
                .get(id)
                .map_or_else(Cohort::default, |c| Cohort::clone(c));
            match update {
                Update::Fresh(fresh) => {
                    cohort = Cohort::clone(fresh);
                    cohort.health.succeeded();
                }
                Update::NotModified => cohort.health.succeeded(),
                Update::Failed(error) => cohort.health.failed(error),
            }
            next.cohorts.insert(id.clone(), Arc::new(cohort));
        }
        next
    }
}

/// A download outcome ready to apply (the members already shared).
enum Update {
    Fresh(Arc<Cohort>),
    NotModified,
    Failed(Error),
}

/// The membership index shared by a client, its evaluating threads and its workers.
#[derive(Debug, Default)]
pub struct Store {
    index: ArcSwap<Memberships>,
}

impl Store {
    /// The current index.
    pub fn load(&self) -> Arc<Memberships> {
        self.index.load_full()
    }

    /// Applies download outcomes; new copies replace the old ones.
    pub fn apply(&self, outcomes: Vec<(String, Loaded)>) {
        let updates: Vec<(String, Update)> = outcomes
            .into_iter()
            .map(|(id, outcome)| {
                let update = match outcome {
                    Loaded::Cohort(downloaded) => Update::Fresh(Arc::new(Cohort {
                        group_type: Some(
                            downloaded
                                .group_type
                                .unwrap_or_else(|| USER_GROUP_TYPE.to_owned()),
                        ),
                        size: downloaded.size,
                        member_count: Some(downloaded.member_ids.count()),
                        last_modified: Some(downloaded.last_modified),
                        health: Health::default(),
                        members: Some(Arc::new(downloaded.member_ids)),
                    })),
                    Loaded::NotModified => Update::NotModified,
                    Loaded::Failed(error) => Update::Failed(error),
                };
                (id, update)
            })
            .collect();
        self.index.rcu(|current| current.with(&updates));
    }

    /// Forgets cohorts no longer targeted.
    pub fn retain(&self, targets: &Targets) {
        let ids = targets.ids();
        self.index.rcu(|current| {
            let mut next = Memberships::clone(current);
            next.cohorts.retain(|id, _| ids.contains(id.as_str()));
            next
        });
    }

    /// The status document's `cohorts` object: `{id: {...}}`, sorted by id.
    pub fn status(&self) -> BTreeMap<String, Cohort> {
        self.load()
            .cohorts
            .iter()
            .map(|(id, cohort)| (id.clone(), Cohort::clone(cohort)))
            .collect()
    }
}

/// Replaces the user's cohort ids with the targeted cohorts it belongs to, as the
/// vendor's SDKs do: `cohort_ids` = the targeted `User` cohorts containing `user_id`;
/// for each group type, the first group name's targeted cohorts of that type. The
/// caller's own ids are dropped (cohort sync decides membership).
pub fn enrich(user: &mut User<'_>, targets: &Targets, index: &Memberships) {
    let user_id = user.user_id.as_ref().and_then(UserValue::as_str);
    user.cohort_ids = Some(match user_id {
        Some(user_id) => {
            let key = Key::new(user_id);
            targets
                .of_type(USER_GROUP_TYPE)
                .iter()
                .filter(|id| index.contains(id, USER_GROUP_TYPE, &key))
                .map(|id| Text::from(id.clone()))
                .collect()
        }
        None => Vec::new(),
    });
    user.group_cohort_ids = None;
    let Some(groups) = &user.groups else {
        return;
    };
    let mut by_group: ByGroup<'_, Vec<Text<'_>>> = BTreeMap::new();
    for (group_type, names) in groups {
        let (Some(name), ids) = (names.first(), targets.of_type(group_type)) else {
            continue;
        };
        if name.is_empty() || ids.is_empty() {
            continue;
        }
        let key = Key::new(name);
        let member_of = ids
            .iter()
            .filter(|id| index.contains(id, group_type, &key))
            .map(|id| Text::from(id.clone()))
            .collect();
        by_group
            .entry(group_type.clone())
            .or_default()
            .insert(name.clone(), member_of);
    }
    if !by_group.is_empty() {
        user.group_cohort_ids = Some(by_group);
    }
}
