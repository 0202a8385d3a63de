//! The prometheus-k8s charm: a functional core (config, relations, prometheus.yml, pod spec,
//! status) and a thin shell (`charm`) that observes through the Juju hook tools and applies.

pub mod actions;
pub mod charm;
pub mod config;
pub mod error;
pub mod image;
pub mod k8s_names;
pub mod pod_spec;
pub mod prometheus;
pub mod relations;
pub mod status;
pub mod syntax;
pub mod workload;
pub mod yaml;
