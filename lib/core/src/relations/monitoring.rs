//! `monitoring` (interface `prometheus`, pod-spec era): the remote application writes
//! `targets` (JSON list of `host[:port]`) and optionally `job_name` in its app bag. Each
//! relation gets its own job, `<job_name>_relation_<id>`, so two related applications never
//! share (and overwrite) one job as they did with the old charm. A relation whose units
//! have all departed is not scraped, though its application data lingers.

use super::validate::{
    check_count, host_port, parse_json, sanitize_job_name, split_host_port, Refused,
    MAX_TARGETS_PER_STATIC_CONFIG,
};
use super::{budget, remote_app_name, Contribution, RelationSnapshot};
use crate::prometheus::config::{ScrapeConfig, StaticConfig};

pub(super) fn contribute(relations: &[RelationSnapshot], out: &mut Contribution) {
    let live = relations.iter().filter(|r| !r.remote_units.is_empty());
    for snapshot in budget::oldest_first(live) {
        let app = remote_app_name(snapshot);
        match job(snapshot, &app) {
            Ok(Some(job)) => {
                let part = Contribution {
                    scrape_configs: vec![job],
                    ..Contribution::default()
                };
                if let Err(why) = out.admit(part) {
                    out.warn(snapshot, &app, why);
                }
            }
            Ok(None) => {}
            Err(e) => out.warn(snapshot, &app, format!("targets refused: {e}")),
        }
    }
}

fn job(snapshot: &RelationSnapshot, app: &str) -> Result<Option<ScrapeConfig>, Refused> {
    let Some(raw) = snapshot.remote_app_data.get("targets") else {
        return Ok(None);
    };
    let targets: Vec<String> = parse_json("targets", raw)?;
    check_count("targets", targets.len(), MAX_TARGETS_PER_STATIC_CONFIG)?;
    let mut checked = Vec::with_capacity(targets.len());
    for t in &targets {
        let (host, port) = split_host_port(t.trim())?;
        checked.push(host_port(&host, port));
    }
    checked.sort();
    checked.dedup();
    if checked.is_empty() {
        return Ok(None);
    }
    let base = snapshot
        .remote_app_data
        .get("job_name")
        .map(|n| sanitize_job_name(n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| sanitize_job_name(app));
    let job_name = match &snapshot.id {
        Some(id) => format!("{base}_relation_{}", id.id),
        None => base,
    };
    Ok(Some(ScrapeConfig {
        job_name,
        static_configs: vec![StaticConfig {
            targets: checked,
            ..StaticConfig::default()
        }],
        ..ScrapeConfig::default()
    }))
}

#[cfg(test)]
mod tests {
    use crate::relations::test_support::*;
    use crate::relations::{plan, RelationsInput, RelationsPlan, MONITORING};

    fn run(relations: Vec<crate::relations::RelationSnapshot>) -> RelationsPlan {
        plan(&RelationsInput {
            local: local(true),
            endpoints: [(MONITORING.to_string(), relations)].into(),
            budget: None,
        })
    }

    fn ksm(id: u32) -> crate::relations::RelationSnapshot {
        let mut r = relation(MONITORING, id, "kube-state-metrics");
        r.remote_app_data = bag(&[
            ("targets", r#"["10.1.36.90:8080", "10.1.36.91"]"#),
            ("job_name", "kube-state-metrics"),
        ]);
        r.remote_units
            .insert("kube-state-metrics/0".into(), Default::default());
        r
    }

    #[test]
    fn one_job_per_relation_keyed_by_relation_id() {
        let mut other = relation(MONITORING, 9, "node-exporter");
        other.remote_app_data = bag(&[("targets", r#"["10.1.36.95:9100"]"#)]);
        other
            .remote_units
            .insert("node-exporter/0".into(), Default::default());
        let p = run(vec![ksm(7), other]);
        assert_eq!(p.warnings, vec![]);
        let names: Vec<_> = p
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(
            names,
            ["kube-state-metrics_relation_7", "node-exporter_relation_9"]
        );
        assert_eq!(
            p.scrape_configs[0].static_configs[0].targets,
            ["10.1.36.90:8080", "10.1.36.91"]
        );
        // Same job_name on two relations: still two jobs.
        assert_eq!(run(vec![ksm(7), ksm(8)]).scrape_configs.len(), 2);
    }

    #[test]
    fn bad_targets_skip_the_relation_only() {
        let mut bad = relation(MONITORING, 3, "evil");
        bad.remote_app_data = bag(&[("targets", r#"["x:80\n- job_name: injected"]"#)]);
        let mut wrong_type = relation(MONITORING, 4, "typo");
        wrong_type.remote_app_data = bag(&[("targets", r#""10.0.0.1:80""#)]);
        for r in [&mut bad, &mut wrong_type] {
            r.remote_units.insert("x/0".into(), Default::default());
        }
        let p = run(vec![bad, wrong_type, ksm(7)]);
        assert_eq!(p.scrape_configs.len(), 1);
        assert_eq!(p.warnings.len(), 2);
        assert_eq!(p.warnings[0].source, "evil");
        assert!(p.warnings[0].message.starts_with("targets refused: host"));
        assert!(p.warnings[1]
            .message
            .starts_with("targets refused: targets is not valid"));
    }

    /// No library reads a report on this interface; the sender is told anyway, in our app
    /// bag's `event`, and the key goes once nothing is refused.
    #[test]
    fn refusals_are_reported_to_the_sender_and_withdrawn_when_fixed() {
        let mut bad = relation(MONITORING, 3, "evil");
        bad.remote_app_data = bag(&[("targets", r#"["x:80\n- job_name: injected"]"#)]);
        bad.remote_units.insert("evil/0".into(), Default::default());
        let p = run(vec![bad.clone(), ksm(7)]);
        let reports: Vec<_> = p
            .publish
            .iter()
            .filter(|w| w.data.contains_key("event"))
            .collect();
        assert_eq!(reports.len(), 1, "the good relation is told nothing");
        assert_eq!(reports[0].relation.id, 3);
        let event: serde_json::Value = serde_json::from_str(&reports[0].data["event"]).unwrap();
        assert!(event["errors"]
            .as_str()
            .unwrap()
            .starts_with("targets refused: host"));

        bad.local_app_data = reports[0].data.clone();
        bad.remote_app_data = bag(&[("targets", r#"["10.1.36.99:80"]"#)]);
        let fixed = run(vec![bad]);
        assert_eq!(fixed.publish.len(), 1);
        assert_eq!(
            fixed.publish[0].data["event"], "",
            "the report is withdrawn"
        );
    }

    #[test]
    fn no_targets_no_job() {
        assert_eq!(
            run(vec![relation(MONITORING, 1, "x")]).scrape_configs,
            vec![]
        );
    }
}
