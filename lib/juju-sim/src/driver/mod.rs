//! The driver CLI, in Juju's words: `deploy`, `config`, `relate`, `status`, ...

mod action;
mod config;
mod deploy;
mod destroy;
mod inspect;
mod relate;
mod sequences;
mod sidecar;
mod status;
mod trust;
mod units;
mod upgrade;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::hooks::{DriverError, Sim};
use crate::model::ModelDir;

#[derive(Parser, Debug)]
#[command(
    name = "juju-sim",
    about = "A local stand-in for Juju: deploys a pod-spec charm, fires its hooks in Juju's order and plays the hook tools",
    version
)]
pub(crate) struct Cli {
    /// The model directory (default: $JUJU_SIM_HOME, else ./.juju-sim).
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Show every hook's output as it runs.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Verb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutFormat {
    #[default]
    Human,
    Yaml,
    Json,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Deploy a charm (directory or .charm) and run its units' first hooks.
    Deploy(deploy::Args),
    /// Show or change the application's configuration.
    Config(config::Args),
    /// Relate the deployed application to a remote application played by a profile.
    Relate(relate::RelateArgs),
    /// Remove a relation (by its two sides or its id).
    RemoveRelation(relate::RemoveArgs),
    /// Change a remote unit's or application's databag and fire -relation-changed.
    SetRelationData(relate::SetDataArgs),
    /// Show a relation's databags.
    ShowRelationData(relate::ShowDataArgs),
    /// Add units to the deployed or a remote application.
    AddUnit(units::AddArgs),
    /// Remove units.
    RemoveUnit(units::RemoveArgs),
    /// Run an action on a unit and print its outcome.
    RunAction(action::Args),
    /// Fire one hook on a unit.
    RunHook(units::RunHookArgs),
    /// Retry a unit's failed hook (or skip it with --no-retry), then run the events that waited.
    Resolved(units::ResolvedArgs),
    /// Fire update-status on every unit.
    UpdateStatus,
    /// Trust the application (on Kubernetes: its service account gets full access to the
    /// cluster; needs --scope=cluster), or with --remove take trust back.
    Trust(trust::Args),
    /// Replace the application's charm (--path, else the deployed source), run upgrade-charm
    /// then config-changed on every unit; the pods roll.
    UpgradeCharm(upgrade::Args),
    /// The model's status, like `juju status`.
    Status(status::Args),
    /// Print the pod spec as the leader set it.
    ShowPodSpec(inspect::PodSpecArgs),
    /// Recorded hook tool calls.
    Calls(inspect::CallsArgs),
    /// The model's log (hook output, juju-log, the agent's own lines).
    DebugLog,
    /// Make a hook tool fail until cleared.
    FailTool(inspect::FailToolArgs),
    /// The profiles that play remote applications.
    Profiles(inspect::ProfilesArgs),
    /// Stop every process of the model and remove it.
    DestroyModel(destroy::Args),
    /// The Pebble stand-in of one unit's container (started by juju-sim itself).
    #[command(hide = true)]
    PebbleServe(crate::pebble::ServeArgs),
}

fn model_dir(cli: &Cli) -> Result<ModelDir, DriverError> {
    let root = cli
        .model_dir
        .clone()
        .or_else(|| std::env::var_os("JUJU_SIM_HOME").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".juju-sim"));
    Ok(ModelDir::new(&root)?)
}

fn open(cli: &Cli) -> Result<Sim, DriverError> {
    let dir = model_dir(cli)?;
    let model = dir.load()?;
    Ok(Sim::new(dir, model, cli.verbose))
}

/// Runs the driver; returns the exit code.
pub(crate) fn main(args: Vec<String>) -> i32 {
    let cli = Cli::parse_from(args);
    match run(&cli) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(DriverError::HooksFailed { output, failures }) => {
            print!("{output}");
            for f in failures {
                eprintln!("ERROR hook failed: {:?} (unit {})", f.hook, f.unit);
                eprint!("{}", f.stderr);
            }
            1
        }
        Err(DriverError::ActionFailed(report)) => {
            print!("{report}");
            1
        }
        Err(e) => {
            eprintln!("ERROR {e}");
            1
        }
    }
}

fn run(cli: &Cli) -> Result<String, DriverError> {
    match &cli.command {
        Verb::Deploy(a) => deploy::run(model_dir(cli)?, cli.verbose, a),
        Verb::Profiles(a) => inspect::profiles(a),
        Verb::Config(a) => drive(cli, |sim| config::run(sim, a)),
        Verb::Relate(a) => drive(cli, |sim| relate::relate(sim, a)),
        Verb::RemoveRelation(a) => drive(cli, |sim| relate::remove(sim, a)),
        Verb::SetRelationData(a) => drive(cli, |sim| relate::set_data(sim, a)),
        Verb::ShowRelationData(a) => relate::show_data(&open(cli)?, a),
        Verb::AddUnit(a) => drive(cli, |sim| units::add(sim, a)),
        Verb::RemoveUnit(a) => drive(cli, |sim| units::remove(sim, a)),
        Verb::RunAction(a) => drive(cli, |sim| action::run(sim, a)),
        Verb::RunHook(a) => drive(cli, |sim| units::run_hook(sim, a)),
        Verb::Resolved(a) => drive(cli, |sim| units::resolved(sim, a)),
        Verb::UpdateStatus => drive(cli, units::update_status),
        Verb::UpgradeCharm(a) => drive(cli, |sim| upgrade::run(sim, a)),
        Verb::Trust(a) => drive(cli, |sim| trust::run(sim, a)),
        Verb::Status(a) => status::run(&open(cli)?, a),
        Verb::ShowPodSpec(a) => inspect::pod_spec(&open(cli)?, a),
        Verb::Calls(a) => inspect::calls(&model_dir(cli)?, a),
        Verb::DebugLog => inspect::debug_log(&model_dir(cli)?),
        Verb::FailTool(a) => inspect::fail_tool(&mut open(cli)?, a),
        Verb::DestroyModel(a) => destroy::run(&model_dir(cli)?, a),
        Verb::PebbleServe(a) => crate::pebble::serve(a)
            .map(|()| String::new())
            .map_err(DriverError::Usage),
    }
}

/// Runs a verb that fires hooks; hooks that failed on the way make the command fail
/// once it has done everything else.
fn drive(
    cli: &Cli,
    verb: impl FnOnce(&mut Sim) -> Result<String, DriverError>,
) -> Result<String, DriverError> {
    let mut sim = open(cli)?;
    let output = verb(&mut sim)?;
    sim.settle(output)
}

/// `key=value` arguments, split at the first `=`.
pub(crate) fn key_value_pairs(settings: &[String]) -> Result<Vec<(String, String)>, DriverError> {
    settings
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| DriverError::Usage(format!("expected \"key=value\", got {s:?}")))
        })
        .collect()
}

/// Renders a serializable value in the chosen output format (human defaults to YAML).
pub(crate) fn render<T: serde::Serialize>(
    value: &T,
    format: OutFormat,
) -> Result<String, DriverError> {
    let fail = |e: String| DriverError::Usage(format!("cannot render output: {e}"));
    match format {
        OutFormat::Json => serde_json::to_string(value)
            .map(|s| format!("{s}\n"))
            .map_err(|e| fail(e.to_string())),
        OutFormat::Yaml | OutFormat::Human => {
            crate::yaml::to_string(value).map_err(|e| fail(e.to_string()))
        }
    }
}
