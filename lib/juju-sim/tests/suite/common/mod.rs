//! Test fixtures: a small shell charm whose dispatch records every hook it runs and
//! sources a per-hook script the test writes, and a model directory to drive it in.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub(crate) const METADATA: &str = "name: demo-k8s
summary: demo
description: demo
series: [kubernetes]
min-juju-version: 2.8.0
resources:
  demo-image: {type: oci-image, description: the workload}
provides:
  grafana-source: {interface: grafana_datasource}
  self-metrics-endpoint: {interface: prometheus_scrape}
  monitoring: {interface: prometheus}
  prometheus-api: {interface: prometheus-http-api}
requires:
  alertmanager: {interface: alertmanager_dispatch}
  metrics-endpoint: {interface: prometheus_scrape}
  alertmanager-podspec: {interface: alertmanager}
  alerting-config: {interface: prometheus-alerting-config}
  grafana-datasource: {interface: grafana-datasource}
peers:
  demo-peers: {interface: demo_peers}
storage:
  database: {type: filesystem, location: /var/lib/demo}
";

pub(crate) const CONFIG: &str = "options:
  port: {type: int, default: 9090, description: the port}
  name: {type: string, default: demo, description: a name}
  ratio: {type: float, default: 0.5, description: a ratio}
  flag: {type: boolean, default: false, description: a flag}
  unset: {type: string, description: no default}
";

pub(crate) const ACTIONS: &str = "backup:
  description: take a backup
  params:
    target: {type: string, description: where}
    limit: {type: integer, default: 3}
  required: [target]
";

/// A charm directory plus a probe directory its dispatch writes to.
pub(crate) struct Fixture {
    pub root: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let f = Fixture {
            root: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(f.charm()).unwrap();
        fs::create_dir_all(f.probe().join("scripts")).unwrap();
        fs::create_dir_all(f.probe().join("out")).unwrap();
        f.write_charm_file("metadata.yaml", METADATA);
        f.write_charm_file("config.yaml", CONFIG);
        f.write_charm_file("actions.yaml", ACTIONS);
        let dispatch = format!(
            r#"#!/bin/sh
probe={probe}
name=${{JUJU_DISPATCH_PATH#*/}}
echo "$JUJU_UNIT_NAME $JUJU_DISPATCH_PATH remote=$JUJU_REMOTE_UNIT departing=$JUJU_DEPARTING_UNIT" >> "$probe/hooks.log"
t() {{ n=$1; shift; "$@" > "$probe/out/$n.out" 2> "$probe/out/$n.err"; echo $? > "$probe/out/$n.code"; }}
if [ -f "$probe/scripts/$name.sh" ]; then . "$probe/scripts/$name.sh"; fi
exit 0
"#,
            probe = f.probe().display()
        );
        f.write_charm_file("dispatch", &dispatch);
        f.chmod("dispatch", 0o755);
        f
    }

    /// The same charm as a sidecar (v2) charm: a manifest with bases, no `series`, and a
    /// workload container `workload` on the `demo-image` resource.
    pub(crate) fn sidecar() -> Fixture {
        let f = Fixture::new();
        let metadata = METADATA
            .replace("series: [kubernetes]\nmin-juju-version: 2.8.0\n", "")
            .replace(
                "resources:\n",
                "containers:\n  workload: {resource: demo-image}\nresources:\n",
            );
        f.write_charm_file("metadata.yaml", &metadata);
        f.write_charm_file(
            "manifest.yaml",
            "bases:\n  - {name: ubuntu, channel: \"22.04\", architectures: [amd64]}\n",
        );
        f
    }

    /// A fixture with `units` units of its charm deployed.
    pub(crate) fn deployed(units: u32) -> Fixture {
        let f = Fixture::new();
        f.deploy(units);
        f
    }

    /// A fixture with `units` units whose leader sets [`SPEC`] in config-changed: the
    /// application then has its Service and pods (and so addresses).
    pub(crate) fn deployed_with_spec(units: u32) -> Fixture {
        let f = Fixture::new();
        write(&f.probe().join("spec.yaml"), SPEC);
        f.on(
            "config-changed",
            "if [ \"$(is-leader)\" = True ]; then pod-spec-set --file \"$probe/spec.yaml\"; fi\n",
        );
        f.deploy(units);
        f.on("config-changed", "");
        f
    }

    pub(crate) fn charm(&self) -> PathBuf {
        self.root.path().join("charm")
    }

    pub(crate) fn probe(&self) -> PathBuf {
        self.root.path().join("probe")
    }

    pub(crate) fn model(&self) -> PathBuf {
        self.root.path().join("model")
    }

    pub(crate) fn write_charm_file(&self, name: &str, text: &str) {
        let path = self.charm().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, text).unwrap();
    }

    pub(crate) fn chmod(&self, name: &str, mode: u32) {
        fs::set_permissions(self.charm().join(name), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Sources `body` in the dispatch of hook (or action) `name`; `t <id> <cmd...>`
    /// records the command's stdout, stderr and exit code under that id.
    pub(crate) fn on(&self, name: &str, body: &str) {
        fs::write(
            self.probe().join("scripts").join(format!("{name}.sh")),
            body,
        )
        .unwrap();
    }

    pub(crate) fn sim(&self) -> Command {
        let mut c = Command::cargo_bin("juju-sim").unwrap();
        c.arg("--model-dir").arg(self.model());
        c
    }

    /// Runs the driver and insists on success; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.sim().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "juju-sim {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}\nlog:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.debug_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    pub(crate) fn deploy(&self, units: u32) {
        let n = units.to_string();
        let charm = self.charm().display().to_string();
        self.ok(&[
            "deploy",
            &charm,
            "--resource",
            "demo-image=demo/image:1",
            "-n",
            &n,
        ]);
    }

    /// Hooks run so far: "unit hooks/name remote=... departing=...".
    pub(crate) fn hooks(&self) -> Vec<String> {
        fs::read_to_string(self.probe().join("hooks.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Hook names run on `unit` so far (with the remote unit for relation hooks).
    pub(crate) fn hooks_of(&self, unit: &str) -> Vec<String> {
        self.hooks()
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{unit} ")))
            .map(|l| {
                let (path, rest) = l.split_once(' ').unwrap_or((l, ""));
                let name = path.split_once('/').map_or(path, |(_, n)| n);
                let remote = rest
                    .split(' ')
                    .next()
                    .and_then(|r| r.strip_prefix("remote="))
                    .unwrap_or("");
                if remote.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}({remote})")
                }
            })
            .collect()
    }

    pub(crate) fn clear_hooks(&self) {
        let _ = fs::remove_file(self.probe().join("hooks.log"));
    }

    /// What `t <id> ...` recorded: (stdout, stderr, exit code).
    pub(crate) fn out(&self, id: &str) -> (String, String, i32) {
        let read = |ext: &str| {
            fs::read_to_string(self.probe().join("out").join(format!("{id}.{ext}"))).unwrap_or_else(
                |_| panic!("no recorded output {id}.{ext}\nlog:\n{}", self.debug_log()),
            )
        };
        let code = read("code").trim().parse().unwrap();
        (read("out"), read("err"), code)
    }

    /// Runs `body` inside a fresh update-status hook on `unit`.
    pub(crate) fn probe_in(&self, unit: &str, body: &str) {
        self.on("update-status", body);
        self.ok(&["run-hook", unit, "update-status"]);
        self.on("update-status", "");
    }

    pub(crate) fn debug_log(&self) -> String {
        Command::cargo_bin("juju-sim")
            .unwrap()
            .arg("--model-dir")
            .arg(self.model())
            .arg("debug-log")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub(crate) fn model_json(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.model().join("model.json")).unwrap()).unwrap()
    }
}

pub(crate) fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

pub(crate) const SPEC: &str = "version: 3
containers:
  - name: demo
    imageDetails:
      imagePath: demo/image:1
    ports:
      - {name: http, containerPort: 9090, protocol: TCP}
    volumeConfig:
      - name: config
        mountPath: /etc/demo
        files:
          - path: demo.yml
            mode: 0600
            content: |
              hello: world
";
