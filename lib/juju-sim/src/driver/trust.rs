//! `trust <app> [--scope=cluster] [--remove]` (cmd/juju/application/trust.go): sets the
//! application config's `trust`. On a Kubernetes model granting it needs
//! `--scope=cluster`, since it gives the application's service account full access to
//! the cluster (caas/kubernetes/provider/application/trust.go). A change of trust changes
//! the unit agents' trust hash, and each runs `config-changed` (uniter resolver:
//! `trustHashChanged`). `credential-get` stays refused on Kubernetes models, trusted or
//! not (see the tool).

use crate::hooks::{DriverError, HookSpec, Sim};

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    /// The application to trust.
    application: String,
    /// Remove trusted access from a trusted application.
    #[arg(long)]
    remove: bool,
    /// k8s models only - needs to be set to 'cluster'.
    #[arg(long, default_value = "")]
    scope: String,
}

/// trust.go's `clusterScopeError`.
const CLUSTER_SCOPE_ERROR: &str = "'juju trust' currently grants full access to the cluster itself.
Set the scope to 'cluster' using '--scope=cluster' to confirm this choice.
";

pub(super) fn run(sim: &mut Sim, args: &Args) -> Result<String, DriverError> {
    if !args.remove {
        if args.scope.is_empty() {
            return Err(DriverError::Usage(CLUSTER_SCOPE_ERROR.to_string()));
        }
        if args.scope != "cluster" {
            return Err(DriverError::Usage(format!(
                "scope {:?} not valid",
                args.scope
            )));
        }
    }
    let app = sim.model.app_named(&args.application)?;
    let trust = !args.remove;
    if app.trust == trust {
        return Ok(String::new());
    }
    let units = app.installed_units();
    sim.model.app_mut()?.trust = trust;
    sim.save()?;
    for u in units {
        sim.hook(&u, HookSpec::plain("config-changed"))?;
    }
    sim.drain()?;
    Ok(String::new())
}
