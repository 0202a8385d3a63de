//! Everything about Prometheus itself: the typed `prometheus.yml` and how the charm renders it.

pub mod config;
pub mod render;

#[cfg(test)]
pub(crate) mod promtool;
