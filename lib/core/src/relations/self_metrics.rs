//! `self-metrics-endpoint` (interface `prometheus_scrape`, we provide): our own scrape job
//! in the current library format, so another Prometheus can scrape this one. The legacy
//! `prometheus_scrape_host` goes along for consumers of the 2021 library.

use serde::Serialize;

use super::databag::{bag, publish};
use super::grafana_source::unit_host;
use super::{Contribution, LocalIdentity, RelationSnapshot};

/// Our charm's name, as metadata.yaml has it.
pub(super) const CHARM_NAME: &str = "prometheus-k8s";

#[derive(Serialize)]
struct ScrapeMetadata<'a> {
    model: &'a str,
    model_uuid: &'a str,
    application: &'a str,
    unit: &'a str,
    charm_name: &'a str,
}

#[derive(Serialize)]
struct Job {
    job_name: &'static str,
    metrics_path: &'static str,
    static_configs: Vec<Targets>,
}

#[derive(Serialize)]
struct Targets {
    targets: Vec<String>,
}

pub(super) fn contribute(
    local: &LocalIdentity,
    relations: &[RelationSnapshot],
    out: &mut Contribution,
) {
    let metadata = ScrapeMetadata {
        model: &local.model,
        model_uuid: &local.model_uuid,
        application: &local.app,
        unit: &local.unit,
        charm_name: CHARM_NAME,
    };
    let jobs = [Job {
        job_name: "prometheus",
        metrics_path: "/metrics",
        static_configs: vec![Targets {
            targets: vec![format!("*:{}", local.port)],
        }],
    }];
    let app_bag = bag([
        (
            "scrape_metadata",
            serde_json::to_string(&metadata).unwrap_or_default(),
        ),
        (
            "scrape_jobs",
            serde_json::to_string(&jobs).unwrap_or_default(),
        ),
    ]);
    let mut unit_bag = bag([
        (
            "prometheus_scrape_unit_address",
            unit_host(local).to_string(),
        ),
        ("prometheus_scrape_unit_name", local.unit.clone()),
        ("prometheus_scrape_unit_path", String::new()),
        ("prometheus_scrape_unit_fqdn", local.unit_fqdn.clone()),
    ]);
    // An address Juju cannot give right now is not a reason to take back the one published.
    if !local.unit_address.is_empty() {
        unit_bag.insert(
            "prometheus_scrape_host".to_string(),
            local.unit_address.clone(),
        );
    }
    for snapshot in relations {
        if local.leader {
            out.publish.extend(publish(snapshot, true, app_bag.clone()));
        }
        out.publish
            .extend(publish(snapshot, false, unit_bag.clone()));
    }
}

#[cfg(test)]
mod tests {
    use crate::relations::test_support::*;
    use crate::relations::{plan, RelationsInput, METRICS_ENDPOINT, SELF_METRICS_ENDPOINT};

    /// What we publish is what our own metrics-endpoint reads back as a good job.
    #[test]
    fn our_job_round_trips_through_our_own_consumer() {
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(
                SELF_METRICS_ENDPOINT.to_string(),
                vec![relation(SELF_METRICS_ENDPOINT, 2, "cos-prometheus")],
            )]
            .into(),
            budget: None,
        });
        let app = p.publish.iter().find(|x| x.app).unwrap().data.clone();
        let unit = p.publish.iter().find(|x| !x.app).unwrap().data.clone();
        assert_eq!(unit["prometheus_scrape_unit_name"], "prometheus/0");
        assert_eq!(unit["prometheus_scrape_host"], "10.1.36.80");
        assert!(app["scrape_jobs"].contains(r#""targets":["*:9090"]"#));

        let mut seen = relation(METRICS_ENDPOINT, 5, "prometheus");
        seen.remote_app_data = app;
        seen.remote_units.insert("prometheus/0".into(), unit);
        let back = plan(&RelationsInput {
            local: local(false),
            endpoints: [(METRICS_ENDPOINT.to_string(), vec![seen])].into(),
            budget: None,
        });
        assert_eq!(back.warnings, vec![]);
        let job = &back.scrape_configs[0];
        assert_eq!(
            job.job_name,
            "juju_cos_1e2a3b4c_prometheus_prometheus_scrape_prometheus-0"
        );
        assert_eq!(
            job.static_configs[0].targets,
            ["prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090"]
        );
        assert_eq!(job.static_configs[0].labels["juju_charm"], "prometheus-k8s");
    }

    #[test]
    fn an_unknown_address_does_not_take_back_the_published_one() {
        let mut me = local(true);
        me.unit_address = String::new();
        let p = plan(&RelationsInput {
            local: me,
            endpoints: [(
                SELF_METRICS_ENDPOINT.to_string(),
                vec![relation(SELF_METRICS_ENDPOINT, 2, "cos-prometheus")],
            )]
            .into(),
            budget: None,
        });
        let unit = &p.publish.iter().find(|x| !x.app).unwrap().data;
        assert!(!unit.contains_key("prometheus_scrape_host"), "{unit:?}");
        assert!(unit.contains_key("prometheus_scrape_unit_address"));
    }

    #[test]
    fn followers_publish_only_unit_data() {
        let p = plan(&RelationsInput {
            local: local(false),
            endpoints: [(
                SELF_METRICS_ENDPOINT.to_string(),
                vec![relation(SELF_METRICS_ENDPOINT, 2, "cos-prometheus")],
            )]
            .into(),
            budget: None,
        });
        assert_eq!(p.publish.len(), 1);
        assert!(!p.publish[0].app);
    }
}
