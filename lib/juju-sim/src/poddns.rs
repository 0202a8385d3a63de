//! Cluster DNS as a pod sees it, for the hook and action processes: each runs in a private
//! mount namespace (`unshare --mount --propagation private`) with the model's own
//! `/etc/hosts` (the host's entries plus every unit's pod FQDN → pod address) and a pod-like
//! `/etc/resolv.conf` (`search <model>.svc.cluster.local svc.cluster.local cluster.local`,
//! the host's nameservers) bind-mounted over the real files. So a charm resolves
//! `prometheus-1.prometheus-endpoints.<model>.svc.cluster.local` to that unit's pod, and
//! reads the cluster domain from resolv.conf, exactly as in a pod.
//!
//! Needs root (or CAP_SYS_ADMIN) and util-linux's `unshare` and `mount`. Where they are not
//! usable, hooks run directly (the host's files, no pod names), which the debug log says
//! once per model.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::model::{write_atomic, Model, ModelDir, ModelError, CLUSTER_DOMAIN};

const HOST_HOSTS: &str = "/etc/hosts";
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
const UNSHARE: &str = "/usr/bin/unshare";
/// Names another `unshare` (tests of the fallback point it at nothing).
const UNSHARE_ENV: &str = "JUJU_SIM_UNSHARE";
/// The probe's PATH, for `mount` (hooks get Juju's PATH, which has these too).
const PROBE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
const SHELL: &str = "/bin/sh";
/// Mounts the files (`$1`, `$2`) over the real ones and, for a sidecar unit, its Pebble
/// sockets' directory (`$3`, else empty) at `/charm/containers` (the mount point is made
/// on the host once, empty), then runs the handler (`$4`) in place of the shell, with the
/// same argv[0], environment, cwd and standard streams.
const SCRIPT: &str = "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /etc/resolv.conf \
                      && { [ -z \"$3\" ] || { mkdir -p /charm/containers \
                      && mount --bind \"$3\" /charm/containers; }; } \
                      && shift 3 && exec \"$@\"";
/// Where a sidecar charm finds its containers' Pebble sockets.
pub(crate) const CHARM_CONTAINERS: &str = "/charm/containers";
/// The marker of a model whose debug log already says that hooks run without pod DNS.
const FALLBACK_NOTED: &str = "direct";

/// Where the model's pod files live.
fn dir(model_dir: &ModelDir) -> PathBuf {
    model_dir.root.join("poddns")
}

/// The model's `/etc/hosts`: the host's lines, then `<pod address> <pod fqdn>` for every
/// unit of the application and of each live peer (those listen on loopback; the other
/// remote units have cluster addresses nothing here can reach, so they get no name).
pub(crate) fn hosts(model: &Model, host_hosts: &str) -> String {
    let mut out = host_hosts.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("# juju-sim: the pods of model {}\n", model.name));
    let ours = model
        .application
        .iter()
        .flat_map(super::model::Application::unit_names);
    let live_peers = model
        .remote_apps
        .values()
        .filter(|r| r.live)
        .flat_map(super::model::RemoteApp::unit_names);
    for unit in ours.chain(live_peers) {
        if let Some(address) = model.unit_address(&unit) {
            out.push_str(&format!("{address}\t{}\n", model.unit_fqdn(&unit)));
        }
    }
    out
}

/// A pod's `/etc/resolv.conf`: the cluster's search list for the model's namespace, the
/// host's nameservers, and the kubelet's `ndots:5`.
pub(crate) fn resolv_conf(model: &Model, host_resolv: &str) -> String {
    let mut out = format!(
        "search {0}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n",
        model.name
    );
    for line in host_resolv.lines() {
        if line.trim_start().starts_with("nameserver") {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out.push_str("options ndots:5\n");
    out
}

/// The files to mount for the next hook.
#[derive(Debug, Clone)]
pub(crate) struct PodFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    /// A sidecar unit's Pebble sockets, for `/charm/containers`.
    pub containers: Option<PathBuf>,
}

/// Writes the model's files as the model is now (units come and go between hooks).
pub(crate) fn write(model_dir: &ModelDir, model: &Model) -> Result<PodFiles, ModelError> {
    let files = PodFiles {
        hosts: dir(model_dir).join("hosts"),
        resolv_conf: dir(model_dir).join("resolv.conf"),
        containers: None,
    };
    let host_hosts = fs::read_to_string(HOST_HOSTS).unwrap_or_default();
    let host_resolv = fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    write_atomic(&files.hosts, hosts(model, &host_hosts).as_bytes())?;
    write_atomic(
        &files.resolv_conf,
        resolv_conf(model, &host_resolv).as_bytes(),
    )?;
    Ok(files)
}

/// The command running `handler` with the pod files mounted.
pub(crate) fn command(handler: &Path, files: &PodFiles) -> Command {
    let unshare = std::env::var_os(UNSHARE_ENV).unwrap_or_else(|| UNSHARE.into());
    let mut command = Command::new(unshare);
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            SHELL,
            "-c",
            SCRIPT,
            "sh",
        ])
        .arg(&files.hosts)
        .arg(&files.resolv_conf)
        .arg(files.containers.as_deref().unwrap_or(Path::new("")))
        .arg(handler);
    command
}

/// Whether [`command`] works here (root, `unshare` and `mount` present, bind mounts
/// allowed): tried once per process, by mounting `files` around `true`.
pub(crate) fn available(files: &PodFiles) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        command(Path::new("/bin/true"), files)
            .env_clear()
            .env("PATH", PROBE_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// True the first time it is asked for a model: the one time its debug log should say
/// that hooks run without pod DNS.
pub(crate) fn first_fallback(model_dir: &ModelDir) -> bool {
    let marker = dir(model_dir).join(FALLBACK_NOTED);
    if marker.exists() {
        return false;
    }
    fs::write(&marker, b"").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Application, RemoteApp, Unit};

    fn model(live: bool) -> Model {
        let mut m = Model::new("cos");
        m.live = live;
        let mut app = Application {
            name: "prometheus".into(),
            index: 1,
            next_unit: 3,
            ..Application::default()
        };
        for n in [0, 2] {
            app.units.insert(n, Unit::allocating(n, n == 0));
        }
        m.application = Some(app);
        for (name, live) in [("alertmanager", true), ("grafana", false)] {
            m.remote_apps.insert(
                name.into(),
                RemoteApp {
                    name: name.into(),
                    profile: name.into(),
                    charm: name.into(),
                    index: 2,
                    units: [0].into(),
                    next_unit: 1,
                    live,
                    ports: Default::default(),
                },
            );
        }
        m
    }

    #[test]
    fn hosts_names_every_pod_after_the_hosts_own_lines() {
        let text = hosts(&model(true), "127.0.0.1\tlocalhost\n::1 localhost");
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost\n::1 localhost\n# juju-sim: the pods of model cos\n\
             127.0.0.1\tprometheus-0.prometheus-endpoints.cos.svc.cluster.local\n\
             127.0.0.3\tprometheus-2.prometheus-endpoints.cos.svc.cluster.local\n\
             127.0.0.1\talertmanager-0.alertmanager-endpoints.cos.svc.cluster.local\n"
        );
        // A model that is not live keeps its own loopback block.
        let m = model(false);
        let (a, b) = crate::model::uuid_octets(&m.uuid);
        assert!(hosts(&m, "").contains(&format!(
            "127.{a}.{b}.1\tprometheus-0.prometheus-endpoints.cos.svc.cluster.local\n"
        )));
    }

    #[test]
    fn resolv_conf_is_a_pods() {
        let host = "# generated\nsearch lan\nnameserver 10.255.255.53\noptions edns0\n";
        assert_eq!(
            resolv_conf(&model(true), host),
            "search cos.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.255.255.53\noptions ndots:5\n"
        );
    }
}
