//! Typed access to the environment Juju gives a charm process: which hook is running
//! ([`Hook`]), the `JUJU_*` variables ([`HookContext`]) and the hook tools ([`HookTools`]).
//!
//! This crate knows nothing of Prometheus. [`ProcessTools`] runs the real tools found on
//! `PATH` (Juju's, or the `juju-sim` stand-in); tests may implement [`HookTools`] in memory.

mod context;
mod hook;
mod level;
#[cfg(feature = "tools")]
mod log;
#[cfg(feature = "tools")]
mod process;
mod text;
mod tools;
mod unit;

pub use context::{ContextError, HookContext};
pub use hook::{Hook, HookError, RelationHookKind, StorageHookKind, WorkloadHookKind};
pub use level::LogLevel;
#[cfg(feature = "tools")]
pub use log::JujuLogLayer;
#[cfg(feature = "tools")]
pub use process::ProcessTools;
pub use text::printable;
pub use tools::{
    HookTools, NetworkInfo, RelationData, RelationId, Status, StatusInfo, StatusKind, StatusScope,
    ToolError,
};
pub use unit::{application_of, UnitName};
