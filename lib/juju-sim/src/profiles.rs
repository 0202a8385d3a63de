//! Profiles: how a remote application (a real peer charm) fills its side of a relation.
//! Their data are templates with placeholders, filled per unit when the relation is made.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::charm::Role;
use crate::model::{model_uuid, Databag};

#[derive(Debug, Error)]
pub(crate) enum ProfileError {
    #[error("profile {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("no profile named {0:?} (see `juju-sim profiles`)")]
    Unknown(String),
}

const SOURCES: &[(&str, &str)] = &[
    (
        "alertmanager",
        include_str!("../profiles/alertmanager.json"),
    ),
    (
        "alertmanager-v0",
        include_str!("../profiles/alertmanager-v0.json"),
    ),
    (
        "alertmanager-podspec",
        include_str!("../profiles/alertmanager-podspec.json"),
    ),
    (
        "alertmanager-lma",
        include_str!("../profiles/alertmanager-lma.json"),
    ),
    ("grafana", include_str!("../profiles/grafana.json")),
    (
        "grafana-2021",
        include_str!("../profiles/grafana-2021.json"),
    ),
    (
        "grafana-legacy",
        include_str!("../profiles/grafana-legacy.json"),
    ),
    ("grafana-lma", include_str!("../profiles/grafana-lma.json")),
    (
        "scrape-target",
        include_str!("../profiles/scrape-target.json"),
    ),
    (
        "scrape-target-legacy",
        include_str!("../profiles/scrape-target-legacy.json"),
    ),
    (
        "monitoring-target",
        include_str!("../profiles/monitoring-target.json"),
    ),
    (
        "remote-write-receiver",
        include_str!("../profiles/remote-write-receiver.json"),
    ),
    (
        "remote-write-sender",
        include_str!("../profiles/remote-write-sender.json"),
    ),
    (
        "prometheus-scraper",
        include_str!("../profiles/prometheus-scraper.json"),
    ),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub charm: String,
    pub interface: String,
    /// The remote side's role: `provides` or `requires`.
    pub role: String,
    /// The remote side's endpoint name.
    pub endpoint: String,
    #[serde(default)]
    pub app_data: BTreeMap<String, String>,
    #[serde(default)]
    pub unit_data: BTreeMap<String, String>,
    pub units: u32,
    /// The port the remote units serve on (`{port}`); a live unit's own port replaces it.
    #[serde(default)]
    pub port: Option<u16>,
    /// Whether `relate --live` may back each unit with a real local Alertmanager.
    #[serde(default)]
    pub live: bool,
}

impl Profile {
    pub(crate) fn role(&self) -> Result<Role, ProfileError> {
        match Role::parse(&self.role) {
            Some(r @ (Role::Provider | Role::Requirer)) => Ok(r),
            _ => Err(ProfileError::Invalid {
                name: self.name.clone(),
                message: format!("role must be provides or requires, not {:?}", self.role),
            }),
        }
    }

    /// Application data naming `{port}` carries one port for all units, so live units
    /// (each on a port of its own) fit it only when there is one.
    pub(crate) fn one_port_for_all(&self) -> bool {
        self.app_data.values().any(|t| t.contains("{port}"))
    }
}

pub(crate) fn all() -> Result<Vec<Profile>, ProfileError> {
    SOURCES
        .iter()
        .map(|(name, text)| {
            serde_json::from_str(text).map_err(|e| ProfileError::Invalid {
                name: name.to_string(),
                message: e.to_string(),
            })
        })
        .collect()
}

pub(crate) fn find(name: &str) -> Result<Profile, ProfileError> {
    all()?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ProfileError::Unknown(name.to_string()))
}

/// The values placeholders take for one remote unit (or, for app data, the first unit).
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    pub model: String,
    pub app: String,
    pub unit: String,
    pub unit_number: u32,
    pub address: String,
    pub fqdn: String,
    /// `{port}`: the unit's port (a live unit's own, else the profile's).
    pub port: String,
    pub service_address: String,
    /// All units of the remote application: (name, address, fqdn).
    pub units: Vec<(String, String, String)>,
    /// The deployed charm's application and units (what the remote side sees of us).
    pub local_app: String,
    pub local_units: Vec<String>,
}

/// A list rendered as Python's `json.dumps` writes it (the peer charms are Python).
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn py_map(items: &[(String, String)]) -> String {
    let pairs: Vec<String> = items
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {}",
                serde_json::to_string(k).unwrap_or_default(),
                serde_json::to_string(v).unwrap_or_default()
            )
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A stable uid for a name, shaped like Grafana's.
fn uid(seed: &str) -> String {
    model_uuid(seed)[..8].to_string()
}

impl Vars {
    fn lookup(&self, name: &str, arg: Option<&str>) -> Option<String> {
        let with_port = |items: Vec<String>| match arg {
            Some(port) => items.into_iter().map(|i| format!("{i}:{port}")).collect(),
            None => items,
        };
        let uuid = model_uuid(&self.model);
        Some(match (name, arg) {
            ("model", None) => self.model.clone(),
            ("model_uuid", None) => uuid,
            ("model_uuid_short", None) => uuid[..8].to_string(),
            ("app", None) => self.app.clone(),
            ("unit", None) => self.unit.clone(),
            ("unit_number", None) => self.unit_number.to_string(),
            ("address", None) => self.address.clone(),
            ("fqdn", None) => self.fqdn.clone(),
            ("port", None) => self.port.clone(),
            ("service_address", None) => self.service_address.clone(),
            ("uid", None) => uid(&format!("{}/{}", self.model, self.app)),
            ("units", None) => py_list(&self.units.iter().map(|u| u.0.clone()).collect::<Vec<_>>()),
            ("addresses", _) => {
                py_list(&with_port(self.units.iter().map(|u| u.1.clone()).collect()))
            }
            ("fqdns", _) => py_list(&with_port(self.units.iter().map(|u| u.2.clone()).collect())),
            ("local_app", None) => self.local_app.clone(),
            ("local_unit_uids", None) => py_map(
                &self
                    .local_units
                    .iter()
                    .map(|u| (u.clone(), uid(&format!("{}/{u}", self.model))))
                    .collect::<Vec<_>>(),
            ),
            _ => return None,
        })
    }

    /// Replaces `{name}` and `{name:arg}` placeholders; any other brace is kept as is.
    pub(crate) fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let placeholder = after.find('}').and_then(|close| {
                let inner = &after[..close];
                let (name, arg) = match inner.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (inner, None),
                };
                let plain = |s: &str| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !plain(name) || !arg.is_none_or(plain) {
                    return None;
                }
                self.lookup(name, arg).map(|v| (v, close))
            });
            match placeholder {
                Some((value, close)) => {
                    out.push_str(&value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Renders a databag template; empty values are left out, as Juju drops them.
    pub(crate) fn render_bag(&self, templates: &BTreeMap<String, String>) -> Databag {
        templates
            .iter()
            .map(|(k, t)| (k.clone(), self.render(t)))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            model: "lma".into(),
            app: "am".into(),
            unit: "am/0".into(),
            unit_number: 0,
            address: "10.1.2.10".into(),
            fqdn: "am-0.am-endpoints.lma.svc.cluster.local".into(),
            port: "9093".into(),
            service_address: "10.152.183.12".into(),
            units: vec![
                ("am/0".into(), "10.1.2.10".into(), "am-0.x".into()),
                ("am/1".into(), "10.1.2.11".into(), "am-1.x".into()),
            ],
            local_app: "prometheus".into(),
            local_units: vec!["prometheus/0".into()],
        }
    }

    #[test]
    fn every_profile_parses_and_has_a_role() {
        let all = all().unwrap();
        assert_eq!(all.len(), SOURCES.len());
        for p in &all {
            p.role().unwrap();
            assert!(p.units >= 1, "{}", p.name);
        }
    }

    #[test]
    fn placeholders_are_filled_and_other_braces_kept() {
        let v = vars();
        assert_eq!(
            v.render("http://{fqdn}:{port}"),
            "http://am-0.am-endpoints.lma.svc.cluster.local:9093"
        );
        assert_eq!(
            v.render("up{juju_application=\"{app}\"} {{ $labels.x }}"),
            "up{juju_application=\"am\"} {{ $labels.x }}"
        );
        assert_eq!(
            v.render("{addresses:8080}"),
            "[\"10.1.2.10:8080\", \"10.1.2.11:8080\"]"
        );
        assert_eq!(v.render("{fqdns}"), "[\"am-0.x\", \"am-1.x\"]");
        assert!(v
            .render("{local_unit_uids}")
            .starts_with("{\"prometheus/0\": \""));
        assert_eq!(v.render("{unknown} {"), "{unknown} {");
    }

    #[test]
    fn scrape_target_data_is_valid_json_after_rendering() {
        let p = find("scrape-target").unwrap();
        let bag = vars().render_bag(&p.app_data);
        for key in ["scrape_metadata", "scrape_jobs", "alert_rules"] {
            serde_json::from_str::<serde_json::Value>(&bag[key]).unwrap();
        }
        let units = vars().render_bag(&p.unit_data);
        assert!(!units.contains_key("prometheus_scrape_unit_path"));
    }
}
