//! A small blocking client for Pebble, the workload container's service manager, over the
//! unix socket Juju mounts into the charm container
//! (`/charm/containers/<container>/pebble.socket`). It speaks Pebble's HTTP API as
//! Pebble's Go daemon serves it (canonical/pebble `internals/daemon`), with requests
//! shaped as the official Python client (ops `pebble.Client`) sends them. Knows nothing
//! of Prometheus.
//!
//! Every call opens its own connection and is bounded by the client's timeout (longer
//! waits — a change, an exec — by the duration asked for). Errors say whether Pebble is
//! simply not there yet ([`Error::NotReachable`]), refused the call ([`Error::Api`]), or
//! answered something it never sends ([`Error::Protocol`]).
//!
//! ```no_run
//! # fn main() -> Result<(), pebble::Error> {
//! use pebble::{layer_differs, Client, Layer, Override, Service, Startup};
//! use std::time::Duration;
//!
//! let pebble = Client::for_container("prometheus");
//! let mut layer = Layer::default();
//! layer.services.insert(
//!     "prometheus".into(),
//!     Service {
//!         r#override: Some(Override::Replace),
//!         command: "/bin/prometheus --config.file=/etc/prometheus/prometheus.yml".into(),
//!         startup: Some(Startup::Enabled),
//!         ..Service::default()
//!     },
//! );
//! match pebble.get_plan() {
//!     Err(e) if e.is_not_reachable() => { /* status: waiting for the container */ }
//!     Err(e) => return Err(e),
//!     Ok(plan) => {
//!         pebble.push("/etc/prometheus/prometheus.yml", b"global: {}\n", true, Some(0o644))?;
//!         if layer_differs(&plan, &layer, &["prometheus"]) {
//!             pebble.add_layer("prometheus", &layer, true)?;
//!             let change = pebble.replan()?;
//!             pebble.wait_change(&change, Duration::from_secs(30))?;
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod duration;
mod error;
mod exec;
mod http;
mod layer;
mod models;
mod multipart;

pub use client::{Client, DEFAULT_TIMEOUT};
pub use duration::GoDuration;
pub use error::{Error, Result};
pub use exec::ExecOutput;
pub use layer::{
    layer_differs, Check, CheckLevel, ExecCheck, HttpCheck, Layer, Override, Plan, Service,
    ServiceAction, Startup, TcpCheck,
};
pub use models::{
    Change, ChangeId, CheckInfo, CheckStatus, FileInfo, FileType, ServiceInfo, ServiceStartup,
    ServiceStatus, SystemInfo, Task,
};
