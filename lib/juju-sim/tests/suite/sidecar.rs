//! Sidecar (v2) charms: the hook sequence of Juju 3.6's uniter, the Pebble stand-in each
//! hook finds at /charm/containers/<container>/pebble.socket, the refused pod spec, the
//! pod's roll on upgrade-charm, and trust / credential-get.

use std::time::Duration;

use serde_json::Value;

use crate::common::Fixture;

fn pebble_records(f: &Fixture, unit_number: u32) -> Value {
    f.model_json()["application"]["units"][unit_number.to_string()]["pebble"].clone()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().chars().next());
        !matches!(state, Some(Some('Z' | 'X')))
    })
}

fn wait_gone(pid: u64) -> bool {
    for _ in 0..200 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// install, -created, leadership, config-changed, start, then -pebble-ready and only
/// then storage-attached (CAAS storage hooks wait for start), with Juju 3.6's version
/// and JUJU_WORKLOAD_NAME; Pebble answers from the first hook on.
#[test]
fn a_sidecar_unit_runs_juju_36s_first_hooks() {
    let f = Fixture::sidecar();
    let record = "echo \"$JUJU_DISPATCH_PATH workload=${JUJU_WORKLOAD_NAME:-none} \
                  version=$JUJU_VERSION $(test -S /charm/containers/workload/pebble.socket \
                  && echo socket)\" >> \"$probe/env.log\"\n";
    for hook in [
        "install",
        "workload-pebble-ready",
        "database-storage-attached",
    ] {
        f.on(hook, record);
    }
    f.on(
        "workload-pebble-ready",
        &format!(
            "{record}t sysinfo curl -s --unix-socket /charm/containers/workload/pebble.socket \
             http://localhost/v1/system-info\n"
        ),
    );
    f.deploy(2);
    assert_eq!(
        f.hooks_of("demo/0")[..7],
        [
            "install",
            "demo-peers-relation-created",
            "leader-elected",
            "config-changed",
            "start",
            "workload-pebble-ready",
            "database-storage-attached",
        ]
    );
    assert_eq!(f.hooks_of("demo/1")[2], "leader-settings-changed");
    let env = std::fs::read_to_string(f.probe().join("env.log")).unwrap();
    assert!(
        env.starts_with(
            "hooks/install workload=none version=3.6.0 socket\n\
             hooks/workload-pebble-ready workload=workload version=3.6.0 socket\n\
             hooks/database-storage-attached workload=none version=3.6.0 socket\n"
        ),
        "{env}"
    );
    let (out, err, code) = f.out("sysinfo");
    assert_eq!(code, 0, "{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["type"], "sync");
    assert_eq!(info["status-code"], 200);
    assert_eq!(info["result"]["version"], "v1.32.1");
    assert_eq!(info["result"]["boot-id"].as_str().unwrap().len(), 36);
    // Each unit has its own Pebble.
    let p0 = pebble_records(&f, 0)["workload"]["pid"].as_u64().unwrap();
    let p1 = pebble_records(&f, 1)["workload"]["pid"].as_u64().unwrap();
    assert_ne!(p0, p1);
    assert!(alive(p0) && alive(p1));
    f.ok(&["remove-unit", "demo/1"]);
    assert!(wait_gone(p1), "the removed unit's Pebble still runs");
    assert!(alive(p0));
    f.ok(&["destroy-model", "-y"]);
    assert!(wait_gone(p0), "destroy-model left Pebble running");
}

/// Juju refuses a pod spec for a v2 charm when the hook commits: the hook fails.
#[test]
fn a_sidecar_charms_pod_spec_fails_its_hook() {
    let f = Fixture::sidecar();
    crate::common::write(&f.probe().join("spec.yaml"), crate::common::SPEC);
    f.on(
        "config-changed",
        "pod-spec-set --file \"$probe/spec.yaml\"\n",
    );
    let charm = f.charm().display().to_string();
    let out = f
        .sim()
        .args(["deploy", &charm, "--resource", "demo-image=demo/image:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR cannot set k8s spec on a v2 charm"),
        "{stderr}"
    );
    let status = f.json(&["status"]);
    assert_eq!(
        status["applications"]["demo"]["units"]["demo/0"]["juju-status"]["current"],
        "error"
    );
    f.ok(&["destroy-model", "-y"]);
}

/// upgrade-charm replaces the pod: a new Pebble (new boot id), then start, pebble-ready,
/// upgrade-charm and config-changed.
#[test]
fn upgrade_charm_rolls_a_sidecar_pod() {
    let f = Fixture::sidecar();
    f.deploy(1);
    let before = pebble_records(&f, 0)["workload"]["pid"].as_u64().unwrap();
    f.clear_hooks();
    f.ok(&["upgrade-charm", "demo"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        [
            "start",
            "workload-pebble-ready",
            "upgrade-charm",
            "config-changed"
        ]
    );
    let after = pebble_records(&f, 0)["workload"]["pid"].as_u64().unwrap();
    assert_ne!(before, after);
    assert!(wait_gone(before));
    assert!(alive(after));
    f.ok(&["destroy-model", "-y"]);
}

/// `juju trust` on Kubernetes wants --scope=cluster; a change of trust runs
/// config-changed on every unit; credential-get is refused on a Kubernetes model
/// whether or not the application is trusted (runner/context/context.go).
#[test]
fn trust_runs_config_changed_and_credential_get_is_refused_on_kubernetes() {
    let f = Fixture::sidecar();
    f.deploy(2);
    let fail = |args: &[&str]| {
        let out = f.sim().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(
        fail(&["trust", "demo"]),
        "ERROR 'juju trust' currently grants full access to the cluster itself.\n\
         Set the scope to 'cluster' using '--scope=cluster' to confirm this choice.\n\n"
    );
    assert_eq!(
        fail(&["trust", "demo", "--scope=namespace"]),
        "ERROR scope \"namespace\" not valid\n"
    );
    assert!(fail(&["trust", "nope", "--scope=cluster"]).contains("\"nope\" not found"));
    let credential = "t cred credential-get --format=json\n";
    f.clear_hooks();
    f.on("config-changed", credential);
    f.ok(&["trust", "demo", "--scope=cluster"]);
    assert_eq!(f.hooks_of("demo/0"), ["config-changed"]);
    assert_eq!(f.hooks_of("demo/1"), ["config-changed"]);
    let (out, err, code) = f.out("cred");
    assert_eq!((out.as_str(), code), ("", 1));
    assert_eq!(
        err,
        "ERROR cannot access cloud credentials: credential-get on a \"caas\" model not supported\n"
    );
    // Trusting again changes nothing: no hook.
    f.clear_hooks();
    f.ok(&["trust", "demo", "--scope=cluster"]);
    assert!(f.hooks().is_empty());
    f.ok(&["trust", "demo", "--remove"]);
    assert_eq!(f.hooks_of("demo/0"), ["config-changed"]);
    assert_eq!(f.model_json()["application"]["trust"], false);
    f.ok(&["destroy-model", "-y"]);
}

/// With --live the layer's service runs for real: the image's /bin/prometheus is the
/// host's, its paths are in the pod root, it listens on the pod IP (the check's
/// `localhost` reaches it), and exec runs promtool on the pushed config. Driven with the
/// official client on the unit's socket.
#[test]
fn a_live_sidecar_runs_prometheus_from_its_layer() {
    let f = Fixture::sidecar();
    let charm = f.charm().display().to_string();
    f.ok(&[
        "deploy",
        &charm,
        "--resource",
        "demo-image=demo/image:1",
        "--live",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = f.model().join("pebble/demo-0/workload/pebble.socket");
    let script = format!(
        r#"
import time
from ops import pebble
c = pebble.Client(socket_path={socket:?})
c.push("/etc/prometheus/prometheus.yml", "global: {{scrape_interval: 1m}}\n", make_dirs=True)
c.add_layer("prometheus", {{
    "services": {{"prometheus": {{
        "override": "replace", "startup": "enabled",
        "command": "/bin/prometheus --config.file=/etc/prometheus/prometheus.yml "
                   "--storage.tsdb.path=/prometheus --web.listen-address=0.0.0.0:{port}",
    }}}},
    "checks": {{"ready": {{"override": "replace", "level": "ready", "period": "300ms",
                          "http": {{"url": "http://localhost:{port}/-/ready"}}}}}},
}})
c.replan_services()
out, _ = c.exec(["promtool", "check", "config", "/etc/prometheus/prometheus.yml"]).wait_output()
assert "SUCCESS" in out, out
deadline = time.time() + 60
while time.time() < deadline:
    check = c.get_checks(names=["ready"])[0]
    if check.successes:
        break
    time.sleep(0.2)
assert check.successes and check.status == pebble.CheckStatus.UP, check
assert c.get_services(["prometheus"])[0].is_running()
print("ok")
"#
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let log = std::fs::read_to_string(f.model().join("workloads/demo-0/pebble-workload.log"))
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}\nstand-in log:\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        f.model().join("workloads/demo-0/root/prometheus").is_dir(),
        "the TSDB is not in the pod root"
    );
    assert!(
        log.contains(&format!("--web.listen-address=127.0.0.1:{port}")),
        "{log}"
    );
    f.ok(&["destroy-model", "-y"]);
}

/// Without a usable `unshare`, a sidecar unit's hooks run directly and the debug log says
/// once where the Pebble sockets are instead of /charm/containers.
#[test]
fn without_unshare_the_log_says_where_the_sockets_are() {
    let f = Fixture::sidecar();
    let charm = f.charm().display().to_string();
    let out = f
        .sim()
        .env("JUJU_SIM_UNSHARE", "/nonexistent/unshare")
        .args(["deploy", &charm, "--resource", "demo-image=demo/image:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = f.debug_log();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cannot give hooks a pod's DNS"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    let sockets = f.model().join("pebble/demo-0").display().to_string();
    assert!(
        said[0].contains("nor is /charm/containers/<container>/pebble.socket there")
            && said[0].contains(&sockets),
        "{}",
        said[0]
    );
    assert!(f
        .hooks_of("demo/0")
        .contains(&"workload-pebble-ready".to_string()));
    f.ok(&["destroy-model", "-y"]);
}

/// A stand-in whose model directory went away without destroy-model ends itself (and
/// the services it runs) instead of lingering.
#[test]
fn a_stand_in_without_its_socket_ends_itself() {
    let f = Fixture::sidecar();
    f.deploy(1);
    let pid = pebble_records(&f, 0)["workload"]["pid"].as_u64().unwrap();
    assert!(alive(pid));
    std::fs::remove_dir_all(f.model()).unwrap();
    for _ in 0..120 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the stand-in {pid} outlived its socket");
}
