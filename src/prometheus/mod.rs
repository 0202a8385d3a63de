//! Everything about Prometheus itself: the typed `prometheus.yml`.

pub mod config;
