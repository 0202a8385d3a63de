//! The simulated model: one JSON file (`model.json`) in the model directory, written
//! atomically, shared by the driver and the hook tools (which take a file lock).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::charm::{CharmInfo, Role};
use crate::event::HookSpec;
use crate::hash::{fnv1a, OFFSET};
use crate::podspec::{self, PodSpecError, PodSpecV3};

pub(crate) const JUJU_VERSION: &str = "2.9.42";
/// The agent version a sidecar (v2) charm sees: it needs Juju 3.x, played after the 3.6
/// branch of Juju's source.
pub(crate) const JUJU_VERSION_SIDECAR: &str = "3.6.0";

#[derive(Debug, Error)]
pub(crate) enum ModelError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("model file {path} is damaged: {message}")]
    Corrupt { path: String, message: String },
    #[error("no model in {0} (deploy a charm first)")]
    Missing(String),
    #[error("no application deployed in this model")]
    NoApplication,
    #[error("application {0:?} not found")]
    ApplicationNotFound(String),
    #[error("unit {0:?} not found")]
    UnitNotFound(String),
    #[error("relation {0} not found")]
    RelationNotFound(u32),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where everything of one model lives.
#[derive(Debug, Clone)]
pub(crate) struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    /// `root` is made absolute: hooks run with another working directory.
    pub(crate) fn new(root: &Path) -> Result<ModelDir, ModelError> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir().map_err(io_err(root))?.join(root)
        };
        Ok(ModelDir { root })
    }

    /// The model of a hook tool, found from `<model>/agents/unit-x-n/agent.socket`.
    pub(crate) fn from_socket(socket: &Path) -> Option<ModelDir> {
        let root = socket.parent()?.parent()?.parent()?;
        Some(ModelDir {
            root: root.to_path_buf(),
        })
    }

    pub(crate) fn model_file(&self) -> PathBuf {
        self.root.join("model.json")
    }
    pub(crate) fn calls_file(&self) -> PathBuf {
        self.root.join("calls.jsonl")
    }
    /// The last hook tool call's sequence number (see `calls::next_seq`).
    pub(crate) fn call_seq_file(&self) -> PathBuf {
        self.root.join("call-seq")
    }
    pub(crate) fn debug_log(&self) -> PathBuf {
        self.root.join("debug-log")
    }
    pub(crate) fn charm_store(&self, app: &str) -> PathBuf {
        self.root.join("charms").join(app)
    }
    pub(crate) fn unit_charm_dir(&self, unit: &str) -> PathBuf {
        self.root
            .join("units")
            .join(unit.replace('/', "-"))
            .join("charm")
    }
    pub(crate) fn agent_dir(&self, unit: &str) -> PathBuf {
        self.root.join("agents").join(unit_tag(unit))
    }
    pub(crate) fn socket(&self, unit: &str) -> PathBuf {
        self.agent_dir(unit).join("agent.socket")
    }
    pub(crate) fn tools_dir(&self, unit: &str) -> PathBuf {
        self.root.join("tools").join(unit_tag(unit))
    }
    pub(crate) fn context_file(&self, id: &str) -> PathBuf {
        self.root.join("contexts").join(format!("{id}.json"))
    }

    pub(crate) fn exists(&self) -> bool {
        self.model_file().exists()
    }

    pub(crate) fn load(&self) -> Result<Model, ModelError> {
        let path = self.model_file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::Missing(self.root.display().to_string()))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|e| ModelError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub(crate) fn save(&self, model: &Model) -> Result<(), ModelError> {
        let text = serde_json::to_string_pretty(model).map_err(|e| ModelError::Corrupt {
            path: self.model_file().display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(&self.model_file(), text.as_bytes())
    }

    /// Serialises model access between concurrently running tools: a lock directory
    /// (creating a directory is atomic), taken over when its holder died long ago.
    pub(crate) fn lock(&self) -> Result<ModelLock, ModelError> {
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let path = self.root.join(".lock");
        let started = std::time::Instant::now();
        loop {
            match fs::create_dir(&path) {
                Ok(()) => return Ok(ModelLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > std::time::Duration::from_secs(30));
                    if stale || started.elapsed() > std::time::Duration::from_secs(60) {
                        let _ = fs::remove_dir(&path);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
    }
}

/// Held while a tool reads and writes the model; released on drop.
pub(crate) struct ModelLock {
    path: PathBuf,
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

/// Writes a temporary file beside `path` and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

/// Appends `lines` to `path` (created if need be), each with one write, so that
/// concurrent writers do not interleave within a line.
pub(crate) fn append_lines(path: &Path, lines: &[String]) -> Result<(), ModelError> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    for l in lines {
        file.write_all(l.as_bytes()).map_err(io_err(path))?;
    }
    Ok(())
}

/// Where live peers listen.
pub(crate) const LIVE_PEER_HOST: &str = "127.0.0.1";

/// The cluster's DNS domain (Kubernetes' default), in every pod name and search list.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// The keys Juju writes in every unit databag.
pub(crate) const JUJU_UNIT_KEYS: [&str; 3] =
    ["private-address", "ingress-address", "egress-subnets"];

/// A cluster IP (Service address): loopback, where nothing listens (see
/// [`Model::cluster_ip`]).
pub(crate) fn service_ip(host: u32) -> String {
    format!("127.152.183.{host}")
}

/// Two octets in 1..=254 from the model UUID: a non-live model's own 127.a.b.0/24.
pub(crate) fn uuid_octets(uuid: &str) -> (u32, u32) {
    let mut h: u32 = 0x811c9dc5;
    for byte in uuid.bytes() {
        h = (h ^ u32::from(byte)).wrapping_mul(0x01000193);
    }
    let (a, b) = (1 + h % 254, 1 + (h / 254) % 254);
    // 127.152.183.0/24 holds the Services' cluster IPs; pods never share it.
    if (a, b) == (152, 183) {
        return (a, b + 1);
    }
    (a, b)
}

/// `prometheus/0` → `unit-prometheus-0`.
pub(crate) fn unit_tag(unit: &str) -> String {
    format!("unit-{}", unit.replace('/', "-"))
}

/// `prometheus/0` → ("prometheus", 0).
pub(crate) fn split_unit(unit: &str) -> Option<(&str, u32)> {
    let (app, n) = unit.split_once('/')?;
    if app.is_empty() {
        return None;
    }
    Some((app, n.parse().ok()?))
}

/// A deterministic model UUID from the model name, shaped as a version 4 UUID: FNV-1a, and
/// for the other half the same steps from another start with a rotation after each (the
/// values every model has had; the pod addresses tests know derive from them).
pub(crate) fn model_uuid(name: &str) -> String {
    let a = fnv1a(OFFSET, name.as_bytes());
    let b = name.bytes().fold(OFFSET.rotate_left(32), |h, byte| {
        fnv1a(h, &[byte]).rotate_left(7)
    });
    uuid_shape(&format!("{a:016x}{b:016x}"))
}

/// 32 hex digits shaped as a version 4 UUID.
pub(crate) fn uuid_shape(hex: &str) -> String {
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or("0");
    format!(
        "{}-{}-4{}-8{}-{}",
        part(0..8),
        part(8..12),
        part(13..16),
        part(17..20),
        part(20..32)
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct StatusValue {
    pub status: String,
    pub message: String,
}

impl StatusValue {
    pub(crate) fn new(status: &str, message: &str) -> StatusValue {
        StatusValue {
            status: status.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct AgentStatus {
    pub status: String,
    pub message: String,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Unit {
    pub number: u32,
    pub leader: bool,
    pub workload: StatusValue,
    pub agent: AgentStatus,
    #[serde(default)]
    pub state: BTreeMap<String, String>,
    /// Set once the unit has run its install hook; only then does it see follow-up hooks.
    #[serde(default)]
    pub installed: bool,
    /// The hook that failed and holds the unit in error until `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_hook: Option<HookSpec>,
    /// Events that came while the unit was in error, in order; they run once it is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<HookSpec>,
    /// A sidecar unit's Pebble stand-ins, by container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pebble: BTreeMap<String, PebbleDaemon>,
}

impl Unit {
    /// A unit whose pod is being created: its agent has run no hook yet.
    pub(crate) fn allocating(number: u32, leader: bool) -> Unit {
        Unit {
            number,
            leader,
            workload: StatusValue::new("waiting", "agent initializing"),
            agent: AgentStatus {
                status: "allocating".into(),
                ..Default::default()
            },
            state: BTreeMap::new(),
            installed: false,
            failed_hook: None,
            deferred: Vec::new(),
            pebble: BTreeMap::new(),
        }
    }

    /// The unit is past `hook` (it ran, or `resolved --no-retry` skipped it): out of
    /// error and idle; past `install` it is installed, and the status Juju gave it for
    /// the install hook goes if the charm left it.
    pub(crate) fn past_hook(&mut self, hook: &str) {
        self.failed_hook = None;
        self.agent = AgentStatus {
            status: "idle".into(),
            ..Default::default()
        };
        if hook == "install" {
            self.installed = true;
            if self.workload == StatusValue::new("maintenance", "installing charm software") {
                self.workload = StatusValue::new("unknown", "");
            }
        }
    }

    /// A unit whose hook failed runs no other hook until it is resolved.
    pub(crate) fn in_error(&self) -> bool {
        self.failed_hook.is_some()
    }
}

/// A sidecar unit's Pebble stand-in for one container (see `pebble`): the detached
/// process serving `socket`, recognised by PID and start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PebbleDaemon {
    pub pid: u32,
    pub start_time: u64,
    pub socket: String,
    /// Services and exec run for real (`--live`), or are recorded only.
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct OciImage {
    pub registrypath: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredPodSpec {
    pub spec: String,
    pub k8s_resources: Option<String>,
    pub unit: String,
    pub tool: String,
}

impl StoredPodSpec {
    /// The single document Juju parses: the spec with the k8s resources appended.
    pub(crate) fn text(&self) -> String {
        match &self.k8s_resources {
            Some(r) => format!("{}{r}", self.spec),
            None => self.spec.clone(),
        }
    }

    /// The stored spec, typed (pod-spec-set checked it when it was set).
    pub(crate) fn parsed(&self) -> Result<PodSpecV3, PodSpecError> {
        podspec::parse(&self.text())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct Application {
    pub name: String,
    /// Picks the application's addresses.
    pub index: u32,
    pub charm_source: String,
    pub charm: CharmInfo,
    /// Values set with `config` (options at their default are absent).
    pub config: BTreeMap<String, Value>,
    pub resources: BTreeMap<String, OciImage>,
    pub units: BTreeMap<u32, Unit>,
    pub next_unit: u32,
    pub status: Option<StatusValue>,
    pub version: String,
    pub pod_spec: Option<StoredPodSpec>,
    /// The StatefulSet the controller made from the spec (template, revision, rolls).
    #[serde(default)]
    pub statefulset: StatefulSet,
    /// Juju's `CharmModifiedVersion`: one more on every upgrade-charm; the pod template
    /// carries it, so an upgrade rolls the pods.
    #[serde(default)]
    pub charm_modified_version: u32,
    /// The local charm's revision (`local:kubernetes/<name>-<rev>`), one more per upgrade.
    #[serde(default)]
    pub charm_revision: u32,
    /// Set by the controller when applying the spec failed; shown as the application's
    /// status, as Juju shows a CAAS application's operator error.
    #[serde(default)]
    pub operator_status: Option<StatusValue>,
    /// `juju trust`: the application config's `trust` (on Kubernetes, full access to the
    /// cluster for the application's service account).
    #[serde(default)]
    pub trust: bool,
}

impl Application {
    /// The units past their install hook, in order.
    pub(crate) fn installed_units(&self) -> Vec<String> {
        self.units
            .values()
            .filter(|u| u.installed)
            .map(|u| self.unit_name(u.number))
            .collect()
    }

    /// Whether the deployed charm is a sidecar (v2) charm.
    pub(crate) fn sidecar(&self) -> bool {
        self.charm.metadata.sidecar()
    }

    /// The `JUJU_VERSION` its hooks see.
    pub(crate) fn juju_version(&self) -> &'static str {
        if self.sidecar() {
            JUJU_VERSION_SIDECAR
        } else {
            JUJU_VERSION
        }
    }

    pub(crate) fn unit_name(&self, n: u32) -> String {
        format!("{}/{n}", self.name)
    }

    pub(crate) fn unit_names(&self) -> Vec<String> {
        self.units.keys().map(|n| self.unit_name(*n)).collect()
    }

    pub(crate) fn leader(&self) -> Option<String> {
        self.units
            .values()
            .find(|u| u.leader)
            .map(|u| self.unit_name(u.number))
    }

    /// Juju's lease manager gives leadership to one of the application's units whenever it
    /// has none (its leader left, or it had no units until now); here the lowest-numbered.
    /// Returns the new leader's name; `None` when there is a leader already or no unit.
    pub(crate) fn elect_leader(&mut self) -> Option<String> {
        if self.units.values().any(|u| u.leader) {
            return None;
        }
        let unit = self.units.values_mut().next()?;
        unit.leader = true;
        let number = unit.number;
        Some(self.unit_name(number))
    }

    /// Every option with its value or default (`null` when neither).
    pub(crate) fn effective_config(&self) -> BTreeMap<String, Value> {
        self.charm
            .options
            .iter()
            .map(|(k, o)| {
                let v = self
                    .config
                    .get(k)
                    .cloned()
                    .or_else(|| o.default.clone())
                    .unwrap_or(Value::Null);
                (k.clone(), v)
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RemoteApp {
    pub name: String,
    pub profile: String,
    pub charm: String,
    pub index: u32,
    pub units: BTreeSet<u32>,
    pub next_unit: u32,
    /// Each unit is played by a real local process (`relate --live`).
    #[serde(default)]
    pub live: bool,
    /// The port each live unit listens on (on [`LIVE_PEER_HOST`]).
    #[serde(default)]
    pub ports: BTreeMap<u32, u16>,
}

impl RemoteApp {
    pub(crate) fn unit_names(&self) -> Vec<String> {
        self.units
            .iter()
            .map(|n| format!("{}/{n}", self.name))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RelationSide {
    pub app: String,
    pub endpoint: String,
    pub role: Role,
}

pub(crate) type Databag = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Relation {
    pub id: u32,
    pub interface: String,
    /// Our (the deployed charm's) side.
    pub local: RelationSide,
    /// The other side; for a peer relation the same as `local`.
    pub remote: RelationSide,
    /// Application databags by application name.
    pub app_data: BTreeMap<String, Databag>,
    /// Unit databags by unit name (kept after a unit leaves, as Juju does).
    pub unit_data: BTreeMap<String, Databag>,
    /// For each of our units in the relation: the other side's units it has seen join.
    pub views: BTreeMap<String, BTreeSet<String>>,
    /// Set when removal starts (`-broken` is running or ran).
    #[serde(default)]
    pub dying: bool,
}

impl Relation {
    pub(crate) fn is_peer(&self) -> bool {
        self.local.role == Role::Peer
    }

    /// The other side's units our unit `ours` has seen join (and not yet leave).
    pub(crate) fn seen_by(&self, ours: &str) -> Vec<String> {
        self.views
            .get(ours)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Whether our unit `ours` has seen `remote` join (and not yet leave).
    pub(crate) fn sees(&self, ours: &str, remote: &str) -> bool {
        self.views.get(ours).is_some_and(|v| v.contains(remote))
    }

    /// Juju's relation key: `app:endpoint app:endpoint`, requirer first; a peer
    /// relation is just `app:endpoint`.
    pub(crate) fn key(&self) -> String {
        if self.is_peer() {
            return format!("{}:{}", self.local.app, self.local.endpoint);
        }
        let mut sides = [&self.local, &self.remote];
        sides.sort_by_key(|s| s.role.order());
        format!(
            "{}:{} {}:{}",
            sides[0].app, sides[0].endpoint, sides[1].app, sides[1].endpoint
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct Model {
    pub name: String,
    pub uuid: String,
    /// Our units' workloads run as local processes (`deploy --live`).
    #[serde(default)]
    pub live: bool,
    pub next_relation_id: u32,
    pub next_app_index: u32,
    pub next_action_id: u32,
    pub context_seq: u64,
    /// The last hook tool call's sequence number when a tool last saved the model; the
    /// count itself is `<model>/call-seq` (calls that change nothing leave this file alone).
    #[serde(default)]
    pub call_seq: u64,
    pub application: Option<Application>,
    pub remote_apps: BTreeMap<String, RemoteApp>,
    pub relations: BTreeMap<u32, Relation>,
    pub leader_settings: BTreeMap<String, String>,
    /// Fault injection: tool name → the message it fails with.
    pub faults: BTreeMap<String, String>,
}

impl Model {
    pub(crate) fn new(name: &str) -> Model {
        Model {
            name: name.to_string(),
            uuid: model_uuid(name),
            next_app_index: 1,
            next_action_id: 1,
            ..Model::default()
        }
    }

    pub(crate) fn app(&self) -> Result<&Application, ModelError> {
        self.application.as_ref().ok_or(ModelError::NoApplication)
    }

    pub(crate) fn app_mut(&mut self) -> Result<&mut Application, ModelError> {
        self.application.as_mut().ok_or(ModelError::NoApplication)
    }

    pub(crate) fn app_named(&self, name: &str) -> Result<&Application, ModelError> {
        self.app()
            .ok()
            .filter(|a| a.name == name)
            .ok_or_else(|| ModelError::ApplicationNotFound(name.to_string()))
    }

    /// One of our units.
    pub(crate) fn unit(&self, name: &str) -> Result<&Unit, ModelError> {
        let app = self.app()?;
        split_unit(name)
            .filter(|(a, _)| *a == app.name)
            .and_then(|(_, n)| app.units.get(&n))
            .ok_or_else(|| ModelError::UnitNotFound(name.to_string()))
    }

    pub(crate) fn unit_mut(&mut self, name: &str) -> Result<&mut Unit, ModelError> {
        let app = self.app_mut()?;
        let n = split_unit(name)
            .filter(|(a, _)| *a == app.name)
            .map(|(_, n)| n)
            .ok_or_else(|| ModelError::UnitNotFound(name.to_string()))?;
        app.units
            .get_mut(&n)
            .ok_or_else(|| ModelError::UnitNotFound(name.to_string()))
    }

    pub(crate) fn is_leader(&self, unit: &str) -> bool {
        self.unit(unit).is_ok_and(|u| u.leader)
    }

    /// Whether `unit` (ours) has run its install hook, so that it gets follow-up hooks.
    pub(crate) fn is_installed(&self, unit: &str) -> bool {
        self.unit(unit).is_ok_and(|u| u.installed)
    }

    pub(crate) fn relation(&self, id: u32) -> Result<&Relation, ModelError> {
        self.relations
            .get(&id)
            .ok_or(ModelError::RelationNotFound(id))
    }

    pub(crate) fn relation_mut(&mut self, id: u32) -> Result<&mut Relation, ModelError> {
        self.relations
            .get_mut(&id)
            .ok_or(ModelError::RelationNotFound(id))
    }

    /// The index that picks an application's addresses.
    pub(crate) fn app_index(&self, app: &str) -> Option<u32> {
        match &self.application {
            Some(a) if a.name == app => Some(a.index),
            _ => self.remote_apps.get(app).map(|r| r.index),
        }
    }

    /// A unit's pod IP. Ours are loopback addresses, so a workload can listen on them:
    /// 127.0.0.(1+n) in a live model (unit 0 is `localhost`, which Prometheus's self-scrape
    /// job names); elsewhere a 127.a.b.0/24 of the model's own, where nothing listens, so
    /// a charm's HTTP calls are refused at once. Live peers listen on 127.0.0.1; other
    /// remote units keep cluster-like addresses nothing reaches.
    pub(crate) fn unit_address(&self, unit: &str) -> Option<String> {
        let (app, n) = split_unit(unit)?;
        let host = 1 + n % 254;
        match (&self.application, self.remote_apps.get(app)) {
            (Some(a), _) if a.name == app => Some(if self.live {
                format!("127.0.0.{host}")
            } else {
                let (a, b) = uuid_octets(&self.uuid);
                format!("127.{a}.{b}.{host}")
            }),
            (_, Some(r)) if r.live => Some(LIVE_PEER_HOST.to_string()),
            (_, Some(r)) => Some(format!("10.1.{}.{}", r.index % 250, 10 + n % 240)),
            _ => None,
        }
    }

    /// The cluster IP an application's Kubernetes Service has (or will have), whether or
    /// not the Service exists yet; stable per application (it follows the application's
    /// index). Loopback space on purpose: a charm that wrongly connects to a Service
    /// address is refused at once instead of sending traffic to a private range. Nothing
    /// listens on 127.152.183.0/24.
    pub(crate) fn cluster_ip(&self, app: &str) -> Option<String> {
        self.app_index(app).map(|i| service_ip(10 + i % 240))
    }

    /// An application's Kubernetes Service address, once the Service exists. Juju creates
    /// ours when it first applies a pod spec (so not before the leader's `pod-spec-set`
    /// has committed); the other side's applications are deployed and running already.
    pub(crate) fn service_address(&self, app: &str) -> Option<String> {
        match &self.application {
            // A sidecar application's StatefulSet and Service exist from deploy.
            Some(a) if a.name == app && a.pod_spec.is_none() && !a.sidecar() => None,
            _ => self.cluster_ip(app),
        }
    }

    /// The pod address of one of our units, once its pod exists: the StatefulSet's pods
    /// are made from the first pod spec Juju applies, and a unit added later gets its pod
    /// as it is provisioned. Before that Juju knows no address for the unit at all. A
    /// sidecar unit's hooks run in its pod, which therefore exists for every hook.
    pub(crate) fn pod_address(&self, unit: &str) -> Option<String> {
        let app = self.app().ok()?;
        let ours = split_unit(unit).is_some_and(|(a, _)| a == app.name);
        if !ours || (app.pod_spec.is_none() && !app.sidecar()) {
            return None;
        }
        self.unit_address(unit)
    }

    /// `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local`.
    pub(crate) fn unit_fqdn(&self, unit: &str) -> String {
        let (app, n) = split_unit(unit).unwrap_or((unit, 0));
        format!(
            "{app}-{n}.{app}-endpoints.{}.svc.{CLUSTER_DOMAIN}",
            self.name
        )
    }

    /// The keys Juju itself puts in a unit's databag (apiserver uniter `EnterScope` and
    /// `updateUnitNetworkInfo`): `private-address` and `ingress-address` are both the first
    /// ingress address, which on Kubernetes is the application's Service address (the pod
    /// IP is machine-local scoped and never an ingress address); `egress-subnets` is its
    /// /32. With no ingress address (our Service does not exist yet) the keys are absent.
    /// A live peer is the exception: juju-sim runs it as one local process with no
    /// Service in front of it, so its own address is the only one that reaches it.
    pub(crate) fn juju_unit_keys(&self, unit: &str) -> Databag {
        let (app, _) = split_unit(unit).unwrap_or((unit, 0));
        let ingress = if self.remote_apps.get(app).is_some_and(|r| r.live) {
            self.unit_address(unit)
        } else {
            self.service_address(app)
        };
        let Some(ingress) = ingress.filter(|a| !a.is_empty()) else {
            return Databag::new();
        };
        BTreeMap::from([
            ("private-address".to_string(), ingress.clone()),
            ("egress-subnets".to_string(), format!("{ingress}/32")),
            ("ingress-address".to_string(), ingress),
        ])
    }

    /// Brings our unit's Juju keys in every relation it is in up to date, as Juju does
    /// when a `config-changed` hook commits (`UpdateNetworkInfo`); keys with no address
    /// are removed. Returns the ids of the relations whose bag changed.
    pub(crate) fn refresh_juju_unit_keys(&mut self, unit: &str) -> Vec<u32> {
        let keys = self.juju_unit_keys(unit);
        let mut changed = Vec::new();
        for r in self.relations.values_mut() {
            if !r.views.contains_key(unit) {
                continue;
            }
            let bag = r.unit_data.entry(unit.to_string()).or_default();
            let before = bag.clone();
            for k in JUJU_UNIT_KEYS {
                match keys.get(k) {
                    Some(v) => bag.insert(k.to_string(), v.clone()),
                    None => bag.remove(k),
                };
            }
            if *bag != before {
                changed.push(r.id);
            }
        }
        changed
    }

    /// The relations with the remote application `app` that are not being removed, by id.
    pub(crate) fn relations_with(&self, app: &str) -> Vec<u32> {
        self.relations
            .values()
            .filter(|r| !r.dying && r.remote.app == app)
            .map(|r| r.id)
            .collect()
    }

    /// The other side's units as our `unit` would see them in relation `r`: its peers
    /// in a peer relation, else the remote application's units.
    pub(crate) fn remote_units(&self, r: &Relation, unit: &str) -> Vec<String> {
        if r.is_peer() {
            return self
                .app()
                .map(Application::unit_names)
                .unwrap_or_default()
                .into_iter()
                .filter(|u| u != unit)
                .collect();
        }
        self.remote_apps
            .get(&r.remote.app)
            .map(RemoteApp::unit_names)
            .unwrap_or_default()
    }

    /// Relations of `unit` (ours) that it has entered, by id.
    pub(crate) fn unit_relations(&self, unit: &str) -> Vec<&Relation> {
        self.relations
            .values()
            .filter(|r| r.views.contains_key(unit))
            .collect()
    }
}

/// The application's StatefulSet as the simulated cluster holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct StatefulSet {
    /// The pod template in force; `None` until a spec has been applied.
    pub template: Option<crate::kubernetes::template::PodTemplate>,
    /// 1 for the first template, one more for every change of it.
    pub revision: u32,
    /// Template changes that rolled the application's pods.
    pub rolls: u32,
    /// Pods restarted by those rolls, summed.
    pub rolled_pods: u32,
    /// What the last template change touched (`containers`, `volumes`, ...).
    pub last_change: Vec<String>,
    /// The spec the pods run: its template and its ConfigMaps' contents. A spec whose apply
    /// failed never gets here (simplified: Juju may have updated some ConfigMaps before
    /// the object that failed).
    pub applied: Option<StoredPodSpec>,
    /// The API server's words when the last apply failed.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_stable_and_shaped() {
        let u = model_uuid("lma");
        assert_eq!(u, model_uuid("lma"));
        assert_ne!(u, model_uuid("cos"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn unit_addresses_are_loopback_and_live_ones_start_at_localhost() {
        let mut m = Model::new("lma");
        m.application = Some(Application {
            name: "prometheus".into(),
            index: 1,
            ..Application::default()
        });
        let (a, b) = uuid_octets(&m.uuid);
        assert!((1..=254).contains(&a) && (1..=254).contains(&b));
        assert_eq!(
            m.unit_address("prometheus/2"),
            Some(format!("127.{a}.{b}.3"))
        );
        assert_ne!(uuid_octets(&model_uuid("cos")), (a, b));
        m.live = true;
        assert_eq!(m.unit_address("prometheus/0").as_deref(), Some("127.0.0.1"));
        assert_eq!(m.unit_address("prometheus/1").as_deref(), Some("127.0.0.2"));
        assert_eq!(m.unit_address("grafana/0"), None);
    }

    #[test]
    fn unit_names() {
        assert_eq!(split_unit("prometheus/12"), Some(("prometheus", 12)));
        assert_eq!(split_unit("prometheus"), None);
        assert_eq!(unit_tag("prometheus/0"), "unit-prometheus-0");
    }
}
