//! What a hook is about (its name, relation, storage): plain data the model stores (a
//! failed hook, deferred hooks), the hook context reads and the simulator fires; no module
//! it depends on depends on it, so the model need not import the simulator.

use serde::{Deserialize, Serialize};

use crate::charm::Storage;

/// The relation a hook or tool call is in, as its context names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContextRelation {
    pub id: u32,
    pub endpoint: String,
    pub remote_app: String,
    pub remote_unit: Option<String>,
    pub departing_unit: Option<String>,
}

/// What a hook is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HookSpec {
    pub name: String,
    pub relation: Option<ContextRelation>,
    pub storage: Option<Storage>,
    /// The workload container of a `<container>-pebble-ready` hook (`JUJU_WORKLOAD_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

impl HookSpec {
    pub(crate) fn plain(name: &str) -> HookSpec {
        HookSpec {
            name: name.to_string(),
            relation: None,
            storage: None,
            workload: None,
        }
    }

    /// `<container>-pebble-ready`, once the container's Pebble answers.
    pub(crate) fn pebble_ready(container: &str) -> HookSpec {
        HookSpec {
            name: format!("{container}-pebble-ready"),
            relation: None,
            storage: None,
            workload: Some(container.to_string()),
        }
    }

    /// `<storage>-storage-<kind>` (`attached`, `detaching`).
    pub(crate) fn storage(kind: &str, storage: Storage) -> HookSpec {
        HookSpec {
            name: format!("{}-storage-{kind}", storage.name),
            relation: None,
            storage: Some(storage),
            workload: None,
        }
    }

    pub(crate) fn relation(kind: &str, relation: ContextRelation) -> HookSpec {
        HookSpec {
            name: format!("{}-relation-{kind}", relation.endpoint),
            relation: Some(relation),
            storage: None,
            workload: None,
        }
    }
}
