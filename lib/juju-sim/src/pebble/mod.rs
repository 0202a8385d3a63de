//! A Pebble stand-in per unit and workload container, for sidecar (v2) charms: Pebble's
//! HTTP API (`internals/daemon/api_*.go`) on a unix socket, served by a detached
//! `juju-sim pebble-serve` process that outlives the juju-sim command which started it
//! (recorded in the model as the unit's `pebble` daemons, stopped with the unit or the
//! model).
//!
//! The unit's sockets live in `<model>/pebble/<app>-<n>/<container>/pebble.socket`; each
//! hook runs with that directory bind-mounted at `/charm/containers` (see `poddns`), so
//! the charm finds `/charm/containers/<container>/pebble.socket` as in a pod. The
//! container's files are the unit's pod root (`workload::container::Place.root`);
//! `mapping` says how paths, programs and the listen address map.

pub(crate) mod api;
pub(crate) mod changes;
pub(crate) mod checks;
pub(crate) mod daemon;
pub(crate) mod duration;
pub(crate) mod exec;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod mapping;
pub(crate) mod multipart;
pub(crate) mod plan;

use std::fs;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::model::{io_err, ModelDir, ModelError};
use crate::workload::{self, process};

#[derive(Debug, Error)]
pub(crate) enum PebbleError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("pebble for {unit} container {container:?} did not come up: {message}")]
    NotUp {
        unit: String,
        container: String,
        message: String,
    },
}

pub(crate) use crate::model::PebbleDaemon as DaemonRecord;

fn running(record: &DaemonRecord) -> process::Running {
    process::Running {
        pid: record.pid,
        start_time: record.start_time,
    }
}

/// Whether the stand-in still runs.
pub(crate) fn alive(record: &DaemonRecord) -> bool {
    process::alive(running(record))
}

/// The unit's `/charm/containers`.
pub(crate) fn containers_dir(dir: &ModelDir, unit: &str) -> PathBuf {
    dir.root.join("pebble").join(unit.replace('/', "-"))
}

/// Where the unit's Pebble for `container` listens.
pub(crate) fn socket(dir: &ModelDir, unit: &str, container: &str) -> PathBuf {
    containers_dir(dir, unit)
        .join(container)
        .join("pebble.socket")
}

/// The stand-in's own log (and its services' output).
pub(crate) fn log_file(dir: &ModelDir, unit: &str, container: &str) -> PathBuf {
    workload::unit_dir(dir, unit).join(format!("pebble-{container}.log"))
}

/// What `juju-sim pebble-serve` is started with.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    #[arg(long)]
    pub socket: PathBuf,
    /// The container's `/`.
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long)]
    pub pod_ip: String,
    #[arg(long)]
    pub container: String,
    #[arg(long)]
    pub log: PathBuf,
    /// Run services and exec for real (otherwise they are recorded only).
    #[arg(long)]
    pub live: bool,
}

fn boot_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h: u128 =
        0x6c62_272e_07bb_0142_62b8_2175_6295_c58d ^ nanos ^ u128::from(std::process::id());
    h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    crate::model::uuid_shape(&format!("{h:032x}"))
}

/// The daemon's main: serves until killed. Returns only on a setup error.
pub(crate) fn serve(args: &ServeArgs) -> Result<(), String> {
    if let Some(parent) = args.socket.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::create_dir_all(&args.root).map_err(|e| format!("{}: {e}", args.root.display()))?;
    let _ = fs::remove_file(&args.socket);
    let listener = UnixListener::bind(&args.socket)
        .map_err(|e| format!("cannot listen on {}: {e}", args.socket.display()))?;
    let d = daemon::Daemon::new(daemon::Config {
        container: args.container.clone(),
        mapper: mapping::Mapper {
            root: args.root.clone(),
            pod_ip: args.pod_ip.clone(),
        },
        live: args.live,
        log: args.log.clone(),
        boot_id: boot_id(),
    });
    d.note(&format!(
        "pebble stand-in for container {:?} listening on {} ({})",
        d.cfg.container,
        args.socket.display(),
        if args.live { "live" } else { "recording" }
    ));
    watch_socket(args.socket.clone());
    api::serve(d, listener);
    Ok(())
}

/// A stand-in whose socket is gone (its model directory removed without
/// `destroy-model`, a test's temporary model dropped) ends itself and what it runs: its
/// services share its process group, of which `juju-sim` makes it the leader.
fn watch_socket(socket: PathBuf) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if !socket.exists() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", std::process::id())])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            std::process::exit(0);
        }
    });
}

/// Starts a stand-in for `unit`'s `container` and waits until it answers.
pub(crate) fn start(
    dir: &ModelDir,
    unit: &str,
    container: &str,
    root: &Path,
    pod_ip: &str,
    live: bool,
) -> Result<DaemonRecord, PebbleError> {
    let sock = socket(dir, unit, container);
    let sock_dir = sock.parent().unwrap_or(&dir.root).to_path_buf();
    fs::create_dir_all(&sock_dir).map_err(io_err(&sock_dir))?;
    let log = log_file(dir, unit, container);
    let log_dir = log.parent().unwrap_or(&dir.root).to_path_buf();
    fs::create_dir_all(&log_dir).map_err(io_err(&log_dir))?;
    let exe = std::env::current_exe().map_err(io_err(Path::new("juju-sim")))?;
    let mut args = vec![
        "pebble-serve".to_string(),
        "--socket".into(),
        sock.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--pod-ip".into(),
        pod_ip.to_string(),
        "--container".into(),
        container.to_string(),
        "--log".into(),
        log.display().to_string(),
    ];
    if live {
        args.push("--live".into());
    }
    let env =
        std::collections::BTreeMap::from([("PATH".to_string(), mapping::DEFAULT_PATH.to_string())]);
    let _ = fs::remove_file(&sock);
    let not_up = |message: String| PebbleError::NotUp {
        unit: unit.to_string(),
        container: container.to_string(),
        message,
    };
    let running = process::spawn(&exe.display().to_string(), &args, &env, &dir.root, &log)
        .map_err(|e| not_up(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        if !process::alive(running) {
            return Err(not_up(format!(
                "the process exited (see {})",
                log.display()
            )));
        }
        if Instant::now() >= deadline {
            process::stop(running, Duration::from_secs(2));
            return Err(not_up(format!("no answer on {}", sock.display())));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(DaemonRecord {
        pid: running.pid,
        start_time: running.start_time,
        socket: sock.display().to_string(),
        live,
    })
}

/// Stops a stand-in and everything it runs (its services share its process group);
/// true when it is gone.
pub(crate) fn stop(record: &DaemonRecord) -> bool {
    let gone = process::stop(running(record), Duration::from_secs(10));
    let _ = fs::remove_file(&record.socket);
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_look_like_uuids() {
        let id = boot_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
