//! `grafana-source` (interface `grafana_datasource`): we publish what every generation of
//! grafana-k8s reads — app `grafana_source_data` (mid-2021 and current library), unit
//! `grafana_source_host` (both libraries; scheme-less `host:port`, which both prefix with
//! `http://`), and the pod-spec era unit keys `port`, `source-type`, `source-name` (Grafana
//! pairs them with Juju's own `private-address`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::databag::{bag, publish};
use super::{Contribution, LocalIdentity, RelationSnapshot};

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
pub fn unit_host(local: &LocalIdentity) -> &str {
    if local.unit_fqdn.is_empty() {
        &local.unit_address
    } else {
        &local.unit_fqdn
    }
}

pub fn contribute(local: &LocalIdentity, relations: &[RelationSnapshot], out: &mut Contribution) {
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
        if local.leader {
            let app_bag = bag([("grafana_source_data", source_data.clone())]);
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
    use crate::relations::{plan, RelationsInput, GRAFANA_SOURCE};

    #[test]
    fn publishes_for_every_generation() {
        let r = relation(GRAFANA_SOURCE, 3, "grafana");
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(GRAFANA_SOURCE.to_string(), vec![r.clone()])].into(),
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
        });
        assert_eq!(p.publish, vec![]);
    }
}
