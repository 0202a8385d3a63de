//! Everything about Prometheus itself: the typed `prometheus.yml`, how the charm renders it,
//! its HTTP API, and whether what it serves is what was rendered.

pub mod api;
pub mod config;
pub mod render;
pub mod served;
pub mod targets;

#[cfg(test)]
pub(crate) mod promtool;
