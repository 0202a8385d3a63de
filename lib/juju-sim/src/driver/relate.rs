//! `relate`, `remove-relation`, `set-relation-data`, `show-relation-data`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::sequences::{self, members};
use super::{key_value_pairs, render, OutFormat};
use crate::hooks::{DriverError, Sim};
use crate::model::{io_err, split_unit, Databag, RelationSide, RemoteApp};
use crate::profiles;
use crate::workload;

#[derive(clap::Args, Debug)]
pub(super) struct RelateArgs {
    /// `<application>[:<endpoint>]`
    a: String,
    /// `<application>[:<endpoint>]`
    b: String,
    /// The profile playing the remote application (default: named like it).
    #[arg(long)]
    profile: Option<String>,
    /// How many units the remote application has, when it is new.
    #[arg(long)]
    units: Option<u32>,
    /// Back each remote unit with a real local Alertmanager (on 127.0.0.1 and a free
    /// port) that the relation data points at.
    #[arg(long)]
    live: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct RemoveArgs {
    /// `<application>[:<endpoint>]`, or a relation id.
    a: String,
    /// `<application>[:<endpoint>]`
    b: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(super) struct SetDataArgs {
    /// The relation id (`3` or `alertmanager:3`).
    relation: String,
    /// The remote unit or application whose databag changes.
    target: String,
    /// `key=value`; an empty value deletes the key.
    settings: Vec<String>,
    /// A JSON object of strings to set (for values holding anything).
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Side {
    Local,
    Remote,
}

#[derive(clap::Args, Debug)]
pub(super) struct ShowDataArgs {
    relation: String,
    #[arg(long, value_enum)]
    side: Option<Side>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

fn split_endpoint(s: &str) -> (String, Option<String>) {
    match s.split_once(':') {
        Some((a, e)) => (a.to_string(), Some(e.to_string())),
        None => (s.to_string(), None),
    }
}

pub(super) fn parse_relation_id(s: &str) -> Result<u32, DriverError> {
    s.rsplit_once(':')
        .map_or(s, |(_, id)| id)
        .parse()
        .map_err(|_| DriverError::Usage(format!("invalid relation id {s:?}")))
}

pub(super) fn relate(sim: &mut Sim, args: &RelateArgs) -> Result<String, DriverError> {
    let ours = sim.model.app()?.name.clone();
    let (a, b) = (split_endpoint(&args.a), split_endpoint(&args.b));
    let ((_, our_ep), (remote_app, remote_ep)) = if a.0 == ours {
        (a, b)
    } else if b.0 == ours {
        (b, a)
    } else {
        return Err(DriverError::Usage(format!(
            "one side of the relation must be the deployed application {ours:?}"
        )));
    };
    if remote_app == ours {
        return Err(DriverError::Usage(
            "peer relations are created by deploy".into(),
        ));
    }
    // As `juju deploy` would refuse it: each dash-separated part needs a letter.
    if !sim.model.remote_apps.contains_key(&remote_app)
        && !crate::tools::valid_app_name(&remote_app)
    {
        return Err(DriverError::Usage(format!(
            "invalid application name {remote_app:?}"
        )));
    }
    let profile_name = match (&args.profile, sim.model.remote_apps.get(&remote_app)) {
        (Some(p), Some(existing)) if *p != existing.profile => {
            return Err(DriverError::Usage(format!(
                "application {remote_app:?} is played by profile {:?}",
                existing.profile
            )))
        }
        (Some(p), _) => p.clone(),
        (None, Some(existing)) => existing.profile.clone(),
        (None, None) => remote_app.clone(),
    };
    let profile = profiles::find(&profile_name)?;
    let remote_role = profile.role()?;
    if let Some(ep) = &remote_ep {
        if *ep != profile.endpoint {
            return Err(DriverError::Usage(format!(
                "application {remote_app:?} has no {ep:?} relation"
            )));
        }
    }
    let metadata = &sim.model.app()?.charm.metadata;
    let candidates: Vec<_> = metadata
        .endpoints
        .iter()
        .filter(|e| none_or_eq(our_ep.as_ref(), &e.name))
        .filter(|e| e.interface == profile.interface && e.role == remote_role.counterpart())
        .cloned()
        .collect();
    let endpoint = match candidates.as_slice() {
        [one] => one.clone(),
        [] => return Err(DriverError::Usage("no relations found".into())),
        many => {
            let options: Vec<String> = many
                .iter()
                .map(|e| format!("\"{ours}:{} {remote_app}:{}\"", e.name, profile.endpoint))
                .collect();
            return Err(DriverError::Usage(format!(
                "ambiguous relation: \"{} {}\" could refer to {}",
                args.a,
                args.b,
                options.join("; ")
            )));
        }
    };
    let exists = sim
        .model
        .relations
        .values()
        .any(|r| !r.dying && r.local.endpoint == endpoint.name && r.remote.app == remote_app);
    if exists {
        let key = format!("{remote_app}:{} {ours}:{}", profile.endpoint, endpoint.name);
        return Err(DriverError::Usage(format!(
            "cannot add relation {key:?}: relation {key} already exists"
        )));
    }
    let existing = sim.model.remote_apps.get(&remote_app);
    if args.live && existing.is_some_and(|r| !r.live) {
        return Err(DriverError::Usage(format!(
            "application {remote_app:?} exists and is not live"
        )));
    }
    if existing.is_none() {
        let count = args.units.unwrap_or(profile.units);
        if args.live {
            check_live(&profile, count)?;
        }
        let index = sim.model.next_app_index;
        sim.model.next_app_index += 1;
        sim.model.remote_apps.insert(
            remote_app.clone(),
            RemoteApp {
                name: remote_app.clone(),
                profile: profile.name.clone(),
                charm: profile.charm.clone(),
                index,
                units: (0..count).collect(),
                next_unit: count,
                live: args.live,
                ports: Default::default(),
            },
        );
        if args.live {
            // Saved first, so destroy-model finds the peers even if a later step fails.
            sim.save()?;
            start_live_units(sim, &remote_app, &(0..count).collect::<Vec<_>>())?;
        }
    }
    let id = sequences::new_relation(
        sim,
        &profile.interface,
        RelationSide {
            app: ours.clone(),
            endpoint: endpoint.name.clone(),
            role: endpoint.role,
        },
        RelationSide {
            app: remote_app.clone(),
            endpoint: profile.endpoint.clone(),
            role: remote_role,
        },
    );
    let remote_units = sim
        .model
        .remote_apps
        .get(&remote_app)
        .map(super::super::model::RemoteApp::unit_names)
        .unwrap_or_default();
    for u in &remote_units {
        sequences::fill_remote_unit(sim, id, &profile, &remote_app, u)?;
    }
    let first = remote_units.first().cloned().unwrap_or_default();
    let app_bag = sequences::profile_vars(sim, &remote_app, &first).render_bag(&profile.app_data);
    let has_app_data = !app_bag.is_empty();
    sim.model
        .relation_mut(id)?
        .app_data
        .insert(remote_app.clone(), app_bag);
    sim.save()?;
    let our_units: Vec<String> = sim
        .model
        .app()?
        .unit_names()
        .into_iter()
        .filter(|u| sim.model.is_installed(u))
        .collect();
    for u in &our_units {
        sequences::enter(sim, id, u)?;
    }
    for u in &our_units {
        for remote in &remote_units {
            sequences::join(sim, id, u, remote)?;
        }
        if has_app_data {
            sequences::relation_hook(sim, id, u, "changed", None, None)?;
        }
    }
    sim.drain()?;
    Ok(format!("{}:{id}\n", endpoint.name))
}

/// Whether remote units of `profile` can be live, `count` of them.
pub(super) fn check_live(profile: &profiles::Profile, count: u32) -> Result<(), DriverError> {
    if !profile.live {
        return Err(DriverError::Usage(format!(
            "profile {:?} cannot be live: its data cannot point at a local process",
            profile.name
        )));
    }
    if count > 1 && profile.one_port_for_all() {
        return Err(DriverError::Usage(format!(
            "profile {:?} publishes one port for all units, but live units each have their own: use one unit",
            profile.name
        )));
    }
    Ok(())
}

/// Starts the live peers of remote units `numbers` of `app` and records their ports.
pub(super) fn start_live_units(
    sim: &mut Sim,
    app: &str,
    numbers: &[u32],
) -> Result<(), DriverError> {
    for n in numbers {
        let port = workload::peers::start(&sim.dir, &format!("{app}/{n}"))?;
        if let Some(r) = sim.model.remote_apps.get_mut(app) {
            r.ports.insert(*n, port);
        }
        sim.save()?;
    }
    Ok(())
}

/// An optional endpoint given on the command line matches when absent or equal.
fn none_or_eq(given: Option<&String>, name: &str) -> bool {
    given.is_none_or(|g| g == name)
}

pub(super) fn remove(sim: &mut Sim, args: &RemoveArgs) -> Result<String, DriverError> {
    let id = match &args.b {
        None => parse_relation_id(&args.a)?,
        Some(b) => {
            let (a, b) = (split_endpoint(&args.a), split_endpoint(b));
            let matches = |side: &RelationSide, (app, ep): &(String, Option<String>)| {
                side.app == *app && none_or_eq(ep.as_ref(), &side.endpoint)
            };
            let found: Vec<u32> = sim
                .model
                .relations
                .values()
                .filter(|r| !r.is_peer() && !r.dying)
                .filter(|r| {
                    (matches(&r.local, &a) && matches(&r.remote, &b))
                        || (matches(&r.local, &b) && matches(&r.remote, &a))
                })
                .map(|r| r.id)
                .collect();
            match found.as_slice() {
                [one] => *one,
                [] => {
                    return Err(DriverError::Usage(format!(
                        "relation \"{} {}\" not found",
                        args.a,
                        args.b.as_deref().unwrap_or_default()
                    )))
                }
                _ => {
                    return Err(DriverError::Usage(format!(
                        "ambiguous relation \"{} {}\": give endpoints or the relation id",
                        args.a,
                        args.b.as_deref().unwrap_or_default()
                    )))
                }
            }
        }
    };
    let r = sim.model.relation(id)?;
    if r.is_peer() {
        return Err(DriverError::Usage(format!(
            "cannot remove peer relation {:?}",
            r.key()
        )));
    }
    sim.model.relation_mut(id)?.dying = true;
    for u in members(sim, id)? {
        for remote in sim.model.relation(id)?.seen_by(&u) {
            sequences::depart(sim, id, &u, &remote, &remote)?;
        }
        sequences::broken(sim, id, &u)?;
    }
    // A unit in error leaves the relation when `resolved` gets it past `-broken`.
    if sim.model.relation(id)?.views.is_empty() {
        sim.model.relations.remove(&id);
    }
    sim.save()?;
    sim.drain()?;
    Ok(format!("removed relation {id}\n"))
}

fn settings(args: &SetDataArgs) -> Result<Vec<(String, String)>, DriverError> {
    let mut out = Vec::new();
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let map: BTreeMap<String, Value> = serde_json::from_str(&text)
            .map_err(|e| DriverError::Usage(format!("{}: {e}", path.display())))?;
        for (k, v) in map {
            match v {
                Value::String(s) => out.push((k, s)),
                other => {
                    return Err(DriverError::Usage(format!(
                        "{}: value of {k:?} is not a string: {other}",
                        path.display()
                    )))
                }
            }
        }
    }
    out.extend(key_value_pairs(&args.settings)?);
    Ok(out)
}

pub(super) fn set_data(sim: &mut Sim, args: &SetDataArgs) -> Result<String, DriverError> {
    let id = parse_relation_id(&args.relation)?;
    let changes = settings(args)?;
    let ours = sim.model.app()?.name.clone();
    let r = sim.model.relation(id)?;
    let target = args.target.clone();
    let target_app = split_unit(&target)
        .map_or(target.as_str(), |(a, _)| a)
        .to_string();
    let is_unit = target.contains('/');
    if target_app == ours && !r.is_peer() {
        return Err(DriverError::Usage(format!(
            "{target:?} is on our side of relation {id}; only the charm writes its own data"
        )));
    }
    if target_app != r.remote.app {
        return Err(DriverError::Usage(format!(
            "{target:?} is not in relation {id} ({})",
            r.key()
        )));
    }
    if is_unit && !r.unit_data.contains_key(&target) {
        return Err(DriverError::Usage(format!(
            "unit {target:?} has not joined relation {id}"
        )));
    }
    let leader = sim.model.app()?.leader();
    let r = sim.model.relation_mut(id)?;
    let bag: &mut Databag = if is_unit {
        r.unit_data.entry(target.clone()).or_default()
    } else {
        r.app_data.entry(target.clone()).or_default()
    };
    for (k, v) in changes {
        if v.is_empty() {
            bag.remove(&k);
        } else {
            bag.insert(k, v);
        }
    }
    let peer = r.is_peer();
    let watchers: Vec<String> = members(sim, id)?
        .into_iter()
        .filter(|u| {
            if is_unit {
                *u != target
                    && sim
                        .model
                        .relations
                        .get(&id)
                        .is_some_and(|r| r.sees(u, &target))
            } else {
                !(peer && leader.as_deref() == Some(u.as_str()))
            }
        })
        .collect();
    sim.save()?;
    for u in &watchers {
        let remote = is_unit.then_some(target.as_str());
        sequences::relation_hook(sim, id, u, "changed", remote, None)?;
    }
    sim.drain()?;
    Ok(format!(
        "{} ran on {} unit(s)\n",
        format_args!(
            "{}-relation-changed",
            sim.model.relation(id)?.local.endpoint
        ),
        watchers.len()
    ))
}

#[derive(Serialize)]
struct SideData {
    application: String,
    endpoint: String,
    #[serde(rename = "application-data")]
    application_data: Databag,
    units: BTreeMap<String, Databag>,
}

#[derive(Serialize)]
struct Shown {
    id: u32,
    key: String,
    interface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<SideData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<SideData>,
}

pub(super) fn show_data(sim: &Sim, args: &ShowDataArgs) -> Result<String, DriverError> {
    let id = parse_relation_id(&args.relation)?;
    let r = sim.model.relation(id)?;
    let side_data = |side: &RelationSide| SideData {
        application: side.app.clone(),
        endpoint: side.endpoint.clone(),
        application_data: r.app_data.get(&side.app).cloned().unwrap_or_default(),
        units: r
            .unit_data
            .iter()
            .filter(|(u, _)| split_unit(u).is_some_and(|(a, _)| a == side.app))
            .map(|(u, b)| (u.clone(), b.clone()))
            .collect(),
    };
    let want = |s: Side| args.side.is_none() || args.side == Some(s);
    let shown = Shown {
        id,
        key: r.key(),
        interface: r.interface.clone(),
        local: want(Side::Local).then(|| side_data(&r.local)),
        remote: (want(Side::Remote) && !(r.is_peer() && args.side.is_none()))
            .then(|| side_data(&r.remote)),
    };
    render(&shown, args.format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charm::Role;

    #[test]
    fn relation_ids_in_both_notations() {
        assert_eq!(parse_relation_id("3").unwrap(), 3);
        assert_eq!(parse_relation_id("alertmanager:12").unwrap(), 12);
        assert!(parse_relation_id("x").is_err());
    }

    #[test]
    fn endpoints_split() {
        assert_eq!(
            split_endpoint("am:alerting"),
            ("am".into(), Some("alerting".into()))
        );
        assert_eq!(split_endpoint("am"), ("am".into(), None));
    }

    #[test]
    fn roles_pair_up() {
        assert_eq!(Role::Provider.counterpart(), Role::Requirer);
    }
}
