//! `destroy-model`: stops every process of the model (our units' workloads and live
//! peers), then removes the model directory.

use std::fs;

use crate::hooks::DriverError;
use crate::model::{io_err, ModelDir, ModelError};
use crate::workload;

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    /// The model's name (checked when given).
    model: Option<String>,
    /// Juju asks before destroying; juju-sim never asks and accepts the flag.
    #[arg(short = 'y', long = "no-prompt")]
    no_prompt: bool,
}

pub(super) fn run(dir: &ModelDir, args: &Args) -> Result<String, DriverError> {
    let has_workloads = dir.root.join("workloads").is_dir();
    if !dir.exists() && !has_workloads {
        return Err(ModelError::Missing(dir.root.display().to_string()).into());
    }
    if let (Some(want), Ok(model)) = (&args.model, dir.load()) {
        if *want != model.name {
            return Err(DriverError::Usage(format!(
                "model {want:?} not found (this model is {:?})",
                model.name
            )));
        }
    }
    let pebbles = super::sidecar::stop_all(dir)?;
    let stopped = workload::stop_all(dir)?;
    fs::remove_dir_all(&dir.root).map_err(io_err(&dir.root))?;
    Ok(format!(
        "Destroying model\nstopped {} workload process(es)\nModel destroyed.\n",
        stopped.len() + pebbles
    ))
}
