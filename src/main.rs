//! `prometheus-charm`: run by Juju as `dispatch` or `hooks/<name>`; one reconcile per hook.

use std::process::ExitCode;

use juju::{Hook, HookContext, HookError, JujuLogLayer, LogLevel, ProcessTools};
use prometheus_charm::charm::{CharmKind, Workload};
use prometheus_charm::error::CharmError;
use prometheus_charm::http::HttpApi;
use prometheus_charm::pebble_container::PebbleContainer;
use prometheus_charm::{actions, charm, pod_spec};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

fn main() -> ExitCode {
    let tools = ProcessTools::new();
    // Events go to juju-log (debug-log); warnings also to stderr, which Juju logs as WARNING
    // even when juju-log itself is what fails.
    let subscriber = tracing_subscriber::registry()
        .with(JujuLogLayer::new(tools.clone(), LogLevel::Info))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time()
                .with_target(false)
                .with_filter(LevelFilter::WARN),
        );
    // Only fails if a subscriber is already set, and then events still go somewhere.
    let _ = tracing::subscriber::set_global_default(subscriber);
    match run(&tools) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(tools: &ProcessTools) -> Result<(), CharmError> {
    let ctx = HookContext::from_env()?;
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dispatch_path = std::env::var("JUJU_DISPATCH_PATH").ok();
    let hook = match Hook::resolve(dispatch_path.as_deref(), &argv0) {
        Ok(hook) => Some(hook),
        // A hook newer than this charm: the reconcile is right for it too.
        Err(HookError::Unknown(name)) => {
            tracing::warn!("unknown hook {name:?}: reconciling anyway");
            None
        }
        Err(other) => return Err(other.into()),
    };
    // Which charm this binary was packed as: the metadata.yaml Juju unpacked beside it.
    let metadata_path = ctx.charm_dir.join("metadata.yaml");
    let metadata = std::fs::read_to_string(&metadata_path).map_err(|e| CharmError::CharmDir {
        path: metadata_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let container = match charm::charm_kind(&metadata)? {
        CharmKind::PodSpec => None,
        CharmKind::Sidecar => Some(PebbleContainer::new(pod_spec::CONTAINER)),
    };
    let workload = match &container {
        Some(container) => Workload::Sidecar(container),
        None => Workload::PodSpec,
    };
    // Dispatch once, here: an action reports and changes nothing; a hook reconciles.
    let api = HttpApi::new();
    match &hook {
        Some(Hook::Action(name)) => actions::run(tools, &ctx, name, &api, workload)?,
        hook => charm::run(tools, &ctx, hook.as_ref(), &api, workload)?,
    }
    match tools.log_timeout() {
        Some(timeout) => Err(timeout.into()),
        None => Ok(()),
    }
}
