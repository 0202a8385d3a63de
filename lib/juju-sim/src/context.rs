//! A running hook's context (`<model>/contexts/<JUJU_CONTEXT_ID>.json`): what the hook is
//! about, and the changes Juju keeps pending until the hook exits 0.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{io_err, write_atomic, Databag, ModelDir, ModelError};

pub(crate) use crate::event::ContextRelation;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct ActionState {
    pub name: String,
    pub id: u32,
    pub params: Map<String, Value>,
    pub results: Map<String, Value>,
    pub failure: Option<String>,
    pub log: Vec<String>,
}

/// Key changes: `None` deletes the key.
pub(crate) type Changes = BTreeMap<String, Option<String>>;

/// Records `settings` as changes, as `relation-set` does: an empty value deletes its
/// key. (`state-set` stores empty values.)
pub(crate) fn stage(changes: &mut Changes, settings: BTreeMap<String, String>) {
    for (k, v) in settings {
        changes.insert(k, (!v.is_empty()).then_some(v));
    }
}

pub(crate) fn apply_changes(bag: &mut Databag, changes: &Changes) {
    for (k, v) in changes {
        match v {
            Some(v) => {
                bag.insert(k.clone(), v.clone());
            }
            None => {
                bag.remove(k);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct RelationChanges {
    pub unit: Changes,
    pub app: Changes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingPodSpec {
    pub spec: String,
    pub k8s_resources: Option<String>,
    pub tool: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Pending {
    pub relations: BTreeMap<u32, RelationChanges>,
    pub pod_spec: Option<PendingPodSpec>,
    pub state: Changes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Context {
    pub id: String,
    pub unit: String,
    /// The hook name, or the action name for actions.
    pub hook: String,
    pub relation: Option<ContextRelation>,
    pub action: Option<ActionState>,
    pub pending: Pending,
}

impl Context {
    pub(crate) fn load(dir: &ModelDir, id: &str) -> Result<Option<Context>, ModelError> {
        let path = dir.context_file(id);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ModelError::Corrupt {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    pub(crate) fn save(&self, dir: &ModelDir) -> Result<(), ModelError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| ModelError::Corrupt {
            path: dir.context_file(&self.id).display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(&dir.context_file(&self.id), &text)
    }

    pub(crate) fn remove(dir: &ModelDir, id: &str) -> Result<(), ModelError> {
        let path = dir.context_file(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }
}

/// Sets `value` at a dotted key's `path` (`a.b` → `{"a": {"b": value}}`), as Juju
/// nests action parameters and results; a scalar in the way becomes a map.
pub(crate) fn set_nested(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = map;
    for p in parents {
        let entry = current
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        current = next;
    }
    current.insert(last.clone(), value);
}
