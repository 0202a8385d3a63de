//! Grafana data source, for every generation of grafana-k8s.
//!
//! - [`Generation::Library`]: `grafana-source` (interface `grafana_datasource`, today's
//!   Grafana requires it) and `grafana-source-provider` (the same interface for the
//!   grafana-k8s of July to September 2021, which *provides* it). Their libraries read app
//!   `grafana_source_data`, app `grafana_source_app_host` (grafana_source v1: one data
//!   source for the application, at our Service) and unit `grafana_source_host` (one data
//!   source per unit; scheme-less `host:port`, which every library prefixes with `http://`).
//! - [`Generation::PodSpec`]: `grafana-datasource` (interface `grafana-datasource`, the 2020
//!   pod-spec Grafana): unit `port`, `source-type`, `source-name`, paired with Juju's own
//!   `private-address`. That Grafana never reads an application bag and logs a warning
//!   whenever ours changes, so we publish none there.
//!
//! Every unit bag carries the keys of both, harmless to the generation that ignores them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::databag::{bag, publish};
use super::{Contribution, LocalIdentity, RelationSnapshot};

/// Which generation of Grafana the relations given to [`contribute`] lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Generation {
    /// The `grafana_source` library (2021 on): app and unit keys.
    Library,
    /// The 2020 pod-spec Grafana: unit keys only.
    PodSpec,
}

#[derive(Serialize)]
struct SourceData<'a> {
    model: &'a str,
    model_uuid: &'a str,
    application: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    extra_fields: BTreeMap<&'a str, &'a str>,
    secure_extra_fields: Option<()>,
}

/// Our unit as Grafana should reach it: the stable in-cluster name when known.
pub(super) fn unit_host(local: &LocalIdentity) -> &str {
    if local.unit_fqdn.is_empty() {
        &local.unit_address
    } else {
        &local.unit_fqdn
    }
}

/// `grafana_source_app_host`: our Service as grafana_source v1 builds it,
/// `http://<app>.<model>.svc.<cluster domain>:<port>`.
pub(super) fn app_host(local: &LocalIdentity) -> String {
    format!("http://{}:{}", local.app_fqdn, local.port)
}

pub(super) fn contribute(
    local: &LocalIdentity,
    relations: &[RelationSnapshot],
    generation: Generation,
    out: &mut Contribution,
) {
    let mut extra_fields = BTreeMap::new();
    if !local.scrape_interval.is_empty() {
        extra_fields.insert("timeInterval", local.scrape_interval.as_str());
    }
    let data = SourceData {
        model: &local.model,
        model_uuid: &local.model_uuid,
        application: &local.app,
        kind: "prometheus",
        extra_fields,
        secure_extra_fields: None,
    };
    let source_data = serde_json::to_string(&data).unwrap_or_default();
    for snapshot in relations {
        if local.leader && generation == Generation::Library {
            let app_bag = bag([
                ("grafana_source_data", source_data.clone()),
                ("grafana_source_app_host", app_host(local)),
            ]);
            out.publish.extend(publish(snapshot, true, app_bag));
        }
        let unit_bag = bag([
            (
                "grafana_source_host",
                format!("{}:{}", unit_host(local), local.port),
            ),
            ("port", local.port.to_string()),
            ("source-type", "prometheus".to_string()),
            ("source-name", local.app.clone()),
        ]);
        out.publish.extend(publish(snapshot, false, unit_bag));
    }
}

#[cfg(test)]
mod tests {
    use crate::relations::test_support::*;
    use crate::relations::{
        plan, RelationsInput, GRAFANA_DATASOURCE, GRAFANA_SOURCE, GRAFANA_SOURCE_PROVIDER,
    };

    #[test]
    fn publishes_for_every_generation() {
        let r = relation(GRAFANA_SOURCE, 3, "grafana");
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(GRAFANA_SOURCE.to_string(), vec![r.clone()])].into(),
            budget: None,
        });
        assert_eq!(p.publish.len(), 2);
        let app = p.publish.iter().find(|x| x.app).unwrap();
        let v: serde_json::Value = serde_json::from_str(&app.data["grafana_source_data"]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"model": "cos", "model_uuid": "1e2a3b4c-0000-4000-8000-000000000001",
                "application": "prometheus", "type": "prometheus",
                "extra_fields": {"timeInterval": "1m"}, "secure_extra_fields": null})
        );
        // grafana_source v1: one data source for the application, at our Service.
        assert_eq!(
            app.data["grafana_source_app_host"],
            "http://prometheus.cos.svc.cluster.local:9090"
        );
        let unit = p.publish.iter().find(|x| !x.app).unwrap();
        assert_eq!(
            unit.data,
            bag(&[
                (
                    "grafana_source_host",
                    "prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090"
                ),
                ("port", "9090"),
                ("source-type", "prometheus"),
                ("source-name", "prometheus"),
            ])
        );

        // Follower with everything already in place: nothing to write.
        let settled = crate::relations::RelationSnapshot {
            local_unit_data: unit.data.clone(),
            ..r
        };
        let p = plan(&RelationsInput {
            local: local(false),
            endpoints: [(GRAFANA_SOURCE.to_string(), vec![settled])].into(),
            budget: None,
        });
        assert_eq!(p.publish, vec![]);
    }

    /// The grafana-k8s of mid-2021 provides `grafana_datasource`: on our requiring endpoint
    /// it gets exactly what today's Grafana gets.
    #[test]
    fn the_2021_grafana_gets_what_todays_gets() {
        let today = relation(GRAFANA_SOURCE, 3, "grafana");
        let mid_2021 = relation(GRAFANA_SOURCE_PROVIDER, 4, "grafana-2021");
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [
                (GRAFANA_SOURCE.to_string(), vec![today]),
                (GRAFANA_SOURCE_PROVIDER.to_string(), vec![mid_2021]),
            ]
            .into(),
            budget: None,
        });
        assert_eq!(p.publish.len(), 4);
        for app in [true, false] {
            let of = |id: u32| {
                p.publish
                    .iter()
                    .find(|x| x.app == app && x.relation.id == id)
                    .unwrap()
                    .data
                    .clone()
            };
            assert_eq!(of(3), of(4), "app bag: {app}");
        }
    }

    /// The 2020 pod-spec Grafana reads only unit data, and warns whenever our app bag
    /// changes: the leader publishes no app bag there, whatever the options.
    #[test]
    fn the_2020_grafana_gets_no_application_bag() {
        let r = relation(GRAFANA_DATASOURCE, 5, "grafana-old");
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(GRAFANA_DATASOURCE.to_string(), vec![r])].into(),
            budget: None,
        });
        assert_eq!(p.publish.len(), 1, "{:?}", p.publish);
        assert!(!p.publish[0].app);
        assert_eq!(
            p.publish[0].data,
            bag(&[
                (
                    "grafana_source_host",
                    "prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090"
                ),
                ("port", "9090"),
                ("source-type", "prometheus"),
                ("source-name", "prometheus"),
            ])
        );
    }
}
