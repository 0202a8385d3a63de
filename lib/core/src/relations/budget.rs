//! One remote application must not take everything down. Kubernetes keeps each file set in
//! one ConfigMap (at most 1 MiB): prometheus.yml with the rules in `config`, the targets in
//! the volumes `t0`…`t7` (`prometheus::targets`). Were a relation's jobs, targets and rules to
//! push one of them past it, the whole spec could not be applied and good changes made in the
//! same hook would be lost with it. So each relation's contribution is measured as it comes,
//! the oldest relation first (Juju numbers relations in creation order), against what is left
//! in every file set it adds to, and one that would not fit is left out whole: reported to it
//! and logged, while everything else applies.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::prometheus::config::{RuleFile, ScrapeConfig};
use crate::prometheus::targets;

use super::{Contribution, RelationSnapshot};

/// What the relations may add to each file set, or `None` in [`super::RelationsInput`] for no
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Bytes for prometheus.yml and the rules (the options' own part taken out).
    pub config: usize,
    /// Bytes for each target volume.
    pub shard: usize,
}

/// Bytes the admitted relations take of each file set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    pub config: usize,
    pub shards: Vec<usize>,
}

impl Used {
    /// Whether this much fits in `budget`.
    pub fn fits(&self, budget: &Budget) -> bool {
        self.config <= budget.config && self.shards.iter().all(|s| *s <= budget.shard)
    }
}

/// What a pooled job adds to its target volume: its target groups. The same wherever the
/// job comes in the order, unlike what it adds to prometheus.yml (only the first job of a
/// pool opens it).
pub(super) fn shard_cost(job: &ScrapeConfig) -> (usize, usize) {
    let groups: usize = targets::target_groups(job)
        .iter()
        .map(targets::group_size)
        .sum();
    (targets::shard_of(&job.job_name), groups)
}

/// What a relation's rule files add to the config file set.
pub(super) fn rules_cost(rule_files: &[(String, RuleFile)]) -> usize {
    rule_files
        .iter()
        .map(|(_, file)| crate::yaml::to_string(&file.groups).map_or(0, |t| t.len()))
        .sum()
}

/// What is left as relations are admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Room {
    budget: Budget,
    config: usize,
    shards: Vec<usize>,
    /// Pools (job settings) already in prometheus.yml: another job of the same settings adds
    /// only its targets.
    pools: BTreeSet<String>,
}

/// What one relation's part would add: to the config file set, to each target volume, and
/// the pools it would open.
struct Cost {
    config: usize,
    shards: Vec<usize>,
    pools: BTreeSet<String>,
}

impl Room {
    pub(super) fn new(budget: Budget) -> Room {
        Room {
            config: budget.config,
            shards: vec![budget.shard; targets::SHARDS],
            pools: BTreeSet::new(),
            budget,
        }
    }

    /// What the relations admitted so far take.
    pub(super) fn used(&self) -> Used {
        Used {
            config: self.budget.config - self.config,
            shards: self
                .shards
                .iter()
                .map(|left| self.budget.shard - left)
                .collect(),
        }
    }

    /// Takes `part`'s cost if it fits everywhere; otherwise says why it does not.
    pub(super) fn take(&mut self, part: &Contribution) -> Result<(), String> {
        let cost = self.cost(part);
        if cost.config > self.config {
            return Err(refusal(
                "prometheus.yml and the rules",
                cost.config,
                self.config,
                self.budget.config,
            ));
        }
        for (n, (need, left)) in cost.shards.iter().zip(&self.shards).enumerate() {
            if need > left {
                return Err(refusal(
                    &format!("target volume {}", targets::volume(n)),
                    *need,
                    *left,
                    self.budget.shard,
                ));
            }
        }
        self.config -= cost.config;
        for (left, need) in self.shards.iter_mut().zip(&cost.shards) {
            *left -= need;
        }
        self.pools.extend(cost.pools);
        Ok(())
    }

    /// As `targets::split` will place them: a poolable job adds its pool's job to
    /// prometheus.yml once per pool (the whole job once the pool slots are all taken) and its
    /// targets to the volume of its name; every other job, and the rules, add their YAML.
    fn cost(&self, part: &Contribution) -> Cost {
        let yaml_len = |text: Result<String, crate::yaml::YamlError>| text.map_or(0, |t| t.len());
        let mut cost = Cost {
            config: 0,
            shards: vec![0; targets::SHARDS],
            pools: BTreeSet::new(),
        };
        for job in &part.scrape_configs {
            let pooled = targets::pool_key(job).filter(|key| {
                self.pools.contains(key)
                    || cost.pools.contains(key)
                    || self.pools.len() + cost.pools.len() < targets::POOLS
            });
            match pooled {
                Some(key) => {
                    if !self.pools.contains(&key) {
                        // Every pool's job names its files the same way: its size depends
                        // on the settings alone, not on which job opened it.
                        let pool = targets::pool_job(&key, job, 0);
                        if cost.pools.insert(key) {
                            cost.config += yaml_len(crate::yaml::to_string(&[pool]));
                        }
                    }
                    let (shard, groups) = shard_cost(job);
                    if let Some(bytes) = cost.shards.get_mut(shard) {
                        *bytes += groups;
                    }
                }
                None => cost.config += yaml_len(crate::yaml::to_string(&[job])),
            }
        }
        cost.config += rules_cost(&part.rule_files);
        cost
    }
}

/// The relations in the order Juju created them (relation ids grow; `relation-ids` sorts them
/// as text, so `:10` would come before `:9`).
pub(super) fn oldest_first<'a>(
    relations: impl IntoIterator<Item = &'a RelationSnapshot>,
) -> Vec<&'a RelationSnapshot> {
    let mut ordered: Vec<&RelationSnapshot> = relations.into_iter().collect();
    ordered.sort_by_key(|r| r.id.as_ref().map(|id| id.id));
    ordered
}

/// Why a contribution needing `size` bytes of `what` was left out, for the log and the sender.
fn refusal(what: &str, size: usize, room: usize, total: usize) -> String {
    format!(
        "left out whole: its scrape jobs, targets and alert rules would add {size} bytes to \
         {what}, but only {room} of the {total} bytes Kubernetes holds there (one ConfigMap) \
         remain after the relations before it"
    )
}
