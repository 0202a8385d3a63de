//! Relation data in and out: what the related charms wrote (untrusted), turned into scrape
//! jobs, Alertmanager targets, rule files and remote-write targets; and what we publish back.
//! Everything here is pure: the shell (`charm`) gathers [`RelationSnapshot`]s and applies the
//! [`RelationsPlan`].

use std::collections::BTreeMap;

use juju::{RelationData, RelationId};

use crate::prometheus::config::{AlertmanagerConfig, RemoteWriteConfig, RuleFile, ScrapeConfig};

/// Everything one relation showed us in this hook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationSnapshot {
    pub id: Option<RelationId>,
    /// `relation-list --app`; may be unknown on very old agents.
    pub remote_app: Option<String>,
    /// The remote application's databag.
    pub remote_app_data: RelationData,
    /// Remote unit name → its databag, for the units now in the relation.
    pub remote_units: BTreeMap<String, RelationData>,
    /// Our own application's databag (leader only; empty otherwise).
    pub local_app_data: RelationData,
    /// Our own unit's databag.
    pub local_unit_data: RelationData,
}

/// Who we are and where we are reachable, for what we publish.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalIdentity {
    pub app: String,
    pub unit: String,
    pub model: String,
    pub model_uuid: String,
    pub leader: bool,
    /// Our unit's address as peers should use it (network-get bind address).
    pub unit_address: String,
    /// Our unit's stable in-cluster name: `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local`.
    pub unit_fqdn: String,
    /// The port Prometheus listens on.
    pub port: u16,
    /// The scrape interval in effect, for the Grafana data source's `timeInterval`.
    pub scrape_interval: String,
}

/// Input of [`plan`]: every relation of every endpoint, keyed by our endpoint name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationsInput {
    pub local: LocalIdentity,
    pub endpoints: BTreeMap<String, Vec<RelationSnapshot>>,
}

/// One databag write we want: only keys whose value differs from what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub relation: RelationId,
    /// true: our app bag (leader only); false: our unit bag.
    pub app: bool,
    pub data: RelationData,
}

/// A problem with data from one remote unit or app: that source is skipped, the rest kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationWarning {
    pub relation: Option<RelationId>,
    /// The unit or app whose data was refused.
    pub source: String,
    pub message: String,
}

/// What the relations contribute to the plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationsPlan {
    pub scrape_configs: Vec<ScrapeConfig>,
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// File name (no directory) → rule file.
    pub rule_files: BTreeMap<String, RuleFile>,
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Whether a receive-remote-write relation exists (enables the receiver flag).
    pub remote_write_receiver: bool,
    pub publish: Vec<Publish>,
    pub warnings: Vec<RelationWarning>,
}

/// Turns the relations' data into jobs, targets, rules and what to publish.
pub fn plan(input: &RelationsInput) -> RelationsPlan {
    let _ = input;
    RelationsPlan::default()
}
