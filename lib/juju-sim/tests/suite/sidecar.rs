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
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        })
        .unwrap_or(false)
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
