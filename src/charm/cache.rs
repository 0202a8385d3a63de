//! What earlier hooks learned about the relations, so that a hook reads only what changed.
//! Pure: encoding into unit state and decoding from it, and whether to trust it.
//!
//! **Never wrong.** The cache lives in unit state, written with `state-set`, which Juju
//! commits only when the hook exits 0, together with the pod spec and relation data; so it
//! always describes the relations as the last *successful* hook saw them. Every relation
//! change comes to this unit as a hook of that relation, which updates exactly that relation.
//! What could make it stale is a hook whose changes are lost: a failed hook skipped with
//! `juju resolved --no-retry`, or a hook that exited 0 but was not committed. Against both, a
//! marker file on the unit's disk ([`MARKER_FILE`] in the charm directory) says `dirty` from
//! the start of every hook and the cache's token only after a hook succeeded: the cache is
//! trusted only when the marker holds the token the committed state holds, and only by a unit
//! whose leadership is what it was when the cache was written. Anything else (no marker, a
//! lost disk, a failed hook, a new leader, `install`, `upgrade-charm`, `leader-elected`, an
//! unknown hook) means one full read, which rewrites the cache.
//!
//! **Sizes.** `state-set` takes values of at most 64 KiB: each relation is one key
//! `relations-cache/<endpoint>:<id>/<n>`, split into parts of [`PART`] bytes when larger;
//! a removed relation's keys are set empty (read as absent). Only changed keys are written.

use std::collections::BTreeMap;

use juju::{RelationData, RelationId};
use serde::{Deserialize, Serialize};

use crate::relations::RelationSnapshot;

/// The unit state key holding the cache's token: `<n> leader` or `<n> follower`.
pub const TOKEN_KEY: &str = "relations-cache-token";
/// Prefix of the keys holding the relations.
pub const PREFIX: &str = "relations-cache/";
/// The marker file, in the charm directory.
pub const MARKER_FILE: &str = ".relations-cache-marker";
/// What the marker says while a hook runs.
pub const DIRTY: &str = "dirty";
/// Largest part of one relation's entry (state-set refuses values over 64 KiB).
pub const PART: usize = 60_000;
/// The most the cache may take in all: Juju refuses unit state over the controller's
/// `max-charm-state-size` (2 MiB by default). A larger model is not cached (every hook reads
/// everything), which is slower but never wrong.
pub const LIMIT: usize = 1_500_000;
/// The token's third word when the model was too large to cache.
const TOO_LARGE: &str = "too-large";

/// One relation as the cache keeps it (its id is the key).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Entry {
    #[serde(default)]
    remote_app: Option<String>,
    #[serde(default)]
    remote_app_data: RelationData,
    #[serde(default)]
    remote_units: BTreeMap<String, RelationData>,
    #[serde(default)]
    local_app_data: RelationData,
    #[serde(default)]
    local_unit_data: RelationData,
}

/// Every relation the cache knows, by id.
pub type Relations = BTreeMap<RelationId, RelationSnapshot>;

/// The cache as found in unit state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub token: String,
    pub relations: Relations,
}

fn token(n: u64, leader: bool) -> String {
    format!("{n} {}", if leader { "leader" } else { "follower" })
}

fn token_number(token: &str) -> u64 {
    token
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The cache in `state`, if this hook may trust it: the marker holds its token (no hook
/// failed or went uncommitted since), written by a unit of the same leadership.
pub fn trusted(
    state: &BTreeMap<String, String>,
    marker: Option<&str>,
    leader: bool,
) -> Option<Cache> {
    let token = state.get(TOKEN_KEY)?;
    if marker != Some(token.as_str()) || token_number(token) == 0 {
        return None;
    }
    let words: Vec<&str> = token.split_whitespace().collect();
    if words.len() != 2 || words[1] != if leader { "leader" } else { "follower" } {
        return None;
    }
    decode(state).map(|relations| Cache {
        token: token.clone(),
        relations,
    })
}

/// The relations in `state`; `None` if any entry cannot be read.
fn decode(state: &BTreeMap<String, String>) -> Option<Relations> {
    let mut parts: BTreeMap<&str, BTreeMap<usize, &str>> = BTreeMap::new();
    for (key, value) in state.range(PREFIX.to_string()..) {
        let Some(rest) = key.strip_prefix(PREFIX) else {
            break;
        };
        if value.is_empty() {
            continue;
        }
        let (id, n) = rest.rsplit_once('/')?;
        parts.entry(id).or_default().insert(n.parse().ok()?, value);
    }
    let mut relations = Relations::new();
    for (id, parts) in parts {
        // Parts 0, 1, … without a gap; later ones after a gap are leftovers (never written).
        let text: String = parts
            .iter()
            .enumerate()
            .take_while(|(i, (n, _))| i == *n)
            .map(|(_, (_, v))| *v)
            .collect();
        let id = RelationId::parse(id)?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        relations.insert(
            id.clone(),
            RelationSnapshot {
                id: Some(id),
                remote_app: entry.remote_app,
                remote_app_data: entry.remote_app_data,
                remote_units: entry.remote_units,
                local_app_data: entry.local_app_data,
                local_unit_data: entry.local_unit_data,
            },
        );
    }
    Some(relations)
}

/// The state keys of `relations`.
fn encode(relations: &Relations) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for (id, s) in relations {
        let entry = Entry {
            remote_app: s.remote_app.clone(),
            remote_app_data: s.remote_app_data.clone(),
            remote_units: s.remote_units.clone(),
            local_app_data: s.local_app_data.clone(),
            local_unit_data: s.local_unit_data.clone(),
        };
        // Strings and ordered maps of strings always serialize.
        let text = serde_json::to_string(&entry).unwrap_or_default();
        for (n, part) in split(&text, PART).into_iter().enumerate() {
            keys.insert(format!("{PREFIX}{id}/{n}"), part.to_string());
        }
    }
    keys
}

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        parts.push(head);
        rest = tail;
    }
    parts.push(rest);
    parts
}

/// The `state-set` that makes unit state hold `relations` for a unit of this leadership:
/// only keys that differ (a key no longer used set empty), and a new token whenever
/// anything does. Empty when the state already holds exactly that.
pub fn update(
    state: &BTreeMap<String, String>,
    relations: &Relations,
    leader: bool,
) -> BTreeMap<String, String> {
    let mut wanted = encode(relations);
    let size: usize = wanted.iter().map(|(k, v)| k.len() + v.len()).sum();
    let too_large = size > LIMIT;
    if too_large {
        wanted.clear();
    }
    let mut changes: BTreeMap<String, String> = wanted
        .iter()
        .filter(|(k, v)| state.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in state.range(PREFIX.to_string()..) {
        if !key.starts_with(PREFIX) {
            break;
        }
        if !value.is_empty() && !wanted.contains_key(key) {
            changes.insert(key.clone(), String::new());
        }
    }
    let current = state.get(TOKEN_KEY);
    let shape = |n: u64| {
        let t = token(n, leader);
        if too_large {
            format!("{t} {TOO_LARGE}")
        } else {
            t
        }
    };
    let same = current.is_some_and(|t| *t == shape(token_number(t)));
    if !changes.is_empty() || !same {
        let next = current.map_or(0, |t| token_number(t)) + 1;
        changes.insert(TOKEN_KEY.to_string(), shape(next));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(endpoint: &str, id: u32, units: usize, bytes: usize) -> RelationSnapshot {
        RelationSnapshot {
            id: Some(RelationId::new(endpoint, id)),
            remote_app: Some(format!("app{id}")),
            remote_app_data: RelationData::from([("k".to_string(), "é".repeat(bytes / 2))]),
            remote_units: (0..units)
                .map(|u| {
                    (
                        format!("app{id}/{u}"),
                        RelationData::from([("a".into(), format!("10.0.0.{u}"))]),
                    )
                })
                .collect(),
            local_app_data: RelationData::new(),
            local_unit_data: RelationData::from([("x".into(), "y".into())]),
        }
    }

    fn relations(items: Vec<RelationSnapshot>) -> Relations {
        items
            .into_iter()
            .filter_map(|s| s.id.clone().map(|id| (id, s)))
            .collect()
    }

    fn committed(
        state: &mut BTreeMap<String, String>,
        changes: BTreeMap<String, String>,
    ) -> Option<String> {
        state.extend(changes);
        state.get(TOKEN_KEY).cloned()
    }

    #[test]
    fn a_cache_round_trips_through_state_in_parts_under_the_limit() {
        let rels = relations(vec![
            snapshot("metrics-endpoint", 3, 10, 100),
            snapshot("metrics-endpoint", 12, 2, 150_000),
        ]);
        let mut state = BTreeMap::new();
        let changes = update(&state, &rels, true);
        assert!(changes.values().all(|v| v.len() <= 64 * 1024));
        assert!(changes.contains_key("relations-cache/metrics-endpoint:12/2"));
        let token = committed(&mut state, changes);
        let cache = trusted(&state, token.as_deref(), true).unwrap();
        assert_eq!(cache.relations, rels);
        // Nothing changed: nothing to write.
        assert!(update(&state, &rels, true).is_empty());
    }

    #[test]
    fn only_what_changed_is_written_and_removed_relations_are_emptied() {
        let mut rels = relations(vec![
            snapshot("metrics-endpoint", 3, 10, 100),
            snapshot("metrics-endpoint", 12, 2, 150_000),
        ]);
        let mut state = BTreeMap::new();
        let changes = update(&state, &rels, true);
        let token = committed(&mut state, changes);
        rels.remove(&RelationId::new("metrics-endpoint", 12));
        let changes = update(&state, &rels, true);
        assert_eq!(
            changes.keys().filter(|k| k.contains(":12/")).count(),
            3,
            "{changes:?}"
        );
        assert!(changes
            .iter()
            .filter(|(k, _)| k.contains(":12/"))
            .all(|(_, v)| v.is_empty()));
        assert!(!changes.keys().any(|k| k.contains(":3/")));
        assert_ne!(changes.get(TOKEN_KEY), token.as_ref());
        let token = committed(&mut state, changes);
        assert_eq!(
            trusted(&state, token.as_deref(), true).unwrap().relations,
            rels
        );
    }

    #[test]
    fn a_model_too_large_for_unit_state_is_not_cached() {
        let rels = relations(
            (0..40)
                .map(|n| snapshot("metrics-endpoint", n, 1, 60_000))
                .collect(),
        );
        let mut state = BTreeMap::new();
        let changes = update(
            &state,
            &relations(vec![snapshot("monitoring", 1, 1, 10)]),
            true,
        );
        committed(&mut state, changes);
        let changes = update(&state, &rels, true);
        assert!(changes.iter().all(|(k, v)| k == TOKEN_KEY || v.is_empty()));
        let token = committed(&mut state, changes);
        assert!(trusted(&state, token.as_deref(), true).is_none());
        assert!(update(&state, &rels, true).is_empty(), "settled");
    }

    #[test]
    fn trusted_only_with_the_committed_token_and_the_same_leadership() {
        let rels = relations(vec![snapshot("alertmanager", 1, 1, 10)]);
        let mut state = BTreeMap::new();
        let changes = update(&state, &rels, false);
        let token = committed(&mut state, changes).unwrap();
        assert!(trusted(&state, Some(&token), false).is_some());
        assert!(
            trusted(&state, Some(DIRTY), false).is_none(),
            "a hook failed"
        );
        assert!(trusted(&state, None, false).is_none(), "the disk was lost");
        assert!(trusted(&state, Some(&token), true).is_none(), "now leader");
        // An uncommitted success: the marker is ahead of the state.
        let ahead = update(&state, &relations(Vec::new()), false);
        assert!(trusted(&state, ahead.get(TOKEN_KEY).map(String::as_str), false).is_none());
        // A corrupt entry is no cache.
        state.insert(format!("{PREFIX}alertmanager:1/0"), "{".into());
        assert!(trusted(&state, Some(&token), false).is_none());
    }
}
