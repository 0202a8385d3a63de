use std::path::PathBuf;

use thiserror::Error;

use crate::tools::RelationId;
use crate::unit::UnitName;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("{0} is not set: not running under a Juju unit agent")]
    Missing(&'static str),
    #[error("{name} has an unexpected value {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

/// The `JUJU_*` variables Juju sets for a hook or action (juju-hook-reference §1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    /// `prometheus/0`
    pub unit_name: String,
    /// `prometheus`, derived from the unit name.
    pub app_name: String,
    pub model_name: String,
    pub model_uuid: String,
    pub charm_dir: PathBuf,
    /// Set in relation hooks: the relation the hook is about.
    pub relation: Option<RelationId>,
    /// Set in relation hooks; empty for -created, -broken and app-bag -changed.
    pub remote_unit: Option<String>,
    pub remote_app: Option<String>,
    /// Set in -relation-departed: the unit that is leaving (may be us).
    pub departing_unit: Option<String>,
    pub action_name: Option<String>,
    pub juju_version: Option<String>,
}

impl HookContext {
    /// Reads the context from the process environment.
    pub fn from_env() -> Result<Self, ContextError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the context through `lookup`, so tests can feed a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ContextError> {
        let non_empty = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let unit_name =
            non_empty("JUJU_UNIT_NAME").ok_or(ContextError::Missing("JUJU_UNIT_NAME"))?;
        let app_name = match UnitName::parse(&unit_name) {
            Some(unit) => unit.app().to_string(),
            None => {
                return Err(ContextError::Invalid {
                    name: "JUJU_UNIT_NAME",
                    value: unit_name,
                    why: "expected <application>/<number>",
                })
            }
        };
        let charm_dir = non_empty("JUJU_CHARM_DIR")
            .or_else(|| non_empty("CHARM_DIR"))
            .map(PathBuf::from)
            .ok_or(ContextError::Missing("JUJU_CHARM_DIR"))?;
        let relation = match non_empty("JUJU_RELATION_ID") {
            Some(raw) => Some(RelationId::parse(&raw).ok_or(ContextError::Invalid {
                name: "JUJU_RELATION_ID",
                value: raw.clone(),
                why: "expected <endpoint>:<id>",
            })?),
            None => None,
        };
        Ok(HookContext {
            unit_name,
            app_name,
            // Both name what the charm publishes (pod DNS names, topology labels): a default
            // would publish something broken, so a missing one fails the hook, naming it.
            model_name: non_empty("JUJU_MODEL_NAME")
                .ok_or(ContextError::Missing("JUJU_MODEL_NAME"))?,
            model_uuid: non_empty("JUJU_MODEL_UUID")
                .ok_or(ContextError::Missing("JUJU_MODEL_UUID"))?,
            charm_dir,
            relation,
            remote_unit: non_empty("JUJU_REMOTE_UNIT"),
            remote_app: non_empty("JUJU_REMOTE_APP"),
            departing_unit: non_empty("JUJU_DEPARTING_UNIT"),
            action_name: non_empty("JUJU_ACTION_NAME"),
            juju_version: non_empty("JUJU_VERSION"),
        })
    }

    /// The unit number: `3` for `prometheus/3`.
    pub fn unit_number(&self) -> u32 {
        UnitName::parse(&self.unit_name).map_or(0, |u| u.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ctx(vars: &[(&str, &str)]) -> Result<HookContext, ContextError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HookContext::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_a_relation_hook_context() {
        let c = ctx(&[
            ("JUJU_UNIT_NAME", "prometheus/2"),
            (
                "JUJU_CHARM_DIR",
                "/var/lib/juju/agents/unit-prometheus-2/charm",
            ),
            ("JUJU_MODEL_NAME", "cos"),
            ("JUJU_MODEL_UUID", "f4d59020-c8e7-4053-8044-a2c1e5591c7f"),
            ("JUJU_RELATION_ID", "alertmanager:4"),
            ("JUJU_REMOTE_UNIT", ""),
            ("JUJU_REMOTE_APP", "alertmanager"),
        ])
        .unwrap();
        assert_eq!(c.app_name, "prometheus");
        assert_eq!(c.unit_number(), 2);
        assert_eq!(c.relation, Some(RelationId::new("alertmanager", 4)));
        assert_eq!(c.remote_unit, None);
        assert_eq!(c.remote_app.as_deref(), Some("alertmanager"));
    }

    #[test]
    fn missing_unit_name_is_an_error() {
        assert_eq!(
            ctx(&[("JUJU_CHARM_DIR", "/x")]),
            Err(ContextError::Missing("JUJU_UNIT_NAME"))
        );
    }

    #[test]
    fn a_missing_model_name_or_uuid_is_named() {
        let unit = [("JUJU_UNIT_NAME", "prometheus/0"), ("JUJU_CHARM_DIR", "/x")];
        assert_eq!(ctx(&unit), Err(ContextError::Missing("JUJU_MODEL_NAME")));
        let named = [unit[0], unit[1], ("JUJU_MODEL_NAME", "cos")];
        assert_eq!(ctx(&named), Err(ContextError::Missing("JUJU_MODEL_UUID")));
    }

    #[test]
    fn malformed_unit_name_is_an_error() {
        assert!(ctx(&[("JUJU_UNIT_NAME", "prometheus"), ("JUJU_CHARM_DIR", "/x")]).is_err());
    }
}
