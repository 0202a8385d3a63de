//! What earlier hooks learned about the relations, so that a hook reads and re-plans only
//! what changed. Pure: encoding, decoding, and whether to trust it; the shell reads and writes
//! the files.
//!
//! **Where.** One file per generation on the unit's disk, `<charm dir>/`[`DIR`]`/<n>-<digest>`
//! (named after its content, FNV-1a and length), holding every relation's data and, for each
//! scrape-target relation, what it contributes to the plan (`relations::Memo`). Unit state
//! holds only the token `<n> <leader|follower> <digest>` ([`TOKEN_KEY`]), so the cache's size
//! is no longer bounded by Juju's unit state quota (`max-charm-state-size`, 2 MiB).
//!
//! **Never wrong.** The token is written with `state-set`, which Juju commits only when the
//! hook exits 0, together with the pod spec and relation data; so the file it names always
//! describes the relations as the last *successful* hook saw them. A hook writes generation
//! `n + 1` beside `n` and removes only what is older than the committed one: should its
//! `state-set` not be committed, the committed token still names a file that is there. A
//! lost disk is a missing file: one full read. Every relation change comes to this unit as a
//! hook of that relation, which updates exactly that relation. What could still make it
//! stale is a hook whose *event* is lost: a failed hook skipped with `juju resolved
//! --no-retry`, or a hook that exited 0 but was not committed. Against both, a marker file on
//! the unit's disk ([`MARKER_FILE`] in the charm directory) says `dirty` from the start of
//! every hook and the token only after a hook succeeded: the cache is trusted only when the
//! marker holds the token the committed state holds, and only by a unit whose leadership is
//! what it was when the cache was written. Anything else (no marker, a lost disk, a failed
//! hook, a new leader, `install`, `upgrade-charm`, `leader-elected`, an unknown hook) means
//! one full read, which rewrites the cache.

use std::collections::BTreeMap;

use juju::{RelationData, RelationId};
use serde::{Deserialize, Serialize};

use crate::relations::{Memo, RelationSnapshot};
use crate::syntax::fingerprint::fnv1a64;

/// The unit state key holding the cache's token: `<n> <leader|follower> <digest>`.
pub const TOKEN_KEY: &str = "relations-cache-token";
/// Prefix of the unit state keys in which earlier versions of this charm kept the relations;
/// emptied by the first hook that writes the cache to disk.
pub const LEGACY_PREFIX: &str = "relations-cache/";
/// The marker file, in the charm directory.
pub const MARKER_FILE: &str = ".relations-cache-marker";
/// The directory of the cache's generations, in the charm directory.
pub const DIR: &str = ".relations-cache";
/// What the marker says while a hook runs.
pub const DIRTY: &str = "dirty";

/// One relation as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: RelationId,
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

/// The same, borrowed, to write a generation without copying the relations.
#[derive(Serialize)]
struct EntryRef<'a> {
    id: &'a RelationId,
    remote_app: &'a Option<String>,
    remote_app_data: &'a RelationData,
    remote_units: &'a BTreeMap<String, RelationData>,
    local_app_data: &'a RelationData,
    local_unit_data: &'a RelationData,
}

/// A generation's content: every relation, and what the plan made of the scrape-target
/// relations (each part with the fingerprint of the data it was computed from).
#[derive(Deserialize)]
struct Generation {
    relations: Vec<Entry>,
    #[serde(default)]
    memo: Memo,
}

#[derive(Serialize)]
struct GenerationRef<'a> {
    relations: Vec<EntryRef<'a>>,
    memo: &'a Memo,
}

/// Every relation the cache knows, by id.
pub type Relations = BTreeMap<RelationId, RelationSnapshot>;

/// The committed token, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub generation: u64,
    pub leader: bool,
    pub digest: String,
}

impl Token {
    fn parse(text: &str) -> Option<Token> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [n, role, digest] = words.as_slice() else {
            return None;
        };
        let leader = match *role {
            "leader" => true,
            "follower" => false,
            _ => return None,
        };
        Some(Token {
            generation: n.parse().ok()?,
            leader,
            digest: digest.to_string(),
        })
    }

    fn text(&self) -> String {
        let role = if self.leader { "leader" } else { "follower" };
        format!("{} {role} {}", self.generation, self.digest)
    }

    /// The generation's file name, in [`DIR`].
    pub fn file_name(&self) -> String {
        format!("{}-{}", self.generation, self.digest)
    }
}

/// The generation of a file name in [`DIR`], if it is one.
pub fn generation_of(file_name: &str) -> Option<u64> {
    file_name.split_once('-')?.0.parse().ok()
}

/// The cache's committed token, if this hook may trust it: the marker holds it (no hook
/// failed or went uncommitted since), written by a unit of the same leadership.
pub fn trusted(
    state: &BTreeMap<String, String>,
    marker: Option<&str>,
    leader: bool,
) -> Option<Token> {
    let text = state.get(TOKEN_KEY)?;
    if marker != Some(text.as_str()) {
        return None;
    }
    Token::parse(text).filter(|t| t.leader == leader && t.generation > 0)
}

/// The committed generation number in `state`, trusted or not: generations older than it
/// are no longer needed by anyone.
pub fn committed_generation(state: &BTreeMap<String, String>) -> Option<u64> {
    state
        .get(TOKEN_KEY)
        .and_then(|t| Token::parse(t))
        .map(|t| t.generation)
}

/// `<fnv1a64 hex><length hex>`: names a generation after its content.
fn digest(text: &str) -> String {
    format!("{:016x}{:x}", fnv1a64(text.as_bytes()), text.len())
}

/// The relations and the memo in a generation's `text`, if it is the one `token` names.
pub fn decode(text: &str, token: &Token) -> Option<(Relations, Memo)> {
    // The file is named after its digest and written whole (renamed into place), so a
    // length check catches what a lost or damaged disk leaves; hashing it all again would
    // cost every hook as much as writing it.
    if !token.digest.ends_with(&format!("{:x}", text.len())) {
        return None;
    }
    let generation: Generation = serde_json::from_str(text).ok()?;
    let relations = generation
        .relations
        .into_iter()
        .map(|entry| {
            let snapshot = RelationSnapshot {
                id: Some(entry.id.clone()),
                remote_app: entry.remote_app,
                remote_app_data: entry.remote_app_data,
                remote_units: entry.remote_units,
                local_app_data: entry.local_app_data,
                local_unit_data: entry.local_unit_data,
            };
            (entry.id, snapshot)
        })
        .collect();
    Some((relations, generation.memo))
}

/// A generation holding `relations` and `memo`: its text and its token (the next number
/// after `previous`).
pub fn encode(relations: &Relations, memo: &Memo, previous: u64, leader: bool) -> (String, Token) {
    let generation = GenerationRef {
        relations: relations
            .iter()
            .map(|(id, s)| EntryRef {
                id,
                remote_app: &s.remote_app,
                remote_app_data: &s.remote_app_data,
                remote_units: &s.remote_units,
                local_app_data: &s.local_app_data,
                local_unit_data: &s.local_unit_data,
            })
            .collect(),
        memo,
    };
    // Strings, ordered maps of strings and the typed config always serialize.
    let text = serde_json::to_string(&generation).unwrap_or_default();
    let token = Token {
        generation: previous + 1,
        leader,
        digest: digest(&text),
    };
    (text, token)
}

/// The `state-set` that commits `token` (and empties the keys earlier versions kept the
/// relations in).
pub fn commit(state: &BTreeMap<String, String>, token: &Token) -> BTreeMap<String, String> {
    let mut changes: BTreeMap<String, String> = state
        .range(LEGACY_PREFIX.to_string()..)
        .take_while(|(k, _)| k.starts_with(LEGACY_PREFIX))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| (k.clone(), String::new()))
        .collect();
    changes.insert(TOKEN_KEY.to_string(), token.text());
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relations::{RelationsInput, METRICS_ENDPOINT};

    fn snapshot(endpoint: &str, id: u32, units: usize) -> RelationSnapshot {
        RelationSnapshot {
            id: Some(RelationId::new(endpoint, id)),
            remote_app: Some(format!("app{id}")),
            remote_app_data: RelationData::from([("k".to_string(), "é".repeat(10))]),
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

    fn memo_of(rels: &Relations) -> Memo {
        let input = RelationsInput {
            endpoints: BTreeMap::from([(
                METRICS_ENDPOINT.to_string(),
                rels.values()
                    .filter(|s| {
                        s.id.as_ref()
                            .is_some_and(|id| id.endpoint == METRICS_ENDPOINT)
                    })
                    .cloned()
                    .collect(),
            )]),
            ..RelationsInput::default()
        };
        crate::relations::plan_with(&input, &Memo::default()).1
    }

    #[test]
    fn a_generation_round_trips_with_its_parts() {
        let rels = relations(vec![
            snapshot(METRICS_ENDPOINT, 3, 10),
            snapshot("alertmanager", 12, 2),
        ]);
        let memo = memo_of(&rels);
        assert_eq!(memo.len(), 1);
        let (text, token) = encode(&rels, &memo, 4, true);
        assert_eq!(token.generation, 5);
        let decoded = decode(&text, &token).unwrap();
        assert_eq!(decoded.0, rels);
        assert_eq!(decoded.1, memo);
        // A damaged file is no cache.
        assert!(decode(&text[1..], &token).is_none());
    }

    #[test]
    fn trusted_only_with_the_committed_token_and_the_same_leadership() {
        let rels = relations(vec![snapshot("alertmanager", 1, 1)]);
        let (_, token) = encode(&rels, &Memo::default(), 0, false);
        let mut state = BTreeMap::from([(format!("{LEGACY_PREFIX}alertmanager:1/0"), "{}".into())]);
        let changes = commit(&state, &token);
        assert_eq!(
            changes.get(&format!("{LEGACY_PREFIX}alertmanager:1/0")),
            Some(&String::new())
        );
        state.extend(changes);
        let text = token.text();
        assert_eq!(trusted(&state, Some(&text), false), Some(token.clone()));
        assert!(
            trusted(&state, Some(DIRTY), false).is_none(),
            "a hook failed"
        );
        assert!(trusted(&state, None, false).is_none(), "the disk was lost");
        assert!(trusted(&state, Some(&text), true).is_none(), "now leader");
        assert_eq!(committed_generation(&state), Some(1));
        assert_eq!(generation_of(&token.file_name()), Some(1));
    }
}
