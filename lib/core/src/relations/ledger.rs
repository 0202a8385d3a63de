//! What each scrape-target relation put into the plan, kept between hooks so that a hook
//! about one of them applies its change alone instead of planning every relation again.
//!
//! A plan ties the relations together in four places: the ConfigMap budget (relations
//! admitted oldest first while they fit), job names (two jobs of one name are renamed),
//! pools (the set of job settings decides which file each pool gets) and the one rule file
//! (names made unique in order). One relation's new part can replace its old one without
//! looking at the others exactly when it moves none of them: every relation fitted before
//! and all still fit in total (then every prefix fits, so the oldest-first admission admits
//! all again), no job name is claimed twice or reserved, the relation's jobs are all pooled
//! and the set of pools stays the same. [`patch`] checks exactly that and otherwise says
//! `None`: the caller then plans everything. When the relation's rules changed, the one
//! rule file is merged again from every relation's rule files, kept here, in the order a
//! full plan admits them.
//! The other endpoints (few relations) are planned whole every time, and must come out as
//! they did.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use juju::RelationId;
use serde::{Deserialize, Serialize};

use super::budget::{self, Budget, Used};
use super::report::publish_event;
use super::{
    contribute_others, metrics_endpoint, plan_inner, receives_remote_write, relations_of,
    unique_rule_files, Contribution, LocalIdentity, Memo, MemoPart, RelationWarning,
    RelationsInput, RelationsPlan, METRICS_ENDPOINT,
};
use crate::prometheus::config::{RuleFile, ScrapeConfig};
use crate::prometheus::targets;
use crate::syntax::fingerprint::fnv1a64;

/// The bookkeeping of one plan (see the module's text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    local: LocalIdentity,
    budget: Option<Budget>,
    /// What the admitted relations take (`None` without a budget).
    used: Option<Used>,
    /// Relations were left out: admission depends on the order and the budget.
    refused: bool,
    /// Nothing ties one relation's part to another's (no name claimed twice or reserved, no
    /// more pools than slots, nothing left out): [`patch`] may apply one alone.
    patchable: bool,
    /// Each scrape-target relation by its number.
    entries: BTreeMap<u32, Entry>,
    /// Pool settings' fingerprint → the settings and how many admitted jobs have them.
    pools: BTreeMap<u64, PoolUse>,
    /// Fingerprint of what the other endpoints contributed, and their warnings.
    others: u64,
    others_warnings: Vec<RelationWarning>,
}

/// One scrape-target relation's part, as the other relations see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The remote data's fingerprint ([`MemoPart::basis_of`]): the part kept beside it
    /// must be the one this entry describes.
    basis: u64,
    /// Each job's name and its pool's fingerprint (`None`: not poolable).
    jobs: Vec<(String, Option<u64>)>,
    /// Bytes its target groups take in each volume.
    shards: Vec<usize>,
    /// Its rule files (the names it wants), and the bytes they add to the config file set.
    rule_files: Vec<(String, RuleFile)>,
    rules_cost: usize,
    warnings: Vec<RelationWarning>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PoolUse {
    key: String,
    jobs: usize,
}

/// One relation's change applied alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The relations' plan without the scrape-target relations' jobs and rules (they are
    /// in the rendering being patched): the other endpoints' part, every warning, and what
    /// to publish to the changed relation and the other endpoints.
    pub plan: RelationsPlan,
    pub ledger: Ledger,
    /// The changed relation's part now (`None` once it is gone).
    pub part: Option<MemoPart>,
    /// Its jobs before and after: their target groups leave and enter the files.
    pub removed: Vec<ScrapeConfig>,
    pub added: Vec<ScrapeConfig>,
    /// Pool settings → file slot, as every job of the rendering has them.
    pub slots: BTreeMap<String, usize>,
    /// Every relation's rule files, when the changed relation's rules changed.
    pub rule_files: Option<BTreeMap<String, RuleFile>>,
}

fn fingerprint<T: Serialize>(value: &T) -> u64 {
    // Plain data always serializes.
    fnv1a64(serde_json::to_string(value).unwrap_or_default().as_bytes())
}

impl Entry {
    fn rules(&self) -> (&[(String, RuleFile)], usize) {
        (&self.rule_files, self.rules_cost)
    }

    fn of(part: &MemoPart) -> Entry {
        let contribution = part.result.contribution();
        let mut shards = vec![0; targets::SHARDS];
        let mut jobs = Vec::with_capacity(contribution.scrape_configs.len());
        for job in &contribution.scrape_configs {
            let pool = targets::pool_key(job).map(|key| fnv1a64(key.as_bytes()));
            if pool.is_some() {
                let (shard, bytes) = budget::shard_cost(job);
                if let Some(used) = shards.get_mut(shard) {
                    *used += bytes;
                }
            }
            jobs.push((job.job_name.clone(), pool));
        }
        Entry {
            basis: part.basis,
            jobs,
            shards,
            rule_files: contribution.rule_files.clone(),
            rules_cost: budget::rules_cost(&contribution.rule_files),
            warnings: contribution.warnings.clone(),
        }
    }
}

/// Counts `jobs` into `pools`; false when two different settings share a fingerprint (a
/// remote charm can choose its settings: such a ledger is never patched).
fn count_pools(pools: &mut BTreeMap<u64, PoolUse>, jobs: &[ScrapeConfig]) -> bool {
    let mut distinct = true;
    for key in jobs.iter().filter_map(targets::pool_key) {
        let use_ = pools
            .entry(fnv1a64(key.as_bytes()))
            .or_insert_with(|| PoolUse {
                key: key.clone(),
                jobs: 0,
            });
        distinct &= use_.key == key;
        use_.jobs += 1;
    }
    distinct
}

/// What the other endpoints plan: their contribution, and whether a relation asks us to
/// receive remote writes (a flag of Prometheus's, no data).
fn others_fingerprint(input: &RelationsInput, others: &Contribution) -> u64 {
    fingerprint(&(others, receives_remote_write(input)))
}

/// The other endpoints' contribution, planned whole (no budget: see [`patch`]).
fn others_of(input: &RelationsInput) -> Contribution {
    let mut others = Contribution::default();
    contribute_others(input, &mut others);
    others
}

/// As `plan_with`, with the plan's ledger; `reserved` are job names our own jobs may take.
pub fn plan_ledgered(
    input: &RelationsInput,
    memo: &Memo,
    reserved: &[&str],
) -> (RelationsPlan, Memo, Ledger) {
    let mut known: BTreeMap<&RelationId, &MemoPart> = BTreeMap::new();
    if memo.local == input.local {
        known.extend(memo.parts.iter().map(|p| (&p.id, p)));
    }
    let mut next = Memo {
        local: input.local.clone(),
        parts: Vec::new(),
    };
    let (plan, admission) = plan_inner(input, &known, Some(&mut next.parts));
    let others = others_of(input);
    let entries: BTreeMap<u32, Entry> = next
        .parts
        .iter()
        .map(|p| {
            let mut entry = Entry::of(p);
            // With a refusal, if any, where the plan has it.
            entry.warnings = plan
                .warnings
                .iter()
                .filter(|w| w.relation.as_ref() == Some(&p.id))
                .cloned()
                .collect();
            (p.id.id, entry)
        })
        .collect();
    let mut pools = BTreeMap::new();
    let mut distinct = true;
    for part in &next.parts {
        distinct &= count_pools(&mut pools, &part.result.contribution().scrape_configs);
    }
    distinct &= count_pools(&mut pools, &others.scrape_configs);
    let mut names = HashSet::new();
    let all_names = next
        .parts
        .iter()
        .flat_map(|p| p.result.contribution().scrape_configs.iter())
        .chain(&others.scrape_configs)
        .map(|j| j.job_name.as_str());
    let mut unique = true;
    for name in all_names {
        unique &= !reserved.contains(&name) && names.insert(name);
    }
    let refused = admission.refused > 0;
    let ledger = Ledger {
        local: input.local.clone(),
        budget: input.budget.clone(),
        used: admission.room.as_ref().map(budget::Room::used),
        refused,
        patchable: !refused && unique && distinct && pools.len() <= targets::POOLS,
        entries,
        pools,
        others: others_fingerprint(input, &others),
        others_warnings: others.warnings,
    };
    (plan, next, ledger)
}

impl Ledger {
    /// Whether one relation's change may be applied alone (see [`patch`]).
    pub fn is_patchable(&self) -> bool {
        self.patchable
    }

    /// The budget it admitted the relations under.
    pub fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref()
    }

    /// The plan of the same scrape-target relations under `input`'s identity and budget
    /// (`input` holds every relation of the other endpoints), when it is this ledger's (the
    /// relations' part of the rendering is then the one kept with it): the warnings and
    /// the receiver flag, nothing to publish (the bags already say it); and itself under
    /// that budget. With `others_changed` (a relation of another endpoint changed), only
    /// if they plan as they did (a change of the peers, which no plan reads, leaves them so).
    pub fn replan(
        self,
        input: &RelationsInput,
        others_changed: bool,
    ) -> Option<(RelationsPlan, Ledger)> {
        if self.local != input.local {
            return None;
        }
        if others_changed && others_fingerprint(input, &others_of(input)) != self.others {
            return None;
        }
        let same_admission = self.budget == input.budget
            || (!self.refused
                && match (&self.used, &input.budget) {
                    (Some(used), Some(budget)) => used.fits(budget),
                    (_, None) => true,
                    (None, Some(_)) => false,
                });
        if !same_admission {
            return None;
        }
        let plan = RelationsPlan {
            remote_write_receiver: receives_remote_write(input),
            warnings: self.warnings(self.others_warnings.clone()),
            ..RelationsPlan::default()
        };
        Some((
            plan,
            Ledger {
                budget: input.budget.clone(),
                ..self
            },
        ))
    }

    /// Every warning: the scrape-target relations' oldest first, then the others'.
    fn warnings(&self, others: Vec<RelationWarning>) -> Vec<RelationWarning> {
        let mut all: Vec<RelationWarning> = self
            .entries
            .values()
            .flat_map(|e| e.warnings.iter().cloned())
            .collect();
        all.extend(others);
        all
    }
}

/// Applies the change of scrape-target relation `changed` alone, if it moves no other
/// relation (see the module's text): `input` holds every relation of the other endpoints
/// and `changed` as it is now (absent once gone), `old` its part as `ledger` knew it.
pub fn patch(
    input: &RelationsInput,
    ledger: Ledger,
    changed: &RelationId,
    old: Option<&MemoPart>,
    reserved: &[&str],
) -> Option<Patched> {
    if !ledger.patchable || ledger.local != input.local || changed.endpoint != METRICS_ENDPOINT {
        return None;
    }
    let old_entry = ledger.entries.get(&changed.id);
    // The part kept beside the ledger must be the one it describes.
    match (old_entry, old) {
        (Some(e), Some(p)) if e.basis == p.basis && p.id == *changed => {}
        (None, None) => {}
        _ => return None,
    }
    let others = others_of(input);
    if others_fingerprint(input, &others) != ledger.others {
        return None;
    }
    let snapshot = relations_of(input, METRICS_ENDPOINT)
        .iter()
        .find(|s| s.id.as_ref() == Some(changed));
    let (part, publish) = match snapshot {
        Some(snapshot) => {
            let memo: BTreeMap<&RelationId, &MemoPart> =
                old.map(|p| (&p.id, p)).into_iter().collect();
            let mut parts = Vec::new();
            let (_, report) =
                metrics_endpoint::memoized(&input.local, snapshot, &memo, Some(&mut parts));
            let publish = publish_event(&input.local, snapshot, &report);
            (parts.pop(), publish)
        }
        None => (None, None),
    };
    let empty = Vec::new();
    let removed = old.map_or(&empty, |p| &p.result.contribution().scrape_configs);
    let added = part
        .as_ref()
        .map_or(&empty, |p| &p.result.contribution().scrape_configs);
    let new_entry = part.as_ref().map(Entry::of);
    let (old_rules, old_rules_cost) = old_entry.map_or((&[][..], 0), Entry::rules);
    let (new_rules, new_rules_cost) = new_entry.as_ref().map_or((&[][..], 0), Entry::rules);
    let rules_changed = old_rules != new_rules;

    // The same pools, each still used, every job of the relation in one.
    let mut pools = ledger.pools.clone();
    for key in removed.iter().map(targets::pool_key) {
        let use_ = pools.get_mut(&fnv1a64(key?.as_bytes()))?;
        use_.jobs = use_.jobs.checked_sub(1)?;
    }
    for key in added.iter().map(targets::pool_key) {
        let key = key?;
        let use_ = pools.get_mut(&fnv1a64(key.as_bytes()))?;
        if use_.key != key {
            return None;
        }
        use_.jobs += 1;
    }
    if pools.values().any(|p| p.jobs == 0) {
        return None;
    }

    // No name claimed twice or reserved.
    let mut taken: HashSet<&str> = ledger
        .entries
        .iter()
        .filter(|(id, _)| **id != changed.id)
        .flat_map(|(_, e)| e.jobs.iter().map(|(name, _)| name.as_str()))
        .chain(others.scrape_configs.iter().map(|j| j.job_name.as_str()))
        .collect();
    for job in added {
        let name = job.job_name.as_str();
        if reserved.contains(&name) || !taken.insert(name) {
            return None;
        }
    }

    // Everything still fits.
    let used = match (&ledger.used, &input.budget) {
        (Some(used), Some(budget)) => {
            let mut shards = used.shards.clone();
            for (n, total) in shards.iter_mut().enumerate() {
                let before = old_entry.and_then(|e| e.shards.get(n)).copied();
                let after = new_entry.as_ref().and_then(|e| e.shards.get(n)).copied();
                *total = total
                    .checked_sub(before.unwrap_or(0))?
                    .checked_add(after.unwrap_or(0))?;
            }
            let config = used
                .config
                .checked_sub(old_rules_cost)?
                .checked_add(new_rules_cost)?;
            let used = Used { config, shards };
            if !used.fits(budget) {
                return None;
            }
            Some(used)
        }
        (None, None) => None,
        _ => return None,
    };

    let mut next = Ledger {
        budget: input.budget.clone(),
        used,
        pools,
        others_warnings: others.warnings.clone(),
        ..ledger
    };
    match new_entry {
        Some(entry) => next.entries.insert(changed.id, entry),
        None => next.entries.remove(&changed.id),
    };
    let slots = targets::slots(
        &next
            .pools
            .values()
            .map(|p| p.key.clone())
            .collect::<BTreeSet<_>>(),
    );
    // In the order a full plan admits them: the scrape targets oldest first, then the rest.
    let rule_files = rules_changed.then(|| {
        unique_rule_files(
            next.entries
                .values()
                .flat_map(|e| e.rule_files.iter().cloned())
                .chain(others.rule_files.iter().cloned())
                .collect(),
        )
    });
    let mut publish: Vec<_> = publish.into_iter().collect();
    publish.extend(others.publish);
    let plan = RelationsPlan {
        scrape_configs: Vec::new(),
        alertmanagers: others.alertmanagers,
        rule_files: BTreeMap::new(),
        remote_write: others.remote_write,
        remote_write_receiver: receives_remote_write(input),
        publish,
        warnings: next.warnings(others.warnings),
    };
    Some(Patched {
        plan,
        removed: removed.clone(),
        added: added.clone(),
        ledger: next,
        part,
        slots,
        rule_files,
    })
}
