//! Issue 12: hooks read only what changed, from a relations cache in unit state. A long
//! random sequence of relation joins, changes, departures and breaks, hook failures retried
//! or skipped (`resolved --no-retry`), lost caches and leader changes; after each step the
//! spec the leader set is the one a full read of the model renders (the show-config action
//! reads everything, never the cache).

use crate::harness::Sim;

// A fixed seed makes a failure reproducible; `SCALE_SEED` picks another.
use prometheus_charm::relations::test_support::Rng;

fn units(sim: &Sim, app: &str) -> Vec<String> {
    let status = sim.status();
    let mut units: Vec<String> = status["applications"][app]["units"]
        .as_object()
        .map(|u| u.keys().cloned().collect())
        .unwrap_or_default();
    units.sort();
    units
}

fn leader(sim: &Sim) -> Option<String> {
    let status = sim.status();
    status["applications"]["prometheus"]["units"]
        .as_object()?
        .iter()
        .find(|(_, u)| u["leader"] == true)
        .map(|(name, _)| name.clone())
}

fn in_error(sim: &Sim) -> bool {
    let status = sim.status();
    status["applications"]["prometheus"]["units"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, u)| u["juju-status"]["current"] == "error")
}

/// The leader's spec (its fingerprint as Juju holds it) is what a full read renders; false
/// when there is no leader to ask.
fn assert_spec_is_a_full_reads(sim: &Sim, step: &str) -> bool {
    let Some(leader) = leader(sim) else {
        return false;
    };
    let report = sim.run_action(&leader, "show-config", &[]);
    assert_eq!(report["status"], "completed", "{step}: {report}");
    let full = report["results"]["pod-spec-fingerprint"].as_str().unwrap();
    let spec = sim.pod_spec();
    let held = prometheus_charm::pod_spec::fingerprint(&spec);
    let held_trimmed = prometheus_charm::pod_spec::fingerprint(spec.trim_end_matches('\n'));
    let held_one =
        prometheus_charm::pod_spec::fingerprint(&format!("{}\n", spec.trim_end_matches('\n')));
    assert!(
        [held, held_trimmed, held_one].iter().any(|h| h == full),
        "{step}: the spec set is not what a full read renders\n{}",
        sim.debug_log()
    );
    true
}

#[test]
fn cached_hooks_render_what_a_full_read_renders_through_a_random_history() {
    let seed = std::env::var("SCALE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0012);
    let steps: usize = std::env::var("SCALE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut rng = Rng(seed);
    let sim = Sim::deployed(2);
    // Remote application → relation id.
    let mut apps: Vec<(String, u32)> = Vec::new();
    let mut next_app = 0;
    let mut history = Vec::new();
    let mut checked = 0;
    let mut related = 0;
    // The units' cache directories copied at the last "restore" step (a stale generation).
    let mut saved: Option<Vec<std::path::PathBuf>> = None;
    for step in 0..steps {
        let op = rng.below(10);
        let failing = ["relation-get", "state-set", "pod-spec-set", "relation-list"];
        let mut broken = None;
        if op == 9 {
            let tool = failing[rng.below(failing.len())];
            sim.ok(&["fail-tool", tool]);
            broken = Some(tool);
        }
        let op = if op == 9 { rng.below(7) } else { op };
        // Relate when there is nothing to change; remove when there is much.
        let op = match op {
            1..=6 if apps.is_empty() => 0,
            0 if apps.len() >= 6 => 1,
            op => op,
        };
        let what = match op {
            0 => {
                let app = format!("exporter{next_app}");
                next_app += 1;
                let n = (1 + rng.below(3)).to_string();
                let out = sim.run(&[
                    "relate",
                    &app,
                    "prometheus",
                    "--profile",
                    "scrape-target",
                    "--units",
                    &n,
                ]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let id = text
                    .trim()
                    .rsplit_once(':')
                    .and_then(|(_, id)| id.parse().ok());
                assert!(broken.is_some() || id.is_some(), "relate printed {text:?}");
                if let Some(id) = id {
                    apps.push((app.clone(), id));
                    related += 1;
                }
                format!("relate {app} ({n} units)")
            }
            1 => {
                let (app, id) = apps.remove(rng.below(apps.len()));
                let out = sim.run(&["remove-relation", &id.to_string()]);
                assert!(broken.is_some() || out.status.success(), "{out:?}");
                format!("remove-relation {app}")
            }
            2 | 3 => {
                let (app, id) = apps[rng.below(apps.len())].clone();
                let us = units(&sim, &app);
                if us.is_empty() {
                    "nothing".to_string()
                } else {
                    let unit = us[rng.below(us.len())].clone();
                    let address = format!(
                        "prometheus_scrape_unit_address=10.{}.{}.{}",
                        rng.below(250),
                        rng.below(250),
                        rng.below(250)
                    );
                    sim.run(&["set-relation-data", &id.to_string(), &unit, &address]);
                    format!("{unit} moves ({address})")
                }
            }
            4 => {
                let (app, _) = apps[rng.below(apps.len())].clone();
                sim.run(&["add-unit", &app]);
                format!("add-unit {app}")
            }
            5 => {
                let (app, _) = apps[rng.below(apps.len())].clone();
                let us = units(&sim, &app);
                if us.len() > 1 {
                    let unit = us[rng.below(us.len())].clone();
                    sim.run(&["remove-unit", &unit]);
                    format!("remove-unit {unit}")
                } else {
                    "nothing".to_string()
                }
            }
            7 => match rng.below(3) {
                0 => {
                    // A lost operator disk: the marker files go.
                    let mut lost = 0;
                    for entry in walk(&sim.model_dir()) {
                        if entry
                            .file_name()
                            .is_some_and(|n| n == ".relations-cache-marker")
                        {
                            std::fs::remove_file(&entry).unwrap();
                            lost += 1;
                        }
                    }
                    format!("{lost} cache markers lost")
                }
                1 => {
                    // The cache files go, the markers stay.
                    let dirs = cache_dirs(&sim.model_dir());
                    for dir in &dirs {
                        std::fs::remove_dir_all(dir).unwrap();
                    }
                    format!("{} cache directories lost", dirs.len())
                }
                _ => {
                    // A disk restored from an older copy: the generations copied at the
                    // previous such step come back in place of today's.
                    let dirs = cache_dirs(&sim.model_dir());
                    let restore = saved.take();
                    let mut copies = Vec::new();
                    for dir in &dirs {
                        let copy = backup_of(dir);
                        let _ = std::fs::remove_dir_all(&copy);
                        copy_dir(dir, &copy);
                        copies.push(dir.clone());
                    }
                    let mut restored = 0;
                    for dir in restore.unwrap_or_default() {
                        let old = backup_of(&dir).with_extension("old");
                        if old.exists() && dir.exists() {
                            std::fs::remove_dir_all(&dir).unwrap();
                            copy_dir(&old, &dir);
                            restored += 1;
                        }
                    }
                    for dir in &copies {
                        let old = backup_of(dir).with_extension("old");
                        let _ = std::fs::remove_dir_all(&old);
                        std::fs::rename(backup_of(dir), old).unwrap();
                    }
                    saved = Some(copies);
                    format!("{restored} cache directories restored from an older copy")
                }
            },
            8 => {
                if let Some(leader) = leader(&sim) {
                    sim.run(&["add-unit", "prometheus"]);
                    sim.run(&["remove-unit", &leader]);
                    format!("leader {leader} removed")
                } else {
                    "nothing".to_string()
                }
            }
            _ => {
                if let Some((app, id)) = apps.get(rng.below(apps.len())).cloned() {
                    let path = format!("/m{}", rng.below(100));
                    let jobs = format!(
                        "scrape_jobs=[{{\"job_name\": \"j\", \"metrics_path\": \"{path}\", \"static_configs\": [{{\"targets\": [\"*:9100\"]}}]}}]"
                    );
                    sim.run(&["set-relation-data", &id.to_string(), &app, &jobs]);
                    format!("{app} scrapes {path}")
                } else {
                    "nothing".to_string()
                }
            }
        };
        if let Some(tool) = broken {
            sim.ok(&["fail-tool", tool, "--clear"]);
            if in_error(&sim) {
                if rng.below(2) == 0 {
                    sim.ok(&["resolved", "--all", "--no-retry"]);
                } else {
                    sim.ok(&["resolved", "--all"]);
                }
            }
            // Juju runs update-status every few minutes whatever happened.
            sim.ok(&["update-status"]);
        }
        let step = format!(
            "step {step}: {what}{}",
            broken
                .map(|t| format!(" with {t} failing"))
                .unwrap_or_default()
        );
        history.push(step.clone());
        assert!(!in_error(&sim), "{step}\n{}", history.join("\n"));
        if assert_spec_is_a_full_reads(&sim, &history.join("\n")) {
            checked += 1;
        }
    }
    eprintln!("{}", history.join("\n"));
    assert!(
        checked >= steps / 2,
        "only {checked} checks\n{}",
        history.join("\n")
    );
    assert!(next_app >= 3 && related >= 3, "{}", history.join("\n"));
    // The cache did its work, and was distrusted when it had to be.
    let log = sim.debug_log();
    let cached = log.matches("(cached)").count();
    let full = log.matches("(full read)").count();
    eprintln!("hooks: {cached} cached, {full} full reads");
    assert!(cached > full, "{cached} cached, {full} full reads");
}

/// Where a copy of a unit's cache directory goes.
fn backup_of(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = dir
        .ancestors()
        .nth(2)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("scale-cache-{}-{unit}", std::process::id()))
}

/// The units' cache directories (`<charm dir>/.relations-cache`).
fn cache_dirs(model: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = walk(model)
        .into_iter()
        .filter_map(|f| f.parent().map(std::path::Path::to_path_buf))
        .filter(|d| d.file_name().is_some_and(|n| n == ".relations-cache"))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
