//! `add-unit`, `remove-unit`, `run-hook`, `update-status`.

use super::relate::{check_live, parse_relation_id, start_live_units};
use super::sequences::{self, members};
use crate::context::ContextRelation;
use crate::hooks::{DriverError, HookSpec, Sim};
use crate::model::{split_unit, Unit};
use crate::profiles;
use crate::workload;

#[derive(clap::Args, Debug)]
pub(super) struct AddArgs {
    /// The deployed application or a remote application.
    application: String,
    #[arg(short = 'n', long = "num-units", default_value_t = 1)]
    num_units: u32,
}

#[derive(clap::Args, Debug)]
pub(super) struct RemoveArgs {
    /// Units to remove, e.g. prometheus/1 or alertmanager/0.
    #[arg(required = true)]
    units: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct RunHookArgs {
    unit: String,
    /// The hook name, e.g. update-status or alertmanager-relation-changed.
    hook: String,
    /// The relation of a relation hook (default: the first on that endpoint).
    #[arg(short = 'r', long)]
    relation: Option<String>,
    /// JUJU_REMOTE_UNIT of a relation hook (default: the first unit the unit sees).
    #[arg(long)]
    remote_unit: Option<String>,
    /// JUJU_DEPARTING_UNIT of a -relation-departed hook (default: the remote unit).
    #[arg(long)]
    departing_unit: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct ResolvedArgs {
    /// Units in error, e.g. prometheus/0.
    #[arg(required_unless_present = "all")]
    units: Vec<String>,
    /// Every unit in error.
    #[arg(long, conflicts_with = "units")]
    all: bool,
    /// Skip the failed hook instead of running it again.
    #[arg(long)]
    no_retry: bool,
}

pub(super) fn add(sim: &mut Sim, args: &AddArgs) -> Result<String, DriverError> {
    if sim.model.app()?.name == args.application {
        return add_ours(sim, args.num_units);
    }
    add_remote(sim, &args.application, args.num_units)
}

fn add_ours(sim: &mut Sim, count: u32) -> Result<String, DriverError> {
    let mut added = Vec::new();
    for _ in 0..count {
        let app = sim.model.app_mut()?;
        let n = app.next_unit;
        app.next_unit += 1;
        app.units.insert(n, Unit::allocating(n, false));
        // An application without units has no leader: the first unit to come claims it
        // and runs leader-elected in its install sequence, as a deployed first unit does.
        app.elect_leader();
        let name = app.unit_name(n);
        sim.provision_unit(&name)?;
        added.push(name);
    }
    sim.save()?;
    // The new pods run the current spec (or their Pebble) before their agents run any hook.
    workload::reconcile(&sim.dir, &sim.model)?;
    for unit in &added {
        super::sidecar::pod_up(sim, unit)?;
    }
    for unit in &added {
        let relations = sequences::live_relations(sim);
        sequences::install(sim, unit, &relations)?;
        for id in &relations {
            let r = sim.model.relation(*id)?.clone();
            for remote in sim.model.remote_units(&r, unit) {
                sequences::join(sim, *id, unit, &remote)?;
            }
            if r.is_peer() {
                for other in members(sim, *id)?.into_iter().filter(|o| o != unit) {
                    sequences::join(sim, *id, &other, unit)?;
                }
            }
        }
    }
    sim.drain()?;
    Ok(format!("added {}\n", added.join(", ")))
}

fn add_remote(sim: &mut Sim, app: &str, count: u32) -> Result<String, DriverError> {
    let remote = sim
        .model
        .remote_apps
        .get_mut(app)
        .ok_or_else(|| DriverError::Usage(format!("application {app:?} not found")))?;
    let profile = profiles::find(&remote.profile)?;
    let numbers: Vec<u32> = (0..count)
        .map(|_| {
            let n = remote.next_unit;
            remote.next_unit += 1;
            remote.units.insert(n);
            n
        })
        .collect();
    let added: Vec<String> = numbers.iter().map(|n| format!("{app}/{n}")).collect();
    if remote.live {
        let total = u32::try_from(remote.units.len()).unwrap_or(u32::MAX);
        check_live(&profile, total)?;
        sim.save()?;
        start_live_units(sim, app, &numbers)?;
    }
    let relations = sim.model.relations_with(app);
    for id in &relations {
        for unit in &added {
            sequences::fill_remote_unit(sim, *id, &profile, app, unit)?;
        }
    }
    sim.save()?;
    for id in &relations {
        for ours in members(sim, *id)? {
            for unit in &added {
                sequences::join(sim, *id, &ours, unit)?;
            }
        }
    }
    sim.drain()?;
    Ok(format!("added {}\n", added.join(", ")))
}

pub(super) fn remove(sim: &mut Sim, args: &RemoveArgs) -> Result<String, DriverError> {
    let ours = sim.model.app()?.name.clone();
    for unit in &args.units {
        let (app, _) = split_unit(unit)
            .ok_or_else(|| DriverError::Usage(format!("invalid unit name {unit:?}")))?;
        if app == ours {
            remove_ours(sim, unit)?;
        } else {
            remove_remote(sim, unit)?;
        }
    }
    sim.drain()?;
    Ok(format!("removed {}\n", args.units.join(", ")))
}

fn remove_ours(sim: &mut Sim, unit: &str) -> Result<(), DriverError> {
    refuse_in_error(sim, unit)?;
    let relations: Vec<u32> = sim
        .model
        .unit_relations(unit)
        .iter()
        .map(|r| r.id)
        .collect();
    for id in &relations {
        for remote in sim.model.relation(*id)?.seen_by(unit) {
            sequences::depart(sim, *id, unit, &remote, unit)?;
        }
        if sim.model.relation(*id)?.is_peer() {
            sim.model.relation_mut(*id)?.views.remove(unit);
        } else {
            sequences::broken(sim, *id, unit)?;
        }
    }
    sim.hook(unit, HookSpec::plain("stop"))?;
    let storage = sim.model.app()?.charm.metadata.storage.clone();
    for s in storage {
        sim.hook(unit, HookSpec::storage("detaching", s))?;
    }
    sim.hook(unit, HookSpec::plain("remove"))?;
    let pebble = sim.model.unit(unit)?.pebble.clone();
    let (_, n) = split_unit(unit).unwrap_or_default();
    let app = sim.model.app_mut()?;
    app.units.remove(&n);
    // Gone even if one of its last hooks failed (as `remove-unit --force` would have it):
    // it is in no relation any more.
    for r in sim.model.relations.values_mut() {
        r.views.remove(unit);
    }
    let app = sim.model.app_mut()?;
    // Leadership passes as the leader goes, whatever hooks follow; with no unit left
    // there is no leader until add-unit brings one.
    let elected = app.elect_leader();
    sim.save()?;
    workload::stop_unit(&sim.dir, unit, "the unit was removed")?;
    super::sidecar::stop_records(&pebble);
    for id in &relations {
        if !sim.model.relation(*id)?.is_peer() {
            continue;
        }
        for other in members(sim, *id)? {
            if sim.model.relation(*id)?.sees(&other, unit) {
                sequences::depart(sim, *id, &other, unit, unit)?;
            }
        }
    }
    if let Some(leader) = elected {
        sequences::announce_leader(sim, &leader)?;
    }
    Ok(())
}

fn remove_remote(sim: &mut Sim, unit: &str) -> Result<(), DriverError> {
    let (app, n) = split_unit(unit).unwrap_or_default();
    let remote = sim
        .model
        .remote_apps
        .get_mut(app)
        .ok_or_else(|| DriverError::Usage(format!("unit {unit:?} not found")))?;
    if !remote.units.remove(&n) {
        return Err(DriverError::Usage(format!("unit {unit:?} not found")));
    }
    if remote.live {
        remote.ports.remove(&n);
        workload::stop_unit(&sim.dir, unit, "the unit was removed")?;
    }
    let relations = sim.model.relations_with(app);
    sim.save()?;
    for id in relations {
        for ours in members(sim, id)? {
            if sim.model.relation(id)?.sees(&ours, unit) {
                sequences::depart(sim, id, &ours, unit, unit)?;
            }
        }
    }
    Ok(())
}

/// Splits `<endpoint>-relation-<kind>` on its last `-relation-`.
fn relation_hook_parts(hook: &str) -> Option<(&str, &str)> {
    let (ep, kind) = hook.rsplit_once("-relation-")?;
    matches!(
        kind,
        "created" | "joined" | "changed" | "departed" | "broken"
    )
    .then_some((ep, kind))
}

/// Juju runs nothing else on a unit in error; a test asking for a hook there must
/// resolve it first, so it cannot clear the error by accident.
fn refuse_in_error(sim: &Sim, unit: &str) -> Result<(), DriverError> {
    match &sim.model.unit(unit)?.failed_hook {
        Some(failed) => Err(DriverError::Usage(format!(
            "unit {unit:?} is in error (hook failed: {:?}): run \"juju-sim resolved {unit}\" first",
            failed.name
        ))),
        None => Ok(()),
    }
}

pub(super) fn run_hook(sim: &mut Sim, args: &RunHookArgs) -> Result<String, DriverError> {
    let unit = args.unit.as_str();
    refuse_in_error(sim, unit)?;
    let mut spec = HookSpec::plain(&args.hook);
    if let Some((endpoint, kind)) = relation_hook_parts(&args.hook) {
        let id = match &args.relation {
            Some(r) => parse_relation_id(r)?,
            None => sim
                .model
                .unit_relations(unit)
                .iter()
                .find(|r| r.local.endpoint == endpoint)
                .map(|r| r.id)
                .ok_or_else(|| {
                    DriverError::Usage(format!("{unit} is in no {endpoint:?} relation"))
                })?,
        };
        let r = sim.model.relation(id)?;
        if r.local.endpoint != endpoint {
            return Err(DriverError::Usage(format!(
                "relation {id} is not on endpoint {endpoint:?}"
            )));
        }
        let remote_unit = match kind {
            "created" | "broken" => None,
            _ => args
                .remote_unit
                .clone()
                .or_else(|| r.views.get(unit).and_then(|v| v.iter().next().cloned())),
        };
        let departing = match kind {
            "departed" => args.departing_unit.clone().or_else(|| remote_unit.clone()),
            _ => None,
        };
        spec.relation = Some(ContextRelation {
            id,
            endpoint: endpoint.to_string(),
            remote_app: r.remote.app.clone(),
            remote_unit,
            departing_unit: departing,
        });
    }
    for suffix in ["-storage-attached", "-storage-detaching"] {
        if let Some(name) = args.hook.strip_suffix(suffix) {
            spec.storage = sim
                .model
                .app()?
                .charm
                .metadata
                .storage
                .iter()
                .find(|s| s.name == name)
                .cloned();
        }
    }
    sim.hook(unit, spec)?;
    sim.drain()?;
    Ok(String::new())
}

pub(super) fn resolved(sim: &mut Sim, args: &ResolvedArgs) -> Result<String, DriverError> {
    let units = if args.all {
        let app = sim.model.app()?;
        app.units
            .values()
            .filter(|u| u.in_error())
            .map(|u| app.unit_name(u.number))
            .collect()
    } else {
        args.units.clone()
    };
    for unit in &units {
        sim.resolved(unit, !args.no_retry)?;
    }
    sim.drain()?;
    Ok(String::new())
}

pub(super) fn update_status(sim: &mut Sim) -> Result<String, DriverError> {
    let units = sim.model.app()?.unit_names();
    for u in &units {
        if sim.model.unit(u)?.installed {
            sim.hook(u, HookSpec::plain("update-status"))?;
        }
    }
    sim.drain()?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_hook_names_split_on_the_last_marker() {
        assert_eq!(
            relation_hook_parts("my-relation-thing-relation-changed"),
            Some(("my-relation-thing", "changed"))
        );
        assert_eq!(relation_hook_parts("update-status"), None);
        assert_eq!(relation_hook_parts("x-relation-foo"), None);
    }
}
