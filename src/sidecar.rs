//! The sidecar charm's apply side: where the pod-spec charm hands Juju a spec, the sidecar
//! charm drives the workload container itself through Pebble. It pushes the rendered files
//! to the paths the command line names (only those whose content differs), then adds the
//! layer and replans only when the plan does not already hold our service and check as the
//! layer defines them — so a configuration change reaches Prometheus by the reload that
//! `workload::check` does, and the process keeps running.
//!
//! [`Container`] is what this module needs of Pebble; the real one is `pebble_container`.

use thiserror::Error;

use pebble::{Layer, Plan};

use crate::pebble_layer;
use crate::pod_spec::{ConfigFiles, FILE_MODE};

/// Why Pebble could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PebbleError {
    /// Nothing answers on the container's socket yet (the container is starting, or
    /// restarting): the unit waits for `<container>-pebble-ready`, the hook does not fail.
    #[error("Pebble in the {container} container is not up yet: {reason}")]
    NotReady { container: String, reason: String },
    /// Pebble answered with an error, or with something that is not its API: the hook
    /// fails and Juju retries it.
    #[error("Pebble in the {container} container: {message}")]
    Failed { container: String, message: String },
}

/// A command's outcome in the workload container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The workload container, through its Pebble.
pub trait Container {
    /// The current plan (every layer combined).
    fn plan(&self) -> Result<Plan, PebbleError>;
    /// Adds `layer` under `label`, replacing an earlier layer of that label.
    fn add_layer(&self, label: &str, layer: &Layer) -> Result<(), PebbleError>;
    /// Starts, restarts or stops services to match the plan, and waits until done.
    fn replan(&self) -> Result<(), PebbleError>;
    /// A file's content, `None` when there is none.
    fn pull(&self, path: &str) -> Result<Option<String>, PebbleError>;
    /// Writes a file, making its parent directories.
    fn push(&self, path: &str, content: &str, permissions: u32) -> Result<(), PebbleError>;
    /// Runs a command in the container (in `working_dir` when given) and waits for it.
    fn exec(
        &self,
        command: &[String],
        working_dir: Option<&str>,
    ) -> Result<ExecOutput, PebbleError>;
}

/// What [`apply`] changed in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Paths of the files written.
    pub pushed: Vec<String>,
    /// The layer was added and the services replanned (Prometheus restarted or started).
    pub replanned: bool,
}

/// Each rendered file at its path in the container (the pod spec's mount paths).
pub fn file_paths(files: &ConfigFiles) -> Vec<(String, &str)> {
    files
        .file_sets()
        .into_iter()
        .flat_map(|set| {
            let dir = set.mount_path.trim_end_matches('/').to_string();
            set.files
                .into_iter()
                .map(move |(name, content)| (format!("{dir}/{name}"), content))
        })
        .collect()
}

/// Files first, so a Prometheus the replan starts reads them at once; then the layer, only
/// when the plan lacks it as it is.
pub fn apply(
    container: &dyn Container,
    files: &ConfigFiles,
    layer: &Layer,
) -> Result<Applied, PebbleError> {
    let mut applied = Applied::default();
    for (path, content) in file_paths(files) {
        if container.pull(&path)?.as_deref() != Some(content) {
            container.push(&path, content, FILE_MODE)?;
            applied.pushed.push(path);
        }
    }
    if pebble_layer::differs(&container.plan()?, layer) {
        container.add_layer(pebble_layer::LABEL, layer)?;
        container.replan()?;
        applied.replanned = true;
    }
    Ok(applied)
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory Pebble: a plan, files, a service's start count, recorded calls.

    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct FakeContainer {
        pub up: bool,
        pub plan: RefCell<Plan>,
        pub files: RefCell<BTreeMap<String, String>>,
        /// How many times the service was (re)started.
        pub starts: RefCell<u32>,
        pub calls: RefCell<Vec<String>>,
        /// What `exec` answers.
        pub exec_output: Option<ExecOutput>,
    }

    impl FakeContainer {
        pub(crate) fn up() -> Self {
            FakeContainer {
                up: true,
                ..Default::default()
            }
        }

        fn call(&self, what: String) -> Result<(), PebbleError> {
            self.calls.borrow_mut().push(what);
            if self.up {
                Ok(())
            } else {
                Err(PebbleError::NotReady {
                    container: "prometheus".into(),
                    reason: "socket not found".into(),
                })
            }
        }
    }

    impl Container for FakeContainer {
        fn plan(&self) -> Result<Plan, PebbleError> {
            self.call("plan".into())?;
            Ok(self.plan.borrow().clone())
        }
        fn add_layer(&self, label: &str, layer: &Layer) -> Result<(), PebbleError> {
            self.call(format!("add-layer {label}"))?;
            let mut plan = self.plan.borrow_mut();
            plan.services.extend(layer.services.clone());
            plan.checks.extend(layer.checks.clone());
            Ok(())
        }
        fn replan(&self) -> Result<(), PebbleError> {
            self.call("replan".into())?;
            *self.starts.borrow_mut() += 1;
            Ok(())
        }
        fn pull(&self, path: &str) -> Result<Option<String>, PebbleError> {
            self.call(format!("pull {path}"))?;
            Ok(self.files.borrow().get(path).cloned())
        }
        fn push(&self, path: &str, content: &str, _: u32) -> Result<(), PebbleError> {
            self.call(format!("push {path}"))?;
            self.files
                .borrow_mut()
                .insert(path.to_string(), content.to_string());
            Ok(())
        }
        fn exec(
            &self,
            command: &[String],
            working_dir: Option<&str>,
        ) -> Result<ExecOutput, PebbleError> {
            self.call(format!(
                "exec {} (in {})",
                command.join(" "),
                working_dir.unwrap_or("/")
            ))?;
            self.exec_output.clone().ok_or_else(|| PebbleError::Failed {
                container: "prometheus".into(),
                message: "no such command".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeContainer;
    use super::*;
    use crate::config::test_config as config;

    fn files(prometheus_yml: &str) -> ConfigFiles {
        ConfigFiles {
            prometheus_yml: prometheus_yml.to_string(),
            ..ConfigFiles::default()
        }
    }

    #[test]
    fn the_first_apply_pushes_every_file_and_starts_the_service() {
        let container = FakeContainer::up();
        let layer = pebble_layer::build(&config(&[]), false, "prometheus-0");
        let applied = apply(&container, &files("global: {}\n"), &layer).unwrap();
        assert!(applied.replanned);
        assert_eq!(applied.pushed.len(), file_paths(&files("")).len());
        assert!(applied
            .pushed
            .contains(&"/etc/prometheus/prometheus.yml".to_string()));
        assert_eq!(*container.starts.borrow(), 1);
    }

    #[test]
    fn a_new_configuration_pushes_one_file_and_keeps_the_service_running() {
        let container = FakeContainer::up();
        let layer = pebble_layer::build(&config(&[]), false, "prometheus-0");
        apply(&container, &files("global: {}\n"), &layer).unwrap();
        let applied = apply(
            &container,
            &files("global: {scrape_interval: 1m}\n"),
            &layer,
        )
        .unwrap();
        assert_eq!(applied.pushed, vec!["/etc/prometheus/prometheus.yml"]);
        assert!(!applied.replanned);
        assert_eq!(*container.starts.borrow(), 1);
    }

    #[test]
    fn a_new_command_line_replans() {
        let container = FakeContainer::up();
        apply(
            &container,
            &files(""),
            &pebble_layer::build(&config(&[]), false, "prometheus-0"),
        )
        .unwrap();
        let applied = apply(
            &container,
            &files(""),
            &pebble_layer::build(&config(&[]), true, "prometheus-0"),
        )
        .unwrap();
        assert!(applied.pushed.is_empty());
        assert!(applied.replanned);
        assert_eq!(*container.starts.borrow(), 2);
    }

    #[test]
    fn a_container_not_up_is_not_ready() {
        let container = FakeContainer::default();
        let layer = pebble_layer::build(&config(&[]), false, "prometheus-0");
        assert!(matches!(
            apply(&container, &files(""), &layer),
            Err(PebbleError::NotReady { .. })
        ));
    }
}
