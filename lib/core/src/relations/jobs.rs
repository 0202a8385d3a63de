//! The final scrape job list: identical jobs dropped, clashing names made unique with a
//! stable hash of the job, sorted by name. Prometheus refuses a config with two jobs of the
//! same name, and a stable order keeps `prometheus.yml` byte-identical across hooks.

use std::collections::{BTreeMap, BTreeSet};

use crate::prometheus::config::ScrapeConfig;
use crate::syntax::fingerprint::fnv1a64;

/// The job as canonical text: field order is fixed and maps are BTreeMaps.
fn canonical(job: &ScrapeConfig) -> String {
    serde_json::to_string(job).unwrap_or_else(|_| format!("{job:?}"))
}

pub(super) fn finalize(jobs: Vec<ScrapeConfig>) -> Vec<ScrapeConfig> {
    let mut seen = BTreeSet::new();
    let mut by_name: BTreeMap<String, Vec<(String, ScrapeConfig)>> = BTreeMap::new();
    for job in jobs {
        let text = canonical(&job);
        if seen.insert(text.clone()) {
            by_name
                .entry(job.job_name.clone())
                .or_default()
                .push((text, job));
        }
    }
    let mut out: BTreeMap<String, ScrapeConfig> = BTreeMap::new();
    for (name, mut group) in by_name {
        if group.len() == 1 {
            if let Some((_, job)) = group.pop() {
                out.entry(name).or_insert(job);
            }
            continue;
        }
        for (text, mut job) in group {
            let renamed = format!("{name}_{:016x}", fnv1a64(text.as_bytes()));
            job.job_name = renamed.clone();
            // Distinct jobs hash apart; should two ever collide, keep the first.
            out.entry(renamed).or_insert(job);
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, path: &str) -> ScrapeConfig {
        ScrapeConfig {
            job_name: name.to_string(),
            metrics_path: Some(path.to_string()),
            ..ScrapeConfig::default()
        }
    }

    #[test]
    fn identical_jobs_are_dropped_and_clashing_names_hashed() {
        let out = finalize(vec![
            job("b", "/m"),
            job("a", "/m"),
            job("b", "/m"),
            job("b", "/other"),
        ]);
        let names: Vec<_> = out.iter().map(|j| j.job_name.clone()).collect();
        assert_eq!(names.len(), 3);
        assert_eq!(names[0], "a");
        assert!(names[1].starts_with("b_") && names[2].starts_with("b_"));
        assert_eq!(names[1].len(), "b_".len() + 16);
        // Same input in another order: same names, same order.
        let again = finalize(vec![job("b", "/other"), job("a", "/m"), job("b", "/m")]);
        assert_eq!(again, out);
    }
}
