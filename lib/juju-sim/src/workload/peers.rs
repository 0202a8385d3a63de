//! Live peers: a remote unit played by a real Alertmanager on 127.0.0.1 and a free port.
//! It serves the alerting API (`alertmanager` profiles) and its own `/metrics`, which makes
//! it a real scrape target too (`scrape-target` profiles).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::container::{Definition, HttpProbe, MappedFile, Plan, ALERTMANAGER};
use super::{apply, load, log_file, log_line, probe, process, unit_dir, WorkloadError};
use crate::model::{io_err, ModelDir};
use crate::yaml;

/// Where every live peer listens (each on its own port).
pub(crate) const HOST: &str = "127.0.0.1";

/// How long a peer may take to answer `/-/ready` (Alertmanager needs well under a second
/// alone; a busy 2-core machine may need more).
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Attempts, each on a new port (another process may take a free port before we bind it).
const ATTEMPTS: u32 = 3;

#[derive(Serialize)]
struct Route {
    receiver: String,
}

#[derive(Serialize)]
struct Receiver {
    name: String,
}

/// The least configuration Alertmanager accepts: one route to one receiver that does nothing.
#[derive(Serialize)]
struct AlertmanagerConfig {
    route: Route,
    receivers: Vec<Receiver>,
}

fn plan(dir: &ModelDir, unit: &str, port: u16) -> Result<Plan, WorkloadError> {
    let root = unit_dir(dir, unit).join("root");
    let config_dir = root.join("etc/alertmanager");
    let data = root.join("data");
    let config = AlertmanagerConfig {
        route: Route {
            receiver: "juju-sim".into(),
        },
        receivers: vec![Receiver {
            name: "juju-sim".into(),
        }],
    };
    let content = yaml::to_string(&config).map_err(|e| WorkloadError::Corrupt {
        path: config_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let config_file = config_dir.join("alertmanager.yml");
    let probe = |path: &str| HttpProbe {
        host: HOST.into(),
        port,
        path: path.into(),
    };
    Ok(Plan {
        definition: Definition {
            container: "alertmanager".into(),
            image: "juju-sim/live-peer".into(),
            program: ALERTMANAGER.into(),
            args: vec![
                format!("--config.file={}", config_file.display()),
                format!("--storage.path={}", data.display()),
                format!("--web.listen-address={HOST}:{port}"),
                "--cluster.listen-address=".into(),
            ],
            env: BTreeMap::from([(
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            )]),
            working_dir: root.clone(),
            mounts: vec![config_dir, data],
            address: format!("{HOST}:{port}"),
            readiness: Some(probe("/-/ready")),
            liveness: Some(probe("/-/healthy")),
        },
        files: vec![MappedFile {
            path: config_file,
            content,
            mode: 0o644,
        }],
        notes: Vec::new(),
    })
}

/// Starts the Alertmanager playing remote unit `unit` and waits until it is ready;
/// returns its port.
pub(crate) fn start(dir: &ModelDir, unit: &str) -> Result<u16, WorkloadError> {
    let root = unit_dir(dir, unit);
    std::fs::create_dir_all(&root).map_err(io_err(&root))?;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let port = process::free_port().map_err(io_err(&root))?;
        let plan = plan(dir, unit, port)?;
        let readiness = plan.definition.readiness.clone();
        // A live peer is no pod of ours: every attempt (a new port) is a new "template".
        apply(dir, unit, Ok(plan), attempt)?;
        let state = load(dir, unit)?;
        let Some(running) = state.running() else {
            last = state.message;
            continue;
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let check = readiness.as_ref().map_or(Ok(()), probe::check);
            match check {
                Ok(()) => {
                    log_line(
                        dir,
                        unit,
                        &format!("live peer ready: process {} on {HOST}:{port}", running.pid),
                    )?;
                    return Ok(port);
                }
                Err(e) => last = e,
            }
            if !process::alive(running) {
                last = format!(
                    "process {} exited: {}",
                    running.pid,
                    super::last_log_line(&log_file(dir, unit))
                );
                break;
            }
            if Instant::now() >= deadline {
                process::stop(running, process::GRACE);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Err(WorkloadError::PeerNotReady {
        unit: unit.to_string(),
        message: last,
    })
}
