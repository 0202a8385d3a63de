//! What earlier hooks learned about the relations, so that a hook reads and re-plans only
//! what changed. Pure: encoding, decoding, and whether to trust it; the shell reads and writes
//! the files.
//!
//! **Where.** Files on the unit's disk, in `<charm dir>/`[`DIR`], each named after its
//! content (FNV-1a and length) and never rewritten: one per relation (`r<n>-<digest>`: its
//! bags and, for a scrape-target relation, its checked part of the plan, `relations::Memo`),
//! one per rendering of the relations (`o-<digest>`: `incremental::Outcome`, the assembled
//! jobs, target files and rules with the ledger that lets one relation's change be applied
//! alone), and per generation an index (`<n>-<digest>`) naming the files that make it up
//! and the identity the parts were computed for. Unit state holds only the token
//! `<n> <leader|follower> <digest>` ([`TOKEN_KEY`]), so the cache's size is not bounded by
//! Juju's unit state quota (`max-charm-state-size`, 2 MiB), and a hook about one relation
//! writes that relation's file, the outcome and a small index, not every relation.
//!
//! **Never wrong.** The token is written with `state-set`, which Juju commits only when the
//! hook exits 0, together with the pod spec and relation data; so the index it names always
//! describes the relations as the last *successful* hook saw them. A hook writes generation
//! `n + 1` beside `n` and removes only files neither index names: should its `state-set`
//! not be committed, the committed index and its files are still there. A lost disk is a
//! missing file: one full read. Every relation change comes to this unit as a hook of that
//! relation, which updates exactly that relation. What could still make it stale is a hook
//! whose *event* is lost: a failed hook skipped with `juju resolved --no-retry`, or a hook
//! that exited 0 but was not committed. Against both, a marker file on the unit's disk
//! ([`MARKER_FILE`] in the charm directory) says `dirty` from the start of every hook and the
//! token only after a hook succeeded: the cache is trusted only when the marker holds the
//! token the committed state holds, and only by a unit whose leadership is what it was when
//! the cache was written. Anything else (no marker, a lost disk, a failed hook, a new
//! leader, `install`, `upgrade-charm`, `leader-elected`, an unknown hook) means one full
//! read, which rewrites the cache.

use std::collections::BTreeMap;

use juju::RelationId;
use serde::{Deserialize, Serialize};

use crate::incremental::Outcome;
use crate::prometheus::targets::TargetGroup;
use crate::relations::{LocalIdentity, MemoPart, RelationSnapshot};

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

/// One relation's file: its bags, and its part of the plan when it has one.
#[derive(Deserialize)]
struct RelationFile {
    relation: RelationSnapshot,
    #[serde(default)]
    part: Option<MemoPart>,
}

/// The same, borrowed, to write it without copying the relation.
#[derive(Serialize)]
struct RelationFileRef<'a> {
    relation: &'a RelationSnapshot,
    part: Option<&'a MemoPart>,
}

/// A generation's index: the file of every relation, the identity their parts were
/// computed for, and the file of the relations' rendering (none after a hook that rendered
/// nothing of them, such as one with invalid options).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Index {
    pub relations: BTreeMap<RelationId, String>,
    pub local: LocalIdentity,
    pub outcome: Option<String>,
}

/// What the index is written as: JSON maps need text keys.
#[derive(Serialize, Deserialize)]
struct IndexFile {
    relations: Vec<(RelationId, String)>,
    local: LocalIdentity,
    #[serde(default)]
    outcome: Option<String>,
}

impl Index {
    /// Every file it names.
    pub fn files(&self) -> impl Iterator<Item = &String> {
        self.relations.values().chain(self.outcome.as_ref())
    }
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

/// The committed token in `state`, trusted or not.
pub fn committed(state: &BTreeMap<String, String>) -> Option<Token> {
    state.get(TOKEN_KEY).and_then(|t| Token::parse(t))
}

/// `<bulk fingerprint hex><length hex>`: names a file after its content.
fn digest(text: &str) -> String {
    format!(
        "{}{:x}",
        crate::syntax::fingerprint::bulk_hex(text),
        text.len()
    )
}

/// Whether `text` can be the content of the file named `name` (`…<digest>`). Files are
/// written whole (renamed into place), so a length check catches what a lost or damaged
/// disk leaves; hashing it all again would cost every hook as much as writing it.
fn whole(name: &str, text: &str) -> bool {
    name.ends_with(&format!("{:x}", text.len()))
}

/// A relation's file: its name and content.
pub fn encode_relation(
    snapshot: &RelationSnapshot,
    part: Option<&MemoPart>,
) -> Option<(String, String)> {
    let id = snapshot.id.as_ref()?;
    let file = RelationFileRef {
        relation: snapshot,
        part,
    };
    // Strings, ordered maps of strings and typed plain data always serialize.
    let text = serde_json::to_string(&file).unwrap_or_default();
    Some((format!("r{}-{}", id.id, digest(&text)), text))
}

/// The relation and its part in file `name`, if whole.
pub fn decode_relation(name: &str, text: &str) -> Option<(RelationSnapshot, Option<MemoPart>)> {
    if !whole(name, text) {
        return None;
    }
    let file: RelationFile = serde_json::from_str(text).ok()?;
    file.relation.id.as_ref()?;
    Some((file.relation, file.part))
}

/// The relations' rendering's file: its name and content. A line of JSON, then every
/// target group as a line of its own, `<volume> <slot> <job as a JSON string>\t<group>`:
/// the groups are JSON already and stay as they are, not escaped into a JSON string.
pub fn encode_outcome(outcome: &Outcome) -> (String, String) {
    use std::fmt::Write;
    let targets = &outcome.assembled.targets;
    let size: usize = targets
        .shards
        .iter()
        .flatten()
        .flatten()
        .map(|g| g.job.len() + g.json.len() + 16)
        .sum();
    let mut text = String::with_capacity(size + 4096);
    // Plain data always serializes.
    text.push_str(&serde_json::to_string(outcome).unwrap_or_default());
    text.push('\n');
    for (n, pools) in targets.shards.iter().enumerate() {
        for (k, file) in pools.iter().enumerate() {
            for group in file {
                let job = serde_json::to_string(&group.job).unwrap_or_default();
                // Writing into a String cannot fail.
                let _ = writeln!(text, "{n} {k} {job}\t{}", group.json);
            }
        }
    }
    (format!("o-{}", digest(&text)), text)
}

/// The outcome in file `name`, if whole.
pub fn decode_outcome(name: &str, text: &str) -> Option<Outcome> {
    if !whole(name, text) {
        return None;
    }
    let mut lines = text.split('\n');
    let mut outcome: Outcome = serde_json::from_str(lines.next()?).ok()?;
    let shards = &mut outcome.assembled.targets.shards;
    for line in lines.filter(|l| !l.is_empty()) {
        let (head, json) = line.split_once('\t')?;
        let mut words = head.splitn(3, ' ');
        let n: usize = words.next()?.parse().ok()?;
        let k: usize = words.next()?.parse().ok()?;
        let job: String = serde_json::from_str(words.next()?).ok()?;
        shards.get_mut(n)?.get_mut(k)?.push(TargetGroup {
            job,
            json: json.to_string(),
        });
    }
    Some(outcome)
}

/// The index of a generation: its text and its token (the next number after `previous`).
pub fn encode_index(index: &Index, previous: u64, leader: bool) -> (String, Token) {
    let file = IndexFile {
        relations: index
            .relations
            .iter()
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect(),
        local: index.local.clone(),
        outcome: index.outcome.clone(),
    };
    let text = serde_json::to_string(&file).unwrap_or_default();
    let token = Token {
        generation: previous + 1,
        leader,
        digest: digest(&text),
    };
    (text, token)
}

/// The index in a generation's `text`, if it is the one `token` names.
pub fn decode_index(text: &str, token: &Token) -> Option<Index> {
    if !whole(&token.digest, text) {
        return None;
    }
    let file: IndexFile = serde_json::from_str(text).ok()?;
    Some(Index {
        relations: file.relations.into_iter().collect(),
        local: file.local,
        outcome: file.outcome,
    })
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
    use crate::relations::{Memo, RelationsInput, METRICS_ENDPOINT};
    use juju::RelationData;

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

    #[test]
    fn a_relation_round_trips_with_its_part() {
        let rel = snapshot(METRICS_ENDPOINT, 3, 10);
        let input = RelationsInput {
            endpoints: BTreeMap::from([(METRICS_ENDPOINT.to_string(), vec![rel.clone()])]),
            ..RelationsInput::default()
        };
        let memo = crate::relations::plan_with(&input, &Memo::default()).1;
        let part = memo.parts().first().cloned();
        let (name, text) = encode_relation(&rel, part.as_ref()).unwrap();
        assert!(name.starts_with("r3-"));
        assert_eq!(decode_relation(&name, &text), Some((rel.clone(), part)));
        // A damaged file is no cache.
        assert!(decode_relation(&name, &text[1..]).is_none());
        let index = Index {
            relations: BTreeMap::from([(rel.id.clone().unwrap(), name)]),
            ..Index::default()
        };
        let (text, token) = encode_index(&index, 4, true);
        assert_eq!(token.generation, 5);
        assert_eq!(decode_index(&text, &token), Some(index));
        assert!(decode_index(&text[1..], &token).is_none());
    }

    #[test]
    fn an_outcome_round_trips_with_its_target_files() {
        let input = RelationsInput {
            local: crate::relations::test_support::local(true),
            endpoints: BTreeMap::from([(
                METRICS_ENDPOINT.to_string(),
                vec![
                    crate::relations::test_support::app_relation(3, "zinc", 4),
                    crate::relations::test_support::app_relation(5, "tab\tand\nnewline", 2),
                ],
            )]),
            budget: None,
        };
        let config = crate::config::CharmConfig::parse(&serde_json::Map::new()).unwrap();
        let outcome = crate::incremental::full(&input, &Memo::default(), &config).outcome(&config);
        assert!(outcome.assembled.targets.group_count() >= 4);
        let (name, text) = encode_outcome(&outcome);
        assert_eq!(decode_outcome(&name, &text), Some(outcome));
        assert!(decode_outcome(&name, &text[1..]).is_none());
    }

    #[test]
    fn trusted_only_with_the_committed_token_and_the_same_leadership() {
        let (_, token) = encode_index(&Index::default(), 0, false);
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
        assert_eq!(committed(&state).map(|t| t.generation), Some(1));
        assert_eq!(generation_of(&token.file_name()), Some(1));
        assert_eq!(generation_of("r1-abc"), None);
    }
}
