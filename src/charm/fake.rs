//! An in-memory stand-in for the hook tools, for unit tests of the shell: it keeps a small
//! model (options, leadership, resource, relations, spec, state, statuses), enforces the
//! leader-only tools as Juju does, records every call, and fails the tools a test names.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use juju::{
    HookTools, LogLevel, NetworkInfo, RelationData, RelationId, Status, StatusInfo, StatusScope,
    ToolError,
};
use serde_json::{Map, Value};

/// One relation as the fake sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeRelation {
    pub remote_app: String,
    pub app_data: RelationData,
    pub units: BTreeMap<String, RelationData>,
    pub local_unit: RelationData,
    pub local_app: RelationData,
    /// Every `relation-set`: (app bag?, data as given).
    pub set_calls: Vec<(bool, RelationData)>,
}

fn bag(pairs: &[(&str, &str)]) -> RelationData {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl FakeRelation {
    pub(crate) fn new(remote_app: &str) -> Self {
        FakeRelation {
            remote_app: remote_app.to_string(),
            ..FakeRelation::default()
        }
    }

    pub(crate) fn unit(mut self, name: &str, data: &[(&str, &str)]) -> Self {
        self.units.insert(name.to_string(), bag(data));
        self
    }

    pub(crate) fn app_data(mut self, data: &[(&str, &str)]) -> Self {
        self.app_data = bag(data);
        self
    }
}

#[derive(Debug, Default)]
pub(crate) struct FakeModel {
    pub unit: String,
    pub app: String,
    pub leader: bool,
    pub config: Map<String, Value>,
    /// The resource file's content; `None`: resource-get fails as for a missing resource.
    pub resource: Option<String>,
    pub relations: BTreeMap<RelationId, FakeRelation>,
    pub pod_spec: Option<String>,
    pub state: BTreeMap<String, String>,
    pub unit_status: Option<Status>,
    pub app_status: Option<Status>,
    pub action_failure: Option<String>,
    /// Everything given to `action-set`, merged as Juju does.
    pub action_results: BTreeMap<String, String>,
    pub logs: Vec<(LogLevel, String)>,
    /// Each call, as `<tool> <args>` in the charm's terms.
    pub calls: Vec<String>,
    /// Tools that fail (exit 1) when called.
    pub failing: BTreeSet<&'static str>,
}

pub(crate) struct FakeTools {
    model: RefCell<FakeModel>,
    dir: tempfile::TempDir,
}

fn failed(tool: &str, message: &str) -> ToolError {
    ToolError::Failed {
        tool: tool.to_string(),
        args: Vec::new(),
        code: Some(1),
        stderr: format!("ERROR {message}\n"),
    }
}

impl FakeTools {
    pub(crate) fn new(unit: &str, leader: bool) -> Self {
        let app = juju::application_of(unit).unwrap_or_else(|| unit.to_string());
        FakeTools {
            model: RefCell::new(FakeModel {
                unit: unit.to_string(),
                app: app.clone(),
                leader,
                ..FakeModel::default()
            }),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub(crate) fn model(&self) -> RefMut<'_, FakeModel> {
        self.model.borrow_mut()
    }

    /// Records the call and fails it when the test asked for that.
    fn call(&self, tool: &'static str, args: &str) -> Result<RefMut<'_, FakeModel>, ToolError> {
        let mut m = self.model.borrow_mut();
        m.calls.push(if args.is_empty() {
            tool.to_string()
        } else {
            format!("{tool} {args}")
        });
        if m.failing.contains(tool) {
            return Err(failed(tool, "the test made this tool fail"));
        }
        Ok(m)
    }

    fn relation<'a>(
        m: &'a mut FakeModel,
        tool: &str,
        id: &RelationId,
    ) -> Result<&'a mut FakeRelation, ToolError> {
        m.relations.get_mut(id).ok_or_else(|| {
            failed(
                tool,
                &format!("invalid value \"{id}\" for option -r: relation not found"),
            )
        })
    }
}

impl FakeTools {
    /// `relation-get`, for a unit's bag or (`app`) an application's.
    fn relation_get(
        &self,
        relation: &RelationId,
        unit_or_app: &str,
        app: bool,
    ) -> Result<RelationData, ToolError> {
        let flag = if app { " --app" } else { "" };
        let mut m = self.call(
            "relation-get",
            &format!("-r {relation}{flag} - {unit_or_app}"),
        )?;
        let (unit, own_app, leader) = (m.unit.clone(), m.app.clone(), m.leader);
        let rel = Self::relation(&mut m, "relation-get", relation)?;
        if unit_or_app == unit {
            return Ok(rel.local_unit.clone());
        }
        if app && unit_or_app == own_app {
            // A peer relation has one application bag, which every unit may read.
            let peer = rel.remote_app == own_app;
            if !leader && !peer {
                return Err(failed("relation-get", "permission denied"));
            }
            return Ok(rel.local_app.clone());
        }
        if app && unit_or_app == rel.remote_app {
            return Ok(rel.app_data.clone());
        }
        rel.units
            .get(unit_or_app)
            .cloned()
            .ok_or_else(|| failed("relation-get", &format!("unit {unit_or_app} not found")))
    }
}

impl HookTools for FakeTools {
    fn config_get(&self) -> Result<Map<String, Value>, ToolError> {
        Ok(self.call("config-get", "")?.config.clone())
    }

    fn is_leader(&self) -> Result<bool, ToolError> {
        Ok(self.call("is-leader", "")?.leader)
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, ToolError> {
        let m = self.call("relation-ids", endpoint)?;
        Ok(m.relations
            .keys()
            .filter(|id| id.endpoint == endpoint)
            .cloned()
            .collect())
    }

    fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, ToolError> {
        let mut m = self.call("relation-list", &format!("-r {relation}"))?;
        let rel = Self::relation(&mut m, "relation-list", relation)?;
        Ok(rel.units.keys().cloned().collect())
    }

    fn relation_remote_app(&self, relation: &RelationId) -> Result<Option<String>, ToolError> {
        let mut m = self.call("relation-list", &format!("-r {relation} --app"))?;
        let rel = Self::relation(&mut m, "relation-list", relation)?;
        Ok(Some(rel.remote_app.clone()))
    }

    fn relation_get_unit(
        &self,
        relation: &RelationId,
        unit: &str,
    ) -> Result<RelationData, ToolError> {
        self.relation_get(relation, unit, false)
    }

    fn relation_get_app(
        &self,
        relation: &RelationId,
        app: &str,
    ) -> Result<RelationData, ToolError> {
        self.relation_get(relation, app, true)
    }

    fn relation_set(
        &self,
        relation: &RelationId,
        data: &RelationData,
        app: bool,
    ) -> Result<(), ToolError> {
        let flag = if app { " --app" } else { "" };
        let mut m = self.call("relation-set", &format!("-r {relation}{flag}"))?;
        if app && !m.leader {
            return Err(failed("relation-set", "cannot write relation settings"));
        }
        let rel = Self::relation(&mut m, "relation-set", relation)?;
        rel.set_calls.push((app, data.clone()));
        let target = if app {
            &mut rel.local_app
        } else {
            &mut rel.local_unit
        };
        for (k, v) in data {
            if v.is_empty() {
                target.remove(k);
            } else {
                target.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    fn resource_get(&self, name: &str) -> Result<PathBuf, ToolError> {
        let m = self.call("resource-get", name)?;
        let content = m.resource.clone().ok_or_else(|| {
            failed(
                "resource-get",
                &format!("could not download resource: resource#{name} not found"),
            )
        })?;
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).map_err(|source| ToolError::Input {
            tool: "resource-get".into(),
            source,
        })?;
        Ok(path)
    }

    fn pod_spec_set(&self, spec_yaml: &str, k8s_resources: Option<&str>) -> Result<(), ToolError> {
        let mut m = self.call("pod-spec-set", "")?;
        if !m.leader {
            return Err(failed("pod-spec-set", "this unit is not the leader"));
        }
        if k8s_resources.is_some() {
            return Err(failed("pod-spec-set", "the charm sends no --k8s-resources"));
        }
        // Juju decodes the spec strictly; so does the fake, through our own model.
        crate::yaml::from_str::<crate::pod_spec::PodSpec>(spec_yaml)
            .map_err(|e| failed("pod-spec-set", &e.to_string()))?;
        m.pod_spec = Some(spec_yaml.to_string());
        Ok(())
    }

    fn status_set(&self, scope: StatusScope, status: &Status) -> Result<(), ToolError> {
        let args = match scope {
            StatusScope::Unit => "",
            StatusScope::Application => "--application",
        };
        let mut m = self.call("status-set", args)?;
        match scope {
            StatusScope::Unit => m.unit_status = Some(status.clone()),
            StatusScope::Application if m.leader => m.app_status = Some(status.clone()),
            StatusScope::Application => {
                return Err(failed("status-set", "this unit is not the leader"))
            }
        }
        Ok(())
    }

    fn status_get(&self) -> Result<StatusInfo, ToolError> {
        let m = self.call("status-get", "")?;
        let status = m.unit_status.clone();
        Ok(StatusInfo {
            status: status
                .as_ref()
                .map_or("unknown", |s| s.kind.as_str())
                .to_string(),
            message: status.map(|s| s.message).unwrap_or_default(),
        })
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.call("application-version-set", version).map(|_| ())
    }

    fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), ToolError> {
        let mut m = self.call("juju-log", level.as_str())?;
        m.logs.push((level, message.to_string()));
        Ok(())
    }

    fn network_get(
        &self,
        binding: &str,
        _relation: Option<&RelationId>,
    ) -> Result<NetworkInfo, ToolError> {
        self.call("network-get", binding)?;
        let raw = r#"{"bind-addresses":[{"mac-address":"","interface-name":"","addresses":[{"hostname":"","value":"10.1.36.80","cidr":""}]}],"egress-subnets":["10.152.183.7/32"],"ingress-addresses":["10.152.183.7"]}"#;
        serde_json::from_str(raw).map_err(|source| ToolError::Output {
            tool: "network-get".into(),
            args: Vec::new(),
            source,
        })
    }

    fn leader_get(&self) -> Result<BTreeMap<String, String>, ToolError> {
        self.call("leader-get", "").map(|_| BTreeMap::new())
    }

    fn leader_set(&self, _data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let m = self.call("leader-set", "")?;
        if m.leader {
            Ok(())
        } else {
            Err(failed(
                "leader-set",
                "cannot write leadership settings: cannot write settings: not the leader",
            ))
        }
    }

    fn action_get(&self) -> Result<Map<String, Value>, ToolError> {
        self.call("action-get", "").map(|_| Map::new())
    }

    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let mut m = self.call("action-set", "")?;
        m.action_results.extend(results.clone());
        Ok(())
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        let mut m = self.call("action-fail", "")?;
        m.action_failure = Some(message.to_string());
        Ok(())
    }

    fn action_log(&self, message: &str) -> Result<(), ToolError> {
        self.call("action-log", message).map(|_| ())
    }

    fn state_get(&self) -> Result<BTreeMap<String, String>, ToolError> {
        Ok(self.call("state-get", "")?.state.clone())
    }

    fn state_set(&self, data: &BTreeMap<String, String>) -> Result<(), ToolError> {
        let mut m = self.call("state-set", "")?;
        m.state.extend(data.clone());
        Ok(())
    }
}
