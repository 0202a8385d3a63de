//! `deploy`: unpack the charm, check resources and config, create the units and run
//! their first hooks.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::parse_settings;
use super::sequences;
use crate::charm;
use crate::hooks::{DriverError, Sim};
use crate::model::{io_err, Application, Model, ModelDir, OciImage, Unit};
use crate::yaml;

#[derive(clap::Args, Debug)]
pub(super) struct Args {
    /// A charm directory or a .charm archive.
    charm: PathBuf,
    /// The application name (default: the charm's name without a trailing "-k8s").
    application: Option<String>,
    /// An OCI image for a resource: name=IMAGE, or name=FILE with registrypath/username/password.
    #[arg(long = "resource", value_name = "NAME=IMAGE")]
    resources: Vec<String>,
    /// Initial configuration: key=value, or a YAML file `{<app>: {key: value}}`.
    #[arg(long = "config", value_name = "KEY=VALUE|FILE")]
    config: Vec<String>,
    /// The number of units.
    #[arg(short = 'n', long = "num-units", default_value_t = 1)]
    num_units: u32,
    /// The model name, when the model is created.
    #[arg(short = 'm', long = "model", default_value = "lma")]
    model: String,
    /// Run each unit's workload (the pod spec's container) as a local process.
    #[arg(long)]
    live: bool,
}

fn image_of(value: &str) -> Result<OciImage, DriverError> {
    let path = Path::new(value);
    if path.is_file() {
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        let image: BTreeMap<String, String> = yaml::from_str(&text)
            .map_err(|e| DriverError::Usage(format!("resource file {value}: {e}")))?;
        let get = |k: &str| image.get(k).cloned().unwrap_or_default();
        return Ok(OciImage {
            registrypath: get("registrypath"),
            username: get("username"),
            password: get("password"),
        });
    }
    Ok(OciImage {
        registrypath: value.to_string(),
        ..OciImage::default()
    })
}

fn resources(
    info: &charm::CharmInfo,
    given: &[String],
) -> Result<BTreeMap<String, OciImage>, DriverError> {
    let mut out = BTreeMap::new();
    for r in given {
        let (name, value) = r
            .split_once('=')
            .ok_or_else(|| DriverError::Usage(format!("expected name=value, got {r:?}")))?;
        if !info.metadata.resources.iter().any(|m| m.name == name) {
            return Err(DriverError::Usage(format!(
                "unrecognized resource {name:?}"
            )));
        }
        out.insert(name.to_string(), image_of(value)?);
    }
    let missing: Vec<&str> = info
        .metadata
        .resources
        .iter()
        .filter(|r| r.kind == "oci-image" && !out.contains_key(&r.name))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(DriverError::Usage(format!(
            "local charm missing OCI images for: {}",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// `--config` values: `key=value` pairs or YAML files keyed by application name.
fn initial_config(
    app: &str,
    info: &charm::CharmInfo,
    given: &[String],
) -> Result<BTreeMap<String, Value>, DriverError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in given {
        if let Some((k, v)) = item.split_once('=') {
            pairs.push((k.to_string(), v.to_string()));
            continue;
        }
        let path = Path::new(item);
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        let doc: BTreeMap<String, BTreeMap<String, Value>> = yaml::from_str(&text)
            .map_err(|e| DriverError::Usage(format!("config file {item}: {e}")))?;
        for (k, v) in doc.get(app).cloned().unwrap_or_default() {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            pairs.push((k, text));
        }
    }
    parse_settings(&info.options, &pairs)
}

pub(super) fn run(dir: ModelDir, verbose: bool, args: &Args) -> Result<String, DriverError> {
    let mut model = if dir.exists() {
        dir.load()?
    } else {
        Model::new(&args.model)
    };
    let staging = dir.root.join("charms").join(".incoming");
    let _ = fs::remove_dir_all(&staging);
    charm::unpack(&args.charm, &staging)?;
    let info = charm::read_info(&staging)?;
    let charm_name = info.metadata.name.clone();
    let name = args.application.clone().unwrap_or_else(|| {
        charm_name
            .strip_suffix("-k8s")
            .unwrap_or(&charm_name)
            .to_string()
    });
    if let Some(existing) = &model.application {
        let _ = fs::remove_dir_all(&staging);
        return Err(DriverError::Usage(if existing.name == name {
            format!("cannot add application {name:?}: application already exists")
        } else {
            format!(
                "juju-sim plays one charm per model and {:?} is deployed already",
                existing.name
            )
        }));
    }
    let checked = resources(&info, &args.resources)
        .and_then(|r| initial_config(&name, &info, &args.config).map(|c| (r, c)));
    let (resources, config) = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let store = dir.charm_store(&name);
    let _ = fs::remove_dir_all(&store);
    fs::rename(&staging, &store).map_err(io_err(&store))?;

    model.live |= args.live;
    let index = model.next_app_index;
    model.next_app_index += 1;
    let units = (0..args.num_units)
        .map(|n| (n, Unit::allocating(n, n == 0)))
        .collect();
    model.application = Some(Application {
        name: name.clone(),
        index,
        charm_source: args.charm.display().to_string(),
        charm: info,
        config,
        resources,
        units,
        next_unit: args.num_units,
        ..Application::default()
    });
    let mut sim = Sim::new(dir, model, verbose);
    let peers = sequences::peer_relations(&mut sim)?;
    let unit_names = sim.model.app()?.unit_names();
    for u in &unit_names {
        sim.provision_unit(u)?;
    }
    sim.save()?;
    // A sidecar unit's pod comes up with its Pebble before the agent runs any hook.
    for u in &unit_names {
        super::sidecar::pod_up(&mut sim, u)?;
    }
    let mut summary = format!(
        "Located local charm {charm_name:?}, revision 0\nDeploying {name:?} from local charm {charm_name:?}, revision 0\n"
    );
    for u in &unit_names {
        sequences::install(&mut sim, u, &peers)?;
    }
    for id in &peers {
        for u in &unit_names {
            for other in unit_names.iter().filter(|o| *o != u) {
                sequences::join(&mut sim, *id, u, other)?;
            }
        }
    }
    sim.drain()?;
    summary.push_str(&format!(
        "Deployed {name:?} with {} unit(s)\n",
        unit_names.len()
    ));
    sim.settle(summary)
}
