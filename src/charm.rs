//! The shell: every hook runs the same reconcile. [`observe`] reads everything through the
//! hook tools, [`plan`] decides (pure), [`apply`] writes only what changed.

use std::collections::{BTreeMap, BTreeSet};

use juju::{
    Hook, HookContext, HookTools, RelationData, RelationHookKind, RelationId, StatusScope,
    ToolError,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{CharmConfig, ConfigError};
use crate::error::CharmError;
use crate::image::{self, ImageDetails, ImageError};
use crate::incremental::{self, Outcome};
use crate::k8s_names;
use crate::pebble_layer;
use crate::pod_spec::{self, ConfigFiles, PodSpecInput};
use crate::prometheus::api::{PrometheusApi, Target};
use crate::prometheus::render::{self, Rendered};
use crate::relations::{
    self, LocalIdentity, Memo, MemoPart, Publish, RelationSnapshot, RelationsInput,
    METRICS_ENDPOINT,
};
use crate::sidecar::{self, PebbleError};
use crate::status::{self, StatusInput, Statuses};
use crate::workload;
use crate::yaml::YamlError;
use pebble::Layer;

pub mod cache;

#[cfg(test)]
pub(crate) mod fake;

/// The fingerprint of the last spec given to `pod-spec-set`. The leader keeps it in the
/// peer relation's application bag, where the next leader finds it, and in its unit state
/// for the hooks before the peer relation exists; both are committed with the hook, like the
/// spec, so they never disagree with it.
pub const POD_SPEC_FINGERPRINT: &str = "pod-spec-fingerprint";

/// The unit state key that marks a unit Juju is removing: from the first hook that shows it
/// departing, it changes nothing that belongs to the whole application.
pub const UNIT_LEAVING: &str = "unit-leaving";

/// Our peer relation (metadata.yaml).
pub(crate) const PEERS: &str = "prometheus-peers";

/// Kubernetes' default cluster DNS domain, when the pod's resolv.conf does not tell.
const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Where Kubernetes writes the pod's DNS search list.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The binding asked for our address (any endpoint gives the pod's address on Kubernetes).
const ADDRESS_BINDING: &str = PEERS;

/// The metadata.yaml shipped with this binary: the endpoints to observe.
const METADATA: &str = include_str!("../metadata.yaml");

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    containers: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    provides: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    requires: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    peers: BTreeMap<String, serde::de::IgnoredAny>,
}

/// Every endpoint in metadata.yaml, sorted.
pub fn endpoints() -> Result<Vec<String>, CharmError> {
    let meta: Metadata = crate::yaml::from_str(METADATA).map_err(CharmError::Metadata)?;
    let mut names: Vec<String> = meta
        .provides
        .into_keys()
        .chain(meta.requires.into_keys())
        .chain(meta.peers.into_keys())
        .collect();
    names.sort();
    Ok(names)
}

/// Which charm the binary is packed as. The same binary is both; the metadata.yaml beside
/// it tells (Juju runs a charm whose metadata has `containers` in the sidecar model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharmKind {
    /// Juju 2.9–3.6: the leader hands Juju a pod spec.
    PodSpec,
    /// Juju ≥ 3.1: each unit drives its workload container through Pebble.
    Sidecar,
}

/// The kind of charm a metadata.yaml describes.
pub fn charm_kind(metadata: &str) -> Result<CharmKind, CharmError> {
    let meta: Metadata = crate::yaml::from_str(metadata).map_err(CharmError::Metadata)?;
    Ok(if meta.containers.is_empty() {
        CharmKind::PodSpec
    } else {
        CharmKind::Sidecar
    })
}

/// How this hook reaches the workload: through Juju (the pod spec) or through Pebble.
#[derive(Clone, Copy)]
pub enum Workload<'a> {
    PodSpec,
    Sidecar(&'a dyn sidecar::Container),
}

impl Workload<'_> {
    pub fn kind(&self) -> CharmKind {
        match self {
            Workload::PodSpec => CharmKind::PodSpec,
            Workload::Sidecar(_) => CharmKind::Sidecar,
        }
    }
}

/// Everything this hook can see.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub unit: String,
    pub app: String,
    pub model: String,
    pub model_uuid: String,
    pub config: Map<String, Value>,
    pub leader: bool,
    pub kind: CharmKind,
    /// The pod spec's image; the sidecar charm's container image is Juju's to run (`None`).
    pub image: Option<Result<ImageDetails, ImageError>>,
    /// The pod's address; unknown before the workload pod exists.
    pub address: Option<String>,
    pub state: BTreeMap<String, String>,
    /// Endpoint → its relations, without the one going away in this hook.
    pub relations: BTreeMap<String, Vec<RelationSnapshot>>,
    /// The relation this hook is about, if any: `juju-log` already names it in every line.
    pub hook_relation: Option<RelationId>,
    /// The cluster's DNS domain (`cluster.local` unless the cluster says otherwise).
    pub cluster_domain: String,
    /// Juju is removing this unit (it departs as `JUJU_DEPARTING_UNIT`, runs `stop` or
    /// `remove`, or did so in an earlier hook). A leaving leader is still leader, but what
    /// it sees no longer describes the application.
    pub leaving: bool,
    /// What earlier hooks computed of each scrape-target relation (from the cache; empty
    /// after a full read): the plan reuses a relation's part while its data is unchanged.
    pub memo: Memo,
}

impl Observed {
    /// Our peer relation, once Juju has created it.
    fn peers(&self) -> Option<&RelationSnapshot> {
        self.relations.get(PEERS).and_then(|peers| peers.first())
    }

    /// The fingerprint of the spec Juju holds, as the last leader recorded it.
    pub fn last_spec_fingerprint(&self) -> Option<&String> {
        self.peers()
            .and_then(|peers| peers.local_app_data.get(POD_SPEC_FINGERPRINT))
            .filter(|f| !f.is_empty())
            .or_else(|| self.state.get(POD_SPEC_FINGERPRINT))
    }

    /// Whether this hook may change what belongs to the application: the pod spec and the
    /// application databags.
    pub fn acts_for_app(&self) -> bool {
        self.leader && !self.leaving
    }
}

/// The spec to hand to `pod-spec-set`, and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSpec {
    /// JSON (which Juju reads as the YAML it asks for).
    pub text: String,
    pub fingerprint: String,
}

/// prometheus.yml as rendered (with the rules marker and the warnings), and the files as
/// the pod mounts them: one value, so there is never one without the other. The rules and
/// target files are only in `files` (the rendering's typed copies, megabytes at ten
/// thousand targets, are dropped once written: `without_files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub rendered: Rendered,
    pub files: ConfigFiles,
}

/// What this hook should make true.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `None` while the options or the image are unusable: the last good spec stays.
    pub pod_spec: Option<PlannedSpec>,
    /// What Prometheus is to read; `None` while the options are invalid.
    pub rendering: Option<Rendering>,
    /// Sidecar charm: the Pebble layer, `None` while the files cannot be applied.
    pub layer: Option<Layer>,
    /// Sidecar charm with `monitor-k8s`: the application that `juju trust` must be given
    /// if the cluster refuses Prometheus's discovery (asked of Prometheus after apply).
    pub discovery_needs_trust: Option<String>,
    /// This unit's Prometheus: the pod's address and the `port` option (`None` while either
    /// is unknown).
    pub target: Option<Target>,
    pub publish: Vec<Publish>,
    pub statuses: Statuses,
    pub config_errors: Vec<ConfigError>,
    /// Relation data refused and contributions left out, for the log.
    pub warnings: Vec<String>,
    /// What this plan computed of each scrape-target relation, for the cache.
    pub memo: Memo,
    /// The relations' rendering to keep for the next hook.
    pub outcome: KeptOutcome,
}

/// What a plan does to the kept rendering of the relations.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptOutcome {
    /// The one kept still holds.
    Same,
    /// A new one, as its cache file (`cache::encode_outcome`).
    New { name: String, text: String },
    /// The relations were not rendered (invalid options): nothing to keep.
    Dropped,
}

/// Reads the options, leadership, the image, our address, our state and every relation.
pub fn observe<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    kind: CharmKind,
) -> Result<Observed, CharmError> {
    Ok(observe_hook(tools, ctx, hook, None, kind)?.0)
}

/// How a hook learned about the relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationsRead {
    /// Every relation read through the hook tools.
    Full,
    /// The cache, with only this hook's relation read (see `cache`); whether that changed
    /// anything.
    Cached { changed: bool },
}

/// `stop` and `remove`: the pod is going away, so nothing is applied to it or checked.
fn going_away(hook: Option<&Hook>) -> bool {
    matches!(hook, Some(Hook::Stop | Hook::Remove))
}

/// Hooks that always read every relation: the model may have changed in ways no relation
/// hook told this unit about (a new charm, a new leader, a first hook).
fn reads_everything(hook: Option<&Hook>) -> bool {
    matches!(
        hook,
        None | Some(Hook::Install | Hook::UpgradeCharm | Hook::LeaderElected | Hook::Action(_))
    )
}

/// As [`observe`], but the relations come from the cache in unit state when `marker` (the
/// marker file's content before this hook) says it can be trusted, with only this hook's
/// relation read; otherwise from a full read.
pub fn observe_hook<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    marker: Option<&str>,
    kind: CharmKind,
) -> Result<(Observed, RelationsRead), CharmError> {
    let basics = observe_basics(tools, ctx, hook, kind, None)?;
    let mut seen = observe_relations(tools, ctx, hook, marker, basics)?;
    seen.complete(ctx)?;
    Ok((seen.observed, seen.read))
}

/// What a hook sees apart from the relations.
#[derive(Debug, Clone, PartialEq)]
pub struct Basics {
    config: Map<String, Value>,
    leader: bool,
    kind: CharmKind,
    image: Option<Result<ImageDetails, ImageError>>,
    address: Option<String>,
    state: BTreeMap<String, String>,
    leaving: bool,
    cluster_domain: String,
}

impl Basics {
    /// A fingerprint of everything here a plan depends on (not unit state: what a plan
    /// reads of it, the spec's fingerprint and the leaving mark, the last hook wrote).
    fn inputs(&self) -> String {
        let text = format!(
            "{}\n{:?}\n{:?}\n{:?}\n{}\n{}\n{}",
            Value::Object(self.config.clone()),
            self.kind,
            self.image,
            self.address,
            self.leader,
            self.leaving,
            self.cluster_domain
        );
        crate::syntax::fingerprint::hex(&text)
    }
}

/// Leadership and unit state as a hook read them before deciding to observe the rest.
pub type LeaderAndState = (bool, BTreeMap<String, String>);

/// Options, leadership, the image, our address and unit state; leadership and state are
/// not asked again when `known` already holds them.
pub fn observe_basics<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    kind: CharmKind,
    known: Option<LeaderAndState>,
) -> Result<Basics, CharmError> {
    let config = tools.config_get()?;
    let (leader, state) = match known {
        Some(known) => known,
        None => (tools.is_leader()?, tools.state_get()?),
    };
    let image = match kind {
        CharmKind::PodSpec => Some(observe_image(tools, &ctx.app_name)?),
        CharmKind::Sidecar => None,
    };
    let address = observe_address(tools)?;
    let leaving = ctx.departing_unit.as_deref() == Some(ctx.unit_name.as_str())
        || going_away(hook)
        || state.get(UNIT_LEAVING).is_some_and(|v| v == "true");
    Ok(Basics {
        config,
        leader,
        kind,
        image,
        address,
        state,
        leaving,
        cluster_domain: std::fs::read_to_string(RESOLV_CONF)
            .ok()
            .and_then(|text| cluster_domain(&text))
            .unwrap_or_else(|| DEFAULT_CLUSTER_DOMAIN.to_string()),
    })
}

/// What the cache kept of the last hook's rendering of the relations, when this hook read
/// only the relations it needs: every relation of the other endpoints and its own; the
/// scrape-target relations it did not read are in the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub outcome: Outcome,
    /// The scrape-target relation whose data this hook changed, if any.
    pub changed: Option<RelationId>,
}

/// What a hook observed, and how: the cache's index it read (if trusted), and the kept
/// rendering while the scrape-target relations are not all read.
pub struct Seen {
    pub observed: Observed,
    pub read: RelationsRead,
    pub index: Option<cache::Index>,
    pub kept: Option<Kept>,
    /// Not every scrape-target relation was read.
    pub partial: bool,
}

impl Seen {
    /// Reads the scrape-target relations this hook left unread (from the cache, else from
    /// the hook tools), for a plan of every relation.
    pub fn complete(&mut self, ctx: &HookContext) -> Result<(), CharmError> {
        self.kept = None;
        if !self.partial {
            return Ok(());
        }
        let have: BTreeSet<RelationId> = self
            .observed
            .relations
            .values()
            .flatten()
            .filter_map(|s| s.id.clone())
            .collect();
        let gone = ctx.relation.as_ref().filter(|id| !have.contains(*id));
        let index = self.index.as_ref();
        let rest = index.and_then(|index| {
            load_relations(&ctx.charm_dir, index, |id| {
                !have.contains(id) && Some(id) != gone
            })
        });
        let Some((rest, parts)) = rest else {
            return Err(CharmError::CacheIncomplete);
        };
        let mut all: cache::Relations = std::mem::take(&mut self.observed.relations)
            .into_values()
            .flatten()
            .filter_map(|s| s.id.clone().map(|id| (id, s)))
            .collect();
        all.extend(rest);
        self.observed.relations = by_endpoint(&endpoints()?, all);
        self.observed.memo.extend(parts);
        self.partial = false;
        Ok(())
    }
}

/// The relations, from the cache when `marker` says it can be trusted (with only this hook's
/// relation read, and only the relations the plan needs when the cache holds the last
/// rendering), else from a full read; with `basics`, everything the hook sees.
pub fn observe_relations<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    marker: Option<&str>,
    basics: Basics,
) -> Result<Seen, CharmError> {
    let Basics {
        config,
        leader,
        kind,
        image,
        address,
        state,
        leaving,
        cluster_domain,
    } = basics;
    let endpoints = endpoints()?;
    let index = if reads_everything(hook) {
        None
    } else {
        cache::trusted(&state, marker, leader).and_then(|token| load_index(&ctx.charm_dir, &token))
    };
    let mut memo = Memo::default();
    let mut kept = None;
    let loaded = index.as_ref().and_then(|index| {
        // With the last rendering kept, the scrape-target relations this hook is not about
        // stay on disk.
        let outcome = index
            .outcome
            .as_ref()
            .and_then(|name| load_outcome(&ctx.charm_dir, name));
        let partial = outcome.is_some();
        let needed = |id: &RelationId| {
            !partial || id.endpoint != METRICS_ENDPOINT || Some(id) == ctx.relation.as_ref()
        };
        let (relations, parts) = load_relations(&ctx.charm_dir, index, needed)?;
        Some((relations, parts, outcome))
    });
    let (all, read) = match loaded {
        Some((relations, parts, outcome)) => {
            memo = Memo::new(
                index.as_ref().map(|i| i.local.clone()).unwrap_or_default(),
                parts,
            );
            let before = ctx
                .relation
                .as_ref()
                .and_then(|id| relations.get(id).cloned());
            let all = observe_changed_relation(tools, ctx, hook, leader, relations)?;
            let changed_id = ctx
                .relation
                .as_ref()
                .filter(|id| all.get(*id) != before.as_ref());
            kept = outcome.map(|outcome| Kept {
                outcome,
                changed: changed_id.cloned(),
            });
            (
                all,
                RelationsRead::Cached {
                    changed: changed_id.is_some(),
                },
            )
        }
        None => {
            let mut all = cache::Relations::new();
            for endpoint in &endpoints {
                for id in tools.relation_ids(endpoint)? {
                    if let Some(snapshot) = observe_relation(tools, ctx, hook, leader, &id)? {
                        all.insert(id, snapshot);
                    }
                }
            }
            (all, RelationsRead::Full)
        }
    };
    let relations = by_endpoint(&endpoints, all);
    let observed = Observed {
        unit: ctx.unit_name.clone(),
        app: ctx.app_name.clone(),
        model: ctx.model_name.clone(),
        model_uuid: ctx.model_uuid.clone(),
        config,
        leader,
        kind,
        image,
        address,
        hook_relation: ctx.relation.clone(),
        cluster_domain,
        leaving,
        state,
        relations,
        memo,
    };
    let seen = Seen {
        observed,
        read,
        index,
        partial: kept.is_some(),
        kept,
    };
    Ok(seen)
}

/// Reads a file of the cache; `None` (one full read) when it is missing.
fn read_cache_file(charm_dir: &std::path::Path, name: &str) -> Option<String> {
    let path = charm_dir.join(cache::DIR).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::debug!("relations cache: {}: {e}", path.display());
            None
        }
    }
}

/// The index `token` names; `None` when it is missing or damaged.
fn load_index(charm_dir: &std::path::Path, token: &cache::Token) -> Option<cache::Index> {
    let index = cache::decode_index(&read_cache_file(charm_dir, &token.file_name())?, token);
    if index.is_none() {
        tracing::debug!("relations cache index {} unreadable", token.file_name());
    }
    index
}

/// The kept rendering of the relations; `None` when missing or damaged.
fn load_outcome(charm_dir: &std::path::Path, name: &str) -> Option<Outcome> {
    let outcome = cache::decode_outcome(name, &read_cache_file(charm_dir, name)?);
    if outcome.is_none() {
        tracing::debug!("relations cache {name} unreadable");
    }
    outcome
}

/// The relations of `index` that `needed` selects, with their parts; `None` when any
/// file is missing or damaged.
fn load_relations(
    charm_dir: &std::path::Path,
    index: &cache::Index,
    needed: impl Fn(&RelationId) -> bool,
) -> Option<(cache::Relations, Vec<MemoPart>)> {
    let mut relations = cache::Relations::new();
    let mut parts = Vec::new();
    for (id, name) in index.relations.iter().filter(|(id, _)| needed(id)) {
        let text = read_cache_file(charm_dir, name)?;
        let Some((snapshot, part)) = cache::decode_relation(name, &text) else {
            tracing::debug!("relations cache {name} unreadable");
            return None;
        };
        relations.insert(id.clone(), snapshot);
        parts.extend(part);
    }
    Some((relations, parts))
}

/// Writes `files` (each to a temporary name, then renamed: a file of that name is whole)
/// and generation `token`'s index, then removes every file that neither this index nor the
/// committed one (`keep`: which a hook whose state-set is not committed still needs) names.
fn store(
    charm_dir: &std::path::Path,
    files: &[(String, String)],
    token: &cache::Token,
    index_text: &str,
    keep: &BTreeSet<String>,
) -> std::io::Result<()> {
    let dir = charm_dir.join(cache::DIR);
    std::fs::create_dir_all(&dir)?;
    let index_name = token.file_name();
    for (name, text) in files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .chain(std::iter::once((index_name.as_str(), index_text)))
    {
        if dir.join(name).exists() {
            continue;
        }
        let temporary = dir.join(format!(".{name}.new"));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, dir.join(name))?;
    }
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file != index_name && !keep.contains(&file) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Every endpoint → its relations, in the order `relation-ids` lists them (as text).
fn by_endpoint(
    endpoints: &[String],
    all: cache::Relations,
) -> BTreeMap<String, Vec<RelationSnapshot>> {
    let mut relations: BTreeMap<String, Vec<RelationSnapshot>> =
        endpoints.iter().map(|e| (e.clone(), Vec::new())).collect();
    for (id, snapshot) in all {
        if let Some(list) = relations.get_mut(&id.endpoint) {
            list.push(snapshot);
        }
    }
    for list in relations.values_mut() {
        list.sort_by_key(|s| s.id.as_ref().map(std::string::ToString::to_string));
    }
    relations
}

/// The cached relations brought up to date with what this hook is about: a relation hook
/// reads its own relation's changed bags (or the whole relation when new to the cache);
/// `-broken` and our own departure drop it; any other hook reads nothing.
fn observe_changed_relation<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    leader: bool,
    mut cached: cache::Relations,
) -> Result<cache::Relations, CharmError> {
    let (Some(Hook::Relation { kind, .. }), Some(id)) = (hook, &ctx.relation) else {
        return Ok(cached);
    };
    let we_depart = ctx.departing_unit.as_deref() == Some(ctx.unit_name.as_str());
    if *kind == RelationHookKind::Broken || we_depart {
        cached.remove(id);
        return Ok(cached);
    }
    let known = cached.contains_key(id);
    let entry = match cached.get_mut(id) {
        Some(entry) if *kind != RelationHookKind::Created => entry,
        _ => {
            match observe_relation(tools, ctx, hook, leader, id)? {
                Some(snapshot) => cached.insert(id.clone(), snapshot),
                None => cached.remove(id),
            };
            tracing::debug!("relation {id} read whole (known before: {known})");
            return Ok(cached);
        }
    };
    if *kind == RelationHookKind::Departed {
        if let Some(unit) = &ctx.departing_unit {
            entry.remote_units.remove(unit);
        }
        return Ok(cached);
    }
    if let Some(unit) = ctx.remote_unit.as_ref().filter(|u| !u.is_empty()) {
        let data = tools.relation_get_unit(id, unit)?;
        entry.remote_units.insert(unit.clone(), data);
    }
    if let Some(app) = entry.remote_app.clone() {
        let data = tools.relation_get_app(id, &app)?;
        if app == ctx.app_name && leader {
            // A peer relation has one application bag, ours.
            entry.local_app_data = data.clone();
        }
        entry.remote_app_data = data;
    }
    Ok(cached)
}

/// A resource Juju cannot give us is the operator's to fix, not a reason to fail the hook.
fn observe_image<T: HookTools + ?Sized>(
    tools: &T,
    app: &str,
) -> Result<Result<ImageDetails, ImageError>, CharmError> {
    let path = match tools.resource_get(image::RESOURCE) {
        Ok(path) => path,
        Err(e @ ToolError::Failed { .. }) => {
            tracing::warn!(
                "resource-get {}: {}",
                image::RESOURCE,
                e.message().unwrap_or("")
            );
            return Ok(Err(ImageError::Missing(format!(
                "attach an OCI image with `juju attach-resource {app} {}=<image>`",
                image::RESOURCE
            ))));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match std::fs::read_to_string(&path) {
        Ok(text) => image::parse(&text),
        Err(e) => Err(ImageError::Invalid(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    })
}

/// Before the workload pod exists Juju may have no address for it; the leader must still
/// set the spec that creates the pod, so an unknown address is not an error.
fn observe_address<T: HookTools + ?Sized>(tools: &T) -> Result<Option<String>, CharmError> {
    match tools.network_get(ADDRESS_BINDING, None) {
        Ok(info) => Ok(info.bind_address().map(str::to_string)),
        Err(e @ ToolError::Failed { .. }) => {
            tracing::warn!("no address yet: {}", e.message().unwrap_or(""));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn observe_relation<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    leader: bool,
    id: &RelationId,
) -> Result<Option<RelationSnapshot>, CharmError> {
    let this_hooks = ctx.relation.as_ref() == Some(id);
    if this_hooks {
        let broken = matches!(
            hook,
            Some(Hook::Relation {
                kind: RelationHookKind::Broken,
                ..
            })
        );
        // When we are the unit leaving, the relation is over for us too.
        let we_depart = ctx.departing_unit.as_deref() == Some(ctx.unit_name.as_str());
        if broken || we_depart {
            return Ok(None);
        }
    }
    let departing = if this_hooks {
        ctx.departing_unit.as_deref()
    } else {
        None
    };
    let units: Vec<String> = tools
        .relation_list(id)?
        .into_iter()
        .filter(|u| Some(u.as_str()) != departing)
        .collect();
    let remote_app = match tools.relation_remote_app(id) {
        Ok(app) => app,
        // `relation-list --app` needs Juju 2.8.1; older agents refuse the flag (exit 2).
        Err(ToolError::Failed { code: Some(2), .. }) => None,
        Err(e) => return Err(e.into()),
    }
    .or_else(|| ctx.remote_app.clone().filter(|_| this_hooks))
    .or_else(|| units.first().and_then(|u| juju::application_of(u)));
    let remote_app_data = match &remote_app {
        Some(app) => tools.relation_get_app(id, app)?,
        None => RelationData::new(),
    };
    let mut remote_units = BTreeMap::new();
    for unit in units {
        let data = tools.relation_get_unit(id, &unit)?;
        remote_units.insert(unit, data);
    }
    let local_unit_data = if relations::UNIT_BAG_ENDPOINTS.contains(&id.endpoint.as_str()) {
        tools.relation_get_unit(id, &ctx.unit_name)?
    } else {
        RelationData::new()
    };
    let local_app_data = if !leader {
        RelationData::new()
    } else if remote_app.as_deref() == Some(ctx.app_name.as_str()) {
        // A peer relation has one application bag: it was just read as the remote one.
        remote_app_data.clone()
    } else {
        tools.relation_get_app(id, &ctx.app_name)?
    };
    Ok(Some(RelationSnapshot {
        id: Some(id.clone()),
        remote_app,
        remote_app_data,
        remote_units,
        local_app_data,
        local_unit_data,
    }))
}

/// `prometheus-0.prometheus-endpoints.<model>.svc.<domain>`: the stable name Juju's
/// headless service gives each unit's pod (the model is the namespace).
pub fn unit_fqdn(unit: &str, model: &str, domain: &str) -> String {
    let (app, number) = match juju::UnitName::parse(unit) {
        Some(u) => (u.app().to_string(), u.number()),
        None => (unit.to_string(), 0),
    };
    format!("{app}-{number}.{app}-endpoints.{model}.svc.{domain}")
}

/// `prometheus.<model>.svc.<domain>`: the application's Kubernetes Service, which Juju
/// names after the application in the model's namespace.
pub fn app_fqdn(app: &str, model: &str, domain: &str) -> String {
    format!("{app}.{model}.svc.{domain}")
}

/// The cluster's DNS domain from a pod's resolv.conf: Kubernetes puts
/// `<namespace>.svc.<domain> svc.<domain> <domain>` in every pod's search list, and the
/// operator pod running the hooks lives in the model's namespace like the workload.
pub fn cluster_domain(resolv_conf: &str) -> Option<String> {
    resolv_conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("search"))
        .flat_map(str::split_whitespace)
        .find_map(|entry| entry.trim_end_matches('.').strip_prefix("svc."))
        .filter(|domain| {
            !domain.is_empty()
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .map(str::to_ascii_lowercase)
}

/// What the relations' jobs, targets and rules may add to each file set: the ConfigMap's
/// budget less what the options alone render, less a reserve (for Alertmanagers and
/// remote-write targets in prometheus.yml, small and not measured one relation at a time;
/// for a job whose name was made unique landing in another target volume than measured).
fn relations_budget(config: &CharmConfig) -> Result<relations::Budget, CharmError> {
    const RESERVE: usize = 50_000;
    let base = config_files(&render::render(
        config,
        &relations::RelationsPlan::default(),
    ))?;
    let empty_shard = pod_spec::ConfigFiles::default()
        .file_sets()
        .get(1)
        .map_or(0, charm_core::pod_spec::FileSetText::size);
    Ok(relations::Budget {
        config: pod_spec::CONFIG_FILES_BUDGET.saturating_sub(base.size() + RESERVE),
        shard: pod_spec::CONFIG_FILES_BUDGET.saturating_sub(empty_shard + RESERVE),
    })
}

/// Decides everything from what was observed, every relation read. Pure.
pub fn plan(observed: &Observed) -> Result<Plan, CharmError> {
    plan_kept(observed, None)?.ok_or(CharmError::CacheIncomplete)
}

/// As [`plan`], patching the `kept` rendering when the hook read only some relations;
/// `None` when it cannot be patched and every relation must be read. Pure.
pub fn plan_kept(observed: &Observed, kept: Option<Kept>) -> Result<Option<Plan>, CharmError> {
    match CharmConfig::parse(&observed.config) {
        Ok(config) => configured(observed, &config, kept),
        Err(config_errors) => Ok(Some(unconfigured(observed, config_errors))),
    }
}

/// Invalid options: nothing is rendered or applied; the status names each option.
fn unconfigured(observed: &Observed, config_errors: Vec<ConfigError>) -> Plan {
    let statuses = status::decide(StatusInput {
        leader: observed.leader,
        config_errors: &config_errors,
        image_error: image_error(observed),
        unappliable: None,
        relation_warnings: &[],
        render_warnings: &[],
    });
    Plan {
        pod_spec: None,
        rendering: None,
        layer: None,
        discovery_needs_trust: None,
        target: None,
        publish: Vec::new(),
        statuses,
        config_errors,
        warnings: Vec::new(),
        memo: observed.memo.clone(),
        outcome: KeptOutcome::Dropped,
    }
}

/// Valid options: the relations' plan, the rendering, the spec, what to publish and say.
fn configured(
    observed: &Observed,
    config: &CharmConfig,
    kept: Option<Kept>,
) -> Result<Option<Plan>, CharmError> {
    let input = relations_input(observed, config)?;
    let complete = kept.is_none();
    let (relations, fresh) = match kept {
        Some(Kept {
            outcome,
            changed: Some(id),
        }) if id.endpoint == METRICS_ENDPOINT => {
            let old = observed.memo.part(&id);
            (
                incremental::patched(&input, outcome, &id, old, config),
                true,
            )
        }
        Some(Kept { outcome, changed }) => {
            // No scrape-target relation changed; another endpoint's may have.
            let fresh = outcome.ledger.budget() != input.budget.as_ref();
            let others_changed = changed.is_some();
            (
                incremental::reused(&input, outcome, others_changed, config),
                fresh,
            )
        }
        None => (None, true),
    };
    let (
        incremental::Relations {
            plan: relations,
            assembled,
            memo,
            ledger,
        },
        fresh,
    ) = match relations {
        Some(r) => (r, fresh),
        None if complete => (incremental::full(&input, &observed.memo, config), true),
        None => return Ok(None),
    };
    let mut assembled = assembled;
    if assembled.rules_yml.is_none() {
        assembled.rules_yml = Some(crate::yaml::to_string(&assembled.rules)?);
    }
    // Written for the cache here, so that the rendering can take the assembled part
    // instead of a copy of it (megabytes of target files).
    let kept = Outcome::new(ledger, assembled, config);
    let outcome = if fresh {
        let (name, text) = cache::encode_outcome(&kept);
        KeptOutcome::New { name, text }
    } else {
        KeptOutcome::Same
    };
    let mut assembled = kept.into_assembled();
    let rules_yml = assembled.rules_yml.take().unwrap_or_default();
    let rendered = render::render_assembled(config, assembled);
    let files = config_files_with(&rendered, rules_yml)?;
    let rendered = without_files(rendered);
    let (pod_spec, layer, unappliable) = match observed.kind {
        CharmKind::PodSpec => {
            let (spec, why) =
                planned_spec(observed, config, &files, relations.remote_write_receiver)?;
            (spec, None, why)
        }
        CharmKind::Sidecar => match oversized(&files) {
            Some(why) => (None, None, Some(why)),
            None => (
                None,
                Some(pebble_layer::build(
                    config,
                    relations.remote_write_receiver,
                    &pod_name(&observed.unit),
                )),
                None,
            ),
        },
    };
    let statuses = status::decide(StatusInput {
        leader: observed.leader,
        config_errors: &[],
        image_error: image_error(observed),
        unappliable: unappliable.as_deref(),
        relation_warnings: &relations.warnings,
        render_warnings: &rendered.warnings,
    });
    let warnings = log_lines(observed, &relations.warnings, &rendered.warnings);
    let publish = with_spec_fingerprint(observed, relations.publish, pod_spec.as_ref());
    Ok(Some(Plan {
        pod_spec,
        rendering: Some(Rendering { rendered, files }),
        discovery_needs_trust: (observed.kind == CharmKind::Sidecar && config.monitor_k8s)
            .then(|| observed.app.clone()),
        layer,
        target: observed
            .address
            .as_ref()
            .map(|address| Target::new(address.clone(), config.port)),
        publish,
        statuses,
        config_errors: Vec::new(),
        warnings,
        memo,
        outcome,
    }))
}

/// Who we are, and every relation as observed, for the relations' plan.
fn relations_input(
    observed: &Observed,
    config: &CharmConfig,
) -> Result<RelationsInput, CharmError> {
    Ok(RelationsInput {
        local: LocalIdentity {
            app: observed.app.clone(),
            unit: observed.unit.clone(),
            model: observed.model.clone(),
            model_uuid: observed.model_uuid.clone(),
            leader: observed.leader,
            unit_address: observed.address.clone().unwrap_or_default(),
            unit_fqdn: unit_fqdn(&observed.unit, &observed.model, &observed.cluster_domain),
            app_fqdn: app_fqdn(&observed.app, &observed.model, &observed.cluster_domain),
            port: config.port,
            scrape_interval: config.scrape_interval.to_string(),
        },
        endpoints: observed.relations.clone(),
        budget: Some(relations_budget(config)?),
    })
}

/// The spec to set, or why none can be (files too large for a ConfigMap, a name Kubernetes
/// would refuse); no spec and no reason while the image is unusable (its own status).
fn planned_spec(
    observed: &Observed,
    config: &CharmConfig,
    files: &ConfigFiles,
    remote_write_receiver: bool,
) -> Result<(Option<PlannedSpec>, Option<String>), CharmError> {
    if let Some(why) = oversized(files) {
        return Ok((None, Some(why)));
    }
    let Some(Ok(image)) = &observed.image else {
        return Ok((None, None));
    };
    let spec = pod_spec::build(PodSpecInput {
        config,
        image,
        files,
        remote_write_receiver,
    });
    if let Some(why) = k8s_names::refusal(&observed.app, &spec) {
        return Ok((None, Some(why)));
    }
    let text = spec.to_text();
    Ok((
        Some(PlannedSpec {
            fingerprint: pod_spec::fingerprint(&text),
            text,
        }),
        None,
    ))
}

/// Why the files cannot be applied: a file set over what a ConfigMap holds. The sidecar
/// charm keeps the same bound, so both charms render the same files for the same model.
fn oversized(files: &ConfigFiles) -> Option<String> {
    files.oversized().map(|(set, size)| {
        format!(
            "the configuration is too large for Kubernetes: file set {set:?} takes {size} \
             bytes, over the {} a ConfigMap holds (relate fewer scrape targets, or have \
             the related charms send fewer jobs or rules)",
            pod_spec::CONFIG_FILES_BUDGET
        )
    })
}

fn image_error(observed: &Observed) -> Option<&ImageError> {
    observed
        .image
        .as_ref()
        .and_then(|image| image.as_ref().err())
}

/// `prometheus/0` → `prometheus-0`: the unit's pod (Kubernetes' `POD_NAME`).
pub fn pod_name(unit: &str) -> String {
    unit.replace('/', "-")
}

/// The WARNING lines for the log. Inside a relation hook, juju-log prefixes every line with
/// that relation already.
fn log_lines(
    observed: &Observed,
    relation_warnings: &[relations::RelationWarning],
    render_warnings: &[String],
) -> Vec<String> {
    relation_warnings
        .iter()
        .map(|w| match &w.relation {
            Some(id) if observed.hook_relation.as_ref() != Some(id) => {
                format!("{id}: {}: {}", w.source, w.message)
            }
            _ => format!("{}: {}", w.source, w.message),
        })
        .chain(render_warnings.iter().cloned())
        .collect()
}

/// The relations' publications, and (leader) the spec's fingerprint where the next leader
/// will look for it: the peer relation's application bag.
fn with_spec_fingerprint(
    observed: &Observed,
    mut publish: Vec<Publish>,
    spec: Option<&PlannedSpec>,
) -> Vec<Publish> {
    let peers = observed.peers().and_then(|p| p.id.clone());
    if let (true, Some(spec), Some(peers)) = (observed.leader, spec, peers) {
        publish.push(relations::Publish {
            relation: peers,
            app: true,
            data: RelationData::from([(
                POD_SPEC_FINGERPRINT.to_string(),
                spec.fingerprint.clone(),
            )]),
        });
    }
    publish
}

/// prometheus.yml, the rule file and the target files as the pod mounts them.
pub fn config_files(rendered: &Rendered) -> Result<ConfigFiles, YamlError> {
    config_files_with(rendered, crate::yaml::to_string(&rendered.rules)?)
}

/// The rendering without what [`config_files`] wrote out as text: the rules and targets.
fn without_files(rendered: Rendered) -> Rendered {
    Rendered {
        rules: crate::prometheus::config::RuleFile::default(),
        targets: crate::prometheus::targets::TargetFiles::default(),
        ..rendered
    }
}

/// As [`config_files`], with the rule file already written (it is kept with the relations'
/// rendering: the same rules every hook).
fn config_files_with(rendered: &Rendered, rules_yml: String) -> Result<ConfigFiles, YamlError> {
    Ok(ConfigFiles {
        prometheus_yml: crate::yaml::to_string(&rendered.config)?,
        rules_yml,
        targets: rendered.targets.to_json(),
    })
}

/// What [`apply`] did, for the log and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub pod_spec_set: bool,
    pub relation_sets: usize,
    /// Unit state to record with the changes (the spec's fingerprint, the leaving mark):
    /// the caller sets it, in its one `state-set` of the hook.
    pub state: BTreeMap<String, String>,
}

/// The keys of `wanted` whose value differs from `current` (an empty value deletes, so it
/// differs only from a present key).
fn changed_keys(current: &RelationData, wanted: &RelationData) -> RelationData {
    wanted
        .iter()
        .filter(|(k, v)| match current.get(*k) {
            Some(now) => now != *v,
            None => !v.is_empty(),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn current_bag<'a>(observed: &'a Observed, publish: &Publish) -> Option<&'a RelationData> {
    observed
        .relations
        .get(&publish.relation.endpoint)?
        .iter()
        .find(|s| s.id.as_ref() == Some(&publish.relation))
        .map(|s| {
            if publish.app {
                &s.local_app_data
            } else {
                &s.local_unit_data
            }
        })
}

/// Writes what changed: the spec (leader, when its fingerprint moved), relation data (only
/// differing keys), then the statuses — last, because status-set is not rolled back if the
/// hook fails.
pub fn apply<T: HookTools + ?Sized>(
    tools: &T,
    observed: &Observed,
    plan: &Plan,
) -> Result<Applied, CharmError> {
    let applied = apply_changes(tools, observed, plan)?;
    if !applied.state.is_empty() {
        tools.state_set(&applied.state)?;
    }
    apply_statuses(tools, observed, &plan.statuses)?;
    Ok(applied)
}

/// The spec and relation data (both committed by Juju only when the hook succeeds).
pub fn apply_changes<T: HookTools + ?Sized>(
    tools: &T,
    observed: &Observed,
    plan: &Plan,
) -> Result<Applied, CharmError> {
    let mut applied = Applied::default();
    for error in &plan.config_errors {
        tracing::warn!("invalid config: {error}");
    }
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    if observed.leaving && !observed.state.contains_key(UNIT_LEAVING) {
        applied
            .state
            .insert(UNIT_LEAVING.to_string(), "true".to_string());
        tracing::info!("this unit is leaving: the application's spec and data stay as they are");
    }
    if let (true, Some(spec)) = (observed.acts_for_app(), &plan.pod_spec) {
        let last = observed.last_spec_fingerprint();
        if last != Some(&spec.fingerprint) {
            tools.pod_spec_set(&spec.text, None)?;
            applied
                .state
                .insert(POD_SPEC_FINGERPRINT.to_string(), spec.fingerprint.clone());
            tracing::debug!("pod spec set (fingerprint {})", spec.fingerprint);
            applied.pod_spec_set = true;
        } else {
            tracing::debug!("pod spec unchanged (fingerprint {})", spec.fingerprint);
        }
    }
    for publish in &plan.publish {
        if publish.app && !observed.acts_for_app() {
            continue;
        }
        let Some(current) = current_bag(observed, publish) else {
            // The relation is going away in this hook (or was never seen): nothing to write.
            continue;
        };
        let changed = changed_keys(current, &publish.data);
        if !changed.is_empty() {
            tools.relation_set(&publish.relation, &changed, publish.app)?;
            applied.relation_sets += 1;
        }
    }
    Ok(applied)
}

/// The unit's status, and the application's on the leader.
pub fn apply_statuses<T: HookTools + ?Sized>(
    tools: &T,
    observed: &Observed,
    statuses: &Statuses,
) -> Result<(), CharmError> {
    tools.status_set(StatusScope::Unit, &statuses.unit)?;
    if let (true, Some(app)) = (observed.leader, &statuses.application) {
        tools.status_set(StatusScope::Application, app)?;
    }
    Ok(())
}

/// Sidecar charm: the rendered files and the layer into the workload container, unless the
/// hook is taking the unit away or nothing can be applied. `Some(Err(state))` when Pebble
/// does not answer yet (the unit waits: `<container>-pebble-ready` comes when it does); a
/// Pebble that answers with an error fails the hook.
fn apply_in_container(
    container: &dyn sidecar::Container,
    hook: Option<&Hook>,
    plan: &Plan,
) -> Result<Option<Result<sidecar::Applied, workload::WorkloadState>>, CharmError> {
    let (Some(Rendering { files, .. }), Some(layer)) = (&plan.rendering, &plan.layer) else {
        return Ok(None);
    };
    if going_away(hook) {
        return Ok(None);
    }
    match sidecar::apply(container, files, layer) {
        Ok(applied) => {
            tracing::debug!(
                "pushed {} file(s){}",
                applied.pushed.len(),
                if applied.replanned { ", replanned" } else { "" }
            );
            Ok(Some(Ok(applied)))
        }
        Err(PebbleError::NotReady { container, reason }) => {
            Ok(Some(Err(workload::WorkloadState::NoPebble {
                container,
                reason,
            })))
        }
        Err(failed) => Err(CharmError::Pebble(failed)),
    }
}

/// Asks the unit's own Prometheus how it is doing (see [`workload::check`]): the statuses
/// with what it found, and its version. Skipped while the unit is blocked (the operator acts
/// first) and while the pod is going away.
fn check_workload<A: PrometheusApi + ?Sized>(
    api: &A,
    last: &LastHook,
    spec_set: bool,
) -> (Statuses, Option<String>, Option<String>) {
    let Some(served) = &last.served else {
        return (last.statuses.clone(), None, None);
    };
    let report = workload::check_served(api, last.target.as_ref(), served);
    let mut statuses = status::with_workload(last.statuses.clone(), &report.state, spec_set);
    if let (Some(app), workload::WorkloadState::Current { target }) =
        (&last.discovery_needs_trust, &report.state)
    {
        let access = workload::kubernetes_access(api, target);
        statuses = status::with_kubernetes_access(statuses, &access, app);
    }
    (statuses, report.version, Some(report.state.to_string()))
}

/// What a successful hook leaves for the next `update-status`: its statuses before the
/// workload check, and what it checked the workload against (`None`: no check, as while
/// blocked or going away). Options, the image and our address change only with a hook that
/// says so (config-changed fires on option, trust and address changes, Juju 2.9
/// `worker/uniter/resolver.go`: `ConfigHash`, `TrustHash`, `AddressesHash`; a new resource
/// bumps the charm's modified version, `state/resources_staged.go`, which fires
/// upgrade-charm), and the relations only with their own hooks; so with a trusted cache
/// (no hook failed or went uncommitted since) and the same leadership, an `update-status`
/// would plan exactly this again, and need only check the workload against it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LastHook {
    /// [`Basics::inputs`] of that hook.
    inputs: String,
    statuses: Statuses,
    target: Option<Target>,
    served: Option<workload::Served>,
    /// See [`Plan::discovery_needs_trust`].
    #[serde(default)]
    discovery_needs_trust: Option<String>,
}

/// The unit state key of [`LastHook`] (JSON; empty when too large for a state value).
pub const LAST_HOOK: &str = "last-hook";

/// Unit state takes values up to 64 KiB; a prometheus.yml beyond that (a 17th pool, many
/// Alertmanagers) just goes without the shortcut.
const LAST_HOOK_MAX: usize = 60_000;

impl LastHook {
    fn of(hook: Option<&Hook>, inputs: String, plan: &Plan) -> LastHook {
        let checked = !going_away(hook) && plan.statuses.unit.kind != juju::StatusKind::Blocked;
        LastHook {
            inputs,
            statuses: plan.statuses.clone(),
            target: plan.target.clone(),
            served: plan
                .rendering
                .as_ref()
                .filter(|_| checked)
                .map(|r| workload::Served::of(&r.rendered)),
            discovery_needs_trust: plan.discovery_needs_trust.clone(),
        }
    }

    fn text(&self) -> String {
        serde_json::to_string(self)
            .ok()
            .filter(|t| t.len() <= LAST_HOOK_MAX)
            .unwrap_or_default()
    }
}

/// Whether this hook would do exactly what the last successful one did (see [`LastHook`]),
/// its workload check included: the cache is trusted (no hook failed or went uncommitted
/// since), leadership is the same, the unit is not leaving, `inputs` (when known) are the
/// last hook's, and the statuses and version the workload check gives are those shown.
/// Then there is nothing to plan or apply: a line in the log and the hook is done.
fn nothing_changed<A: PrometheusApi + ?Sized>(
    api: &A,
    leader: bool,
    state: &BTreeMap<String, String>,
    marker: Option<&str>,
    inputs: Option<&str>,
) -> bool {
    if cache::trusted(state, marker, leader).is_none()
        || state.get(UNIT_LEAVING).is_some_and(|v| v == "true")
    {
        return false;
    }
    let Some(last) = state
        .get(LAST_HOOK)
        .and_then(|text| serde_json::from_str::<LastHook>(text).ok())
    else {
        return false;
    };
    // A blocked unit (no check then: an invalid option, the image missing, files too
    // large) goes the whole way: `resource-get` may fail for a while ("could not download
    // resource") and no hook would say when it works again, so every hook asks again.
    if last.served.is_none() || inputs.is_some_and(|inputs| inputs != last.inputs) {
        return false;
    }
    let (statuses, version, workload_state) = check_workload(api, &last, false);
    let same_statuses = state.get(LAST_STATUSES) == Some(&statuses_text(&statuses, leader));
    let same_version = version.is_none() || state.get(LAST_VERSION) == version.as_ref();
    if !(same_statuses && same_version) {
        return false;
    }
    tracing::info!(
        "nothing changed since the last hook: {}",
        workload_state.unwrap_or_else(|| statuses.unit.message.clone())
    );
    true
}

/// Unit state keys of what the last successful hook wrote that is not rolled back with a
/// failed hook (status-set and application-version-set apply at once): with a trusted
/// cache, the same values are not written again.
pub const LAST_STATUSES: &str = "last-statuses";
pub const LAST_VERSION: &str = "last-version";

/// The statuses as one text, to compare with [`LAST_STATUSES`].
fn statuses_text(statuses: &Statuses, leader: bool) -> String {
    let show = |s: &juju::Status| format!("{}: {}", s.kind.as_str(), s.message);
    match (leader, &statuses.application) {
        (true, Some(app)) => format!("{}\n{}", show(&statuses.unit), show(app)),
        _ => show(&statuses.unit),
    }
}

/// The relations as this hook leaves them: what was observed, with what [`apply_changes`]
/// wrote into our own bags.
fn relations_after(observed: &Observed, plan: &Plan) -> cache::Relations {
    let mut all: cache::Relations = observed
        .relations
        .values()
        .flatten()
        .filter_map(|s| s.id.clone().map(|id| (id, s.clone())))
        .collect();
    for publish in &plan.publish {
        if publish.app && !observed.acts_for_app() {
            continue;
        }
        let Some(snapshot) = all.get_mut(&publish.relation) else {
            continue;
        };
        let peer = snapshot.remote_app.as_deref() == Some(observed.app.as_str());
        let mut bags = vec![if publish.app {
            &mut snapshot.local_app_data
        } else {
            &mut snapshot.local_unit_data
        }];
        if publish.app && peer {
            bags.push(&mut snapshot.remote_app_data);
        }
        for bag in bags {
            for (k, v) in &publish.data {
                if v.is_empty() {
                    bag.remove(k);
                } else {
                    bag.insert(k.clone(), v.clone());
                }
            }
        }
    }
    all
}

/// The marker file of the relations cache (see `cache`): it says `dirty` while a hook runs,
/// the cache's token after one succeeded.
struct Marker {
    path: std::path::PathBuf,
    /// What it said before this hook, if it could be marked dirty.
    before: Option<Option<String>>,
}

impl Marker {
    fn begin(charm_dir: &std::path::Path) -> Marker {
        let path = charm_dir.join(cache::MARKER_FILE);
        let previous = std::fs::read_to_string(&path).ok();
        let before = match std::fs::write(&path, cache::DIRTY) {
            Ok(()) => Some(previous),
            // No marker, no cache: every hook reads everything.
            Err(e) => {
                tracing::debug!("no relations cache: {}: {e}", path.display());
                None
            }
        };
        Marker { path, before }
    }

    /// Whether this hook could mark it: without a marker, no cache is written either.
    fn usable(&self) -> bool {
        self.before.is_some()
    }

    /// The marker's content before this hook, when this hook could mark it.
    fn previous(&self) -> Option<&str> {
        self.before.as_ref().and_then(|p| p.as_deref())
    }

    fn finish(&self, token: Option<&String>) {
        if let (Some(_), Some(token)) = (&self.before, token) {
            if let Err(e) = std::fs::write(&self.path, token) {
                tracing::debug!("relations cache marker: {}: {e}", self.path.display());
            }
        }
    }
}

/// The plan of what `seen` holds: the kept rendering patched when it can be, else every
/// relation read (from the cache, else through the hook tools) and planned.
fn plan_seen<T: HookTools + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    mut seen: Seen,
    basics: Basics,
) -> Result<(Seen, Plan), CharmError> {
    if let Some(plan) = plan_kept(&seen.observed, seen.kept.take())? {
        return Ok((seen, plan));
    }
    tracing::debug!("the change reaches other relations: every relation planned");
    match seen.complete(ctx) {
        Ok(()) => {}
        Err(CharmError::CacheIncomplete) => {
            seen = observe_relations(tools, ctx, hook, None, basics)?;
        }
        Err(e) => return Err(e),
    }
    let plan = plan(&seen.observed)?;
    Ok((seen, plan))
}

/// The cache's index as this hook leaves it, and the files it names that are not yet
/// written: every relation this hook read (with what it wrote into our bags and its part of
/// the plan), the relations' rendering.
fn next_index(seen: &Seen, plan: &mut Plan) -> (cache::Index, Vec<(String, String)>) {
    let observed = &seen.observed;
    let mut index = seen.index.clone().unwrap_or_default();
    let after = relations_after(observed, plan);
    if seen.partial {
        // The relation this hook is about may be gone; the others it did not read stay.
        if let Some(id) = &observed.hook_relation {
            if !after.contains_key(id) {
                index.relations.remove(id);
            }
        }
    } else {
        index.relations.retain(|id, _| after.contains_key(id));
    }
    let parts: BTreeMap<&RelationId, &MemoPart> = observed
        .memo
        .parts()
        .iter()
        .chain(plan.memo.parts())
        .map(|p| (&p.id, p))
        .collect();
    let mut files = Vec::new();
    for (id, snapshot) in &after {
        let part = parts.get(id).copied();
        if let Some((name, text)) = cache::encode_relation(snapshot, part) {
            if index.relations.get(id) != Some(&name) {
                files.push((name.clone(), text));
                index.relations.insert(id.clone(), name);
            }
        }
    }
    index.local = plan.memo.local().clone();
    match &mut plan.outcome {
        KeptOutcome::Same => {}
        KeptOutcome::Dropped => index.outcome = None,
        KeptOutcome::New { name, text } => {
            if index.outcome.as_ref() != Some(name) {
                files.push((name.clone(), std::mem::take(text)));
            }
            index.outcome = Some(name.clone());
        }
    }
    (index, files)
}

/// Runs one hook (actions go to `actions::run`; `main` dispatches). `hook` is `None` for a
/// hook this charm does not know: it still reconciles, since observe-plan-apply is right
/// whatever triggered it. `api` reaches the unit's own
/// Prometheus; whatever it answers (or not), the hook goes on.
pub fn run<T: HookTools + ?Sized, A: PrometheusApi + ?Sized>(
    tools: &T,
    ctx: &HookContext,
    hook: Option<&Hook>,
    api: &A,
    workload: Workload<'_>,
) -> Result<(), CharmError> {
    let marker = Marker::begin(&ctx.charm_dir);
    let done = |marker: &Marker| marker.finish(marker.previous().map(str::to_string).as_ref());
    // update-status: three hook tools when nothing changed. Options, the image and our
    // address are not read: what changes them fires another hook first (see LastHook).
    let mut known = None;
    if hook == Some(&Hook::UpdateStatus) {
        let leader = tools.is_leader()?;
        let state = tools.state_get()?;
        if nothing_changed(api, leader, &state, marker.previous(), None) {
            done(&marker);
            return Ok(());
        }
        known = Some((leader, state));
    }
    let basics = observe_basics(tools, ctx, hook, workload.kind(), known)?;
    let inputs = basics.inputs();
    // config-changed also fires on trust and address changes, and with options set to what
    // they were: when its inputs are the last hook's, neither the relations nor a plan are
    // needed.
    if hook == Some(&Hook::ConfigChanged)
        && nothing_changed(
            api,
            basics.leader,
            &basics.state,
            marker.previous(),
            Some(&inputs),
        )
    {
        done(&marker);
        return Ok(());
    }
    let seen = observe_relations(tools, ctx, hook, marker.previous(), basics.clone())?;
    let (seen, mut plan) = plan_seen(tools, ctx, hook, seen, basics)?;
    let observed = &seen.observed;
    let read = seen.read;
    let applied = apply_changes(tools, observed, &plan)?;
    let in_container = match workload {
        Workload::Sidecar(container) => apply_in_container(container, hook, &plan)?,
        Workload::PodSpec => None,
    };
    let last = LastHook::of(hook, inputs, &plan);
    let (statuses, version, workload_state) = match &in_container {
        Some(Err(not_up)) => {
            let statuses = status::with_workload(plan.statuses.clone(), not_up, false);
            (statuses, None, Some(not_up.to_string()))
        }
        _ => check_workload(api, &last, applied.pod_spec_set),
    };

    // What this hook leaves behind, committed with it: the relations cache, what the next
    // update-status checks against, and the statuses and version it shows (so the next hook
    // need not set them again).
    let trusted = matches!(read, RelationsRead::Cached { .. });
    let mut state = applied.state.clone();
    let (index, files) = next_index(&seen, &mut plan);
    // The generation read holds what this hook leaves when nothing in it changed.
    let unchanged = files.is_empty() && seen.index.as_ref() == Some(&index);
    if !unchanged && marker.usable() {
        let committed = cache::committed(&observed.state);
        let (text, token) = cache::encode_index(
            &index,
            committed.as_ref().map_or(0, |t| t.generation),
            observed.leader,
        );
        // The committed generation's files stay until a later hook proves it is not.
        let mut keep: BTreeSet<String> = index.files().cloned().collect();
        if let Some(committed) = &committed {
            keep.insert(committed.file_name());
            let known = seen
                .index
                .clone()
                .or_else(|| load_index(&ctx.charm_dir, committed));
            keep.extend(known.iter().flat_map(|i| i.files().cloned()));
        }
        match store(&ctx.charm_dir, &files, &token, &text, &keep) {
            Ok(()) => state.extend(cache::commit(&observed.state, &token)),
            Err(e) => {
                // The committed token names what this hook has just made stale: drop it,
                // so that the next hook reads everything.
                tracing::debug!("relations cache not written: {e}");
                if observed.state.contains_key(cache::TOKEN_KEY) {
                    state.insert(cache::TOKEN_KEY.to_string(), String::new());
                }
            }
        }
    }
    let last_text = last.text();
    if observed
        .state
        .get(LAST_HOOK)
        .map_or(!last_text.is_empty(), |t| *t != last_text)
    {
        state.insert(LAST_HOOK.to_string(), last_text);
    }
    let shown = statuses_text(&statuses, observed.leader);
    let set_statuses = !trusted || observed.state.get(LAST_STATUSES) != Some(&shown);
    if observed.state.get(LAST_STATUSES) != Some(&shown) {
        state.insert(LAST_STATUSES.to_string(), shown);
    }
    let mut version_set = false;
    if let Some(version) = &version {
        if !trusted || observed.state.get(LAST_VERSION) != Some(version) {
            tools.application_version_set(version)?;
            version_set = true;
        }
        if observed.state.get(LAST_VERSION) != Some(version) {
            state.insert(LAST_VERSION.to_string(), version.clone());
        }
    }
    if !state.is_empty() {
        tools.state_set(&state)?;
    }
    if set_statuses {
        apply_statuses(tools, observed, &statuses)?;
    }
    let relations = index.relations.len();
    let workload_applied = match (&in_container, applied.pod_spec_set) {
        (Some(Ok(pushed)), _) => format!(
            "{} file(s) pushed, layer {}",
            pushed.pushed.len(),
            if pushed.replanned {
                "added and replanned"
            } else {
                "unchanged"
            }
        ),
        (Some(Err(_)), _) => "nothing pushed".to_string(),
        (None, true) => "spec set".to_string(),
        (None, false) => "spec unchanged".to_string(),
    };
    tracing::info!(
        "{} relations ({}), {}, {} relation-set, {}{}{}",
        relations,
        match read {
            RelationsRead::Full => "full read",
            RelationsRead::Cached { .. } => "cached",
        },
        workload_applied,
        applied.relation_sets,
        workload_state.unwrap_or_else(|| statuses.unit.message.clone()),
        if version_set { ", version set" } else { "" },
        if set_statuses {
            ""
        } else {
            ", status unchanged"
        },
    );
    marker.finish(
        state
            .get(cache::TOKEN_KEY)
            .or_else(|| observed.state.get(cache::TOKEN_KEY))
            .filter(|t| !t.is_empty()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fake::{FakeRelation, FakeTools};
    use super::*;
    use crate::sidecar::fake::FakeContainer;
    use crate::workload::fake::{FakePrometheus, FakeServer};
    use juju::{Status, StatusKind};
    use serde_json::json;

    /// A file of the spec `tools` holds, as the pod would mount it.
    fn mounted(tools: &FakeTools, name: &str) -> Result<String, String> {
        mounted_files(tools)?
            .into_iter()
            .find(|(path, _)| path == name)
            .map(|(_, content)| content)
            .ok_or_else(|| format!("no {name} in the spec"))
    }

    /// Every file of the spec `tools` holds: (path in its volume, content).
    fn mounted_files(tools: &FakeTools) -> Result<Vec<(String, String)>, String> {
        let spec = tools.model().pod_spec.clone().ok_or("no pod spec yet")?;
        let spec: pod_spec::PodSpec = crate::yaml::from_str(&spec).map_err(|e| e.to_string())?;
        Ok(spec
            .containers
            .iter()
            .flat_map(|c| &c.volume_config)
            .flat_map(|set| &set.files)
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect())
    }

    /// Every file of the spec, one after the other.
    fn all_mounted(tools: &FakeTools) -> String {
        mounted_files(tools)
            .unwrap()
            .into_iter()
            .map(|(_, content)| content)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn mounted_config(tools: &FakeTools) -> Result<String, String> {
        mounted(tools, render::CONFIG_FILE)
    }

    /// The names of the rule groups in the mounted rule file.
    fn mounted_rule_groups(tools: &FakeTools) -> Vec<String> {
        mounted(tools, render::RULES_FILE)
            .and_then(|text| {
                crate::yaml::from_str::<crate::prometheus::config::RuleFile>(&text)
                    .map_err(|e| e.to_string())
            })
            .map(|file| file.groups.into_iter().map(|g| g.name).collect())
            .unwrap_or_default()
    }

    /// The pod's Prometheus at the address the fake network-get gives, loading the spec that
    /// `leader` set (at once: the fake kubelet is quick).
    fn pod(leader: &FakeTools) -> FakePrometheus<'_> {
        FakePrometheus::new(move || mounted_config(leader))
            .with_rules(move || mounted_rule_groups(leader))
            .with(Target::new("10.1.36.80", 9090), FakeServer::up())
            .with(Target::new("10.1.36.80", 9091), FakeServer::up())
    }

    /// A hook on a unit whose Prometheus runs the spec it set itself.
    fn run(tools: &FakeTools, ctx: &HookContext, hook: Option<&Hook>) -> Result<(), CharmError> {
        super::run(tools, ctx, hook, &pod(tools), Workload::PodSpec)
    }

    const IMAGE: &str = "registrypath: ubuntu/prometheus:latest\nusername: ''\npassword: ''\n";

    fn ctx(unit: &str) -> HookContext {
        HookContext::from_lookup(|k| match k {
            "JUJU_UNIT_NAME" => Some(unit.to_string()),
            // A directory that cannot exist (a path under a file), so that these tests run
            // without the relations cache whatever this machine has at `/charm`; the tests
            // of the cache give it a temporary directory.
            "JUJU_CHARM_DIR" => Some("/dev/null/charm".to_string()),
            "JUJU_MODEL_NAME" => Some("cos".to_string()),
            "JUJU_MODEL_UUID" => Some("f4d59020-c8e7-4053-8044-a2c1e5591c7f".to_string()),
            _ => None,
        })
        .unwrap()
    }

    fn relation_ctx(unit: &str, id: &RelationId, departing: Option<&str>) -> HookContext {
        HookContext {
            relation: Some(id.clone()),
            departing_unit: departing.map(str::to_string),
            ..ctx(unit)
        }
    }

    fn leader() -> FakeTools {
        let tools = FakeTools::new("prometheus/0", true);
        tools.model().resource = Some(IMAGE.to_string());
        tools
    }

    fn hook(name: &str) -> Hook {
        Hook::from_name(name).unwrap()
    }

    #[test]
    fn endpoints_come_from_metadata() {
        assert_eq!(
            endpoints().unwrap(),
            vec![
                "alerting-config",
                "alertmanager",
                "alertmanager-podspec",
                "grafana-datasource",
                "grafana-source",
                "grafana-source-provider",
                "metrics-endpoint",
                "monitoring",
                "prometheus-api",
                "prometheus-peers",
                "receive-remote-write",
                "self-metrics-endpoint",
                "send-remote-write"
            ]
        );
    }

    #[test]
    fn the_sidecar_charm_has_the_pod_spec_charms_endpoints_and_is_a_sidecar() {
        let endpoints = |text: &str| {
            let meta: Value = crate::yaml::from_str(text).unwrap();
            ["provides", "requires", "peers"].map(|k| meta[k].clone())
        };
        let sidecar = include_str!("../sidecar/metadata.yaml");
        assert_eq!(endpoints(sidecar), endpoints(METADATA));
        assert_eq!(charm_kind(sidecar).unwrap(), CharmKind::Sidecar);
        assert_eq!(charm_kind(METADATA).unwrap(), CharmKind::PodSpec);
        let meta: Value = crate::yaml::from_str(sidecar).unwrap();
        // Juju refuses these in metadata v2 (charm.Meta.checkV2).
        for v1_only in ["series", "min-juju-version", "deployment"] {
            assert!(meta.get(v1_only).is_none(), "{v1_only}");
        }
        assert_eq!(
            meta["containers"][pod_spec::CONTAINER]["mounts"][0]["location"],
            pod_spec::TSDB_PATH
        );
    }

    /// A sidecar unit's own Prometheus, serving what was pushed into its container.
    fn sidecar_pod(container: &FakeContainer) -> FakePrometheus<'_> {
        let file = move |name: &str| {
            container
                .files
                .borrow()
                .get(&format!("/etc/prometheus/{name}"))
                .cloned()
                .ok_or_else(|| format!("no {name} pushed"))
        };
        FakePrometheus::new(move || file(render::CONFIG_FILE))
            .with_rules(move || {
                file(render::RULES_FILE)
                    .and_then(|text| {
                        crate::yaml::from_str::<crate::prometheus::config::RuleFile>(&text)
                            .map_err(|e| e.to_string())
                    })
                    .map(|f| f.groups.into_iter().map(|g| g.name).collect())
                    .unwrap_or_default()
            })
            .with(Target::new("10.1.36.80", 9090), FakeServer::up())
    }

    fn sidecar_run(
        tools: &FakeTools,
        container: &FakeContainer,
        hook_name: &str,
    ) -> Result<(), CharmError> {
        let unit = tools.model().unit.clone();
        super::run(
            tools,
            &ctx(&unit),
            Some(&hook(hook_name)),
            &sidecar_pod(container),
            Workload::Sidecar(container),
        )
    }

    #[test]
    fn a_sidecar_unit_pushes_its_files_and_starts_prometheus_through_pebble() {
        // A follower: in the sidecar charm every unit runs its own workload.
        let tools = FakeTools::new("prometheus/1", false);
        let container = FakeContainer::up();
        sidecar_run(&tools, &container, "prometheus-pebble-ready").unwrap();
        let m = tools.model();
        assert!(m.pod_spec.is_none());
        for never in ["resource-get", "pod-spec-set", "leader-get", "leader-set"] {
            assert!(!m.calls.iter().any(|c| c.starts_with(never)), "{never}");
        }
        assert_eq!(m.unit_status.clone().unwrap().kind, StatusKind::Active);
        assert_eq!(*container.starts.borrow(), 1);
        let plan = container.plan.borrow();
        let service = &plan.services[crate::pebble_layer::SERVICE];
        assert_eq!(service.environment["POD_NAME"], "prometheus-1");
        assert!(
            container.files.borrow()["/etc/prometheus/prometheus.yml"].contains("scrape_configs")
        );
    }

    #[test]
    fn a_sidecar_configuration_change_reloads_without_restarting_prometheus() {
        let tools = FakeTools::new("prometheus/0", true);
        let container = FakeContainer::up();
        sidecar_run(&tools, &container, "install").unwrap();
        tools
            .model()
            .config
            .insert("scrape-interval".into(), json!("17s"));
        sidecar_run(&tools, &container, "config-changed").unwrap();
        assert_eq!(*container.starts.borrow(), 1);
        assert!(container.files.borrow()["/etc/prometheus/prometheus.yml"].contains("17s"));
        assert_eq!(
            tools.model().unit_status.clone().unwrap().kind,
            StatusKind::Active
        );
        // A flag that changes the command line restarts it.
        tools
            .model()
            .config
            .insert("log-level".into(), json!("debug"));
        sidecar_run(&tools, &container, "config-changed").unwrap();
        assert_eq!(*container.starts.borrow(), 2);
    }

    #[test]
    fn a_sidecar_unit_waits_while_pebble_is_not_up() {
        let tools = FakeTools::new("prometheus/0", true);
        let container = FakeContainer::default();
        sidecar_run(&tools, &container, "install").unwrap();
        let status = tools.model().unit_status.clone().unwrap();
        assert_eq!(status.kind, StatusKind::Waiting);
        assert!(
            status
                .message
                .starts_with("waiting for Pebble in the prometheus container"),
            "{}",
            status.message
        );
    }

    #[test]
    fn monitor_k8s_in_the_sidecar_charm_blocks_while_the_cluster_refuses_discovery() {
        let tools = FakeTools::new("prometheus/0", true);
        tools
            .model()
            .config
            .insert("monitor-k8s".into(), json!(true));
        let container = FakeContainer::up();
        let refused = FakeServer {
            kubernetes_answers: BTreeMap::from([("403".to_string(), 7.0)]),
            ..FakeServer::up()
        };
        let run_with = |server: FakeServer| {
            let pod = sidecar_pod(&container).with(Target::new("10.1.36.80", 9090), server);
            super::run(
                &tools,
                &ctx("prometheus/0"),
                Some(&hook("config-changed")),
                &pod,
                Workload::Sidecar(&container),
            )
            .unwrap();
            tools.model().unit_status.clone().unwrap()
        };
        let status = run_with(refused);
        assert_eq!(status.kind, StatusKind::Blocked);
        assert!(
            status.message.contains("(HTTP 403)")
                && status
                    .message
                    .contains("run `juju trust prometheus --scope=cluster`"),
            "{}",
            status.message
        );
        // Everything else still runs.
        assert_eq!(*container.starts.borrow(), 1);
        // Once trusted, discovery's requests succeed (the old 403s stay counted).
        let trusted = FakeServer {
            kubernetes_answers: BTreeMap::from([
                ("403".to_string(), 7.0),
                ("200".to_string(), 2.0),
            ]),
            ..FakeServer::up()
        };
        assert_eq!(run_with(trusted).kind, StatusKind::Active);
        // No answer yet says nothing either way.
        assert_eq!(run_with(FakeServer::up()).kind, StatusKind::Active);
        // The pod-spec charm does not ask: its spec carries the RBAC.
        let podspec = leader();
        podspec
            .model()
            .config
            .insert("monitor-k8s".into(), json!(true));
        let plan =
            plan(&observe(&podspec, &ctx("prometheus/0"), None, CharmKind::PodSpec).unwrap())
                .unwrap();
        assert_eq!(plan.discovery_needs_trust, None);
    }

    /// Juju without dispatch runs `hooks/<name>`: every relation hook of every endpoint in
    /// metadata.yaml needs its symlink to the binary.
    #[test]
    fn every_relation_hook_has_its_symlink() {
        let hooks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
        for endpoint in endpoints().unwrap() {
            for kind in ["created", "joined", "changed", "departed", "broken"] {
                let link = hooks.join(format!("{endpoint}-relation-{kind}"));
                let target =
                    std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
                assert_eq!(target, std::path::Path::new("../prometheus-charm"));
            }
        }
    }

    #[test]
    fn unit_fqdns_follow_juju_naming() {
        assert_eq!(
            app_fqdn("prometheus", "cos", "cluster.local"),
            "prometheus.cos.svc.cluster.local"
        );
        assert_eq!(
            unit_fqdn("prometheus/1", "cos", "cluster.local"),
            "prometheus-1.prometheus-endpoints.cos.svc.cluster.local"
        );
    }

    #[test]
    fn the_cluster_domain_comes_from_the_pods_search_list() {
        let kubernetes = "search cos.svc.example.internal svc.example.internal example.internal\n\
                          nameserver 10.152.183.10\noptions ndots:5\n";
        assert_eq!(
            cluster_domain(kubernetes).as_deref(),
            Some("example.internal")
        );
        assert_eq!(
            cluster_domain("search lan\nnameserver 192.168.1.1\n"),
            None,
            "not a Kubernetes pod: the default applies"
        );
        assert_eq!(cluster_domain(""), None);
        assert_eq!(cluster_domain("search svc.\n"), None);
        assert_eq!(cluster_domain("search svc.bad/domain\n"), None);
    }

    #[test]
    fn the_leader_sets_the_spec_and_both_statuses() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let m = tools.model();
        let spec = m.pod_spec.clone().expect("pod spec set");
        assert!(spec.contains("\"imagePath\":\"ubuntu/prometheus:latest\""));
        assert!(spec.contains("\"--config.file=/etc/prometheus/prometheus.yml\""));
        assert_eq!(m.unit_status, Some(Status::active("")));
        assert_eq!(m.app_status, Some(Status::active("")));
        assert_eq!(
            m.state.get(POD_SPEC_FINGERPRINT),
            Some(&pod_spec::fingerprint(&spec))
        );
    }

    #[test]
    fn a_follower_never_sets_the_spec() {
        let lead = leader();
        run(&lead, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let tools = FakeTools::new("prometheus/1", false);
        tools.model().resource = Some(IMAGE.to_string());
        super::run(
            &tools,
            &ctx("prometheus/1"),
            Some(&hook("config-changed")),
            &pod(&lead),
            Workload::PodSpec,
        )
        .unwrap();
        let m = tools.model();
        assert_eq!(m.pod_spec, None);
        assert!(!m.calls.iter().any(|c| c.starts_with("pod-spec-set")));
        assert!(!m.calls.iter().any(|c| c == "status-set --application"));
        assert_eq!(m.unit_status, Some(Status::active("")));
        assert_eq!(m.app_status, None);
    }

    #[test]
    fn a_rerun_with_identical_inputs_sets_nothing_new() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let first = tools.model().pod_spec.clone();
        tools.model().calls.clear();
        run(&tools, &ctx("prometheus/0"), Some(&hook("update-status"))).unwrap();
        let m = tools.model();
        assert_eq!(m.pod_spec, first);
        assert!(!m.calls.iter().any(|c| c.starts_with("pod-spec-set")));
        assert!(!m.calls.iter().any(|c| c.starts_with("state-set")));
    }

    #[test]
    fn a_changed_option_sets_a_new_spec() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let first = tools.model().pod_spec.clone().unwrap();
        tools
            .model()
            .config
            .insert("monitor-k8s".into(), json!(true));
        run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).unwrap();
        let second = tools.model().pod_spec.clone().unwrap();
        assert_ne!(first, second);
        assert!(second.contains("\"serviceAccount\":"));
        assert!(all_mounted(&tools).contains("kubernetes-pods"));
    }

    #[test]
    fn invalid_config_blocks_and_keeps_the_last_good_spec() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let good = tools.model().pod_spec.clone();
        tools.model().calls.clear();
        tools
            .model()
            .config
            .insert("scrape-interval".into(), json!("soon"));
        run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).unwrap();
        {
            let m = tools.model();
            assert_eq!(m.pod_spec, good);
            assert!(!m.calls.iter().any(|c| c.starts_with("pod-spec-set")));
            let status = m.unit_status.clone().unwrap();
            assert_eq!(status.kind, StatusKind::Blocked);
            assert!(
                status
                    .message
                    .starts_with("invalid config: scrape-interval=\"soon\": expected a positive Prometheus duration"),
                "{}",
                status.message
            );
            assert_eq!(m.app_status, Some(status));
        }
        // Fixing it brings the unit back, with the spec it had (nothing to set).
        tools
            .model()
            .config
            .insert("scrape-interval".into(), json!("1m"));
        run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).unwrap();
        let m = tools.model();
        assert_eq!(m.unit_status, Some(Status::active("")));
        assert_eq!(m.pod_spec, good);
        assert!(!m.calls.iter().any(|c| c.starts_with("pod-spec-set")));
    }

    #[test]
    fn a_fixed_option_with_a_new_value_sets_the_new_spec() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        tools.model().config.insert("port".into(), json!(0));
        run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).unwrap();
        assert_eq!(
            tools.model().unit_status.clone().unwrap().kind,
            StatusKind::Blocked
        );
        tools.model().config.insert("port".into(), json!(9091));
        run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).unwrap();
        let m = tools.model();
        assert_eq!(m.unit_status, Some(Status::active("")));
        assert!(m
            .pod_spec
            .clone()
            .unwrap()
            .contains("\"containerPort\":9091"));
    }

    #[test]
    fn a_missing_resource_blocks_without_a_spec() {
        let tools = FakeTools::new("prometheus/0", true);
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let m = tools.model();
        assert_eq!(m.pod_spec, None);
        assert_eq!(
            m.unit_status,
            Some(Status::blocked(
                "resource prometheus-image is missing: attach an OCI image with \
                 `juju attach-resource prometheus prometheus-image=<image>`"
            ))
        );
    }

    #[test]
    fn an_invalid_resource_blocks_without_a_spec() {
        let tools = leader();
        tools.model().resource = Some("username: x\n".into());
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let m = tools.model();
        assert_eq!(m.pod_spec, None);
        assert_eq!(
            m.unit_status,
            Some(Status::blocked(
                "resource prometheus-image is invalid: registrypath is empty"
            ))
        );
    }

    #[test]
    fn a_failing_tool_fails_the_hook() {
        for tool in [
            "config-get",
            "is-leader",
            "state-get",
            "relation-ids",
            "pod-spec-set",
            "state-set",
            "status-set",
        ] {
            let tools = leader();
            tools.model().failing.insert(tool);
            let err =
                run(&tools, &ctx("prometheus/0"), Some(&hook("config-changed"))).expect_err(tool);
            assert!(matches!(err, CharmError::Tool(_)), "{tool}: {err}");
            assert_eq!(err.exit_code(), 1);
        }
    }

    #[test]
    fn an_unknown_address_is_not_an_error() {
        let tools = leader();
        tools.model().failing.insert("network-get");
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        assert!(tools.model().pod_spec.is_some());
    }

    fn with_peers(tools: &FakeTools) -> RelationId {
        let peers = RelationId::new(PEERS, 0);
        tools
            .model()
            .relations
            .insert(peers.clone(), FakeRelation::new("prometheus"));
        peers
    }

    fn spec_sets(tools: &FakeTools) -> usize {
        let m = tools.model();
        m.calls
            .iter()
            .filter(|c| c.starts_with("pod-spec-set"))
            .count()
    }

    #[test]
    fn a_leaving_leader_changes_nothing_that_belongs_to_the_application() {
        let tools = leader();
        with_peers(&tools);
        let am = RelationId::new("alertmanager", 4);
        tools.model().relations.insert(
            am.clone(),
            FakeRelation::new("alertmanager")
                .unit("alertmanager/0", &[("url", "http://am-0:9093")]),
        );
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let spec = tools.model().pod_spec.clone().unwrap();
        assert!(spec.contains("am-0:9093"));
        let sets = spec_sets(&tools);

        // Juju removes this unit: it departs every relation, then they break for it.
        let departing = relation_ctx("prometheus/0", &am, Some("prometheus/0"));
        run(
            &tools,
            &departing,
            Some(&hook("alertmanager-relation-departed")),
        )
        .unwrap();
        assert_eq!(
            tools.model().state.get(UNIT_LEAVING).map(String::as_str),
            Some("true")
        );
        let broken = relation_ctx("prometheus/0", &am, None);
        run(&tools, &broken, Some(&hook("alertmanager-relation-broken"))).unwrap();
        run(&tools, &ctx("prometheus/0"), Some(&hook("stop"))).unwrap();
        assert_eq!(spec_sets(&tools), sets, "a leaving leader set a spec");
        assert_eq!(tools.model().pod_spec.as_deref(), Some(spec.as_str()));
    }

    #[test]
    fn a_relation_removed_by_the_operator_still_updates_the_spec() {
        let tools = leader();
        let am = RelationId::new("alertmanager", 4);
        tools.model().relations.insert(
            am.clone(),
            FakeRelation::new("alertmanager")
                .unit("alertmanager/0", &[("url", "http://am-0:9093")]),
        );
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let departing = relation_ctx("prometheus/0", &am, Some("alertmanager/0"));
        run(
            &tools,
            &departing,
            Some(&hook("alertmanager-relation-departed")),
        )
        .unwrap();
        assert!(!tools
            .model()
            .pod_spec
            .clone()
            .unwrap()
            .contains("am-0:9093"));
        assert!(!tools.model().state.contains_key(UNIT_LEAVING));
    }

    #[test]
    fn a_new_leader_goes_by_the_fingerprint_the_last_leader_left_with_the_peers() {
        let first = leader();
        let peers = with_peers(&first);
        run(&first, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let peer_bag = first.model().relations[&peers].local_app.clone();
        assert_eq!(
            peer_bag.get(POD_SPEC_FINGERPRINT),
            first.model().state.get(POD_SPEC_FINGERPRINT)
        );

        // prometheus/1 takes over, with no state of its own: the spec Juju holds is current.
        let next = FakeTools::new("prometheus/1", true);
        next.model().resource = Some(IMAGE.to_string());
        let mut shared = FakeRelation::new("prometheus");
        shared.local_app = peer_bag.clone();
        next.model().relations.insert(peers.clone(), shared.clone());
        super::run(
            &next,
            &ctx("prometheus/1"),
            Some(&hook("leader-elected")),
            &pod(&first),
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(spec_sets(&next), 0);

        // Its own state remembers an older spec, the peers a newer one set by another
        // leader in between: the peers win, so the spec is set again.
        let stale = FakeTools::new("prometheus/1", true);
        stale.model().resource = Some(IMAGE.to_string());
        let mut moved = shared;
        moved
            .local_app
            .insert(POD_SPEC_FINGERPRINT.into(), "0000000000000000".into());
        stale.model().relations.insert(peers, moved);
        stale.model().state = peer_bag;
        super::run(
            &stale,
            &ctx("prometheus/1"),
            Some(&hook("leader-elected")),
            &pod(&first),
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(spec_sets(&stale), 1);
    }

    /// An application of 24 units scraped with labels of 150 kB (64 labels of 2.3 kB, within
    /// what one relation may ask): 3.6 MB of target files once every unit has its copy,
    /// spread over the target volumes by unit; a second one cannot fit beside it.
    fn big_exporter(app: &str) -> FakeRelation {
        let labels: serde_json::Map<String, serde_json::Value> = (0..64)
            .map(|l| {
                (
                    format!("l{l:02}"),
                    json!(format!("{app}-{}", "v".repeat(2300))),
                )
            })
            .collect();
        let jobs = json!([{"job_name": "fleet",
            "static_configs": [{"targets": ["*:9100"], "labels": labels}]}]);
        let mut relation = FakeRelation::new(app).app_data(&[
            (
                "scrape_metadata",
                &crate::relations::test_support::metadata(app, Some("node-exporter")),
            ),
            ("scrape_jobs", &jobs.to_string()),
        ]);
        for u in 0..24 {
            relation = relation.unit(
                &format!("{app}/{u}"),
                &[
                    ("prometheus_scrape_unit_address", &format!("10.2.0.{u}")),
                    ("prometheus_scrape_unit_name", &format!("{app}/{u}")),
                ],
            );
        }
        relation
    }

    fn exporter(app: &str, units: usize) -> FakeRelation {
        let jobs = json!([{"job_name": "node", "static_configs": [{"targets": ["*:9100"]}]}]);
        let mut relation = FakeRelation::new(app).app_data(&[
            (
                "scrape_metadata",
                &crate::relations::test_support::metadata(app, Some("node-exporter")),
            ),
            ("scrape_jobs", &jobs.to_string()),
        ]);
        for u in 0..units {
            relation = relation.unit(
                &format!("{app}/{u}"),
                &[
                    (
                        "prometheus_scrape_unit_address",
                        &format!("10.3.{}.{u}", app.len()),
                    ),
                    ("prometheus_scrape_unit_name", &format!("{app}/{u}")),
                ],
            );
        }
        relation
    }

    /// prometheus/0's hook context with the relations cache in `dir`, in a relation hook
    /// when `relation` names the relation and the remote unit.
    fn cached_ctx(dir: &std::path::Path, relation: Option<(&RelationId, &str)>) -> HookContext {
        HookContext {
            charm_dir: dir.to_path_buf(),
            relation: relation.map(|(id, _)| id.clone()),
            remote_unit: relation.map(|(_, u)| u.to_string()),
            ..super::tests::ctx("prometheus/0")
        }
    }

    /// What a full read renders now, as the fingerprint of the spec it would set.
    fn full_read_fingerprint(tools: &FakeTools, ctx: &HookContext) -> String {
        let observed = observe(tools, ctx, None, CharmKind::PodSpec).unwrap();
        plan(&observed).unwrap().pod_spec.unwrap().fingerprint
    }

    fn relation_reads(tools: &FakeTools) -> Vec<String> {
        tools
            .model()
            .calls
            .iter()
            .filter(|c| {
                c.starts_with("relation-get")
                    || c.starts_with("relation-list")
                    || c.starts_with("relation-ids")
            })
            .cloned()
            .collect()
    }

    /// With the marker file on disk, a hook reads only its own relation's changed bags,
    /// update-status none; what they render is what a full read renders. A failed hook makes
    /// the next one read everything.
    #[test]
    fn hooks_read_only_what_changed_and_render_what_a_full_read_renders() {
        let tools = leader();
        let dir = tempfile::tempdir().unwrap();
        let ctx = |relation: Option<(&RelationId, &str)>| cached_ctx(dir.path(), relation);
        let ids: Vec<RelationId> = (1..=3)
            .map(|n| RelationId::new("metrics-endpoint", n))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let app = format!("node{}", "x".repeat(n));
            tools
                .model()
                .relations
                .insert(id.clone(), exporter(&app, 2));
        }
        run(&tools, &ctx(None), Some(&hook("install"))).unwrap();
        assert!(!relation_reads(&tools).is_empty());
        let recorded = || tools.model().state[POD_SPEC_FINGERPRINT].clone();
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));

        tools.model().calls.clear();
        run(&tools, &ctx(None), Some(&hook("update-status"))).unwrap();
        assert_eq!(relation_reads(&tools), Vec::<String>::new());
        assert!(
            !tools
                .model()
                .calls
                .iter()
                .any(|c| c.starts_with("status-set")),
            "{:?}",
            tools.model().calls
        );
        // Nothing changed since: update-status asks leadership and state only (and logs a
        // line, which the fake tools do not see), config-changed with the same options reads
        // no relation and writes nothing.
        tools.model().calls.clear();
        run(&tools, &ctx(None), Some(&hook("update-status"))).unwrap();
        assert_eq!(tools.model().calls, vec!["is-leader", "state-get"]);
        tools.model().calls.clear();
        run(&tools, &ctx(None), Some(&hook("config-changed"))).unwrap();
        let calls = tools.model().calls.clone();
        assert_eq!(calls.len(), 5, "{calls:?}");
        assert_eq!(relation_reads(&tools), Vec::<String>::new());
        // An option changed: planned again from the cache, without reading a relation.
        tools
            .model()
            .config
            .insert("evaluation-interval".into(), json!("2m"));
        tools.model().calls.clear();
        run(&tools, &ctx(None), Some(&hook("config-changed"))).unwrap();
        assert_eq!(relation_reads(&tools), Vec::<String>::new());
        assert!(tools
            .model()
            .calls
            .iter()
            .any(|c| c.starts_with("pod-spec-set")));
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));

        // One unit's address changes.
        tools
            .model()
            .relations
            .get_mut(&ids[1])
            .unwrap()
            .units
            .get_mut("nodex/1")
            .unwrap()
            .insert("prometheus_scrape_unit_address".into(), "10.9.9.9".into());
        tools.model().calls.clear();
        run(
            &tools,
            &ctx(Some((&ids[1], "nodex/1"))),
            Some(&hook("metrics-endpoint-relation-changed")),
        )
        .unwrap();
        let reads = relation_reads(&tools);
        assert_eq!(reads.len(), 2, "{reads:?}");
        assert!(tools
            .model()
            .pod_spec
            .clone()
            .unwrap()
            .contains("10.9.9.9:9100"));
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));

        // A hook fails after a change it saw (and the change's hook is skipped): the next
        // hook does not trust the cache.
        tools
            .model()
            .relations
            .get_mut(&ids[0])
            .unwrap()
            .units
            .get_mut("node/0")
            .unwrap()
            .insert("prometheus_scrape_unit_address".into(), "10.8.8.8".into());
        tools.model().failing.insert("pod-spec-set");
        assert!(run(
            &tools,
            &ctx(Some((&ids[0], "node/0"))),
            Some(&hook("metrics-endpoint-relation-changed"))
        )
        .is_err());
        tools.model().failing.clear();
        tools.model().calls.clear();
        run(&tools, &ctx(None), Some(&hook("update-status"))).unwrap();
        assert!(relation_reads(&tools)
            .iter()
            .any(|c| c.starts_with("relation-ids")));
        assert!(tools
            .model()
            .pod_spec
            .clone()
            .unwrap()
            .contains("10.8.8.8:9100"));
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));

        // A departed unit and a broken relation are dropped without reading anything.
        tools
            .model()
            .relations
            .get_mut(&ids[2])
            .unwrap()
            .units
            .remove("nodexx/0");
        tools.model().calls.clear();
        let departed = HookContext {
            departing_unit: Some("nodexx/0".into()),
            ..ctx(Some((&ids[2], "nodexx/0")))
        };
        run(
            &tools,
            &departed,
            Some(&hook("metrics-endpoint-relation-departed")),
        )
        .unwrap();
        assert_eq!(relation_reads(&tools), Vec::<String>::new());
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));
        tools.model().relations.remove(&ids[2]);
        run(
            &tools,
            &ctx(Some((&ids[2], ""))),
            Some(&hook("metrics-endpoint-relation-broken")),
        )
        .unwrap();
        assert_eq!(recorded(), full_read_fingerprint(&tools, &ctx(None)));
        assert!(!tools.model().pod_spec.clone().unwrap().contains("nodexx"));
    }

    /// One exporter whose jobs would push the files past the ConfigMap is left out whole,
    /// told so in its `event` and in the log; the others, and an option changed in the same
    /// hook, still apply.
    #[test]
    fn a_relation_too_large_for_the_config_map_is_left_out_and_the_rest_applies() {
        let tools = leader();
        tools.model().relations.insert(
            RelationId::new("metrics-endpoint", 1),
            big_exporter("fleet-a"),
        );
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let spec = all_mounted(&tools);
        assert!(
            spec.contains("\"juju_unit\":\"fleet-a/23\""),
            "one big exporter still fits: {:?}",
            tools.model().unit_status
        );

        let fleet_b = RelationId::new("metrics-endpoint", 2);
        tools
            .model()
            .relations
            .insert(fleet_b.clone(), big_exporter("fleet-b"));
        tools
            .model()
            .config
            .insert("scrape-interval".into(), json!("30s"));
        run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("metrics-endpoint-relation-changed")),
        )
        .unwrap();
        let spec = all_mounted(&tools);
        let m = tools.model();
        assert!(
            spec.contains("\"juju_unit\":\"fleet-a/23\""),
            "the older relation stays"
        );
        assert!(!spec.contains("fleet-b/"), "the newer one is left out");
        assert!(spec.contains("scrape_interval: 30s"), "the option applies");
        let status = m.unit_status.clone().unwrap();
        assert_ne!(status.kind, StatusKind::Blocked, "{}", status.message);
        let event: serde_json::Value =
            serde_json::from_str(&m.relations[&fleet_b].local_app["event"]).unwrap();
        let errors = event["scrape_job_errors"].as_str().unwrap();
        assert!(errors.starts_with("left out whole: "), "{errors}");
        drop(m);
        // What the shell logs as WARNINGs (through tracing, to juju-log).
        let observed = observe(&tools, &ctx("prometheus/0"), None, CharmKind::PodSpec).unwrap();
        let plan = plan(&observed).unwrap();
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains("fleet-b") && w.contains("left out whole")),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn relations_are_observed_without_the_one_going_away() {
        let tools = leader();
        let am = RelationId::new("alertmanager", 4);
        let zinc = RelationId::new("metrics-endpoint", 7);
        {
            let mut m = tools.model();
            m.relations.insert(
                am.clone(),
                FakeRelation::new("alertmanager")
                    .unit("alertmanager/0", &[("url", "http://am-0:9093")])
                    .unit("alertmanager/1", &[("url", "http://am-1:9093")]),
            );
            m.relations.insert(
                zinc.clone(),
                FakeRelation::new("zinc").app_data(&[("scrape_jobs", "[]")]),
            );
        }
        let departing = relation_ctx("prometheus/0", &am, Some("alertmanager/1"));
        let seen = observe(
            &tools,
            &departing,
            Some(&hook("alertmanager-relation-departed")),
            CharmKind::PodSpec,
        )
        .unwrap();
        let am_snapshots = &seen.relations["alertmanager"];
        assert_eq!(am_snapshots.len(), 1);
        assert_eq!(
            am_snapshots[0].remote_units.keys().collect::<Vec<_>>(),
            vec!["alertmanager/0"]
        );
        assert_eq!(am_snapshots[0].remote_app.as_deref(), Some("alertmanager"));
        let zinc_snapshot = &seen.relations["metrics-endpoint"][0];
        assert_eq!(zinc_snapshot.remote_app_data["scrape_jobs"], "[]");

        let broken = relation_ctx("prometheus/0", &am, None);
        let seen = observe(
            &tools,
            &broken,
            Some(&hook("alertmanager-relation-broken")),
            CharmKind::PodSpec,
        )
        .unwrap();
        assert!(seen.relations["alertmanager"].is_empty());
        assert_eq!(seen.relations["metrics-endpoint"].len(), 1);
        assert!(seen.relations["grafana-source"].is_empty());

        let leaving = relation_ctx("prometheus/0", &am, Some("prometheus/0"));
        let seen = observe(
            &tools,
            &leaving,
            Some(&hook("alertmanager-relation-departed")),
            CharmKind::PodSpec,
        )
        .unwrap();
        assert!(seen.relations["alertmanager"].is_empty());
    }

    #[test]
    fn a_follower_does_not_read_its_app_bag() {
        let tools = FakeTools::new("prometheus/1", false);
        tools.model().resource = Some(IMAGE.to_string());
        tools.model().relations.insert(
            RelationId::new("grafana-source", 3),
            FakeRelation::new("grafana").unit("grafana/0", &[]),
        );
        observe(&tools, &ctx("prometheus/1"), None, CharmKind::PodSpec).unwrap();
        let m = tools.model();
        assert!(m
            .calls
            .iter()
            .any(|c| c == "relation-get -r grafana-source:3 - prometheus/1"));
        assert!(!m
            .calls
            .iter()
            .any(|c| c == "relation-get -r grafana-source:3 --app - prometheus"));
    }

    fn observed_with(bag: &[(&str, &str)], leader: bool) -> Observed {
        let id = RelationId::new("grafana-source", 3);
        let data: RelationData = bag
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Observed {
            unit: "prometheus/0".into(),
            app: "prometheus".into(),
            model: "cos".into(),
            model_uuid: "u".into(),
            config: Map::new(),
            leader,
            image: Some(image::parse(IMAGE)),
            kind: CharmKind::PodSpec,
            address: Some("10.1.36.80".into()),
            state: BTreeMap::new(),
            hook_relation: None,
            cluster_domain: "cluster.local".into(),
            leaving: false,
            relations: BTreeMap::from([(
                "grafana-source".to_string(),
                vec![RelationSnapshot {
                    id: Some(id),
                    local_unit_data: data.clone(),
                    local_app_data: data,
                    ..RelationSnapshot::default()
                }],
            )]),
            memo: Memo::default(),
        }
    }

    fn publish(app: bool, pairs: &[(&str, &str)]) -> Publish {
        Publish {
            relation: RelationId::new("grafana-source", 3),
            app,
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn only_changed_relation_keys_are_written() {
        let tools = leader();
        tools.model().relations.insert(
            RelationId::new("grafana-source", 3),
            FakeRelation::new("grafana"),
        );
        let observed = observed_with(&[("port", "9090"), ("old", "x")], true);
        let mut plan = plan(&observed).unwrap();
        plan.publish = vec![
            publish(false, &[("port", "9090"), ("source-type", "prometheus")]),
            publish(true, &[("port", "9090"), ("old", ""), ("gone", "")]),
            publish(false, &[("port", "9090")]),
        ];
        let applied = apply(&tools, &observed, &plan).unwrap();
        assert_eq!(applied.relation_sets, 2);
        let m = tools.model();
        let rel = &m.relations[&RelationId::new("grafana-source", 3)];
        assert_eq!(
            rel.set_calls,
            vec![
                (
                    false,
                    BTreeMap::from([("source-type".to_string(), "prometheus".to_string())])
                ),
                (true, BTreeMap::from([("old".to_string(), String::new())])),
            ]
        );
    }

    #[test]
    fn a_follower_never_writes_the_app_bag() {
        let tools = FakeTools::new("prometheus/1", false);
        let observed = observed_with(&[], false);
        let mut plan = plan(&observed).unwrap();
        plan.publish = vec![publish(true, &[("grafana_source_data", "{}")])];
        let applied = apply(&tools, &observed, &plan).unwrap();
        assert_eq!(applied.relation_sets, 0);
    }

    #[test]
    fn identical_observations_plan_identical_specs() {
        let mut observed = observed_with(&[], true);
        observed.config = Map::from_iter([
            ("monitor-k8s".to_string(), json!(true)),
            ("external-labels".to_string(), json!(r#"{"b":"1","a":"2"}"#)),
        ]);
        let first = plan(&observed).unwrap().pod_spec.unwrap();
        for _ in 0..3 {
            assert_eq!(plan(&observed).unwrap().pod_spec.unwrap(), first);
        }
    }

    #[test]
    fn an_unreachable_prometheus_makes_the_unit_wait_and_the_hook_succeed() {
        let tools = leader();
        let nothing = FakePrometheus::new(|| Ok(String::new()));
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("install")),
            &nothing,
            Workload::PodSpec,
        )
        .unwrap();
        let m = tools.model();
        assert!(m.pod_spec.is_some());
        let waiting = Status::waiting(
            "waiting for Prometheus at 10.1.36.80:9090: Connection refused (os error 111)",
        );
        assert_eq!(m.unit_status, Some(waiting.clone()));
        assert_eq!(m.app_status, Some(waiting));
        assert!(!m
            .calls
            .iter()
            .any(|c| c.starts_with("application-version-set")));
        assert_eq!(nothing.calls(), vec!["ready 10.1.36.80:9090"]);
    }

    #[test]
    fn the_version_comes_from_build_information() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let m = tools.model();
        assert!(m
            .calls
            .iter()
            .any(|c| c == "application-version-set 2.42.0+ds"));
        // Set after the spec and relation data, before the statuses.
        let position = |prefix: &str| m.calls.iter().position(|c| c.starts_with(prefix));
        assert!(position("pod-spec-set") < position("application-version-set"));
        assert!(position("application-version-set") < position("status-set"));
    }

    #[test]
    fn an_older_served_config_waits_until_a_later_hook_finds_it_loaded() {
        let tools = leader();
        run(&tools, &ctx("prometheus/0"), Some(&hook("install"))).unwrap();
        let old = mounted_config(&tools).unwrap();
        tools
            .model()
            .config
            .insert("scrape-interval".into(), json!("30s"));
        // The kubelet has not updated the mounted file yet.
        let lagging = FakePrometheus::new(|| Ok(old.clone()))
            .with(Target::new("10.1.36.80", 9090), FakeServer::up());
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("config-changed")),
            &lagging,
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(
            tools.model().unit_status,
            Some(Status::waiting(
                "waiting for Prometheus at 10.1.36.80:9090 to load the new configuration \
                 (global.scrape_interval: rendered 30s, served 1m)"
            ))
        );
        let served = lagging.server(&Target::new("10.1.36.80", 9090)).unwrap();
        assert_eq!(served.loaded.as_ref(), Some(&old));
        // update-status: the file is there now, the reload takes it.
        run(&tools, &ctx("prometheus/0"), Some(&hook("update-status"))).unwrap();
        assert_eq!(tools.model().unit_status, Some(Status::active("")));
    }

    #[test]
    fn a_refused_configuration_blocks_once_no_new_spec_is_on_its_way() {
        let tools = leader();
        let refusing = FakePrometheus::new(|| Err("failed to reload config: boom".into()))
            .with(Target::new("10.1.36.80", 9090), FakeServer::up());
        let c = ctx("prometheus/0");
        // The spec set in this hook reaches the pod after it: that one may yet load.
        super::run(
            &tools,
            &c,
            Some(&hook("install")),
            &refusing,
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(
            tools.model().unit_status.clone().unwrap().kind,
            StatusKind::Waiting
        );
        super::run(
            &tools,
            &c,
            Some(&hook("update-status")),
            &refusing,
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(
            tools.model().unit_status,
            Some(Status::blocked(
                "Prometheus at 10.1.36.80:9090 refused the configuration: \
                 failed to reload config: boom"
            ))
        );
    }

    #[test]
    fn a_blocked_unit_or_a_pod_going_away_asks_prometheus_nothing() {
        let tools = leader();
        tools.model().config.insert("port".into(), json!(0));
        let api = pod(&tools);
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("config-changed")),
            &api,
            Workload::PodSpec,
        )
        .unwrap();
        assert!(api.calls().is_empty());
        let tools = leader();
        tools.model().resource = None;
        let api = pod(&tools);
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("install")),
            &api,
            Workload::PodSpec,
        )
        .unwrap();
        assert!(api.calls().is_empty());
        let tools = leader();
        let api = pod(&tools);
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("stop")),
            &api,
            Workload::PodSpec,
        )
        .unwrap();
        assert!(api.calls().is_empty());
    }

    #[test]
    fn an_unknown_address_waits_for_it() {
        let tools = leader();
        tools.model().failing.insert("network-get");
        let api = pod(&tools);
        super::run(
            &tools,
            &ctx("prometheus/0"),
            Some(&hook("install")),
            &api,
            Workload::PodSpec,
        )
        .unwrap();
        assert_eq!(
            tools.model().unit_status,
            Some(Status::waiting("waiting for the pod's address"))
        );
        assert!(api.calls().is_empty());
    }

    fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walkdir(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    /// Issue 12's model in this process (`SCALE_PROBE`, default 1000x10; ignored: half a
    /// minute in a debug build): one unit's relation-changed reads only its own relation,
    /// makes fewer than 12 calls and sets the spec a full read renders; an option change
    /// fewer than 10, update-status fewer than 3. `cargo test --release -p prometheus-charm
    /// --lib scale_probe -- --ignored --nocapture` also prints their time and calls, for
    /// profiling between bench runs.
    #[test]
    #[ignore]
    fn scale_probe() {
        let size = std::env::var("SCALE_PROBE").unwrap_or_else(|_| "1000x10".into());
        let (r, u) = size.split_once('x').unwrap();
        let (relations, units): (usize, usize) = (r.parse().unwrap(), u.parse().unwrap());
        let tools = leader();
        let dir = tempfile::tempdir().unwrap();
        let ctx = |relation: Option<(&RelationId, &str)>| cached_ctx(dir.path(), relation);
        for n in 0..relations {
            let app = format!("exporter{n}");
            let rules = json!({"groups": [{"name": format!("cos_f4d59020_{app}_alerts"), "rules": [{"alert": "ZincDown", "expr": format!("up{{juju_application=\"{app}\"}} < 1"), "for": "5m", "labels": {"severity": "critical"}}]}]});
            let jobs = json!([{"job_name": app, "metrics_path": "/metrics", "static_configs": [{"targets": ["*:4080"]}]}]);
            let mut relation = FakeRelation::new(&app).app_data(&[
                (
                    "scrape_metadata",
                    &crate::relations::test_support::metadata(&app, Some("zinc-k8s")),
                ),
                ("scrape_jobs", &jobs.to_string()),
                ("alert_rules", &rules.to_string()),
            ]);
            for k in 0..units {
                relation = relation.unit(
                    &format!("{app}/{k}"),
                    &[
                        (
                            "prometheus_scrape_unit_address",
                            &format!("10.{}.{}.{k}", n / 250, n % 250),
                        ),
                        ("prometheus_scrape_unit_name", &format!("{app}/{k}")),
                        ("prometheus_scrape_unit_path", ""),
                        (
                            "prometheus_scrape_unit_fqdn",
                            &format!("{app}-{k}.{app}-endpoints.cos.svc.cluster.local"),
                        ),
                    ],
                );
            }
            tools
                .model()
                .relations
                .insert(RelationId::new("metrics-endpoint", n as u32 + 1), relation);
        }
        let api = crate::workload::fake::FakePrometheus::new(|| Err("no pod".to_string()));
        let go = |label: &str, ctx: &HookContext, hook: &Hook| {
            tools.model().calls.clear();
            let rss = || {
                std::fs::read_to_string("/proc/self/status")
                    .unwrap()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
                    .unwrap()
            };
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = rss();
            let started = std::time::Instant::now();
            super::run(&tools, ctx, Some(hook), &api, Workload::PodSpec).unwrap();
            let calls = tools.model().calls.clone();
            eprintln!(
                "{label}: {:?}, {} calls, VmHWM {before} -> {}",
                started.elapsed(),
                calls.len(),
                rss()
            );
            calls
        };
        go("upgrade-charm", &ctx(None), &hook("upgrade-charm"));
        // SCALE_PROBE_DUMP=<dir>: the unit's charm directory (with the cache) and what its
        // hook tools answer, for running the packed binary against stand-in tools.
        if let Ok(out) = std::env::var("SCALE_PROBE_DUMP") {
            let out = std::path::PathBuf::from(out);
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(out.join("charm")).unwrap();
            for entry in walkdir(dir.path()) {
                let to = out
                    .join("charm")
                    .join(entry.strip_prefix(dir.path()).unwrap());
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&entry, &to).unwrap();
            }
            let m = tools.model();
            let write = |name: &str, value: &serde_json::Value| {
                std::fs::write(out.join(name), value.to_string()).unwrap();
            };
            write("config.json", &json!(m.config));
            write("state.json", &json!(m.state));
            let r = &m.relations[&RelationId::new("metrics-endpoint", 1)];
            write("app.json", &json!(r.app_data));
            write("units.json", &json!(r.units));
            std::fs::write(out.join("resource.yaml"), IMAGE).unwrap();
        }
        let id = RelationId::new("metrics-endpoint", 1);
        for round in 0..3 {
            tools
                .model()
                .relations
                .get_mut(&id)
                .unwrap()
                .units
                .get_mut("exporter0/0")
                .unwrap()
                .insert(
                    "prometheus_scrape_unit_address".into(),
                    format!("10.99.0.{round}"),
                );
            let calls = go(
                "relation-changed",
                &ctx(Some((&id, "exporter0/0"))),
                &hook("metrics-endpoint-relation-changed"),
            );
            // Issue 12: at most 12 calls (juju-log, which the fake does not record, is one),
            // and no other relation read.
            assert!(calls.len() < 12, "{calls:?}");
            assert!(
                calls
                    .iter()
                    .filter(|c| c.starts_with("relation-"))
                    .all(|c| c.contains("metrics-endpoint:1")),
                "{calls:?}"
            );
        }
        let patched = tools.model().state[POD_SPEC_FINGERPRINT].clone();
        assert_eq!(patched, full_read_fingerprint(&tools, &ctx(None)));
        for interval in ["2m", "1m"] {
            tools
                .model()
                .config
                .insert("evaluation-interval".into(), json!(interval));
            let calls = go(
                "config-changed (option)",
                &ctx(None),
                &hook("config-changed"),
            );
            assert!(calls.len() < 10, "{calls:?}");
        }
        assert!(go("update-status", &ctx(None), &hook("update-status")).len() < 3);
    }
}
