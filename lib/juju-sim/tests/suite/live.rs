//! Live workloads: real Prometheus and Alertmanager processes driven by the model.
//! Every test destroys its model when it ends, even when it fails (the [`Live`] guard),
//! and waits on deadlines, never on fixed sleeps.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::Fixture;
use serde_json::Value;

/// Prometheus may take a while to start on a busy 2-core machine.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// A fixture whose model is destroyed when the test ends; processes that survive that
/// (a broken destroy-model) are killed from the PIDs the runner recorded.
struct Live {
    f: Fixture,
}

impl Drop for Live {
    fn drop(&mut self) {
        let pids = recorded_pids(&self.f);
        let _ = self.f.sim().arg("destroy-model").output();
        for pid in pids.into_iter().filter(|p| running(*p)) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl std::ops::Deref for Live {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        &self.f
    }
}

fn recorded_pids(f: &Fixture) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(f.model().join("workloads")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("state.json")).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter_map(|v| v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
        .collect()
}

/// Whether a process runs (a zombie has exited).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(String::from))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.0 exchange: (status, body).
fn http(method: &str, address: &str, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(address).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not HTTP: {head}"))?;
    Ok((code, body.to_string()))
}

/// Polls `check` until it gives a value or the deadline passes.
fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(f: &Fixture) -> Value {
    f.json(&["status"])
}

fn workload(f: &Fixture, app: &str, unit: &str) -> Value {
    status(f)["applications"][app]["units"][unit]["workload"].clone()
}

fn pod_template(f: &Fixture) -> Value {
    status(f)["applications"]["demo"]["pod-template"].clone()
}

fn wait_ready(f: &Fixture, app: &str, unit: &str) -> Value {
    wait_for(&format!("{unit} to be ready"), READY_WITHIN, || {
        let w = workload(f, app, unit);
        assert_ne!(w["state"], "failed", "{w}\nlog:\n{}", workload_log(f, unit));
        (w["ready"] == true).then_some(w)
    })
}

fn workload_log(f: &Fixture, unit: &str) -> String {
    fs::read_to_string(
        f.model()
            .join("workloads")
            .join(unit.replace('/', "-"))
            .join("log"),
    )
    .unwrap_or_default()
}

fn pid_of(w: &Value) -> u32 {
    u32::try_from(w["pid"].as_u64().unwrap()).unwrap()
}

/// A Prometheus pod spec on `port` whose config carries `marker` as an external label.
fn prometheus_spec(port: u16, marker: &str, extra_args: &[&str]) -> String {
    let mut args = vec![
        "--config.file=/etc/prometheus/prometheus.yml".to_string(),
        "--storage.tsdb.path=/var/lib/demo".to_string(),
        format!("--web.listen-address=0.0.0.0:{port}"),
        "--web.enable-lifecycle".to_string(),
    ];
    args.extend(extra_args.iter().map(std::string::ToString::to_string));
    let args: String = args.iter().map(|a| format!("      - {a}\n")).collect();
    format!(
        "version: 3
containers:
  - name: prometheus
    imageDetails:
      imagePath: ubuntu/prometheus:latest
    args:
{args}    ports:
      - {{name: http, containerPort: {port}, protocol: TCP}}
    envConfig:
      POD_NAME:
        field: {{path: metadata.name, api-version: v1}}
    volumeConfig:
      - name: config
        mountPath: /etc/prometheus
        files:
          - path: prometheus.yml
            mode: 0644
            content: |
              global:
                external_labels:
                  marker: {marker}
    kubernetes:
      readinessProbe:
        httpGet: {{path: /-/ready, port: {port}}}
      livenessProbe:
        httpGet: {{path: /-/healthy, port: http}}
"
    )
}

/// A fixture whose leader sets `spec.yaml` (in the probe dir) on every config-changed.
fn live_fixture(spec: &str) -> Live {
    let f = Fixture::new();
    write_spec(&f, spec);
    f.on(
        "config-changed",
        "if [ \"$(is-leader)\" = True ]; then pod-spec-set --file \"$probe/spec.yaml\"; fi\n",
    );
    Live { f }
}

fn write_spec(f: &Fixture, spec: &str) {
    fs::write(f.probe().join("spec.yaml"), spec).unwrap();
}

fn deploy_live(f: &Fixture, units: u32) {
    let charm = f.charm().display().to_string();
    f.ok(&[
        "deploy",
        &charm,
        "--resource",
        "demo-image=demo/image:1",
        "-n",
        &units.to_string(),
        "--live",
    ]);
}

fn config_file(f: &Fixture, unit: &str) -> PathBuf {
    f.model()
        .join("workloads")
        .join(unit.replace('/', "-"))
        .join("root/etc/prometheus/prometheus.yml")
}

#[test]
fn prometheus_runs_its_pod_spec_keeps_its_process_for_new_contents_and_restarts_for_new_args_or_files(
) {
    let port = free_port();
    let live = live_fixture(&prometheus_spec(port, "one", &[]));
    deploy_live(&live, 1);
    let address = format!("127.0.0.1:{port}");
    let w = wait_ready(&live, "demo", "demo/0");
    assert_eq!(w["state"], "running");
    assert_eq!(w["address"], address.as_str());
    assert_eq!(w["restarts"], 0);
    let first = pid_of(&w);
    assert!(running(first));
    let environ = fs::read(format!("/proc/{first}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ)
        .split('\0')
        .any(|v| v == "POD_NAME=demo-0"));
    let (code, body) = http("GET", &address, "/api/v1/status/config").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("marker: one"), "{body}");
    let human = live.ok(&["status"]);
    assert!(
        human.contains(&format!("demo/0    running  {first}")),
        "{human}"
    );

    // Only the file changes: replaced in place, the same process reloads it.
    write_spec(&live, &prometheus_spec(port, "two", &[]));
    live.ok(&["config", "demo", "name=two"]);
    assert!(fs::read_to_string(config_file(&live, "demo/0"))
        .unwrap()
        .contains("marker: two"));
    let w = workload(&live, "demo", "demo/0");
    assert_eq!(pid_of(&w), first);
    assert_eq!(w["restarts"], 0);
    assert_eq!(pod_template(&live)["rolls"], 0);
    assert_eq!(http("POST", &address, "/-/reload").unwrap().0, 200);
    let (_, body) = http("GET", &address, "/api/v1/status/config").unwrap();
    assert!(body.contains("marker: two"), "{body}");

    // The container definition changes: a new process.
    write_spec(
        &live,
        &prometheus_spec(port, "two", &["--web.page-title=Live"]),
    );
    live.ok(&["config", "demo", "name=three"]);
    let w = wait_ready(&live, "demo", "demo/0");
    let second = pid_of(&w);
    assert_ne!(second, first);
    assert_eq!(w["restarts"], 1);
    assert_eq!(pod_template(&live)["rolls"], 1);
    assert!(!running(first));
    assert!(running(second));

    // A new file in the volume changes the pod template's items: the pod rolls, as it
    // would in a cluster, although nothing of the container changed.
    let with_extra = prometheus_spec(port, "two", &["--web.page-title=Live"]).replace(
        "    kubernetes:\n",
        "          - {path: extra.yml, mode: 0644, content: 'x: 1'}\n    kubernetes:\n",
    );
    write_spec(&live, &with_extra);
    live.ok(&["config", "demo", "name=four"]);
    let w = wait_ready(&live, "demo", "demo/0");
    let third = pid_of(&w);
    assert_ne!(third, second);
    assert_eq!(w["restarts"], 2);
    assert_eq!(pod_template(&live)["rolls"], 2);
    assert_eq!(
        pod_template(&live)["last-change"],
        serde_json::json!(["volumes"])
    );
    assert!(config_file(&live, "demo/0")
        .with_file_name("extra.yml")
        .exists());
    assert!(!running(second));

    let out = live.ok(&["destroy-model"]);
    assert!(out.contains("stopped 1 workload process"), "{out}");
    assert!(!running(third));
    assert!(!live.model().exists());
}

#[test]
fn added_units_run_on_their_own_address_and_removed_units_stop() {
    let port = free_port();
    let live = live_fixture(&prometheus_spec(port, "one", &[]));
    deploy_live(&live, 1);
    live.ok(&["add-unit", "demo"]);
    let w = wait_ready(&live, "demo", "demo/1");
    assert_eq!(w["address"], format!("127.0.0.2:{port}").as_str());
    let pid = pid_of(&w);
    assert_eq!(
        status(&live)["applications"]["demo"]["units"]["demo/1"]["address"],
        "127.0.0.2"
    );
    let leader = pid_of(&wait_ready(&live, "demo", "demo/0"));
    live.ok(&["remove-unit", "demo/1"]);
    assert!(!running(pid));
    assert!(running(leader));
    assert!(status(&live)["applications"]["demo"]["units"]
        .get("demo/1")
        .is_none());
}

#[test]
fn failing_workloads_show_as_failed_with_the_reason() {
    let port = free_port();
    let live = live_fixture(
        &prometheus_spec(port, "one", &[]).replace("ubuntu/prometheus", "library/nginx"),
    );
    deploy_live(&live, 1);
    let w = workload(&live, "demo", "demo/0");
    assert_eq!(w["state"], "failed");
    assert_eq!(w["pid"], Value::Null);
    assert!(
        w["message"].as_str().unwrap().contains("library/nginx"),
        "{w}"
    );

    write_spec(&live, &prometheus_spec(port, "one", &["--no-such-flag"]));
    live.ok(&["config", "demo", "name=two"]);
    let w = wait_for("the process to exit", READY_WITHIN, || {
        let w = workload(&live, "demo", "demo/0");
        (w["state"] == "failed").then_some(w)
    });
    assert!(w["message"].as_str().unwrap().contains("exited"), "{w}");
}

#[test]
fn models_that_are_not_live_run_nothing_and_their_units_are_unreachable() {
    let port = free_port();
    let live = live_fixture(&prometheus_spec(port, "one", &[]));
    live.deploy(1);
    let unit = &status(&live)["applications"]["demo"]["units"]["demo/0"];
    assert!(unit.get("workload").is_none(), "{unit}");
    assert!(!live.model().join("workloads").exists());
    let address = unit["address"].as_str().unwrap().to_string();
    assert!(address.starts_with("127.") && !address.starts_with("127.0.0."));
    let refused = TcpStream::connect(format!("{address}:{port}")).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_live_alertmanager_answers_where_the_relation_data_points() {
    let live = live_fixture(&prometheus_spec(free_port(), "one", &[]));
    live.deploy(1);
    let out = live.ok(&["relate", "alertmanager", "demo", "--live", "--units", "2"]);
    let id = out.trim().rsplit_once(':').unwrap().1.to_string();
    let data = live.json(&["show-relation-data", &id, "--side", "remote"]);
    let mut pids = Vec::new();
    for n in 0..2 {
        let unit = format!("alertmanager/{n}");
        let bag = &data["remote"]["units"][&unit];
        let url = bag["url"].as_str().unwrap();
        let address = url.strip_prefix("http://").unwrap();
        assert!(address.starts_with("127.0.0.1:"), "{url}");
        assert_eq!(bag["private-address"], "127.0.0.1");
        assert_eq!(http("GET", address, "/-/ready").unwrap().0, 200);
        let w = workload(&live, "alertmanager", &unit);
        assert_eq!(w["state"], "running");
        assert_eq!(w["ready"], true);
        assert_eq!(w["address"], address);
        pids.push(pid_of(&w));
    }
    assert_ne!(
        data["remote"]["units"]["alertmanager/0"]["url"],
        data["remote"]["units"]["alertmanager/1"]["url"]
    );

    live.ok(&["add-unit", "alertmanager"]);
    let w = workload(&live, "alertmanager", "alertmanager/2");
    assert_eq!(w["ready"], true, "{w}");
    pids.push(pid_of(&w));
    live.ok(&["remove-unit", "alertmanager/1"]);
    assert!(!running(pids[1]));

    let other = live_fixture(&prometheus_spec(free_port(), "one", &[]));
    other.deploy(1);
    let refused = other
        .sim()
        .args(["relate", "alertmanager-lma", "demo", "--live"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot be live"));
    let refused = other
        .sim()
        .args(["relate", "am", "demo", "--profile", "alertmanager-podspec"])
        .args(["--live", "--units", "2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("use one unit"));

    live.ok(&["destroy-model"]);
    for pid in pids {
        assert!(!running(pid));
    }
}

#[test]
fn a_live_scrape_target_serves_metrics_where_its_scrape_data_points() {
    let live = live_fixture(&prometheus_spec(free_port(), "one", &[]));
    live.deploy(1);
    let out = live.ok(&["relate", "scrape-target", "demo", "--live"]);
    let id = out.trim().rsplit_once(':').unwrap().1.to_string();
    let data = live.json(&["show-relation-data", &id, "--side", "remote"]);
    let jobs: Value = serde_json::from_str(
        data["remote"]["application-data"]["scrape_jobs"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let target = jobs[0]["static_configs"][0]["targets"][0].as_str().unwrap();
    let port = target.strip_prefix("*:").unwrap();
    let host = data["remote"]["units"]["scrape-target/0"]["prometheus_scrape_unit_address"]
        .as_str()
        .unwrap();
    let (code, body) = http("GET", &format!("{host}:{port}"), "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("alertmanager_build_info"));
}

#[test]
fn older_alertmanager_dialects_can_be_live_too() {
    let live = live_fixture(&prometheus_spec(free_port(), "one", &[]));
    live.deploy(1);
    let out = live.ok(&[
        "relate",
        "am-v0",
        "demo",
        "--profile",
        "alertmanager-v0",
        "--live",
    ]);
    let id = out.trim().rsplit_once(':').unwrap().1.to_string();
    let data = live.json(&["show-relation-data", &id, "--side", "remote"]);
    let address = data["remote"]["units"]["am-v0/0"]["public_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_eq!(http("GET", &address, "/-/ready").unwrap().0, 200);

    let out = live.ok(&[
        "relate",
        "am-podspec",
        "demo",
        "--profile",
        "alertmanager-podspec",
        "--live",
    ]);
    let id = out.trim().rsplit_once(':').unwrap().1.to_string();
    let data = live.json(&["show-relation-data", &id, "--side", "remote"]);
    let app = &data["remote"]["application-data"];
    assert_eq!(app["addrs"], "[\"127.0.0.1\"]");
    let port = app["port"].as_str().unwrap();
    assert_eq!(
        http("GET", &format!("127.0.0.1:{port}"), "/-/ready")
            .unwrap()
            .0,
        200
    );
}

#[test]
fn a_live_unit_without_a_pod_spec_is_stopped_and_removing_it_leaves_nothing_running() {
    let live = live_fixture("");
    live.on("config-changed", "");
    deploy_live(&live, 2);
    let w = workload(&live, "demo", "demo/1");
    assert_eq!(w["state"], "stopped");
    assert_eq!(w["pid"], Value::Null);
    assert_eq!(w["ready"], false);
    assert_eq!(w["message"], "no pod spec has been set");
    live.ok(&["remove-unit", "demo/1"]);
    assert!(recorded_pids(&live).is_empty());
}
