//! The real [`Container`]: the workload container's Pebble, over the unix socket Juju mounts
//! in the charm container (`/charm/containers/<name>/pebble.socket`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sidecar::{Container, ExecOutput, PebbleError};
use pebble::{Layer, Plan};

/// How long a replan (Prometheus starting or stopping) may take before the hook fails.
const REPLAN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long promtool may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

pub struct PebbleContainer {
    name: String,
    client: pebble::Client,
}

impl PebbleContainer {
    pub fn new(name: &str) -> Self {
        PebbleContainer {
            name: name.to_string(),
            client: pebble::Client::for_container(name),
        }
    }

    fn error(&self, e: pebble::Error) -> PebbleError {
        if e.is_not_reachable() {
            PebbleError::NotReady {
                container: self.name.clone(),
                reason: e.to_string(),
            }
        } else {
            PebbleError::Failed {
                container: self.name.clone(),
                message: e.to_string(),
            }
        }
    }
}

impl Container for PebbleContainer {
    fn plan(&self) -> Result<Plan, PebbleError> {
        self.client.get_plan().map_err(|e| self.error(e))
    }

    fn add_layer(&self, label: &str, layer: &Layer) -> Result<(), PebbleError> {
        self.client
            .add_layer(label, layer, true)
            .map_err(|e| self.error(e))
    }

    fn replan(&self) -> Result<(), PebbleError> {
        let change = self.client.replan().map_err(|e| self.error(e))?;
        self.client
            .wait_change(&change, REPLAN_TIMEOUT)
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn pull(&self, path: &str) -> Result<Option<String>, PebbleError> {
        match self.client.pull(path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(pebble::Error::Path { kind, .. }) if kind == "not-found" => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn push(&self, path: &str, content: &str, permissions: u32) -> Result<(), PebbleError> {
        self.client
            .push(path, content.as_bytes(), true, Some(permissions))
            .map_err(|e| self.error(e))
    }

    fn exec(
        &self,
        command: &[String],
        working_dir: Option<&str>,
    ) -> Result<ExecOutput, PebbleError> {
        let argv: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = self
            .client
            .exec(&argv, &BTreeMap::new(), working_dir, EXEC_TIMEOUT, None)
            .map_err(|e| self.error(e))?;
        Ok(ExecOutput {
            exit_code: out.exit_code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
