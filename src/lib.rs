//! The prometheus-k8s charm's shell: it observes through the Juju hook tools, plans with the
//! functional core (`charm-core`, re-exported here under the same module names) and applies.

pub use charm_core::{
    config, image, incremental, k8s_names, pod_spec, prometheus, relations, status, syntax,
    workload, yaml,
};

pub mod actions;
pub mod charm;
pub mod error;
pub mod http;
pub mod pebble_container;
pub mod pebble_layer;
pub mod sidecar;
