//! The relations' part of a rendering, carried from hook to hook so that a hook costs what
//! changed: the scrape jobs, target files and rules of every relation
//! ([`render::Assembled`]) with the bookkeeping that says when one relation's change can be
//! applied to them alone ([`relations::Ledger`]). Pure; the shell keeps an [`Outcome`]
//! beside the relations cache.
//!
//! Three ways to the same rendering, which the tests hold equal:
//! - [`full`]: every relation planned (parts reused from the memo while their data is the
//!   same), then assembled;
//! - [`patched`]: one scrape-target relation changed; its old target groups leave the files
//!   and its new ones enter (and the rule file is merged again if its rules changed), when
//!   the ledger says nothing else moves;
//! - [`reused`]: no scrape-target relation changed (an option did, or a relation of another
//!   endpoint): the last outcome as it is, when the identity the parts depend on, the
//!   admission and what the other endpoints plan are the same.

use serde::{Deserialize, Serialize};

use crate::config::CharmConfig;
use crate::prometheus::render::{self, Assembled};
use crate::prometheus::targets;
use crate::relations::{self, Ledger, Memo, MemoPart, RelationsInput, RelationsPlan};
use juju::RelationId;

/// What a hook leaves for the next one to patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub ledger: Ledger,
    pub assembled: Assembled,
    /// Our own job names it was assembled around (they depend on `monitor-k8s`).
    ours: Vec<String>,
}

/// The relations' plan and their part of the rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Relations {
    /// What to publish, the warnings, the receiver flag (the jobs and rules are in
    /// `assembled`; after a patch or reuse the plan has none of its own).
    pub plan: RelationsPlan,
    pub assembled: Assembled,
    /// Parts computed in this hook (all of them after [`full`]; the changed relation's
    /// after [`patched`]; none after [`reused`]).
    pub memo: Memo,
    /// The ledger to keep with `assembled`.
    pub ledger: Ledger,
}

impl Relations {
    /// Keeps it for the next hook.
    pub fn outcome(&self, config: &CharmConfig) -> Outcome {
        Outcome::new(self.ledger.clone(), self.assembled.clone(), config)
    }
}

impl Outcome {
    pub fn new(ledger: Ledger, assembled: Assembled, config: &CharmConfig) -> Outcome {
        Outcome {
            ledger,
            assembled,
            ours: ours(config),
        }
    }

    pub fn into_assembled(self) -> Assembled {
        self.assembled
    }
}

fn ours(config: &CharmConfig) -> Vec<String> {
    render::own_job_names(config)
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn reserved() -> Vec<&'static str> {
    render::reserved_job_names().collect()
}

/// Every relation planned.
pub fn full(input: &RelationsInput, memo: &Memo, config: &CharmConfig) -> Relations {
    let (plan, memo, ledger) = relations::plan_ledgered(input, memo, &reserved());
    let assembled = render::assemble(&plan, &render::own_job_names(config));
    Relations {
        plan,
        assembled,
        memo,
        ledger,
    }
}

/// Scrape-target relation `changed` applied alone to `outcome` (`input` holds it as it is
/// now, or not once gone, and every relation of the other endpoints; `old` its part as the
/// outcome knew it); `None` when that would not render what [`full`] renders.
pub fn patched(
    input: &RelationsInput,
    outcome: Outcome,
    changed: &RelationId,
    old: Option<&MemoPart>,
    config: &CharmConfig,
) -> Option<Relations> {
    if outcome.ours != ours(config) && !outcome.ledger.is_patchable() {
        return None;
    }
    let Outcome {
        ledger,
        mut assembled,
        ..
    } = outcome;
    let patch = relations::patch(input, ledger, changed, old, &reserved())?;
    for job in &patch.removed {
        let slot = targets::pool_key(job).and_then(|key| patch.slots.get(&key).copied())?;
        assembled.targets.remove_job(&job.job_name, slot);
    }
    for job in &patch.added {
        let slot = targets::pool_key(job).and_then(|key| patch.slots.get(&key).copied())?;
        assembled.targets.insert_job(job, slot);
    }
    if let Some(rule_files) = &patch.rule_files {
        // The assembly's other warnings are about reserved job names: none when patched.
        let mut warnings = Vec::new();
        let (rules, marker) = render::rules(rule_files, &mut warnings);
        assembled.rules = rules;
        assembled.rules_marker = marker;
        assembled.rules_yml = None;
        assembled.warnings = warnings;
    }
    assembled
        .alertmanagers
        .clone_from(&patch.plan.alertmanagers);
    assembled.remote_write.clone_from(&patch.plan.remote_write);
    let mut memo = Memo::of(input.local.clone());
    memo.extend(patch.part);
    Some(Relations {
        plan: patch.plan,
        assembled,
        memo,
        ledger: patch.ledger,
    })
}

/// No scrape-target relation changed since `outcome` (`others_changed`: a relation of
/// another endpoint did; `input` holds them all): the same rendering, when our identity, the
/// admission and what the other endpoints plan are the same (`None` otherwise).
pub fn reused(
    input: &RelationsInput,
    outcome: Outcome,
    others_changed: bool,
    config: &CharmConfig,
) -> Option<Relations> {
    if outcome.ours != ours(config) && !outcome.ledger.is_patchable() {
        return None;
    }
    let (plan, ledger) = outcome.ledger.replan(input, others_changed)?;
    Some(Relations {
        plan,
        assembled: outcome.assembled,
        memo: Memo::of(input.local.clone()),
        ledger,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Map, Value};

    use super::*;
    use crate::relations::test_support::{app_relation, bag, local, relation, Rng, ZINC_RULES};
    use crate::relations::{
        Budget, RelationSnapshot, ALERTMANAGER, METRICS_ENDPOINT, RECEIVE_REMOTE_WRITE,
    };

    /// The peer relation's number: out of the way of the scrape targets'.
    const PEERS_ID: u32 = 1_000_000;
    /// A receive-remote-write relation's, now and then.
    const RECEIVER_ID: u32 = 1_000_001;

    fn config(options: &[(&str, Value)]) -> CharmConfig {
        let raw: Map<String, Value> = options
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        CharmConfig::parse(&raw).unwrap()
    }

    fn input(
        relations: &BTreeMap<u32, RelationSnapshot>,
        only: Option<u32>,
        budget: &Budget,
    ) -> RelationsInput {
        let mut endpoints: BTreeMap<String, Vec<RelationSnapshot>> = BTreeMap::new();
        for (n, r) in relations {
            let id = r.id.clone().unwrap();
            if id.endpoint == METRICS_ENDPOINT && only.is_some_and(|o| o != *n) {
                continue;
            }
            endpoints
                .entry(id.endpoint.clone())
                .or_default()
                .push(r.clone());
        }
        RelationsInput {
            local: local(true),
            endpoints,
            budget: Some(budget.clone()),
        }
    }

    /// A change to the model, as the hooks bring them.
    fn step(
        rng: &mut Rng,
        relations: &mut BTreeMap<u32, RelationSnapshot>,
        next_id: &mut u32,
    ) -> Option<u32> {
        let metrics: Vec<u32> = relations
            .iter()
            .filter(|(_, r)| {
                r.id.as_ref()
                    .is_some_and(|id| id.endpoint == METRICS_ENDPOINT)
            })
            .map(|(n, _)| *n)
            .collect();
        if metrics.is_empty() || rng.below(10) == 0 {
            let id = *next_id;
            *next_id += 1;
            let mut r = app_relation(id, &format!("app{id}"), u8::try_from(rng.below(4)).unwrap());
            if rng.below(4) == 0 {
                r.remote_app_data
                    .insert("alert_rules".into(), ZINC_RULES.to_string());
            }
            relations.insert(id, r);
            return Some(id);
        }
        let n = metrics[rng.below(metrics.len())];
        let r = relations.get_mut(&n).unwrap();
        let app = r.remote_app.clone().unwrap();
        match rng.below(9) {
            0 => {
                relations.remove(&n);
            }
            1 | 2 => {
                let unit = format!("{app}/{}", rng.below(6));
                r.remote_units.insert(
                    unit.clone(),
                    bag(&[
                        (
                            "prometheus_scrape_unit_address",
                            &format!("10.2.{}.{}", n, rng.below(250)),
                        ),
                        ("prometheus_scrape_unit_name", &unit),
                    ]),
                );
            }
            3 => {
                let units: Vec<String> = r.remote_units.keys().cloned().collect();
                if !units.is_empty() {
                    r.remote_units.remove(&units[rng.below(units.len())]);
                }
            }
            4 => {
                // Other settings: another pool (or back to the usual one).
                let interval = ["30s", "1m", "2m"][rng.below(3)];
                let jobs = json!([{"job_name": app, "scrape_interval": interval, "static_configs": [{"targets": ["*:9100"]}]}]);
                r.remote_app_data
                    .insert("scrape_jobs".into(), jobs.to_string());
            }
            5 => {
                // A job name another relation has (after the topology prefix: the same app).
                let other = metrics[rng.below(metrics.len())];
                r.remote_app_data.insert("scrape_jobs".into(), json!([{"job_name": format!("app{other}"), "static_configs": [{"targets": ["*:9100"]}]}]).to_string());
            }
            6 => {
                r.remote_app_data
                    .insert("scrape_jobs".into(), "[{\"job_name\": 7}]".into());
            }
            7 => {
                r.remote_app_data
                    .insert("alert_rules".into(), ZINC_RULES.to_string());
            }
            _ => {
                let mut units = BTreeMap::new();
                for (u, mut data) in std::mem::take(&mut r.remote_units) {
                    data.insert(
                        "prometheus_scrape_unit_address".into(),
                        format!("10.3.{}.{}", n, rng.below(250)),
                    );
                    units.insert(u, data);
                }
                r.remote_units = units;
            }
        }
        Some(n)
    }

    /// Through a long random history of one relation changing at a time (and options
    /// changing between), patching or reusing the last outcome renders what planning every
    /// relation renders, and keeps the same ledger; and most steps are patches.
    #[test]
    fn patches_render_what_a_full_plan_renders() {
        // Room for everything; then so little that relations are left out.
        history(
            0x5eed_1234_abcd_0001,
            &Budget {
                config: 60_000,
                shard: 40_000,
            },
            300,
        );
        history(
            0x5eed_1234_abcd_0002,
            &Budget {
                config: 20_000,
                shard: 600,
            },
            100,
        );
    }

    fn history(seed: u64, budget: &Budget, min_patches: usize) {
        let mut rng = Rng(seed);
        let budget = budget.clone();
        let mut relations: BTreeMap<u32, RelationSnapshot> = BTreeMap::new();
        let mut am = relation(ALERTMANAGER, 1, "alertmanager");
        am.remote_units.insert(
            "alertmanager/0".into(),
            bag(&[("public_address", "10.9.0.1:9093")]),
        );
        relations.insert(1, am);
        let mut peers = relation("prometheus-peers", PEERS_ID, "prometheus");
        peers
            .remote_units
            .insert("prometheus/1".into(), bag(&[("anything", "x")]));
        relations.insert(PEERS_ID, peers);
        let mut next_id = 2;
        let mut cfg = config(&[]);
        let first = full(&input(&relations, None, &budget), &Memo::default(), &cfg);
        let mut outcome = first.outcome(&cfg);
        let mut parts: BTreeMap<u32, MemoPart> = first
            .memo
            .parts()
            .iter()
            .map(|p| (p.id.id, p.clone()))
            .collect();
        let (mut patches, mut reuses, mut fallbacks) = (0, 0, 0);
        for n in 0..600 {
            let mut other_changed = false;
            let changed = match rng.below(24) {
                0 | 1 => {
                    cfg = if rng.below(2) == 0 {
                        config(&[("evaluation-interval", json!("2m"))])
                    } else {
                        config(&[("monitor-k8s", json!(rng.below(2) == 0))])
                    };
                    None
                }
                2 => {
                    // Another endpoint: the Alertmanager moves (its plan changes), or the
                    // peers' bags change (no plan reads them).
                    other_changed = true;
                    let (id, key) = match rng.below(3) {
                        0 => (1, "public_address"),
                        1 => (PEERS_ID, "anything"),
                        _ => {
                            // A remote-write sender relates or leaves: a flag, no data.
                            if relations.remove(&RECEIVER_ID).is_none() {
                                // With what we publish to it already in our bag, as after
                                // the hook that related it: only the flag changes.
                                let mut r = relation(RECEIVE_REMOTE_WRITE, RECEIVER_ID, "agent");
                                relations.insert(RECEIVER_ID, r.clone());
                                let planned =
                                    full(&input(&relations, None, &budget), &Memo::default(), &cfg);
                                for p in planned.plan.publish {
                                    if p.relation
                                        == RelationId::new(RECEIVE_REMOTE_WRITE, RECEIVER_ID)
                                        && !p.app
                                    {
                                        r.local_unit_data.extend(p.data);
                                    }
                                }
                                relations.insert(RECEIVER_ID, r);
                            }
                            (PEERS_ID, "anything")
                        }
                    };
                    let value = format!("10.9.0.{}:9093", rng.below(3));
                    let r = relations.get_mut(&id).unwrap();
                    let unit = r.remote_units.keys().next().cloned().unwrap();
                    r.remote_units
                        .get_mut(&unit)
                        .unwrap()
                        .insert(key.into(), value);
                    None
                }
                _ => step(&mut rng, &mut relations, &mut next_id),
            };
            let expected = full(&input(&relations, None, &budget), &Memo::default(), &cfg);
            let got = match changed {
                Some(id) => {
                    let rid = RelationId::new(METRICS_ENDPOINT, id);
                    patched(
                        &input(&relations, Some(id), &budget),
                        outcome.clone(),
                        &rid,
                        parts.get(&id),
                        &cfg,
                    )
                    .inspect(|_| patches += 1)
                }
                None => reused(
                    &input(&relations, Some(0), &budget),
                    outcome.clone(),
                    other_changed,
                    &cfg,
                )
                .inspect(|_| reuses += 1),
            };
            let got = got.unwrap_or_else(|| {
                fallbacks += 1;
                let memo = Memo::new(local(true), parts.values().cloned().collect());
                full(&input(&relations, None, &budget), &memo, &cfg)
            });
            assert_eq!(got.assembled, expected.assembled, "step {n}");
            assert_eq!(got.ledger, expected.ledger, "step {n}");
            assert_eq!(got.plan.warnings, expected.plan.warnings, "step {n}");
            assert_eq!(
                got.plan.remote_write_receiver,
                expected.plan.remote_write_receiver
            );
            // What it publishes is what a full plan publishes to the same relations.
            for publish in &got.plan.publish {
                assert!(
                    expected.plan.publish.contains(publish),
                    "step {n}: {publish:?}"
                );
            }
            if let Some(id) = changed {
                let rid = RelationId::new(METRICS_ENDPOINT, id);
                let theirs = |p: &Vec<crate::relations::Publish>| {
                    p.iter()
                        .filter(|x| x.relation == rid)
                        .cloned()
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    theirs(&got.plan.publish),
                    theirs(&expected.plan.publish),
                    "step {n}"
                );
            }
            for part in got.memo.parts() {
                parts.insert(part.id.id, part.clone());
            }
            parts.retain(|id, _| relations.contains_key(id));
            outcome = got.outcome(&cfg);
        }
        assert!(
            patches > min_patches,
            "patches {patches}, reuses {reuses}, fallbacks {fallbacks}"
        );
        assert!(
            reuses > 20,
            "patches {patches}, reuses {reuses}, fallbacks {fallbacks}"
        );
        assert!(
            fallbacks > 20,
            "patches {patches}, reuses {reuses}, fallbacks {fallbacks}"
        );
    }
}
