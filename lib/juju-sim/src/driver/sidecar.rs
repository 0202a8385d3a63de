//! A sidecar (v2) unit's pod: its Pebble stand-ins (one per workload container of
//! metadata.yaml, see `pebble`) come up with the pod, before the agent runs any hook, and
//! go with it (remove-unit, destroy-model, the roll of an upgrade).

use crate::hooks::{DriverError, HookSpec, Sim};
use crate::model::{ModelDir, ModelError};
use crate::pebble;
use crate::workload;

/// Starts the unit's Pebble stand-ins that are not running; returns the containers
/// whose Pebble (re)started (a new boot id: Juju fires their `-pebble-ready`).
pub(super) fn pod_up(sim: &mut Sim, unit: &str) -> Result<Vec<String>, DriverError> {
    let app = sim.model.app()?;
    if !app.sidecar() {
        return Ok(Vec::new());
    }
    let containers = app.charm.metadata.containers.clone();
    let place = workload::place(&sim.dir, &sim.model, unit);
    let live = sim.model.live;
    let mut started = Vec::new();
    for c in containers {
        let running = sim
            .model
            .unit(unit)?
            .pebble
            .get(&c)
            .is_some_and(pebble::alive);
        if running {
            continue;
        }
        let record = pebble::start(&sim.dir, unit, &c, &place.root, &place.pod_ip, live)
            .map_err(|e| DriverError::Usage(e.to_string()))?;
        sim.model.unit_mut(unit)?.pebble.insert(c.clone(), record);
        started.push(c);
    }
    sim.save()?;
    Ok(started)
}

/// Stops the unit's Pebble stand-ins (and what they run).
pub(super) fn pod_down(sim: &mut Sim, unit: &str) -> Result<(), DriverError> {
    let Ok(u) = sim.model.unit_mut(unit) else {
        return Ok(());
    };
    let records = std::mem::take(&mut u.pebble);
    for r in records.values() {
        pebble::stop(r);
    }
    sim.save()?;
    Ok(())
}

/// Stops the stand-ins of a unit already gone from the model.
pub(super) fn stop_records(records: &std::collections::BTreeMap<String, pebble::DaemonRecord>) {
    for r in records.values() {
        pebble::stop(r);
    }
}

/// `upgrade-charm` of a sidecar unit. Juju updates the StatefulSet for the new charm and
/// the pod is replaced: the old agent's uniter stops at its first check of the charm
/// modified version (uniter.go, enforcedCharmModifiedVersion), the new pod's Pebble comes
/// up with a new boot id, and the new agent's resolver runs, in its order: `start` (the
/// reboot resolver: a sidecar agent always counts as rebooted, and the unit had started),
/// `<container>-pebble-ready` (workload events come before the upgrade check), then
/// `upgrade-charm` (the unit's charm URL differs from the application's) and the
/// `config-changed` its commit queues (operation/runhook.go).
pub(super) fn upgrade_unit(sim: &mut Sim, unit: &str) -> Result<(), DriverError> {
    pod_down(sim, unit)?;
    let started = pod_up(sim, unit)?;
    sim.hook(unit, HookSpec::plain("start"))?;
    for c in started {
        sim.hook(unit, HookSpec::pebble_ready(&c))?;
    }
    sim.hook(unit, HookSpec::plain("upgrade-charm"))?;
    sim.hook(unit, HookSpec::plain("config-changed"))?;
    Ok(())
}

/// Stops every Pebble stand-in of the model (destroy-model); returns how many ran.
pub(super) fn stop_all(dir: &ModelDir) -> Result<usize, ModelError> {
    let Ok(model) = dir.load() else {
        return Ok(0);
    };
    let records: Vec<pebble::DaemonRecord> = model
        .application
        .iter()
        .flat_map(|a| a.units.values())
        .flat_map(|u| u.pebble.values().cloned())
        .collect();
    let running = records.iter().filter(|r| pebble::alive(r)).count();
    let threads: Vec<_> = records
        .into_iter()
        .map(|r| std::thread::spawn(move || pebble::stop(&r)))
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(running)
}
