//! Fixtures shared by the relation tests: real peer data shapes from interfaces.md.

use juju::{RelationData, RelationId};

use super::{LocalIdentity, RelationSnapshot};

pub const ZINC_UUID: &str = "f4d59020-c8e7-4053-8044-a2c1e5591c7f";
pub const ZINC_RULES: &str =
    include_str!("../../../../tests/fixtures/relations/zinc_alert_rules.json");

/// xorshift64*: small and deterministic (a fixed seed makes a failure reproducible), good
/// enough to pick mutations and histories.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        // The remainder is below n, which is a usize.
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or(0)
    }
}

pub fn local(leader: bool) -> LocalIdentity {
    LocalIdentity {
        app: "prometheus".into(),
        unit: "prometheus/0".into(),
        model: "cos".into(),
        model_uuid: "1e2a3b4c-0000-4000-8000-000000000001".into(),
        leader,
        unit_address: "10.1.36.80".into(),
        unit_fqdn: "prometheus-0.prometheus-endpoints.cos.svc.cluster.local".into(),
        app_fqdn: "prometheus.cos.svc.cluster.local".into(),
        port: 9090,
        scrape_interval: "1m".into(),
    }
}

pub fn bag(pairs: &[(&str, &str)]) -> RelationData {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn relation(endpoint: &str, id: u32, app: &str) -> RelationSnapshot {
    RelationSnapshot {
        id: Some(RelationId::new(endpoint, id)),
        remote_app: Some(app.to_string()),
        ..RelationSnapshot::default()
    }
}

pub fn metadata(app: &str, charm: Option<&str>) -> String {
    serde_json::json!({
        "model": "cos",
        "model_uuid": ZINC_UUID,
        "application": app,
        "unit": format!("{app}/0"),
        "charm_name": charm,
    })
    .to_string()
}

/// The zinc example of interfaces.md, with `units` units at 10.1.36.90, .91, ...
pub fn zinc_relation(id: u32, units: u8) -> RelationSnapshot {
    let mut r = relation(super::METRICS_ENDPOINT, id, "zinc");
    r.remote_app_data = bag(&[
        ("scrape_metadata", &metadata("zinc", Some("zinc-k8s"))),
        (
            "scrape_jobs",
            r#"[{"job_name": "zinc", "metrics_path": "/metrics", "static_configs": [{"targets": ["*:4080"]}]}]"#,
        ),
        ("alert_rules", ZINC_RULES),
    ]);
    for n in 0..units {
        r.remote_units.insert(
            format!("zinc/{n}"),
            bag(&[
                (
                    "prometheus_scrape_unit_address",
                    &format!("10.1.36.{}", 90 + n),
                ),
                ("prometheus_scrape_unit_name", &format!("zinc/{n}")),
                ("prometheus_scrape_unit_path", ""),
                (
                    "prometheus_scrape_unit_fqdn",
                    &format!("zinc-{n}.zinc-endpoints.cos.svc.cluster.local"),
                ),
            ]),
        );
    }
    r
}

/// A current-library provider `app` with `units` units and one `*:<8000+id>` job.
pub fn app_relation(id: u32, app: &str, units: u8) -> RelationSnapshot {
    let mut r = relation(super::METRICS_ENDPOINT, id, app);
    let jobs = serde_json::json!([{
        "job_name": app,
        "static_configs": [{"targets": [format!("*:{}", 8000 + id)]}],
    }])
    .to_string();
    r.remote_app_data = bag(&[
        (
            "scrape_metadata",
            &metadata(app, Some(&format!("{app}-k8s"))),
        ),
        ("scrape_jobs", &jobs),
    ]);
    for n in 0..units {
        r.remote_units.insert(
            format!("{app}/{n}"),
            bag(&[
                ("prometheus_scrape_unit_address", &format!("10.1.{id}.{n}")),
                ("prometheus_scrape_unit_name", &format!("{app}/{n}")),
            ]),
        );
    }
    r
}
