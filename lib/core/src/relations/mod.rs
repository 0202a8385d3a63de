//! Relation data in and out: what the related charms wrote (untrusted), turned into scrape
//! jobs, Alertmanager targets, rule files and remote-write targets; and what we publish back.
//! Everything here is pure: the shell (`charm`) gathers [`RelationSnapshot`]s and applies the
//! [`RelationsPlan`].

mod alert_rules;
mod alertmanager;
mod budget;
mod databag;
mod grafana_source;
mod jobs;
mod ledger;
mod metrics_endpoint;
mod monitoring;
mod promql;
mod remote_write;
mod report;
mod self_metrics;
mod template;
mod topology;
mod validate;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod grammar_tests;
#[cfg(test)]
mod promtool_tests;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

use std::collections::BTreeMap;

use juju::{RelationData, RelationId};
use serde::{Deserialize, Serialize};

pub use budget::{Budget, Used};
pub use ledger::{patch, plan_ledgered, Ledger, Patched};

use crate::prometheus::config::{AlertmanagerConfig, RemoteWriteConfig, RuleFile, ScrapeConfig};

/// Everything one relation showed us in this hook (serializable: the shell keeps it between
/// hooks).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RelationSnapshot {
    pub id: Option<RelationId>,
    /// `relation-list --app`; may be unknown on very old agents.
    #[serde(default)]
    pub remote_app: Option<String>,
    /// The remote application's databag.
    #[serde(default)]
    pub remote_app_data: RelationData,
    /// Remote unit name → its databag, for the units now in the relation.
    #[serde(default)]
    pub remote_units: BTreeMap<String, RelationData>,
    /// Our own application's databag (leader only; empty otherwise).
    #[serde(default)]
    pub local_app_data: RelationData,
    /// Our own unit's databag (read only where we write it).
    #[serde(default)]
    pub local_unit_data: RelationData,
}

/// Who we are and where we are reachable, for what we publish.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// Our application's Service in the cluster: `<app>.<model>.svc.cluster.local`.
    pub app_fqdn: String,
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
    /// Bytes the relations' scrape jobs, targets and rules may add to each file set, or
    /// `None` for no limit.
    pub budget: Option<Budget>,
}

/// One databag write we want: only keys whose value differs from what is there now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub relation: RelationId,
    /// true: our app bag (leader only); false: our unit bag.
    pub app: bool,
    pub data: RelationData,
}

/// A problem with data from one remote unit or app: that source is skipped, the rest kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Our endpoints, as named in metadata.yaml.
pub const METRICS_ENDPOINT: &str = "metrics-endpoint";
pub const MONITORING: &str = "monitoring";
pub const ALERTMANAGER: &str = "alertmanager";
pub const GRAFANA_SOURCE: &str = "grafana-source";
pub const SELF_METRICS_ENDPOINT: &str = "self-metrics-endpoint";
pub const SEND_REMOTE_WRITE: &str = "send-remote-write";
pub const RECEIVE_REMOTE_WRITE: &str = "receive-remote-write";

/// Endpoints for older peers, which spoke other interface names for the same data: Juju
/// relates charms only over one interface, so each generation needs its own endpoint. Their
/// data goes to the same module as the current endpoint's, which reads every dialect.
/// Canonical pod-spec Alertmanager (interface `alertmanager`).
pub const ALERTMANAGER_PODSPEC: &str = "alertmanager-podspec";
/// charmed-lma Alertmanager (interface `prometheus-alerting-config`).
pub const ALERTING_CONFIG: &str = "alerting-config";
/// Canonical pod-spec Grafana (interface `grafana-datasource`, Grafana provides).
pub const GRAFANA_DATASOURCE: &str = "grafana-datasource";
/// grafana-k8s of July to September 2021 (interface `grafana_datasource`, Grafana provides):
/// it reads what today's Grafana reads on [`GRAFANA_SOURCE`].
pub const GRAFANA_SOURCE_PROVIDER: &str = "grafana-source-provider";
/// charmed-lma Grafana (interface `prometheus-http-api`): it reads no relation data.
pub const PROMETHEUS_API: &str = "prometheus-api";

/// The endpoints on which we write our unit's bag. On every other one we write only the
/// application's (the leader: `event` reports), so the shell never reads our unit's bag
/// there (a read per relation saved; the fuzz test holds the list to what the modules do).
pub const UNIT_BAG_ENDPOINTS: [&str; 5] = [
    GRAFANA_SOURCE,
    GRAFANA_SOURCE_PROVIDER,
    GRAFANA_DATASOURCE,
    SELF_METRICS_ENDPOINT,
    RECEIVE_REMOTE_WRITE,
];

/// What the endpoint modules add up, before names are made unique and lists sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Contribution {
    scrape_configs: Vec<ScrapeConfig>,
    alertmanagers: Vec<AlertmanagerConfig>,
    /// Wanted file name → rule file; clashing names are resolved in [`plan`].
    rule_files: Vec<(String, RuleFile)>,
    remote_write: Vec<RemoteWriteConfig>,
    publish: Vec<Publish>,
    warnings: Vec<RelationWarning>,
    /// What the relations' jobs, targets and rules may still add (`None`: no limit).
    #[serde(skip)]
    room: Option<budget::Room>,
    /// How many relations were left out for want of room.
    #[serde(skip)]
    refused: usize,
}

impl Contribution {
    /// Takes one relation's `part` if its jobs and rules fit in the room left; otherwise
    /// keeps only its warnings and publications and says why the rest was left out.
    fn admit(&mut self, part: Contribution) -> Result<(), String> {
        let refused = match &mut self.room {
            Some(room) => room.take(&part).err(),
            None => None,
        };
        self.warnings.extend(part.warnings);
        self.publish.extend(part.publish);
        if let Some(why) = refused {
            self.refused += 1;
            return Err(why);
        }
        self.scrape_configs.extend(part.scrape_configs);
        self.alertmanagers.extend(part.alertmanagers);
        self.rule_files.extend(part.rule_files);
        self.remote_write.extend(part.remote_write);
        Ok(())
    }

    fn warn(&mut self, snapshot: &RelationSnapshot, source: &str, message: impl Into<String>) {
        self.warnings.push(RelationWarning {
            relation: snapshot.id.clone(),
            source: source.to_string(),
            message: message.into(),
        });
    }
}

/// The remote application's name for messages: `relation-list --app`, or the application
/// part of a remote unit's name on agents too old to tell.
fn remote_app_name(snapshot: &RelationSnapshot) -> String {
    snapshot
        .remote_app
        .clone()
        .or_else(|| {
            snapshot
                .remote_units
                .keys()
                .next()
                .and_then(|u| juju::application_of(u))
        })
        .unwrap_or_else(|| "remote application".to_string())
}

/// What [`plan_with`] learned of each scrape-target relation (`metrics-endpoint`, by far the
/// most numerous): its validated jobs, rules and refusals, with our identity and the
/// fingerprint of the remote data they were computed from (FNV-1a over the typed data,
/// [`MemoPart::basis_of`]). A later plan reuses a relation's part only while our identity is
/// equal and the relation's remote data has the same fingerprint. Checking and expanding
/// one relation's jobs and rules (PromQL included) is what a plan spends most of its time
/// on; with the memo, a hook re-plans only the relations that changed. A fingerprint is not
/// proof against a remote charm *aiming* at a collision, but parts are found by relation
/// id: all such a charm could achieve is keep its own relation's earlier (checked) part,
/// which it can do by not changing its data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Memo {
    local: LocalIdentity,
    parts: Vec<MemoPart>,
}

/// One relation's part, and the fingerprint of the remote data it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoPart {
    pub id: RelationId,
    pub basis: u64,
    pub result: Contributed,
}

/// What one relation contributes, as the plan needs it; opaque outside this module, and
/// serializable so that the shell can keep it between hooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributed {
    contribution: Contribution,
    #[serde(default)]
    rule_errors: Vec<String>,
    #[serde(default)]
    job_errors: Vec<String>,
}

impl Contributed {
    fn contribution(&self) -> &Contribution {
        &self.contribution
    }
}

impl MemoPart {
    /// The fingerprint of what a relation's part is computed from: its remote data.
    pub fn basis_of(snapshot: &RelationSnapshot) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::syntax::fingerprint::Fnv1a::default();
        snapshot.remote_app.hash(&mut h);
        snapshot.remote_app_data.hash(&mut h);
        snapshot.remote_units.hash(&mut h);
        h.finish()
    }
}

impl Memo {
    /// No parts yet, for `local`.
    pub fn of(local: LocalIdentity) -> Memo {
        Memo {
            local,
            parts: Vec::new(),
        }
    }

    /// Parts computed for `local`.
    pub fn new(local: LocalIdentity, parts: Vec<MemoPart>) -> Memo {
        Memo { local, parts }
    }

    pub fn extend(&mut self, parts: impl IntoIterator<Item = MemoPart>) {
        self.parts.extend(parts);
    }

    pub fn local(&self) -> &LocalIdentity {
        &self.local
    }

    pub fn parts(&self) -> &[MemoPart] {
        &self.parts
    }

    /// The part of relation `id`, if it holds one.
    pub fn part(&self, id: &RelationId) -> Option<&MemoPart> {
        self.parts.iter().find(|p| p.id == *id)
    }

    /// Whether `other` holds parts for the same relations, of the same data, with the same
    /// identity (and so the same parts: a part is a function of both).
    pub fn same_as(&self, other: &Memo) -> bool {
        self.local == other.local
            && self.parts.len() == other.parts.len()
            && self
                .parts
                .iter()
                .zip(&other.parts)
                .all(|(a, b)| a.id == b.id && a.basis == b.basis)
    }

    /// How many relations' parts it holds.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// Turns the relations' data into jobs, targets, rules and what to publish. Pure: the same
/// input always gives the same plan, with jobs sorted by name and every list in a stable
/// order, so an unchanged model renders a byte-identical `prometheus.yml`.
pub fn plan(input: &RelationsInput) -> RelationsPlan {
    // No memo to keep: none is built (it copies every relation's part).
    plan_inner(input, &BTreeMap::new(), None).0
}

/// As [`plan`], reusing from `memo` the part of every relation whose remote data and our
/// identity are what they were; also the memo of this plan. `plan_with(i, m).0 == plan(i)`
/// for every `m`.
pub fn plan_with(input: &RelationsInput, memo: &Memo) -> (RelationsPlan, Memo) {
    let (plan, memo, _) = plan_ledgered(input, memo, &[]);
    (plan, memo)
}

/// What a plan leaves besides the plan: the room left, and how many relations were left
/// out for want of it.
struct Admission {
    room: Option<budget::Room>,
    refused: usize,
}

fn plan_inner(
    input: &RelationsInput,
    memo: &BTreeMap<&RelationId, &MemoPart>,
    parts: Option<&mut Vec<MemoPart>>,
) -> (RelationsPlan, Admission) {
    let mut out = Contribution {
        room: input.budget.clone().map(budget::Room::new),
        ..Contribution::default()
    };
    metrics_endpoint::contribute(
        &input.local,
        relations_of(input, METRICS_ENDPOINT),
        memo,
        parts,
        &mut out,
    );
    contribute_others(input, &mut out);
    let admission = Admission {
        room: out.room.take(),
        refused: out.refused,
    };
    let plan = RelationsPlan {
        scrape_configs: jobs::finalize(out.scrape_configs),
        alertmanagers: out.alertmanagers,
        rule_files: unique_rule_files(out.rule_files),
        remote_write: out.remote_write,
        remote_write_receiver: receives_remote_write(input),
        publish: out.publish,
        warnings: out.warnings,
    };
    (plan, admission)
}

/// Whether a relation asks this Prometheus to receive remote writes (a flag of its own).
fn receives_remote_write(input: &RelationsInput) -> bool {
    !relations_of(input, RECEIVE_REMOTE_WRITE).is_empty()
}

fn relations_of<'a>(input: &'a RelationsInput, endpoint: &str) -> &'a [RelationSnapshot] {
    input.endpoints.get(endpoint).map_or(&[], Vec::as_slice)
}

/// Every endpoint but the scrape targets' (few relations, planned whole in every hook).
fn contribute_others(input: &RelationsInput, out: &mut Contribution) {
    let local = &input.local;
    let relations = |endpoint: &str| relations_of(input, endpoint);
    let of = |endpoints: &[&str]| -> Vec<RelationSnapshot> {
        endpoints
            .iter()
            .flat_map(|e| relations(e).iter().cloned())
            .collect()
    };
    monitoring::contribute(relations(MONITORING), out);
    alertmanager::contribute(
        &of(&[ALERTMANAGER, ALERTMANAGER_PODSPEC, ALERTING_CONFIG]),
        out,
    );
    grafana_source::contribute(
        local,
        &of(&[GRAFANA_SOURCE, GRAFANA_SOURCE_PROVIDER]),
        grafana_source::Generation::Library,
        out,
    );
    grafana_source::contribute(
        local,
        relations(GRAFANA_DATASOURCE),
        grafana_source::Generation::PodSpec,
        out,
    );
    self_metrics::contribute(local, relations(SELF_METRICS_ENDPOINT), out);
    remote_write::contribute_send(relations(SEND_REMOTE_WRITE), out);
    remote_write::contribute_receive(local, relations(RECEIVE_REMOTE_WRITE), out);

    // Endpoints whose modules have no report of their own tell each sender what was refused.
    for snapshot in &of(&[
        MONITORING,
        ALERTMANAGER,
        ALERTMANAGER_PODSPEC,
        ALERTING_CONFIG,
        SEND_REMOTE_WRITE,
    ]) {
        let errors: Vec<&str> = out
            .warnings
            .iter()
            .filter(|w| w.relation.is_some() && w.relation == snapshot.id)
            .map(|w| w.message.as_str())
            .collect();
        let report = report::publish_errors(local, snapshot, &errors);
        out.publish.extend(report);
    }
}

/// Two relations may claim the same topology (and so the same file name): the later one gets
/// a numbered name rather than overwriting the first.
fn unique_rule_files(files: Vec<(String, RuleFile)>) -> BTreeMap<String, RuleFile> {
    let mut unique = BTreeMap::new();
    for (name, file) in files {
        let stem = name.strip_suffix(".rules").unwrap_or(&name).to_string();
        let mut candidate = name;
        let mut n = 1;
        while unique.contains_key(&candidate) {
            n += 1;
            candidate = format!("{stem}_{n}.rules");
        }
        unique.insert(candidate, file);
    }
    unique
}
