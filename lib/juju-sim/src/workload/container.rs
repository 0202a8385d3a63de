//! A pod spec container as a local process: the pure mapping from the spec and the unit's
//! place (its pod IP and root directory) to what runs and which files it sees. The
//! [`Definition`] is what the process is started from; whether a new spec restarts it is
//! the pod template's call (`kubernetes::template`), not a comparison of definitions.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::podspec::k8s::{IntOrString, Probe};
use crate::podspec::types::{ContainerPort, ContainerSpec};
use crate::podspec::PodSpecV3;

pub(crate) const PROMETHEUS: &str = "/usr/bin/prometheus";
pub(crate) const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

const LISTEN_FLAG: &str = "--web.listen-address";
const CLUSTER_FLAG: &str = "--cluster.listen-address";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where one unit's pod lives locally.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// `<app>-<n>`, Kubernetes' pod name (and the container's hostname).
    pub pod_name: String,
    pub pod_ip: String,
    /// The model name (the pod's namespace).
    pub namespace: String,
    /// The directory standing in for the container's `/`.
    pub root: PathBuf,
    /// Storage locations (metadata.yaml) mounted in the pod.
    pub storage: Vec<String>,
}

/// An HTTP GET probe against the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HttpProbe {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// What a running process was started from (derived from the pod template's container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Definition {
    pub container: String,
    pub image: String,
    pub program: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: PathBuf,
    /// Local directories of every volume mount and storage location.
    pub mounts: Vec<PathBuf>,
    /// `<pod ip>:<port>` the workload serves on.
    pub address: String,
    pub readiness: Option<HttpProbe>,
    pub liveness: Option<HttpProbe>,
}

/// A file of a volume, at its local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappedFile {
    pub path: PathBuf,
    pub content: String,
    pub mode: u32,
}

/// Everything needed to run one unit's workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub definition: Definition,
    pub files: Vec<MappedFile>,
    /// Parts of the spec the simulator leaves out (shown in status).
    pub notes: Vec<String>,
}

/// The local binary standing in for an image.
pub(crate) fn program_for(image: &str) -> Option<&'static str> {
    if image.contains("alertmanager") {
        Some(ALERTMANAGER)
    } else if image.contains("prometheus") {
        Some(PROMETHEUS)
    } else {
        None
    }
}

/// The unit's workload: the first non-init container of the spec.
pub(crate) fn plan(spec: &PodSpecV3, place: &Place) -> Result<Plan, String> {
    let mut notes = Vec::new();
    let runnable: Vec<&ContainerSpec> = spec.containers.iter().filter(|c| !c.init).collect();
    let Some(c) = runnable.first() else {
        return Err("the pod spec has no (non-init) container to run".into());
    };
    if runnable.len() > 1 {
        notes.push(format!("only container {:?} runs locally", c.name));
    }
    let image = if c.image_details.image_path.is_empty() {
        c.image.clone()
    } else {
        c.image_details.image_path.clone()
    };
    let program = program_for(&image)
        .ok_or_else(|| format!("no local binary plays image {image:?}"))?
        .to_string();
    let mount_paths: Vec<String> = c
        .volume_config
        .iter()
        .map(|v| v.mount_path.clone())
        .chain(place.storage.iter().cloned())
        .collect();
    let mut mounts = Vec::new();
    for m in &mount_paths {
        mounts.push(local_path(&place.root, m)?);
    }
    let env = environment(&c.env_config, place, &mut notes);
    let mut args: Vec<String> = match c.command.split_first() {
        Some((_, rest)) => rest.to_vec(),
        None => Vec::new(),
    };
    args.extend(c.args.iter().cloned());
    let args: Vec<String> = args.iter().map(|a| expand(a, &env)).collect();
    let mut args = map_args(&args, place, &mount_paths)?;
    let port_of_listen = listen_port(&args);
    let port = match port_of_listen {
        Some(p) => p,
        None => {
            let p =
                first_port(&c.ports).unwrap_or(if program == ALERTMANAGER { 9093 } else { 9090 });
            args.push(format!("{LISTEN_FLAG}={}:{p}", place.pod_ip));
            p
        }
    };
    if program == ALERTMANAGER && !has_flag(&args, CLUSTER_FLAG) {
        // Gossip would bind 0.0.0.0:9094 for every unit alike.
        args.push(format!("{CLUSTER_FLAG}="));
    }
    let working_dir = if c.working_dir.is_empty() {
        place.root.clone()
    } else {
        local_path(&place.root, &c.working_dir)?
    };
    let probes = c.kubernetes.as_ref();
    let readiness = probes
        .and_then(|k| k.readiness_probe.as_ref())
        .and_then(|p| http_probe(p, &c.ports, place, "readiness", &mut notes));
    let liveness = probes
        .and_then(|k| k.liveness_probe.as_ref())
        .and_then(|p| http_probe(p, &c.ports, place, "liveness", &mut notes));
    let mut files = Vec::new();
    for set in &c.volume_config {
        if set.config_map.is_some() || set.secret.is_some() || set.host_path.is_some() {
            notes.push(format!(
                "volume {:?} refers to Kubernetes objects and stays empty",
                set.name
            ));
        }
        let dir = local_path(&place.root, &set.mount_path)?;
        for f in &set.files {
            let relative = relative_path(&f.path)
                .ok_or_else(|| format!("file {:?} of volume {:?} leaves it", f.path, set.name))?;
            files.push(MappedFile {
                path: dir.join(relative),
                content: f.content.clone(),
                mode: f.mode.and_then(|m| u32::try_from(m).ok()).unwrap_or(0o644),
            });
        }
    }
    Ok(Plan {
        definition: Definition {
            container: c.name.clone(),
            image,
            program,
            args,
            env,
            working_dir,
            mounts,
            address: format!("{}:{port}", place.pod_ip),
            readiness,
            liveness,
        },
        files,
        notes,
    })
}

/// A path inside the pod as a path under the unit's root; `..` may not climb out.
fn local_path(root: &Path, pod_path: &str) -> Result<PathBuf, String> {
    relative_path(pod_path)
        .map(|r| root.join(r))
        .ok_or_else(|| format!("path {pod_path:?} leaves the pod's root"))
}

fn relative_path(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether `value` names `mount` or something inside it.
fn under(value: &str, mount: &str) -> bool {
    let mount = mount.trim_end_matches('/');
    !mount.is_empty()
        && (value == mount
            || value
                .strip_prefix(mount)
                .is_some_and(|rest| rest.starts_with('/')))
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
}

/// Paths into mounts get the root prefix; the listen address gets the pod IP.
fn map_args(args: &[String], place: &Place, mounts: &[String]) -> Result<Vec<String>, String> {
    let map_value = |flag: Option<&str>, value: &str| -> Result<String, String> {
        if flag == Some(LISTEN_FLAG) {
            let port = value
                .rsplit_once(':')
                .map(|(_, p)| p)
                .ok_or_else(|| format!("{LISTEN_FLAG} {value:?} has no port"))?;
            return Ok(format!("{}:{port}", place.pod_ip));
        }
        if mounts.iter().any(|m| under(value, m)) {
            return Ok(local_path(&place.root, value)?.display().to_string());
        }
        Ok(value.to_string())
    };
    let mut out = Vec::with_capacity(args.len());
    let mut pending_flag: Option<&str> = None;
    for arg in args {
        if arg.starts_with('-') {
            pending_flag = None;
            match arg.split_once('=') {
                Some((flag, value)) => {
                    out.push(format!("{flag}={}", map_value(Some(flag), value)?));
                }
                None => {
                    pending_flag = Some(arg.as_str());
                    out.push(arg.clone());
                }
            }
        } else {
            out.push(map_value(pending_flag.take(), arg)?);
        }
    }
    Ok(out)
}

/// What the kubelet does to `command` and `args` before exec: `$(NAME)` becomes the value of
/// the container's variable NAME (left as written when there is none) and `$$` a single `$`.
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
        {
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn listen_port(args: &[String]) -> Option<u16> {
    let mut iter = args.iter().peekable();
    while let Some(a) = iter.next() {
        let value = match a.strip_prefix(LISTEN_FLAG) {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
            Some("") => iter.peek().map(|v| (*v).clone()),
            _ => None,
        };
        if let Some(v) = value {
            return v.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
        }
    }
    None
}

fn first_port(ports: &[ContainerPort]) -> Option<u16> {
    ports
        .iter()
        .find_map(|p| u16::try_from(p.container_port).ok())
}

/// `envConfig` as the container sees it: scalars as text, field references resolved.
fn environment(
    config: &BTreeMap<String, Value>,
    place: &Place,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("PATH".to_string(), PATH.to_string()),
        ("HOSTNAME".to_string(), place.pod_name.clone()),
    ]);
    for (name, value) in config {
        let text = match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(o) => match o.get("field").and_then(|f| f.get("path")) {
                Some(Value::String(path)) => match path.as_str() {
                    "metadata.name" => Some(place.pod_name.clone()),
                    "metadata.namespace" => Some(place.namespace.clone()),
                    "status.podIP" => Some(place.pod_ip.clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match text {
            Some(t) => {
                env.insert(name.clone(), t);
            }
            None => notes.push(format!("environment variable {name} is not simulated")),
        }
    }
    env
}

fn http_probe(
    probe: &Probe,
    ports: &[ContainerPort],
    place: &Place,
    kind: &str,
    notes: &mut Vec<String>,
) -> Option<HttpProbe> {
    let Some(get) = &probe.http_get else {
        notes.push(format!("only httpGet {kind} probes are simulated"));
        return None;
    };
    if get.scheme.eq_ignore_ascii_case("https") {
        notes.push(format!("the HTTPS {kind} probe is not simulated"));
        return None;
    }
    let port = match &get.port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name == *name)
            .and_then(|p| u16::try_from(p.container_port).ok()),
    };
    let Some(port) = port else {
        notes.push(format!("the {kind} probe's port is not a container port"));
        return None;
    };
    Some(HttpProbe {
        host: if get.host.is_empty() {
            place.pod_ip.clone()
        } else {
            get.host.clone()
        },
        port,
        path: if get.path.is_empty() {
            "/".into()
        } else {
            get.path.clone()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podspec;

    const SPEC: &str = "version: 3
containers:
  - name: prometheus
    imageDetails:
      imagePath: ubuntu/prometheus:latest
    args:
      - --config.file=/etc/prometheus/prometheus.yml
      - --storage.tsdb.path=/var/lib/prometheus
      - --web.listen-address=0.0.0.0:9191
      - --web.page-title=/etc/prometheus is not a path here
      - --web.console.templates
      - /etc/prometheus/consoles
    ports:
      - {name: http, containerPort: 9191, protocol: TCP}
    envConfig:
      POD_NAME:
        field: {path: metadata.name, api-version: v1}
      IP:
        field: {path: status.podIP}
      COUNT: 3
      SECRET:
        secret: {name: s, key: k}
    volumeConfig:
      - name: config
        mountPath: /etc/prometheus
        files:
          - path: prometheus.yml
            content: 'global: {}'
          - path: rules/a.rules
            mode: 0600
            content: 'groups: []'
    kubernetes:
      readinessProbe:
        httpGet: {path: /-/ready, port: http}
      livenessProbe:
        httpGet: {path: /-/healthy, port: 9191}
";

    fn place() -> Place {
        Place {
            pod_name: "prometheus-0".into(),
            pod_ip: "127.0.0.1".into(),
            namespace: "lma".into(),
            root: PathBuf::from("/m/workloads/prometheus-0/root"),
            storage: vec!["/var/lib/prometheus".into()],
        }
    }

    fn planned(text: &str) -> Plan {
        plan(&podspec::parse(text).unwrap(), &place()).unwrap()
    }

    #[test]
    fn args_env_files_and_probes_are_mapped_into_the_pod() {
        let p = planned(SPEC);
        let d = &p.definition;
        assert_eq!(d.program, PROMETHEUS);
        assert_eq!(
            d.args,
            [
                "--config.file=/m/workloads/prometheus-0/root/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/m/workloads/prometheus-0/root/var/lib/prometheus",
                "--web.listen-address=127.0.0.1:9191",
                "--web.page-title=/etc/prometheus is not a path here",
                "--web.console.templates",
                "/m/workloads/prometheus-0/root/etc/prometheus/consoles",
            ]
        );
        assert_eq!(d.address, "127.0.0.1:9191");
        assert_eq!(d.env["POD_NAME"], "prometheus-0");
        assert_eq!(d.env["IP"], "127.0.0.1");
        assert_eq!(d.env["COUNT"], "3");
        assert!(!d.env.contains_key("SECRET"));
        assert!(p.notes.iter().any(|n| n.contains("SECRET")));
        assert_eq!(
            d.readiness,
            Some(HttpProbe {
                host: "127.0.0.1".into(),
                port: 9191,
                path: "/-/ready".into()
            })
        );
        assert_eq!(
            d.liveness.as_ref().map(|l| l.path.as_str()),
            Some("/-/healthy")
        );
        assert_eq!(
            p.files
                .iter()
                .map(|f| (f.path.display().to_string(), f.mode))
                .collect::<Vec<_>>(),
            [
                (
                    "/m/workloads/prometheus-0/root/etc/prometheus/prometheus.yml".to_string(),
                    0o644
                ),
                (
                    "/m/workloads/prometheus-0/root/etc/prometheus/rules/a.rules".to_string(),
                    0o600
                ),
            ]
        );
    }

    #[test]
    fn args_are_expanded_as_the_kubelet_does() {
        let env = BTreeMap::from([("POD_NAME".to_string(), "prometheus-0".to_string())]);
        assert_eq!(
            expand("--web.page-title=$(POD_NAME)", &env),
            "--web.page-title=prometheus-0"
        );
        assert_eq!(
            expand("--web.page-title=$$(POD_NAME)", &env),
            "--web.page-title=$(POD_NAME)"
        );
        assert_eq!(
            expand("cost: $$5 and $(UNSET)", &env),
            "cost: $5 and $(UNSET)"
        );
        assert_eq!(expand("a lone $ stays", &env), "a lone $ stays");
        assert_eq!(expand("$(unclosed", &env), "$(unclosed");
    }

    #[test]
    fn file_contents_are_not_part_of_the_definition() {
        let a = planned(SPEC);
        let b = planned(&SPEC.replace("global: {}", "global: {scrape_interval: 5s}"));
        assert_eq!(a.definition, b.definition);
        assert_ne!(a.files, b.files);
        let c = planned(&SPEC.replace("0.0.0.0:9191", "0.0.0.0:9192"));
        assert_ne!(a.definition, c.definition);
    }

    #[test]
    fn a_missing_listen_address_is_bound_to_the_pod_ip() {
        let p = planned(&SPEC.replace("      - --web.listen-address=0.0.0.0:9191\n", ""));
        assert!(p
            .definition
            .args
            .contains(&"--web.listen-address=127.0.0.1:9191".to_string()));
        let am = planned(&SPEC.replace("ubuntu/prometheus", "ubuntu/prometheus-alertmanager"));
        assert_eq!(am.definition.program, ALERTMANAGER);
        assert!(am
            .definition
            .args
            .contains(&"--cluster.listen-address=".to_string()));
    }

    #[test]
    fn unknown_images_and_escaping_paths_are_refused() {
        let spec = podspec::parse(&SPEC.replace("ubuntu/prometheus", "nginx")).unwrap();
        assert!(plan(&spec, &place()).unwrap_err().contains("nginx"));
        let spec = podspec::parse(&SPEC.replace("rules/a.rules", "../../x")).unwrap();
        assert!(plan(&spec, &place()).unwrap_err().contains("leaves"));
    }

    #[test]
    fn paths_match_whole_components() {
        assert!(under("/etc/prometheus", "/etc/prometheus/"));
        assert!(under("/etc/prometheus/x", "/etc/prometheus"));
        assert!(!under("/etc/prometheus2", "/etc/prometheus"));
        assert!(!under("x", ""));
    }
}
