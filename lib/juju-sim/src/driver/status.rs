//! `status`: the model as `juju status` shows it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{render, OutFormat};
use crate::hooks::{DriverError, Sim};
use crate::model::{Model, ModelDir, StatusValue, JUJU_VERSION};
use crate::workload::{self, WorkloadStatus};

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(Serialize)]
struct StatusOut {
    current: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

impl From<&StatusValue> for StatusOut {
    fn from(s: &StatusValue) -> Self {
        StatusOut {
            current: s.status.clone(),
            message: s.message.clone(),
        }
    }
}

#[derive(Serialize)]
struct ModelOut {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    controller: &'static str,
    cloud: &'static str,
    region: &'static str,
    version: &'static str,
    #[serde(rename = "model-status")]
    model_status: StatusOut,
    sla: &'static str,
}

#[derive(Serialize)]
struct UnitOut {
    #[serde(rename = "workload-status")]
    workload: StatusOut,
    #[serde(rename = "juju-status")]
    agent: StatusOut,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    leader: bool,
    address: String,
    #[serde(rename = "provider-id")]
    provider_id: String,
    /// The local process playing the unit's pod (live models and live peers only).
    #[serde(rename = "workload", skip_serializing_if = "Option::is_none")]
    process: Option<WorkloadStatus>,
}

/// The application's StatefulSet pod template (juju-sim's own addition to the status):
/// tests read `revision` and `rolls` to see whether a change restarted the pods.
#[derive(Serialize)]
struct PodTemplateOut {
    /// 0 before any spec was applied, 1 for the first template, +1 per change.
    revision: u32,
    /// Template changes that rolled the pods.
    rolls: u32,
    #[serde(rename = "rolled-pods")]
    rolled_pods: u32,
    #[serde(rename = "last-change", skip_serializing_if = "Vec::is_empty")]
    last_change: Vec<String>,
    /// The API server's words when the last apply was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct AppOut {
    charm: String,
    #[serde(rename = "charm-origin")]
    charm_origin: &'static str,
    #[serde(rename = "charm-name")]
    charm_name: String,
    #[serde(rename = "charm-rev")]
    charm_rev: u32,
    series: &'static str,
    os: &'static str,
    exposed: bool,
    scale: usize,
    address: String,
    #[serde(rename = "application-status")]
    status: StatusOut,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    relations: BTreeMap<String, Vec<String>>,
    units: BTreeMap<String, UnitOut>,
    #[serde(rename = "pod-template", skip_serializing_if = "Option::is_none")]
    pod_template: Option<PodTemplateOut>,
}

#[derive(Serialize)]
struct RelationOut {
    id: u32,
    key: String,
    interface: String,
    #[serde(rename = "type")]
    kind: &'static str,
    endpoints: Vec<String>,
}

#[derive(Serialize)]
struct StatusDoc {
    model: ModelOut,
    machines: BTreeMap<String, String>,
    applications: BTreeMap<String, AppOut>,
    relations: Vec<RelationOut>,
}

/// Juju's severity order for deriving an application's status from its units.
fn severity(status: &str) -> u8 {
    match status {
        "error" => 100,
        "blocked" => 90,
        "waiting" => 80,
        "maintenance" => 70,
        "terminated" => 60,
        "active" => 50,
        _ => 40,
    }
}

fn app_relations(model: &Model, app: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in model.relations.values().filter(|r| !r.dying) {
        for (mine, other) in [(&r.local, &r.remote), (&r.remote, &r.local)] {
            if mine.app == app {
                let list = out.entry(mine.endpoint.clone()).or_default();
                if !list.contains(&other.app) {
                    list.push(other.app.clone());
                }
            }
            if r.is_peer() {
                break;
            }
        }
    }
    out
}

/// The unit's workload, when a local process plays it.
fn workload_of(
    dir: &ModelDir,
    live: bool,
    unit: &str,
) -> Result<Option<WorkloadStatus>, DriverError> {
    if !live {
        return Ok(None);
    }
    Ok(Some(workload::status(dir, unit)?))
}

fn document(model: &Model, dir: &ModelDir) -> Result<StatusDoc, DriverError> {
    let mut applications = BTreeMap::new();
    if let Some(app) = &model.application {
        let units: BTreeMap<String, UnitOut> = app
            .units
            .values()
            .map(|u| {
                let name = app.unit_name(u.number);
                let process = workload_of(dir, model.live, &name)?;
                let failed = u.agent.status == "error";
                let workload = if failed {
                    StatusValue::new("error", &u.agent.message)
                } else {
                    u.workload.clone()
                };
                let out = UnitOut {
                    workload: (&workload).into(),
                    agent: StatusOut {
                        current: u.agent.status.clone(),
                        message: u.agent.message.clone(),
                    },
                    leader: u.leader,
                    address: model.unit_address(&name).unwrap_or_default(),
                    provider_id: name.replace('/', "-"),
                    process,
                };
                Ok((name, out))
            })
            .collect::<Result<_, DriverError>>()?;
        // As Juju's `Application.Status` (state/application.go): a status a leader once set
        // stays the application's status, also at scale 0 after that leader left; only an
        // application whose status was never set shows the most severe of its units'.
        // As Juju's `caasApplicationDisplayStatus`: an operator error (a spec the cluster
        // refused) is the application's status whatever the charm set.
        let status = app
            .operator_status
            .clone()
            .or_else(|| app.status.clone())
            .unwrap_or_else(|| {
                units
                    .values()
                    .max_by_key(|u| severity(&u.workload.current))
                    .map_or_else(
                        || StatusValue::new("unknown", ""),
                        |u| StatusValue::new(&u.workload.current, &u.workload.message),
                    )
            });
        applications.insert(
            app.name.clone(),
            AppOut {
                charm: format!(
                    "local:kubernetes/{}-{}",
                    app.charm.metadata.name, app.charm_revision
                ),
                charm_origin: "local",
                charm_name: app.charm.metadata.name.clone(),
                charm_rev: app.charm_revision,
                series: "kubernetes",
                os: "kubernetes",
                exposed: false,
                scale: app.units.len(),
                address: model.service_address(&app.name).unwrap_or_default(),
                status: (&status).into(),
                version: app.version.clone(),
                relations: app_relations(model, &app.name),
                units,
                pod_template: Some(PodTemplateOut {
                    revision: app.statefulset.revision,
                    rolls: app.statefulset.rolls,
                    rolled_pods: app.statefulset.rolled_pods,
                    last_change: app.statefulset.last_change.clone(),
                    error: app.statefulset.error.clone(),
                }),
            },
        );
    }
    for remote in model.remote_apps.values() {
        let first = remote.unit_names().first().cloned();
        let units = remote
            .unit_names()
            .into_iter()
            .map(|u| {
                let process = workload_of(dir, remote.live, &u)?;
                let out = UnitOut {
                    workload: StatusOut {
                        current: "active".into(),
                        message: String::new(),
                    },
                    agent: StatusOut {
                        current: "idle".into(),
                        message: String::new(),
                    },
                    leader: first.as_ref() == Some(&u),
                    address: model.unit_address(&u).unwrap_or_default(),
                    provider_id: u.replace('/', "-"),
                    process,
                };
                Ok((u, out))
            })
            .collect::<Result<_, DriverError>>()?;
        applications.insert(
            remote.name.clone(),
            AppOut {
                charm: format!("{} (profile {})", remote.charm, remote.profile),
                charm_origin: "juju-sim",
                charm_name: remote.charm.clone(),
                charm_rev: 0,
                series: "kubernetes",
                os: "kubernetes",
                exposed: false,
                scale: remote.units.len(),
                address: model.service_address(&remote.name).unwrap_or_default(),
                status: StatusOut {
                    current: "active".into(),
                    message: String::new(),
                },
                version: String::new(),
                relations: app_relations(model, &remote.name),
                units,
                pod_template: None,
            },
        );
    }
    let relations = model
        .relations
        .values()
        .filter(|r| !r.dying)
        .map(|r| RelationOut {
            id: r.id,
            key: r.key(),
            interface: r.interface.clone(),
            kind: if r.is_peer() { "peer" } else { "regular" },
            endpoints: r.key().split(' ').map(String::from).collect(),
        })
        .collect();
    Ok(StatusDoc {
        model: ModelOut {
            name: model.name.clone(),
            kind: "caas",
            controller: "juju-sim",
            cloud: "microk8s",
            region: "localhost",
            version: JUJU_VERSION,
            model_status: StatusOut {
                current: "available".into(),
                message: String::new(),
            },
            sla: "unsupported",
        },
        machines: BTreeMap::new(),
        applications,
        relations,
    })
}

/// Left-aligned columns two spaces apart, as Juju's tabular output.
pub(super) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn human(doc: &StatusDoc) -> String {
    let m = &doc.model;
    let mut out = table(&[
        vec![
            "Model".into(),
            "Controller".into(),
            "Cloud/Region".into(),
            "Version".into(),
            "SLA".into(),
        ],
        vec![
            m.name.clone(),
            m.controller.into(),
            format!("{}/{}", m.cloud, m.region),
            m.version.into(),
            m.sla.into(),
        ],
    ]);
    out.push('\n');
    let mut apps = vec![vec![
        "App".to_string(),
        "Version".into(),
        "Status".into(),
        "Scale".into(),
        "Charm".into(),
        "Address".into(),
        "Message".into(),
    ]];
    let mut units = vec![vec![
        "Unit".to_string(),
        "Workload".into(),
        "Agent".into(),
        "Address".into(),
        "Message".into(),
    ]];
    for (name, a) in &doc.applications {
        apps.push(vec![
            name.clone(),
            a.version.clone(),
            a.status.current.clone(),
            a.scale.to_string(),
            a.charm_name.clone(),
            a.address.clone(),
            a.status.message.clone(),
        ]);
        for (u, s) in &a.units {
            units.push(vec![
                format!("{u}{}", if s.leader { "*" } else { "" }),
                s.workload.current.clone(),
                s.agent.current.clone(),
                s.address.clone(),
                s.workload.message.clone(),
            ]);
        }
    }
    out.push_str(&table(&apps));
    out.push('\n');
    out.push_str(&table(&units));
    let mut workloads = vec![vec![
        "Workload".to_string(),
        "State".into(),
        "PID".into(),
        "Address".into(),
        "Ready".into(),
        "Restarts".into(),
        "Message".into(),
    ]];
    for a in doc.applications.values() {
        for (u, s) in &a.units {
            if let Some(w) = &s.process {
                workloads.push(vec![
                    u.clone(),
                    w.state.clone(),
                    w.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                    w.address.clone(),
                    if w.ready { "yes" } else { "no" }.into(),
                    w.restarts.to_string(),
                    w.message.clone(),
                ]);
            }
        }
    }
    let mut templates = vec![vec![
        "Pod template".to_string(),
        "Revision".into(),
        "Rolls".into(),
        "Last change".into(),
        "Error".into(),
    ]];
    for (name, a) in &doc.applications {
        if let Some(t) = &a.pod_template {
            templates.push(vec![
                name.clone(),
                t.revision.to_string(),
                t.rolls.to_string(),
                t.last_change.join(","),
                t.error.clone().unwrap_or_default(),
            ]);
        }
    }
    if templates.len() > 1 {
        out.push('\n');
        out.push_str(&table(&templates));
    }
    if workloads.len() > 1 {
        out.push('\n');
        out.push_str(&table(&workloads));
    }
    if !doc.relations.is_empty() {
        out.push('\n');
        let mut rels = vec![vec![
            "Relation provider".to_string(),
            "Requirer".into(),
            "Interface".into(),
            "Type".into(),
            "Id".into(),
        ]];
        for r in &doc.relations {
            let provider = r.endpoints.last().cloned().unwrap_or_default();
            let requirer = r.endpoints.first().cloned().unwrap_or_default();
            rels.push(vec![
                provider,
                requirer,
                r.interface.clone(),
                r.kind.into(),
                r.id.to_string(),
            ]);
        }
        out.push_str(&table(&rels));
    }
    out
}

pub(super) fn run(sim: &Sim, args: &Args) -> Result<String, DriverError> {
    let doc = document(&sim.model, &sim.dir)?;
    match args.format {
        OutFormat::Human => Ok(human(&doc)),
        f => render(&doc, f),
    }
}
