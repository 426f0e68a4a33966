//! Cohort sync: the cohorts a configuration targets ([`Targets`]), downloading them
//! ([`download`]), the immutable membership index evaluating threads read without a
//! lock ([`store`]), and keeping it current on a background worker ([`sync`]).
//!
//! As the vendor's SDKs do: a condition targets cohorts when its operator is `set
//! contains any` or `set does not contain any` and its selector ends in `cohort_ids`
//! (`["context","user","cohort_ids"]` for `User` cohorts,
//! `["context","groups",<type>,"cohort_ids"]` for group cohorts of `<type>`).

pub mod download;
pub mod members;
pub mod settings;
pub mod store;
pub mod sync;

use std::collections::{BTreeMap, BTreeSet};

use super::model;
use download::USER_GROUP_TYPE;

/// The cohorts a configuration targets.
#[derive(Debug, Default)]
pub struct Targets {
    /// Per group type (`User` or a group type): the cohort ids, sorted.
    pub by_type: BTreeMap<String, Vec<String>>,
    /// Per flag key: every cohort id it targets, sorted.
    pub by_flag: BTreeMap<String, Vec<String>>,
}

impl Targets {
    /// The cohorts targeted by `flags`.
    pub fn of(flags: &[model::Flag]) -> Targets {
        let mut by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut by_flag = BTreeMap::new();
        for flag in flags {
            let mut ids = BTreeSet::new();
            let conditions = flag
                .segments
                .iter()
                .flat_map(|s| s.conditions.iter().flatten().flatten());
            for condition in conditions {
                if let Some(group_type) = targeted_group_type(condition) {
                    let set = by_type.entry(group_type.to_owned()).or_default();
                    set.extend(condition.values.iter().cloned());
                    ids.extend(condition.values.iter().cloned());
                }
            }
            if !ids.is_empty() {
                by_flag.insert(flag.key.clone(), ids.into_iter().collect());
            }
        }
        Targets {
            by_type: by_type
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            by_flag,
        }
    }

    /// Every targeted cohort id, sorted and distinct.
    pub fn ids(&self) -> BTreeSet<&str> {
        self.by_type
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The cohort ids of `group_type`.
    pub fn of_type(&self, group_type: &str) -> &[String] {
        self.by_type.get(group_type).map_or(&[], Vec::as_slice)
    }
}

/// The group type a cohort condition targets, as the vendor reads it; `None` when the
/// condition targets no cohort.
fn targeted_group_type(condition: &model::Condition) -> Option<&str> {
    let selector = &condition.selector;
    let cohort_op = matches!(
        condition.op.as_str(),
        "set contains any" | "set does not contain any"
    );
    if !cohort_op || selector.len() <= 2 || selector.last()? != "cohort_ids" {
        return None;
    }
    if selector[1] == "user" {
        Some(USER_GROUP_TYPE)
    } else if selector.iter().any(|s| s == "groups") {
        Some(&selector[2])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_grouped_by_user_and_group_type() {
        let flags: Vec<model::Flag> = serde_json::from_value(serde_json::json!([
            {"key": "a", "segments": [{"conditions": [[
                {"selector": ["context", "user", "cohort_ids"], "op": "set contains any", "values": ["u2", "u1"]},
                {"selector": ["context", "groups", "org", "cohort_ids"], "op": "set does not contain any", "values": ["g1"]},
            ]]}]},
            {"key": "b", "segments": [{"conditions": [[
                {"selector": ["context", "user", "cohort_ids"], "op": "set contains", "values": ["ignored"]},
                {"selector": ["context", "user", "device_id"], "op": "set contains any", "values": ["ignored"]},
                {"selector": ["context", "user", "cohort_ids"], "op": "set contains any", "values": ["u1", "u3"]},
            ]]}, {}]},
            {"key": "c", "segments": [{"variant": "on"}]},
        ]))
        .unwrap();
        let targets = Targets::of(&flags);
        assert_eq!(targets.of_type("User"), ["u1", "u2", "u3"]);
        assert_eq!(targets.of_type("org"), ["g1"]);
        assert!(targets.of_type("team").is_empty());
        assert_eq!(targets.by_flag["a"], ["g1", "u1", "u2"]);
        assert_eq!(targets.by_flag["b"], ["u1", "u3"]);
        assert!(!targets.by_flag.contains_key("c"));
        assert_eq!(
            targets.ids().into_iter().collect::<Vec<_>>(),
            ["g1", "u1", "u2", "u3"]
        );
    }
}
