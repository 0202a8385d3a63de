//! How hooks run: Juju's environment (§1.3, §1.4) and Juju's hook orders (§4).

use std::collections::BTreeMap;

use crate::common::Fixture;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(std::string::ToString::to_string).collect()
}

#[test]
fn hooks_get_exactly_jujus_environment() {
    let f = Fixture::deployed(1);
    f.on(
        "alertmanager-relation-joined",
        "env > \"$probe/env\"\npwd > \"$probe/pwd\"\nreadlink /proc/self/fd/0 > \"$probe/stdin\"\necho \"$0\" > \"$probe/argv0\"\necho \"$#\" > \"$probe/argc\"\n",
    );
    f.ok(&["relate", "alertmanager", "demo"]);
    let text = std::fs::read_to_string(f.probe().join("env")).unwrap();
    let env: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k))
        .collect();
    let model = f.model().display().to_string();
    let charm = format!("{model}/units/demo-0/charm");
    let uuid = f.model_json()["uuid"].as_str().unwrap().to_string();
    let expected: BTreeMap<&str, String> = [
        ("APT_LISTCHANGES_FRONTEND", "none".to_string()),
        ("CHARM_DIR", charm.clone()),
        ("CLOUD_API_VERSION", String::new()),
        ("DEBIAN_FRONTEND", "noninteractive".into()),
        ("JUJU_AGENT_SOCKET_ADDRESS", format!("{model}/agents/unit-demo-0/agent.socket")),
        ("JUJU_AGENT_SOCKET_NETWORK", "unix".into()),
        ("JUJU_API_ADDRESSES", "127.152.183.2:17070".into()),
        ("JUJU_AVAILABILITY_ZONE", String::new()),
        ("JUJU_CHARM_DIR", charm.clone()),
        ("JUJU_CHARM_FTP_PROXY", String::new()),
        ("JUJU_CHARM_HTTPS_PROXY", String::new()),
        ("JUJU_CHARM_HTTP_PROXY", String::new()),
        ("JUJU_CHARM_NO_PROXY", String::new()),
        ("JUJU_CONTEXT_ID", env["JUJU_CONTEXT_ID"].to_string()),
        ("JUJU_DISPATCH_PATH", "hooks/alertmanager-relation-joined".into()),
        ("JUJU_HOOK_NAME", "alertmanager-relation-joined".into()),
        ("JUJU_MACHINE_ID", String::new()),
        ("JUJU_METER_INFO", "not set".into()),
        ("JUJU_METER_STATUS", "AMBER".into()),
        ("JUJU_MODEL_NAME", "lma".into()),
        ("JUJU_MODEL_UUID", uuid),
        ("JUJU_PRINCIPAL_UNIT", String::new()),
        ("JUJU_RELATION", "alertmanager".into()),
        ("JUJU_RELATION_ID", "alertmanager:1".into()),
        ("JUJU_REMOTE_APP", "alertmanager".into()),
        ("JUJU_REMOTE_UNIT", "alertmanager/0".into()),
        ("JUJU_SLA", "unsupported".into()),
        ("JUJU_UNIT_NAME", "demo/0".into()),
        ("JUJU_VERSION", "2.9.42".into()),
        ("LANG", "C.UTF-8".into()),
        ("PATH", format!("{model}/tools/unit-demo-0:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")),
        ("TERM", "tty".into()),
    ]
    .into_iter()
    .collect();
    let got: BTreeMap<&str, String> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(got, expected);
    assert!(env["JUJU_CONTEXT_ID"].starts_with("demo/0-alertmanager-relation-joined-"));
    let read = |n: &str| {
        std::fs::read_to_string(f.probe().join(n))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("pwd"), charm);
    assert_eq!(read("stdin"), "/dev/null");
    assert_eq!(read("argv0"), format!("{charm}/dispatch"));
    assert_eq!(read("argc"), "0");
}

#[test]
fn departed_broken_actions_and_storage_have_their_variables() {
    let f = Fixture::deployed(1);
    f.on(
        "database-storage-detaching",
        "env > \"$probe/storage-env\"\n",
    );
    f.on(
        "alertmanager-relation-departed",
        "env > \"$probe/departed-env\"\n",
    );
    f.on(
        "alertmanager-relation-broken",
        "env > \"$probe/broken-env\"\n",
    );
    f.on("backup", "env > \"$probe/action-env\"\n");
    f.ok(&["relate", "alertmanager", "demo"]);
    f.ok(&["remove-relation", "alertmanager", "demo"]);
    f.ok(&["run-action", "demo/0", "backup", "target=/srv"]);
    f.ok(&["add-unit", "demo"]);
    f.ok(&["remove-unit", "demo/1"]);
    let vars = |file: &str| -> BTreeMap<String, String> {
        std::fs::read_to_string(f.probe().join(file))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let departed = vars("departed-env");
    assert_eq!(departed["JUJU_REMOTE_UNIT"], "alertmanager/0");
    assert_eq!(departed["JUJU_DEPARTING_UNIT"], "alertmanager/0");
    let broken = vars("broken-env");
    assert_eq!(broken["JUJU_REMOTE_UNIT"], "");
    assert_eq!(broken["JUJU_REMOTE_APP"], "alertmanager");
    assert!(!broken.contains_key("JUJU_DEPARTING_UNIT"));
    let action = vars("action-env");
    assert_eq!(action["JUJU_DISPATCH_PATH"], "actions/backup");
    // Juju's ActionContext never sets the hook name: present and empty.
    assert_eq!(action["JUJU_HOOK_NAME"], "");
    assert_eq!(action["JUJU_ACTION_NAME"], "backup");
    // 2.9 action ids come from a sequence: a number, not a UUID.
    assert!(action["JUJU_ACTION_UUID"].parse::<u32>().is_ok());
    assert!(action["JUJU_CONTEXT_ID"].starts_with("demo/0-backup-"));
    assert_eq!(
        action["JUJU_ACTION_TAG"],
        format!("action-{}", action["JUJU_ACTION_UUID"])
    );
    assert!(!action.contains_key("JUJU_RELATION"));
    let storage = vars("storage-env");
    assert_eq!(storage["JUJU_STORAGE_ID"], "database/1");
    assert_eq!(storage["JUJU_STORAGE_LOCATION"], "/var/lib/demo");
    assert_eq!(storage["JUJU_HOOK_NAME"], "database-storage-detaching");
}

#[test]
fn deploy_runs_each_units_first_hooks_then_peer_joins() {
    let f = Fixture::deployed(2);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "install",
            "demo-peers-relation-created",
            "leader-elected",
            "config-changed",
            "start",
            "database-storage-attached",
            "demo-peers-relation-joined(demo/1)",
            "demo-peers-relation-changed(demo/1)",
        ])
    );
    assert_eq!(
        f.hooks_of("demo/1"),
        strings(&[
            "install",
            "demo-peers-relation-created",
            "leader-settings-changed",
            "config-changed",
            "start",
            "database-storage-attached",
            "demo-peers-relation-joined(demo/0)",
            "demo-peers-relation-changed(demo/0)",
        ])
    );
    // Units run one after the other: all of demo/0's first hooks, then demo/1's.
    let order: Vec<String> = f
        .hooks()
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(order[..6], vec!["demo/0".to_string(); 6][..]);
}

#[test]
fn relate_fires_created_then_joined_and_changed_per_remote_unit_then_app_changed() {
    let f = Fixture::deployed(2);
    f.clear_hooks();
    let id = f.ok(&["relate", "alertmanager", "demo", "--units", "2"]);
    assert_eq!(id, "alertmanager:1\n");
    for unit in ["demo/0", "demo/1"] {
        assert_eq!(
            f.hooks_of(unit),
            strings(&[
                "alertmanager-relation-created",
                "alertmanager-relation-joined(alertmanager/0)",
                "alertmanager-relation-changed(alertmanager/0)",
                "alertmanager-relation-joined(alertmanager/1)",
                "alertmanager-relation-changed(alertmanager/1)",
            ])
        );
    }
    f.clear_hooks();
    f.ok(&["relate", "demo", "grafana"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "grafana-source-relation-created",
            "grafana-source-relation-joined(grafana/0)",
            "grafana-source-relation-changed(grafana/0)",
            "grafana-source-relation-changed",
        ])
    );
}

#[test]
fn remove_relation_departs_each_remote_unit_then_breaks() {
    let f = Fixture::deployed(1);
    f.ok(&["relate", "alertmanager", "demo", "--units", "2"]);
    f.on(
        "alertmanager-relation-broken",
        "t ids relation-ids alertmanager --format=json\nt list relation-list -r 1 --format=json\nt get relation-get -r 1 url alertmanager/0\n",
    );
    f.on(
        "alertmanager-relation-departed",
        "t \"departed-list\" relation-list --format=json\n",
    );
    f.clear_hooks();
    f.ok(&["remove-relation", "demo:alertmanager", "alertmanager"]);
    assert_eq!(
        f.hooks(),
        strings(&[
            "demo/0 hooks/alertmanager-relation-departed remote=alertmanager/0 departing=alertmanager/0",
            "demo/0 hooks/alertmanager-relation-departed remote=alertmanager/1 departing=alertmanager/1",
            "demo/0 hooks/alertmanager-relation-broken remote= departing=",
        ])
    );
    assert_eq!(f.out("departed-list").0, "[]\n");
    assert_eq!(f.out("ids").0, "[\"alertmanager:1\"]\n");
    assert_eq!(f.out("list").0, "[]\n");
    assert_eq!(
        f.out("get").0,
        "http://alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local:9093\n"
    );
    assert_eq!(
        f.json(&["status"])["relations"].as_array().unwrap().len(),
        1
    );
    // By relation id too, and peers cannot be removed.
    f.ok(&["relate", "alertmanager", "demo"]);
    f.ok(&["remove-relation", "alertmanager:2"]);
    let out = f.sim().args(["remove-relation", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Two units of demo related to one of alertmanager, with the hooks so far forgotten.
fn two_units_related_to_alertmanager() -> Fixture {
    let f = Fixture::deployed(2);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.clear_hooks();
    f
}

#[test]
fn add_unit_runs_the_additional_unit_sequence_and_joins_everyone() {
    let f = two_units_related_to_alertmanager();
    f.ok(&["add-unit", "demo"]);
    assert_eq!(
        f.hooks_of("demo/2"),
        strings(&[
            "install",
            "demo-peers-relation-created",
            "alertmanager-relation-created",
            "leader-settings-changed",
            "config-changed",
            "start",
            "database-storage-attached",
            "demo-peers-relation-joined(demo/0)",
            "demo-peers-relation-changed(demo/0)",
            "demo-peers-relation-joined(demo/1)",
            "demo-peers-relation-changed(demo/1)",
            "alertmanager-relation-joined(alertmanager/0)",
            "alertmanager-relation-changed(alertmanager/0)",
        ])
    );
    for unit in ["demo/0", "demo/1"] {
        assert_eq!(
            f.hooks_of(unit),
            strings(&[
                "demo-peers-relation-joined(demo/2)",
                "demo-peers-relation-changed(demo/2)"
            ])
        );
    }
    f.clear_hooks();
    f.ok(&["add-unit", "alertmanager", "-n", "1"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "alertmanager-relation-joined(alertmanager/1)",
            "alertmanager-relation-changed(alertmanager/1)",
        ])
    );
    assert_eq!(f.hooks().len(), 6);
}

#[test]
fn remove_unit_departs_breaks_stops_and_moves_leadership() {
    let f = two_units_related_to_alertmanager();
    f.ok(&["remove-unit", "demo/0"]);
    assert_eq!(
        f.hooks(),
        strings(&[
            "demo/0 hooks/demo-peers-relation-departed remote=demo/1 departing=demo/0",
            "demo/0 hooks/alertmanager-relation-departed remote=alertmanager/0 departing=demo/0",
            "demo/0 hooks/alertmanager-relation-broken remote= departing=",
            "demo/0 hooks/stop remote= departing=",
            "demo/0 hooks/database-storage-detaching remote= departing=",
            "demo/0 hooks/remove remote= departing=",
            "demo/1 hooks/demo-peers-relation-departed remote=demo/0 departing=demo/0",
            "demo/1 hooks/leader-elected remote= departing=",
        ])
    );
    let status = f.json(&["status"]);
    assert_eq!(
        status["applications"]["demo"]["units"]["demo/1"]["leader"],
        true
    );
    assert!(status["applications"]["demo"]["units"]
        .get("demo/0")
        .is_none());
    f.clear_hooks();
    f.ok(&["remove-unit", "alertmanager/0"]);
    assert_eq!(
        f.hooks(),
        strings(&["demo/1 hooks/alertmanager-relation-departed remote=alertmanager/0 departing=alertmanager/0"])
    );
}

#[test]
fn config_changed_fires_only_when_a_value_changes() {
    let f = Fixture::deployed(2);
    f.clear_hooks();
    f.ok(&["config", "demo", "port=9090"]);
    assert!(f.hooks().is_empty());
    f.ok(&["config", "demo", "port=80", "flag=true"]);
    assert_eq!(f.hooks_of("demo/0"), strings(&["config-changed"]));
    assert_eq!(f.hooks_of("demo/1"), strings(&["config-changed"]));
    f.clear_hooks();
    f.ok(&["config", "demo", "--reset", "port,flag"]);
    assert_eq!(f.hooks().len(), 2);
    let config = f.json(&["config", "demo"]);
    assert_eq!(config["settings"]["port"]["value"], 9090);
    assert_eq!(config["settings"]["port"]["source"], "default");
}

#[test]
fn a_failing_hook_holds_the_rest_of_its_units_sequence_and_fails_the_command() {
    let f = Fixture::new();
    f.on("leader-elected", "echo oops >&2\nexit 7\n");
    let charm = f.charm().display().to_string();
    let out = f
        .sim()
        .args(["deploy", &charm, "--resource", "demo-image=x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hook failed: \"leader-elected\""),
        "{stderr}"
    );
    assert!(stderr.contains("oops"), "{stderr}");
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&["install", "demo-peers-relation-created", "leader-elected"])
    );
    assert!(f
        .debug_log()
        .contains("WARNING unit.demo/0.leader-elected oops"));
    f.on("leader-elected", "");
    f.ok(&["resolved", "demo/0"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "install",
            "demo-peers-relation-created",
            "leader-elected",
            "leader-elected",
            "config-changed",
            "start",
            "database-storage-attached"
        ])
    );
}

#[test]
fn dispatch_wins_else_the_hook_file_runs_else_the_hook_is_skipped() {
    let f = Fixture::new();
    f.chmod("dispatch", 0o644);
    let probe = f.probe().display().to_string();
    f.write_charm_file(
        "hooks/install",
        &format!("#!/bin/sh\necho \"$0 $JUJU_DISPATCH_PATH\" >> {probe}/hooks.log\n"),
    );
    f.chmod("hooks/install", 0o755);
    f.deploy(1);
    let log = std::fs::read_to_string(f.probe().join("hooks.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "{}/units/demo-0/charm/hooks/install hooks/install\n",
            f.model().display()
        )
    );
    assert!(f
        .debug_log()
        .contains("INFO juju.worker.uniter.operation skipped \"start\" hook (missing)"));
}

#[test]
fn update_status_and_run_hook() {
    let f = two_units_related_to_alertmanager();
    f.ok(&["update-status"]);
    assert_eq!(f.hooks_of("demo/0"), strings(&["update-status"]));
    assert_eq!(f.hooks_of("demo/1"), strings(&["update-status"]));
    f.clear_hooks();
    f.ok(&["run-hook", "demo/1", "alertmanager-relation-changed"]);
    assert_eq!(
        f.hooks(),
        strings(&["demo/1 hooks/alertmanager-relation-changed remote=alertmanager/0 departing="])
    );
}

#[test]
fn set_relation_data_changes_remote_bags_and_fires_changed() {
    let f = Fixture::deployed(2);
    f.ok(&["relate", "scrape-target", "demo"]);
    f.clear_hooks();
    f.ok(&[
        "set-relation-data",
        "metrics-endpoint:1",
        "scrape-target/0",
        "prometheus_scrape_unit_address=10.9.9.9",
        "prometheus_scrape_unit_name=",
    ]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&["metrics-endpoint-relation-changed(scrape-target/0)"])
    );
    assert_eq!(f.hooks().len(), 2);
    let data = f.json(&["show-relation-data", "1", "--side", "remote"]);
    let unit = &data["remote"]["units"]["scrape-target/0"];
    assert_eq!(unit["prometheus_scrape_unit_address"], "10.9.9.9");
    assert!(unit.get("prometheus_scrape_unit_name").is_none());
    assert!(data.get("local").is_none());

    f.clear_hooks();
    let file = f.probe().join("jobs.json");
    crate::common::write(&file, r#"{"scrape_jobs": "[{\"job_name\": \"x\\ny\"}]"}"#);
    let file = file.display().to_string();
    f.ok(&["set-relation-data", "1", "scrape-target", "--file", &file]);
    assert_eq!(
        f.hooks_of("demo/1"),
        strings(&["metrics-endpoint-relation-changed"])
    );
    let data = f.json(&["show-relation-data", "1"]);
    assert_eq!(
        data["remote"]["application-data"]["scrape_jobs"],
        "[{\"job_name\": \"x\\ny\"}]"
    );
    let out = f
        .sim()
        .args(["set-relation-data", "1", "demo/0", "a=b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Hooks see cluster DNS as a pod does: every unit's pod name resolves to its address
/// (through the model's /etc/hosts), resolv.conf searches the model's namespace, and the
/// host's own files are left alone.
#[test]
fn hooks_resolve_every_units_pod_name_as_in_a_pod() {
    let f = Fixture::deployed(2);
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    f.probe_in(
        "demo/1",
        "t hosts getent hosts demo-0.demo-endpoints.lma.svc.cluster.local \
         demo-1.demo-endpoints.lma.svc.cluster.local\nt resolv cat /etc/resolv.conf\n",
    );
    let model: serde_json::Value = f.model_json();
    let uuid = model["uuid"].as_str().unwrap();
    let (out, err, code) = f.out("hosts");
    assert_eq!(code, 0, "{err}");
    // Not live: the model's own 127.a.b.0/24, unit n at .(1+n).
    let addresses: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(addresses.len(), 2, "{out}");
    let block = addresses[0].rsplit_once('.').unwrap().0;
    assert!(block.starts_with("127."), "{out} ({uuid})");
    assert_eq!(addresses, [format!("{block}.1"), format!("{block}.2")]);
    let (resolv, _, _) = f.out("resolv");
    assert!(
        resolv.starts_with("search lma.svc.cluster.local svc.cluster.local cluster.local\n"),
        "{resolv}"
    );
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), host_hosts);
}

/// Without a usable `unshare` (not root, say), hooks run directly, and the debug log says so
/// once.
#[test]
fn without_unshare_hooks_run_directly_and_the_log_says_so_once() {
    let f = Fixture::new();
    let run = |args: &[&str]| {
        let out = f
            .sim()
            .env("JUJU_SIM_UNSHARE", "/nonexistent/unshare")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let charm = f.charm().display().to_string();
    run(&[
        "deploy",
        &charm,
        "--resource",
        "demo-image=demo/image:1",
        "-n",
        "2",
    ]);
    run(&["update-status"]);
    assert!(f.hooks_of("demo/1").contains(&"update-status".to_string()));
    let log = f.debug_log();
    let said = log
        .lines()
        .filter(|l| l.contains("cannot give hooks a pod's DNS"))
        .count();
    assert_eq!(said, 1, "{log}");
}
