//! The charm's functional core: pure functions from what a hook observes (options, relation
//! data, the image resource, what the workload reports) to what it applies (prometheus.yml,
//! rules and target files, the pod spec, relation data to publish, the status).
//!
//! This crate has no HTTP client, runs no process and writes no file: Cargo holds that
//! boundary (its dependencies are serde, thiserror, tracing and `juju`'s types without its
//! tools), so the shell (`prometheus-charm`) is the only place I/O can happen.

pub mod config;
pub mod image;
pub mod incremental;
pub mod k8s_names;
pub mod pod_spec;
pub mod prometheus;
pub mod relations;
pub mod status;
pub mod syntax;
pub mod workload;
pub mod yaml;
