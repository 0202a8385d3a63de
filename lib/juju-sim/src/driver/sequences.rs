//! The orders in which Juju fires hooks (juju-hook-reference §4), as building blocks the
//! verbs combine. Each step updates the model first (who is in the relation, what it
//! sees), then runs the hook.

use std::collections::BTreeSet;

use crate::charm::Role;
use crate::context::ContextRelation;
use crate::hooks::{Delivery, DriverError, HookSpec, Sim};
use crate::model::{split_unit, Relation, RelationSide};
use crate::profiles::{self, Profile, Vars};

fn relation_context(
    r: &Relation,
    remote_unit: Option<&str>,
    departing: Option<&str>,
) -> ContextRelation {
    ContextRelation {
        id: r.id,
        endpoint: r.local.endpoint.clone(),
        remote_app: r.remote.app.clone(),
        remote_unit: remote_unit.map(String::from),
        departing_unit: departing.map(String::from),
    }
}

/// Fires `<endpoint>-relation-<kind>` on `unit`.
pub(super) fn relation_hook(
    sim: &mut Sim,
    id: u32,
    unit: &str,
    kind: &str,
    remote_unit: Option<&str>,
    departing: Option<&str>,
) -> Result<Delivery, DriverError> {
    let ctx = relation_context(sim.model.relation(id)?, remote_unit, departing);
    sim.hook(unit, HookSpec::relation(kind, ctx))
}

/// Our unit enters the relation (its bag gets Juju's keys) and runs `-created`.
pub(super) fn enter(sim: &mut Sim, id: u32, unit: &str) -> Result<(), DriverError> {
    let keys = sim.model.juju_unit_keys(unit);
    let r = sim.model.relation_mut(id)?;
    r.views.entry(unit.to_string()).or_default();
    r.unit_data
        .entry(unit.to_string())
        .or_default()
        .extend(keys);
    relation_hook(sim, id, unit, "created", None, None)?;
    Ok(())
}

/// `unit` sees `remote` join: `-joined` then `-changed`.
pub(super) fn join(sim: &mut Sim, id: u32, unit: &str, remote: &str) -> Result<(), DriverError> {
    sim.model
        .relation_mut(id)?
        .views
        .entry(unit.to_string())
        .or_default()
        .insert(remote.to_string());
    relation_hook(sim, id, unit, "joined", Some(remote), None)?;
    relation_hook(sim, id, unit, "changed", Some(remote), None)?;
    Ok(())
}

/// `unit` sees `remote` leave (`departing` is whoever is going away).
pub(super) fn depart(
    sim: &mut Sim,
    id: u32,
    unit: &str,
    remote: &str,
    departing: &str,
) -> Result<(), DriverError> {
    if let Some(view) = sim.model.relation_mut(id)?.views.get_mut(unit) {
        view.remove(remote);
    }
    relation_hook(sim, id, unit, "departed", Some(remote), Some(departing))?;
    Ok(())
}

/// `-broken` on `unit`, after which it is out of the relation. A unit in error (or
/// whose `-broken` failed) stays in it until `resolved` gets it past `-broken`.
pub(super) fn broken(sim: &mut Sim, id: u32, unit: &str) -> Result<(), DriverError> {
    if relation_hook(sim, id, unit, "broken", None, None)? == Delivery::Ran {
        sim.model.relation_mut(id)?.views.remove(unit);
    }
    Ok(())
}

/// A unit's life up to `start`: install, `-created` for `relations`, leadership,
/// config-changed, start, storage-attached.
///
/// A sidecar (v2) unit follows Juju 3.6's uniter (worker/uniter/resolver.go and the
/// resolvers it asks in order): `install` (nextOp, once nothing else is pending), then
/// `-relation-created` for the relations that exist (the created-relations resolver waits
/// for Installed), `leader-elected` or `leader-settings-changed` (the leadership resolver,
/// also after Installed), `config-changed` (the config hash is new), and `start`, which
/// the commit of the first config-changed queues (operation/runhook.go). Storage hooks on
/// Kubernetes wait until the unit has started (storage/resolver.go: "For CAAS models, we
/// wait until after the start hook has run", runStorageHooks = Started), where the
/// workload-event resolver, asked before the storage one, has already queued
/// `<container>-pebble-ready` (with `JUJU_WORKLOAD_NAME`) for each container whose Pebble
/// answered the poller with a new boot id (pebblepoller.go): so start, pebble-ready,
/// storage-attached. (The workload resolver does not itself wait for install; juju-sim
/// delivers pebble-ready once the unit has started, the order a unit whose Pebble
/// answers within the first hooks sees.)
pub(super) fn install(sim: &mut Sim, unit: &str, relations: &[u32]) -> Result<(), DriverError> {
    let sidecar = sim.model.app()?.sidecar();
    sim.hook(unit, HookSpec::plain("install"))?;
    for id in relations {
        enter(sim, *id, unit)?;
    }
    let leader = sim.model.is_leader(unit);
    let leadership = if leader {
        "leader-elected"
    } else {
        "leader-settings-changed"
    };
    sim.hook(unit, HookSpec::plain(leadership))?;
    sim.hook(unit, HookSpec::plain("config-changed"))?;
    sim.hook(unit, HookSpec::plain("start"))?;
    if sidecar {
        let containers = sim.model.app()?.charm.metadata.containers.clone();
        for c in containers {
            sim.hook(unit, HookSpec::pebble_ready(&c))?;
        }
    }
    let storage = sim.model.app()?.charm.metadata.storage.clone();
    for s in storage {
        sim.hook(unit, HookSpec::storage("attached", s))?;
    }
    Ok(())
}

/// After leadership changed hands: `leader-elected` on the new leader, then
/// `leader-settings-changed` on the other installed units (reference §4, scale down).
pub(super) fn announce_leader(sim: &mut Sim, leader: &str) -> Result<(), DriverError> {
    sim.hook(leader, HookSpec::plain("leader-elected"))?;
    let app = sim.model.app()?;
    let others: Vec<String> = app
        .units
        .values()
        .filter(|u| u.installed && !u.leader)
        .map(|u| app.unit_name(u.number))
        .collect();
    for o in others {
        sim.hook(&o, HookSpec::plain("leader-settings-changed"))?;
    }
    Ok(())
}

/// Ids of the live relations, peers first.
pub(super) fn live_relations(sim: &Sim) -> Vec<u32> {
    let mut ids: Vec<&Relation> = sim.model.relations.values().filter(|r| !r.dying).collect();
    ids.sort_by_key(|r| (!r.is_peer(), r.id));
    ids.into_iter().map(|r| r.id).collect()
}

/// Creates a relation in the model; returns its id.
pub(super) fn new_relation(
    sim: &mut Sim,
    interface: &str,
    local: RelationSide,
    remote: RelationSide,
) -> u32 {
    let id = sim.model.next_relation_id;
    sim.model.next_relation_id += 1;
    let mut app_data = std::collections::BTreeMap::new();
    app_data.insert(local.app.clone(), Default::default());
    app_data.insert(remote.app.clone(), Default::default());
    sim.model.relations.insert(
        id,
        Relation {
            id,
            interface: interface.to_string(),
            local,
            remote,
            app_data,
            unit_data: Default::default(),
            views: Default::default(),
            dying: false,
        },
    );
    id
}

/// Creates the peer relations of a freshly deployed application.
pub(super) fn peer_relations(sim: &mut Sim) -> Result<Vec<u32>, DriverError> {
    let app = sim.model.app()?;
    let name = app.name.clone();
    let peers: Vec<(String, String)> = app
        .charm
        .metadata
        .endpoints
        .iter()
        .filter(|e| e.role == Role::Peer)
        .map(|e| (e.name.clone(), e.interface.clone()))
        .collect();
    Ok(peers
        .into_iter()
        .map(|(ep, interface)| {
            let side = RelationSide {
                app: name.clone(),
                endpoint: ep,
                role: Role::Peer,
            };
            new_relation(sim, &interface, side.clone(), side)
        })
        .collect())
}

/// The placeholder values for remote unit `unit` of `app` played by a profile. A live
/// unit's FQDN is its address: nothing resolves cluster names locally.
pub(super) fn profile_vars(sim: &Sim, app: &str, unit: &str) -> Vars {
    let model = &sim.model;
    let remote = model.remote_apps.get(app);
    let live = remote.is_some_and(|r| r.live);
    let fqdn = |u: &str| {
        if live {
            model.unit_address(u).unwrap_or_default()
        } else {
            model.unit_fqdn(u)
        }
    };
    let units: Vec<(String, String, String)> = remote
        .map(super::super::model::RemoteApp::unit_names)
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let address = model.unit_address(&u).unwrap_or_default();
            let fqdn = fqdn(&u);
            (u, address, fqdn)
        })
        .collect();
    let (local_app, local_units) = model
        .app()
        .map(|a| (a.name.clone(), a.unit_names()))
        .unwrap_or_default();
    let number = split_unit(unit).map_or(0, |(_, n)| n);
    let port = match remote {
        Some(r) if r.live => r.ports.get(&number).map(u16::to_string),
        Some(r) => profiles::find(&r.profile)
            .ok()
            .and_then(|p| p.port)
            .map(|p| p.to_string()),
        None => None,
    };
    Vars {
        model: model.name.clone(),
        app: app.to_string(),
        unit: unit.to_string(),
        unit_number: number,
        address: model.unit_address(unit).unwrap_or_default(),
        fqdn: fqdn(unit),
        port: port.unwrap_or_default(),
        service_address: model.service_address(app).unwrap_or_default(),
        units,
        local_app,
        local_units,
    }
}

/// Fills a remote unit's databag in relation `id` from its profile.
pub(super) fn fill_remote_unit(
    sim: &mut Sim,
    id: u32,
    profile: &Profile,
    app: &str,
    unit: &str,
) -> Result<(), DriverError> {
    let mut bag = sim.model.juju_unit_keys(unit);
    bag.extend(profile_vars(sim, app, unit).render_bag(&profile.unit_data));
    sim.model
        .relation_mut(id)?
        .unit_data
        .insert(unit.to_string(), bag);
    Ok(())
}

/// Our units in the relation, in order.
pub(super) fn members(sim: &Sim, id: u32) -> Result<Vec<String>, DriverError> {
    let r = sim.model.relation(id)?;
    let ours: BTreeSet<&String> = r.views.keys().collect();
    let app = sim.model.app()?;
    Ok(app
        .unit_names()
        .into_iter()
        .filter(|u| ours.contains(u))
        .collect())
}
