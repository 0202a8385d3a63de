//! Scrape targets leave prometheus.yml for file-based service discovery, so that ten thousand
//! of them fit and a target change needs no reload (Prometheus watches `file_sd_configs`
//! files and re-reads them by itself). Pure.
//!
//! **The file set is fixed.** Juju turns every file of a pod spec file set into a ConfigMap key
//! and an `items` entry of the pod template; on Juju 2.9.30+ a change of that set rolls every
//! pod. So the targets always live in the same [`SHARDS`] volumes `t0`…`t7` (each its own
//! ConfigMap, ≤ 1 MiB), each always holding the same [`POOLS`] files `p00.json`…`p15.json`,
//! `[]` when unused.
//!
//! **Pools.** The relations' jobs come one per remote unit (a wildcard target expands per
//! unit), so 10,000 targets are 10,000 jobs: too many for one prometheus.yml of ≤ 1 MiB even
//! without their targets. But those jobs differ only in their name, their `metrics_path` and
//! their targets. Jobs with the same settings otherwise form one *pool*: one scrape job in
//! prometheus.yml with those settings and `file_sd_configs` naming its file in every volume;
//! each original job's static configs become target groups in those files, labelled
//! `job: <its name>` and `__metrics_path__: <its path>` (unless a label of the group already
//! says). Prometheus gives a target a `job` and a `__metrics_path__` from its scrape job only
//! when its discovered labels do not have them (`scrape.PopulateLabels`), so every target is
//! scraped and labelled exactly as its own job would: same `job`, same path, same settings,
//! same relabelling. [`effective_jobs`] turns a rendering back into the jobs Prometheus
//! sees, which the tests compare with the jobs before pooling.
//!
//! **Placement is stable.** A pool takes the slot (file name) its settings hash to, the
//! lowest settings winning a clash and the others taking free slots; a job's target groups go
//! to the volume its name hashes to. A unit coming or going touches its own volume's file
//! only. Pools beyond the [`POOLS`] slots keep their jobs as they were, targets in
//! prometheus.yml (correct, just not cheaper).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::prometheus::config::{FileSdConfig, ScrapeConfig, StaticConfig};
use crate::syntax::fingerprint::fnv1a64;

/// Volumes holding target files: `t0` … `t7`.
pub const SHARDS: usize = 8;
/// Files in each volume: `p00.json` … `p15.json`, one per pool.
pub const POOLS: usize = 16;
/// Where the volumes are mounted: `<TARGETS_DIR>/t<n>`. Beside `/etc/prometheus`, not inside
/// it: Kubernetes cannot create a mount point inside a read-only ConfigMap volume.
pub const TARGETS_DIR: &str = "/etc/prometheus-targets";
/// The same, relative to prometheus.yml's directory (`/etc/prometheus`): Prometheus resolves
/// `file_sd_configs` files against it, so the files are found wherever the config is.
const TARGETS_FROM_CONFIG_DIR: &str = "../prometheus-targets";
/// The pooled jobs' names: `juju_file_sd_<hash of the settings>`.
pub const POOL_JOB_PREFIX: &str = "juju_file_sd_";
/// Labels Prometheus takes from the scrape job only when a target does not have them.
pub const JOB_LABEL: &str = "job";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";

/// The volume (file set) name of shard `n`: Juju names it `<app>-t<n>-config`.
pub fn volume(shard: usize) -> String {
    format!("t{shard}")
}

/// Where shard `n` is mounted in the container.
pub fn mount_path(shard: usize) -> String {
    format!("{TARGETS_DIR}/{}", volume(shard))
}

/// The file name of pool slot `k` in every volume.
pub fn file_name(pool: usize) -> String {
    format!("p{pool:02}.json")
}

/// The path prometheus.yml names for pool `k` of shard `n` (relative to its directory).
pub fn config_path(shard: usize, pool: usize) -> String {
    format!(
        "{TARGETS_FROM_CONFIG_DIR}/{}/{}",
        volume(shard),
        file_name(pool)
    )
}

/// A target file without targets.
pub const EMPTY_FILE: &str = "[]\n";

/// One target group of a file as written: the job it came from (the name the patching of a
/// file goes by; its `job` label may say otherwise, see [`target_groups`]) and its line of
/// JSON. Kept as text: a hook that changes one job rewrites its lines and copies the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub job: String,
    pub json: String,
}

impl TargetGroup {
    fn of(job: &str, group: &StaticConfig) -> TargetGroup {
        TargetGroup {
            job: job.to_string(),
            // Plain strings and ordered maps of strings always serialize.
            json: serde_json::to_string(group).unwrap_or_default(),
        }
    }

    /// The group as Prometheus reads it.
    pub fn parsed(&self) -> Option<StaticConfig> {
        serde_json::from_str(&self.json).ok()
    }
}

/// One file_sd file: the target groups of Prometheus's `file_sd_config` format
/// (`[{"targets": [...], "labels": {...}}]`), ordered by job name.
pub type TargetFile = Vec<TargetGroup>;

/// Every target file: `shards[n][k]` is file `p<k>.json` of volume `t<n>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFiles {
    pub shards: Vec<Vec<TargetFile>>,
}

impl Default for TargetFiles {
    fn default() -> Self {
        TargetFiles {
            shards: vec![vec![TargetFile::new(); POOLS]; SHARDS],
        }
    }
}

impl TargetFiles {
    /// Every file as JSON text (`[]` when empty): `[shard][pool]`.
    pub fn to_json(&self) -> Vec<Vec<String>> {
        self.shards
            .iter()
            .map(|pools| pools.iter().map(|file| file_json(file)).collect())
            .collect()
    }

    /// The number of target groups in every file.
    pub fn group_count(&self) -> usize {
        self.shards.iter().flatten().map(Vec::len).sum()
    }

    /// The files as the pod mounts them, read back (for tests and checks): the groups of
    /// file `p<k>.json` of volume `t<n>` at `[n][k]`, named by their `job` label.
    pub fn from_json(files: &[Vec<String>]) -> Result<TargetFiles, serde_json::Error> {
        let mut out = TargetFiles::default();
        for (pools, texts) in out.shards.iter_mut().zip(files) {
            for (file, text) in pools.iter_mut().zip(texts) {
                let groups: Vec<StaticConfig> = serde_json::from_str(text)?;
                *file = groups
                    .iter()
                    .map(|g| TargetGroup::of(g.labels.get(JOB_LABEL).map_or("", String::as_str), g))
                    .collect();
            }
        }
        Ok(out)
    }

    /// Takes `job`'s target groups out of the file of `slot` in its volume.
    pub fn remove_job(&mut self, job: &str, slot: usize) {
        if let Some(file) = self.file_mut(job, slot) {
            file.retain(|g| g.job != job);
        }
    }

    /// Puts `job`'s target groups into the file of `slot` in its volume, in job name order
    /// (as [`split`] writes them), after taking out any it had there.
    pub fn insert_job(&mut self, job: &ScrapeConfig, slot: usize) {
        let name = job.job_name.as_str();
        let Some(file) = self.file_mut(name, slot) else {
            return;
        };
        file.retain(|g| g.job != name);
        let at = file.partition_point(|g| g.job.as_str() < name);
        file.splice(
            at..at,
            target_groups(job).iter().map(|g| TargetGroup::of(name, g)),
        );
    }

    fn file_mut(&mut self, job: &str, slot: usize) -> Option<&mut TargetFile> {
        self.shards.get_mut(shard_of(job))?.get_mut(slot)
    }
}

/// A target file as JSON, one target group per line.
pub fn file_json(file: &[TargetGroup]) -> String {
    if file.is_empty() {
        return EMPTY_FILE.to_string();
    }
    let size: usize = file.iter().map(|g| g.json.len() + 2).sum();
    let mut text = String::with_capacity(size + 4);
    text.push_str("[\n");
    for (n, group) in file.iter().enumerate() {
        if n > 0 {
            text.push_str(",\n");
        }
        text.push_str(&group.json);
    }
    text.push_str("\n]\n");
    text
}

/// Bytes one target group adds to its file.
pub fn group_size(group: &StaticConfig) -> usize {
    serde_json::to_string(group).map_or(0, |t| t.len() + 2)
}

/// The volume a job's target groups go to.
pub fn shard_of(job_name: &str) -> usize {
    // SHARDS is small: the remainder always fits in usize.
    (fnv1a64(job_name.as_bytes()) % SHARDS as u64) as usize
}

/// What makes jobs poolable together: everything but name, path and targets (as canonical
/// JSON; field order is fixed and maps are ordered). `None` for a job that cannot be pooled
/// (it discovers targets otherwise, or has none).
pub fn pool_key(job: &ScrapeConfig) -> Option<String> {
    if job.static_configs.is_empty()
        || !job.kubernetes_sd_configs.is_empty()
        || !job.file_sd_configs.is_empty()
    {
        return None;
    }
    serde_json::to_string(&settings(job)).ok()
}

/// The job's settings without name, path and targets.
fn settings(job: &ScrapeConfig) -> ScrapeConfig {
    ScrapeConfig {
        job_name: String::new(),
        metrics_path: None,
        static_configs: Vec::new(),
        ..job.clone()
    }
}

/// A job's static configs as target groups of a pool: each labelled with the job's name
/// and path, unless it says otherwise itself (as Prometheus would let it).
pub fn target_groups(job: &ScrapeConfig) -> Vec<StaticConfig> {
    job.static_configs
        .iter()
        .map(|sc| {
            let mut labels = sc.labels.clone();
            labels
                .entry(JOB_LABEL.to_string())
                .or_insert_with(|| job.job_name.clone());
            if let Some(path) = &job.metrics_path {
                labels
                    .entry(METRICS_PATH_LABEL.to_string())
                    .or_insert_with(|| path.clone());
            }
            StaticConfig {
                targets: sc.targets.clone(),
                labels,
            }
        })
        .collect()
}

/// Pool key → slot. Each key prefers `hash % POOLS`; the lowest key keeps a contested slot,
/// the others take the free slots in order; keys left without one are not pooled.
pub fn slots(keys: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let mut taken: BTreeMap<usize, String> = BTreeMap::new();
    let mut losers = Vec::new();
    for key in keys {
        // POOLS is small: the remainder always fits in usize.
        let preferred = (fnv1a64(key.as_bytes()) % POOLS as u64) as usize;
        match taken.entry(preferred) {
            std::collections::btree_map::Entry::Occupied(_) => losers.push(key.clone()),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(key.clone());
            }
        }
    }
    let mut free = (0..POOLS)
        .filter(|s| !taken.contains_key(s))
        .collect::<Vec<_>>();
    free.reverse();
    for key in losers {
        match free.pop() {
            Some(slot) => {
                taken.insert(slot, key);
            }
            None => break,
        }
    }
    taken.into_iter().map(|(slot, key)| (key, slot)).collect()
}

/// The pooled job of one slot: the pool's settings, reading its file in every volume.
pub fn pool_job(key: &str, example: &ScrapeConfig, slot: usize) -> ScrapeConfig {
    ScrapeConfig {
        job_name: format!("{POOL_JOB_PREFIX}{:016x}", fnv1a64(key.as_bytes())),
        file_sd_configs: vec![FileSdConfig {
            files: (0..SHARDS).map(|n| config_path(n, slot)).collect(),
            refresh_interval: None,
        }],
        ..settings(example)
    }
}

/// Splits the relations' jobs into what prometheus.yml keeps (pooled jobs, and jobs that
/// are not pooled, as they were) and the target files. `taken` are job names already in
/// prometheus.yml (ours), which a pooled job never takes.
pub fn split(jobs: Vec<ScrapeConfig>) -> (Vec<ScrapeConfig>, TargetFiles) {
    let keys: BTreeSet<String> = jobs.iter().filter_map(pool_key).collect();
    let slots = slots(&keys);
    let mut files = TargetFiles::default();
    let mut kept = Vec::new();
    let mut pools: BTreeMap<usize, ScrapeConfig> = BTreeMap::new();
    for job in jobs {
        let slot = pool_key(&job).and_then(|key| slots.get(&key).map(|s| (key, *s)));
        let Some((key, slot)) = slot else {
            kept.push(job);
            continue;
        };
        let shard = shard_of(&job.job_name);
        if let Some(file) = files.shards.get_mut(shard).and_then(|p| p.get_mut(slot)) {
            file.extend(
                target_groups(&job)
                    .iter()
                    .map(|g| TargetGroup::of(&job.job_name, g)),
            );
        }
        pools
            .entry(slot)
            .or_insert_with(|| pool_job(&key, &job, slot));
    }
    kept.extend(pools.into_values());
    kept.sort_by(|a, b| a.job_name.cmp(&b.job_name));
    (kept, files)
}

/// The jobs as Prometheus sees them: each pooled job's target groups back as the jobs they
/// came from (named by their `job` label, scraping their `__metrics_path__`, sorted by name)
/// in the pooled job's place; other jobs as they are. For tests and checks; `files` as
/// [`split`] made them.
pub fn effective_jobs(jobs: &[ScrapeConfig], files: &TargetFiles) -> Vec<ScrapeConfig> {
    let mut out = Vec::new();
    for job in jobs {
        let Some(slot) = pooled_slot(job) else {
            out.push(job.clone());
            continue;
        };
        let mut expanded: BTreeMap<String, ScrapeConfig> = BTreeMap::new();
        for group in files
            .shards
            .iter()
            .filter_map(|pools| pools.get(slot))
            .flatten()
            .filter_map(TargetGroup::parsed)
        {
            let mut labels = group.labels.clone();
            let name = labels
                .remove(JOB_LABEL)
                .unwrap_or_else(|| job.job_name.clone());
            let path = labels
                .remove(METRICS_PATH_LABEL)
                .or(job.metrics_path.clone());
            let entry = expanded
                .entry(name.clone())
                .or_insert_with(|| ScrapeConfig {
                    job_name: name,
                    metrics_path: path,
                    file_sd_configs: Vec::new(),
                    ..job.clone()
                });
            entry.static_configs.push(StaticConfig {
                targets: group.targets,
                labels,
            });
        }
        out.extend(expanded.into_values());
    }
    out
}

/// The slot a pooled job reads (from its first file's name).
fn pooled_slot(job: &ScrapeConfig) -> Option<usize> {
    if !job.job_name.starts_with(POOL_JOB_PREFIX) {
        return None;
    }
    let file = job.file_sd_configs.first()?.files.first()?;
    (0..POOLS).find(|k| file.ends_with(&format!("/{}", file_name(*k))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::config::RelabelConfig;

    fn unit_job(app: &str, unit: usize, interval: Option<&str>) -> ScrapeConfig {
        ScrapeConfig {
            job_name: format!("juju_cos_f4d59020_{app}_prometheus_scrape-{unit}"),
            metrics_path: Some(format!("/u{unit}/metrics")),
            scrape_interval: interval.map(str::to_string),
            static_configs: vec![StaticConfig {
                targets: vec![format!("10.0.{unit}.1:4080")],
                labels: BTreeMap::from([
                    ("juju_application".to_string(), app.to_string()),
                    ("juju_unit".to_string(), format!("{app}/{unit}")),
                ]),
            }],
            relabel_configs: vec![RelabelConfig {
                source_labels: vec!["juju_unit".into()],
                target_label: Some("instance".into()),
                ..RelabelConfig::default()
            }],
            ..ScrapeConfig::default()
        }
    }

    fn sorted(mut jobs: Vec<ScrapeConfig>) -> Vec<ScrapeConfig> {
        jobs.sort_by(|a, b| a.job_name.cmp(&b.job_name));
        jobs
    }

    fn many(apps: usize, units: usize) -> Vec<ScrapeConfig> {
        let mut jobs = Vec::new();
        for a in 0..apps {
            for u in 0..units {
                let interval = (a % 3 == 0).then_some("30s");
                jobs.push(unit_job(&format!("app{a}"), u, interval));
            }
        }
        jobs.sort_by(|a, b| a.job_name.cmp(&b.job_name));
        jobs
    }

    #[test]
    fn pooling_keeps_every_job_as_prometheus_sees_it() {
        let jobs = many(30, 10);
        let (kept, files) = split(jobs.clone());
        // Two kinds of settings: two pooled jobs, no targets left in prometheus.yml.
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept.iter().all(|j| j.static_configs.is_empty()));
        assert_eq!(files.group_count(), 300);
        assert_eq!(sorted(effective_jobs(&kept, &files)), jobs);
    }

    #[test]
    fn the_file_set_never_changes() {
        for jobs in [Vec::new(), many(1, 1), many(40, 3)] {
            let (_, files) = split(jobs);
            let json = files.to_json();
            assert_eq!(json.len(), SHARDS);
            assert!(json.iter().all(|pools| pools.len() == POOLS));
        }
        assert_eq!(file_json(&[]), "[]\n");
    }

    #[test]
    fn a_unit_leaving_touches_only_its_own_file() {
        let jobs = many(20, 10);
        let (kept, before) = split(jobs.clone());
        let gone = jobs[17].job_name.clone();
        let (kept_after, after) = split(jobs.into_iter().filter(|j| j.job_name != gone).collect());
        assert_eq!(kept, kept_after);
        let (before, after) = (before.to_json(), after.to_json());
        let changed: Vec<(usize, usize)> = (0..SHARDS)
            .flat_map(|n| (0..POOLS).map(move |k| (n, k)))
            .filter(|(n, k)| before[*n][*k] != after[*n][*k])
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, shard_of(&gone));
    }

    #[test]
    fn pools_beyond_the_slots_keep_their_jobs_inline() {
        // Every app its own settings: more kinds than slots.
        let jobs: Vec<ScrapeConfig> = (0..POOLS + 5)
            .map(|a| unit_job(&format!("a{a}"), 0, Some(&format!("{}s", a + 1))))
            .collect();
        let (kept, files) = split(jobs.clone());
        let pooled = kept
            .iter()
            .filter(|j| j.job_name.starts_with(POOL_JOB_PREFIX))
            .count();
        assert_eq!(pooled, POOLS);
        assert_eq!(kept.len(), POOLS + 5);
        assert_eq!(sorted(effective_jobs(&kept, &files)), sorted(jobs));
    }

    #[test]
    fn a_groups_own_job_label_wins_as_in_prometheus() {
        let mut job = unit_job("a", 0, None);
        job.static_configs[0]
            .labels
            .insert(JOB_LABEL.into(), "mine".into());
        assert_eq!(target_groups(&job)[0].labels[JOB_LABEL], "mine");
    }
}
