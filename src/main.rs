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
    let result = match &hook {
        Some(Hook::Action(name)) => actions::run(tools, &ctx, name, &api, workload),
        hook => charm::run(tools, &ctx, hook.as_ref(), &api, workload),
    };
    // While the HTTP client's thread is alive, so that its CPU is counted too.
    report_cost(&ctx);
    result?;
    match tools.log_timeout() {
        Some(timeout) => Err(timeout.into()),
        None => Ok(()),
    }
}

/// For `make bench`: when [`COST_FILE`] names a file, appends this process's own CPU (every
/// thread's time on a CPU, from the scheduler, in nanoseconds: getrusage of the parent would
/// add the hook tools' processes) and its peak RSS (`VmHWM`, kB), one line per hook. Nothing
/// a hook decides depends on it, and a failure to write is ignored.
fn report_cost(ctx: &HookContext) {
    const COST_FILE: &str = "PROMETHEUS_CHARM_COST_FILE";
    let Some(path) = std::env::var_os(COST_FILE) else {
        return;
    };
    let cpu_ns: u64 = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    let hwm_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let hook = std::env::var("JUJU_HOOK_NAME").unwrap_or_default();
    let line = format!("{} {hook} {cpu_ns} {hwm_kb}\n", ctx.unit_name);
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}
