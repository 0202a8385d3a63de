//! The charm's errors: whatever stops a hook from completing. Problems an operator fixes
//! (bad options, a missing image) are not errors but statuses (see `status`).

use juju::{ContextError, HookError, ToolError};
use thiserror::Error;

use crate::sidecar::PebbleError;
use crate::yaml::YamlError;

#[derive(Debug, Error)]
pub enum CharmError {
    /// A hook tool failed: the hook must fail so that Juju retries it.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Not run by a Juju unit agent (or a broken one).
    #[error("cannot read the hook context: {0}")]
    Context(#[from] ContextError),
    #[error("cannot tell which hook is running: {0}")]
    Hook(#[from] HookError),
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// The metadata.yaml built into the binary does not parse: a packaging bug.
    #[error("metadata.yaml: {0}")]
    Metadata(YamlError),
    /// The charm's metadata.yaml could not be read where Juju unpacked the charm.
    #[error("cannot read {path}: {reason}")]
    CharmDir { path: String, reason: String },
    /// The relations cache lost a file between reading its index and the relations: the
    /// hook reads everything again.
    #[error("the relations cache is incomplete")]
    CacheIncomplete,
    /// Sidecar charm: Pebble answered, with an error.
    #[error(transparent)]
    Pebble(#[from] PebbleError),
}

impl CharmError {
    /// The process exit status for this error: the one place that decides it. Any non-zero
    /// status makes Juju put the unit in error and retry the hook; 2 marks a process that
    /// was not started by Juju as expected (no hook context, no hook name).
    pub fn exit_code(&self) -> u8 {
        match self {
            CharmError::Context(_) | CharmError::Hook(_) => 2,
            CharmError::Tool(_)
            | CharmError::Yaml(_)
            | CharmError::Metadata(_)
            | CharmError::CharmDir { .. }
            | CharmError::CacheIncomplete
            | CharmError::Pebble(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_failures_exit_1_and_context_problems_exit_2() {
        let tool = CharmError::from(ToolError::Failed {
            tool: "pod-spec-set".into(),
            args: vec![],
            code: Some(1),
            stderr: "ERROR boom".into(),
        });
        assert_eq!(tool.exit_code(), 1);
        assert_eq!(
            CharmError::from(ContextError::Missing("JUJU_UNIT_NAME")).exit_code(),
            2
        );
        assert_eq!(CharmError::from(HookError::NoName).exit_code(), 2);
    }
}
