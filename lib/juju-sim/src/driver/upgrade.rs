//! `upgrade-charm`: replace the deployed charm, run `upgrade-charm` then `config-changed`
//! on every unit (the uniter queues config-changed to follow upgrade-charm,
//! worker/uniter/operation/runhook.go), and re-apply the spec. Juju bumps the application's
//! `CharmModifiedVersion` (`SetCharm`), which the pod template carries as an annotation, so
//! the workload pods roll even when the spec is unchanged (caas/kubernetes/provider/k8s.go).
//! The controller re-applies the spec when the leader's upgrade-charm hook commits: that
//! commit bumps the pod spec's upgrade counter even without a `pod-spec-set`
//! (context.go `addCommitHookChangesForCAAS`), which wakes the provisioner.

use std::fs;
use std::path::PathBuf;

use crate::charm;
use crate::hooks::{Delivery, DriverError, HookSpec, Sim};
use crate::kubernetes;
use crate::model::io_err;
use crate::workload;

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    /// The deployed application.
    application: String,
    /// The new charm (directory or .charm); default: where the application was deployed from.
    #[arg(long, value_name = "CHARM")]
    path: Option<PathBuf>,
}

pub(super) fn run(sim: &mut Sim, args: &Args) -> Result<String, DriverError> {
    let app = sim.model.app_named(&args.application)?;
    let name = app.name.clone();
    let source = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&app.charm_source));
    let old_charm = app.charm.metadata.name.clone();
    let staging = sim.dir.root.join("charms").join(".incoming");
    let _ = fs::remove_dir_all(&staging);
    charm::unpack(&source, &staging)?;
    let info = charm::read_info(&staging)?;
    let missing: Vec<&str> = info
        .metadata
        .resources
        .iter()
        .filter(|r| r.kind == "oci-image" && !app.resources.contains_key(&r.name))
        .map(|r| r.name.as_str())
        .collect();
    let refusal = if info.metadata.name != old_charm {
        Some(format!(
            "cannot upgrade application {name:?} from charm {old_charm:?} to {:?}: juju-sim upgrades to a new revision of the same charm only",
            info.metadata.name
        ))
    } else if !missing.is_empty() {
        Some(format!(
            "local charm missing OCI images for: {}",
            missing.join(", ")
        ))
    } else {
        None
    };
    if let Some(message) = refusal {
        let _ = fs::remove_dir_all(&staging);
        return Err(DriverError::Usage(message));
    }

    let store = sim.dir.charm_store(&name);
    let _ = fs::remove_dir_all(&store);
    fs::rename(&staging, &store).map_err(io_err(&store))?;
    // Each unit's charm dir gets the new files before its upgrade-charm hook runs.
    // Simplified: a unit in error gets them too, while Juju upgrades it once resolved.
    let units = sim.model.app()?.unit_names();
    for u in &units {
        let dir = sim.dir.unit_charm_dir(u);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        charm::copy_tree(&store, &dir)?;
    }
    let app = sim.model.app_mut()?;
    app.charm = info;
    app.charm_source = source.display().to_string();
    app.charm_revision += 1;
    app.charm_modified_version += 1;
    let url = format!(
        "local:kubernetes/{}-{}",
        app.charm.metadata.name, app.charm_revision
    );
    sim.save()?;

    let sidecar = sim.model.app()?.sidecar();
    for u in &units {
        if !sim.model.unit(u)?.installed {
            continue;
        }
        if sidecar {
            super::sidecar::upgrade_unit(sim, u)?;
            continue;
        }
        let delivery = sim.hook(u, HookSpec::plain("upgrade-charm"))?;
        if delivery == Delivery::Ran && sim.model.is_leader(u) {
            // Applying is idempotent: a spec the hook changed has been applied at its
            // commit already, with the new charm modified version, and rolls only once.
            kubernetes::apply(&sim.dir, &mut sim.model)?;
            sim.save()?;
            workload::reconcile(&sim.dir, &sim.model)?;
        }
        sim.hook(u, HookSpec::plain("config-changed"))?;
    }
    sim.drain()?;
    Ok(format!("Added charm {url:?} to the model.\n"))
}
