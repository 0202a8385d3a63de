//! Juju topology of a remote application, as the `prometheus_scrape` library sends it in
//! `scrape_metadata`, and the labels, matchers and names derived from it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::validate::{parse_json, Refused};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
    pub unit: Option<String>,
    pub charm_name: Option<String>,
}

/// `scrape_metadata` as written by the provider library; other keys are ignored.
#[derive(Deserialize)]
struct ScrapeMetadata {
    model: String,
    model_uuid: String,
    application: String,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    charm_name: Option<String>,
}

fn juju_name(s: &str) -> bool {
    // Juju model and application names: lower-case letters, digits and hyphens.
    !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn charm_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn model_uuid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `<application>/<number>`.
pub(super) fn is_unit_name(s: &str) -> bool {
    juju::UnitName::parse(s).is_some_and(|u| juju_name(u.app()) && u.number() < 1_000_000_000)
}

/// The number of a unit (`zinc/2` → `2`).
pub(super) fn unit_number(unit: &str) -> &str {
    unit.rsplit_once('/').map_or(unit, |(_, n)| n)
}

impl Topology {
    pub(super) fn from_scrape_metadata(raw: &str) -> Result<Self, Refused> {
        let m: ScrapeMetadata = parse_json("scrape_metadata", raw)?;
        let non_empty = |o: Option<String>| o.filter(|s| !s.is_empty());
        let t = Topology {
            model: m.model,
            model_uuid: m.model_uuid,
            application: m.application,
            unit: non_empty(m.unit),
            charm_name: non_empty(m.charm_name),
        };
        t.check()?;
        Ok(t)
    }

    fn check(&self) -> Result<(), Refused> {
        if !juju_name(&self.model) {
            return Err(Refused::invalid(
                "model",
                &self.model,
                "not a Juju model name",
            ));
        }
        if !model_uuid(&self.model_uuid) {
            return Err(Refused::invalid(
                "model_uuid",
                &self.model_uuid,
                "not a UUID",
            ));
        }
        if !juju_name(&self.application) {
            return Err(Refused::invalid(
                "application",
                &self.application,
                "not a Juju application name",
            ));
        }
        if let Some(u) = &self.unit {
            if !is_unit_name(u) {
                return Err(Refused::invalid("unit", u, "not a Juju unit name"));
            }
        }
        if let Some(c) = &self.charm_name {
            if !charm_name(c) {
                return Err(Refused::invalid("charm_name", c, "not a charm name"));
            }
        }
        Ok(())
    }

    /// Topology is what Juju says about the relation, not what the data claims: a remote
    /// application naming itself as another (and so labelling its targets and rules as that
    /// application's, and taking over its job names) is refused. Juju names the remote
    /// application and its units; for our own model it also names the model. A model other
    /// than ours is a cross-model relation, where Juju gives only the local alias of the
    /// offer, so there the claimed names stand (they cannot pass for an application of ours).
    pub(super) fn agrees_with_juju(
        &self,
        remote_app: &str,
        model: &str,
        model_uuid: &str,
    ) -> Result<(), Refused> {
        if self.model_uuid != model_uuid {
            return Ok(());
        }
        if self.model != model {
            return Err(Refused::invalid(
                "model",
                &self.model,
                format!("the relation is in model {model:?}"),
            ));
        }
        if self.application != remote_app {
            return Err(Refused::invalid(
                "application",
                &self.application,
                format!("Juju says the relation is with {remote_app:?}"),
            ));
        }
        if let Some(unit) = &self.unit {
            if juju::application_of(unit).as_deref() != Some(remote_app) {
                return Err(Refused::invalid(
                    "unit",
                    unit,
                    format!("not a unit of {remote_app:?}"),
                ));
            }
        }
        Ok(())
    }

    fn uuid8(&self) -> &str {
        self.model_uuid.get(..8).unwrap_or(&self.model_uuid)
    }

    /// `<model>_<uuid[:8]>_<application>`, the library's topology identifier.
    pub(super) fn identifier(&self) -> String {
        format!("{}_{}_{}", self.model, self.uuid8(), self.application)
    }

    /// Prefix of every scrape job name from this application.
    pub(super) fn scrape_job_prefix(&self) -> String {
        format!("juju_{}_prometheus_scrape", self.identifier())
    }

    pub(super) fn rule_file_name(&self) -> String {
        format!("juju_{}.rules", self.identifier())
    }

    /// The application-level labels put on targets and rules (`juju_unit` is per target).
    pub(super) fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert("juju_model".to_string(), self.model.clone());
        labels.insert("juju_model_uuid".to_string(), self.model_uuid.clone());
        labels.insert("juju_application".to_string(), self.application.clone());
        if let Some(c) = &self.charm_name {
            labels.insert("juju_charm".to_string(), c.clone());
        }
        labels
    }

    /// The matchers injected into rule expressions: model, model UUID and application
    /// (not the charm, as the library does).
    pub(super) fn matchers(&self) -> Vec<(String, String)> {
        vec![
            ("juju_model".to_string(), self.model.clone()),
            ("juju_model_uuid".to_string(), self.model_uuid.clone()),
            ("juju_application".to_string(), self.application.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZINC: &str = r#"{"model": "cos", "model_uuid": "f4d59020-c8e7-4053-8044-a2c1e5591c7f", "application": "zinc", "unit": "zinc/0", "charm_name": "zinc-k8s"}"#;

    #[test]
    fn reads_the_library_scrape_metadata() {
        let t = Topology::from_scrape_metadata(ZINC).unwrap();
        assert_eq!(t.identifier(), "cos_f4d59020_zinc");
        assert_eq!(
            t.scrape_job_prefix(),
            "juju_cos_f4d59020_zinc_prometheus_scrape"
        );
        assert_eq!(t.rule_file_name(), "juju_cos_f4d59020_zinc.rules");
        assert_eq!(
            t.labels().get("juju_charm").map(String::as_str),
            Some("zinc-k8s")
        );
        assert_eq!(t.matchers().len(), 3);
    }

    #[test]
    fn unit_and_charm_are_optional() {
        let t = Topology::from_scrape_metadata(
            r#"{"model": "lma", "model_uuid": "abc", "application": "x", "unit": null, "extra": 1}"#,
        )
        .unwrap();
        assert_eq!(t.unit, None);
        assert!(!t.labels().contains_key("juju_charm"));
        assert_eq!(t.identifier(), "lma_abc_x");
    }

    #[test]
    fn hostile_metadata_is_refused() {
        for bad in [
            r#"{"model": "cos\"}", "model_uuid": "f4d59020", "application": "zinc"}"#,
            r#"{"model": "cos", "model_uuid": "../../etc", "application": "zinc"}"#,
            r#"{"model": "cos", "model_uuid": "f4d59020", "application": "Zinc/../x"}"#,
            r#"{"model": "cos", "model_uuid": "f4d59020", "application": "zinc", "unit": "zinc"}"#,
            r#"{"model": "cos", "model_uuid": "f4d59020"}"#,
            r#"{"model": 1, "model_uuid": "f4d59020", "application": "zinc"}"#,
            "not json",
        ] {
            assert!(Topology::from_scrape_metadata(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_names() {
        assert!(is_unit_name("zinc/0"));
        assert!(is_unit_name("kube-state-metrics/12"));
        assert!(!is_unit_name("zinc"));
        assert!(!is_unit_name("zinc/x"));
        assert!(!is_unit_name("Zinc/0"));
        assert_eq!(unit_number("zinc/12"), "12");
    }
}
