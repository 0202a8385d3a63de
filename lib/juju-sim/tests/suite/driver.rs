//! The driver verbs: deploy (directory and .charm), config, status, show-pod-spec, calls,
//! debug-log, run-action, profiles.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};

use crate::common::{Fixture, SPEC};
use serde_json::json;

fn fails(f: &Fixture, args: &[&str]) -> String {
    let out = f.sim().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn deploy_refuses_missing_images_and_bad_config() {
    let f = Fixture::new();
    let charm = f.charm().display().to_string();
    assert_eq!(
        fails(&f, &["deploy", &charm]),
        "ERROR local charm missing OCI images for: demo-image\n"
    );
    assert_eq!(
        fails(
            &f,
            &[
                "deploy",
                &charm,
                "--resource",
                "demo-image=x",
                "--config",
                "nope=1"
            ]
        ),
        "ERROR unknown option \"nope\"\n"
    );
    assert_eq!(
        fails(
            &f,
            &[
                "deploy",
                &charm,
                "--resource",
                "demo-image=x",
                "--config",
                "port=many"
            ]
        ),
        "ERROR option \"port\" expected int, got \"many\"\n"
    );
    assert_eq!(
        fails(&f, &["deploy", &charm, "--resource", "other=x"]),
        "ERROR unrecognized resource \"other\"\n"
    );
    f.ok(&[
        "deploy",
        &charm,
        "--resource",
        "demo-image=x",
        "--config",
        "port=80",
        "--config",
        "flag=true",
    ]);
    f.probe_in("demo/0", "t c config-get --format=json\n");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&f.out("c").0).unwrap(),
        json!({"flag": true, "name": "demo", "port": 80, "ratio": 0.5})
    );
    assert_eq!(
        fails(&f, &["deploy", &charm, "--resource", "demo-image=x"]),
        "ERROR cannot add application \"demo\": application already exists\n"
    );
}

#[test]
fn deploy_from_a_directory_copies_only_charm_files() {
    let f = Fixture::new();
    f.write_charm_file("target/debug/huge", "x");
    f.write_charm_file(".git/config", "x");
    f.write_charm_file("src/main.rs", "x");
    f.write_charm_file("the-binary", "#!/bin/sh\n");
    f.chmod("the-binary", 0o755);
    symlink("../the-binary", f.charm().join("hooks-link")).unwrap();
    fs::create_dir_all(f.charm().join("hooks")).unwrap();
    symlink("../the-binary", f.charm().join("hooks/upgrade-charm")).unwrap();
    f.deploy(1);
    let unit = f.model().join("units/demo-0/charm");
    for present in [
        "metadata.yaml",
        "config.yaml",
        "actions.yaml",
        "dispatch",
        "hooks/upgrade-charm",
        "the-binary",
    ] {
        assert!(
            fs::symlink_metadata(unit.join(present)).is_ok(),
            "{present} missing"
        );
    }
    for absent in ["target", ".git", "src", "hooks-link"] {
        assert!(
            fs::symlink_metadata(unit.join(absent)).is_err(),
            "{absent} copied"
        );
    }
    assert_eq!(
        fs::read_link(unit.join("hooks/upgrade-charm"))
            .unwrap()
            .display()
            .to_string(),
        "../the-binary"
    );
}

fn zip_charm(f: &Fixture, path: &std::path::Path, extra_link: Option<(&str, &str)>) {
    let file = fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let plain: zip::write::SimpleFileOptions = Default::default();
    for name in ["metadata.yaml", "config.yaml", "actions.yaml"] {
        zip.start_file(name, plain.unix_permissions(0o644)).unwrap();
        zip.write_all(&fs::read(f.charm().join(name)).unwrap())
            .unwrap();
    }
    zip.start_file("dispatch", plain.unix_permissions(0o755))
        .unwrap();
    zip.write_all(&fs::read(f.charm().join("dispatch")).unwrap())
        .unwrap();
    zip.add_symlink("hooks/install", "../dispatch", plain)
        .unwrap();
    if let Some((name, target)) = extra_link {
        zip.add_symlink(name, target, plain).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn deploy_from_a_charm_archive_keeps_modes_and_symlinks() {
    let f = Fixture::new();
    let archive = f.root.path().join("demo.charm");
    zip_charm(&f, &archive, None);
    let path = archive.display().to_string();
    f.ok(&["deploy", &path, "--resource", "demo-image=x"]);
    let unit = f.model().join("units/demo-0/charm");
    let mode = fs::metadata(unit.join("dispatch"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        fs::read_link(unit.join("hooks/install"))
            .unwrap()
            .display()
            .to_string(),
        "../dispatch"
    );
    assert!(f.hooks_of("demo/0").contains(&"start".to_string()));
}

#[test]
fn deploy_refuses_archives_with_symlinks_out_of_the_charm() {
    let f = Fixture::new();
    let escaping = f.root.path().join("escaping.charm");
    zip_charm(&f, &escaping, Some(("hooks/evil", "../../../etc/passwd")));
    let absolute = f.root.path().join("absolute.charm");
    zip_charm(&f, &absolute, Some(("hooks/evil", "/etc/passwd")));
    assert_eq!(
        fails(
            &f,
            &[
                "deploy",
                &escaping.display().to_string(),
                "--resource",
                "demo-image=x"
            ]
        ),
        "ERROR symlink \"hooks/evil\" links out of charm: \"../../../etc/passwd\"\n"
    );
    assert_eq!(
        fails(
            &f,
            &[
                "deploy",
                &absolute.display().to_string(),
                "--resource",
                "demo-image=x"
            ]
        ),
        "ERROR symlink \"hooks/evil\" is absolute: \"/etc/passwd\"\n"
    );
}

#[test]
fn status_reports_model_applications_units_and_relations() {
    let f = Fixture::new();
    f.on(
        "config-changed",
        "status-set active ready\napplication-version-set 1.2.3\n",
    );
    f.deploy(2);
    f.ok(&["relate", "alertmanager", "demo"]);
    let status = f.json(&["status"]);
    assert_eq!(status["model"]["name"], "lma");
    assert_eq!(status["model"]["type"], "caas");
    let app = &status["applications"]["demo"];
    assert_eq!(app["charm-name"], "demo-k8s");
    assert_eq!(app["scale"], 2);
    assert_eq!(app["version"], "1.2.3");
    assert_eq!(
        app["application-status"],
        json!({"current": "active", "message": "ready"})
    );
    assert_eq!(
        app["units"]["demo/0"],
        json!({
            "workload-status": {"current": "active", "message": "ready"},
            "juju-status": {"current": "idle"},
            "leader": true,
            "address": "127.20.111.1",
            "provider-id": "demo-0"
        })
    );
    assert_eq!(
        app["relations"],
        json!({"alertmanager": ["alertmanager"], "demo-peers": ["demo"]})
    );
    assert_eq!(
        status["applications"]["alertmanager"]["charm-name"],
        "alertmanager-k8s"
    );
    assert_eq!(
        status["relations"][1],
        json!({"id": 1, "key": "demo:alertmanager alertmanager:alerting", "interface": "alertmanager_dispatch", "type": "regular", "endpoints": ["demo:alertmanager", "alertmanager:alerting"]})
    );
    let human = f.ok(&["status"]);
    let row: Vec<&str> = human
        .lines()
        .find(|l| l.starts_with("demo/0*"))
        .unwrap_or_else(|| panic!("{human}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["demo/0*", "active", "idle", "127.20.111.1", "ready"]);
}

#[test]
fn show_pod_spec_prints_the_spec_and_extracts_its_files() {
    let f = Fixture::new();
    crate::common::write(&f.probe().join("spec.yaml"), SPEC);
    f.deploy(1);
    let err = fails(&f, &["show-pod-spec", "demo"]);
    assert_eq!(err, "ERROR no pod spec set for application \"demo\"\n");
    f.probe_in("demo/0", "pod-spec-set --file \"$probe/spec.yaml\"\n");
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), SPEC);
    let root = f.root.path().join("extract");
    let root_s = root.display().to_string();
    f.ok(&["show-pod-spec", "demo", "--extract", &root_s]);
    let file = root.join("etc/demo/demo.yml");
    assert_eq!(fs::read_to_string(&file).unwrap(), "hello: world\n");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = fails(&f, &["show-pod-spec", "other"]);
    assert_eq!(err, "ERROR application \"other\" not found\n");
}

#[test]
fn calls_are_recorded_with_their_outcome() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        "is-leader --format=json\nstatus-set nonsense\nprintf 'a: b\\n' | state-set --file -\n",
    );
    let calls = f.json(&["calls", "--hook", "update-status"]);
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0]["unit"], "demo/0");
    assert_eq!(calls[0]["tool"], "is-leader");
    assert_eq!(calls[0]["args"], json!(["--format=json"]));
    assert_eq!(calls[0]["exit_code"], 0);
    assert!(calls[0].get("stdin").is_none());
    assert_eq!(calls[1]["exit_code"], 2);
    assert_eq!(
        calls[1]["stderr"],
        "ERROR invalid status \"nonsense\", expected one of [maintenance blocked waiting active]\n"
    );
    assert_eq!(calls[2]["stdin"], "a: b\n");
    assert!(calls[0]["seq"].as_u64() < calls[1]["seq"].as_u64());
    let human = f.ok(&["calls", "--tool", "status-set"]);
    assert_eq!(human, "demo/0 update-status: status-set nonsense -> 2\n");
}

/// Calls that only read leave the model file alone (rewriting it made every call cost as
/// much as the model is large); calls still count one by one across tools and hooks, and
/// a model from before `call-seq` continues from its `call_seq`.
#[test]
fn read_only_calls_do_not_rewrite_the_model_and_calls_still_count() {
    let f = Fixture::deployed(1);
    let model = f.model().join("model.json");
    let stat = |id: &str| format!("stat -c %i {} > \"$probe/out/{id}.ino\"\n", model.display());
    let ino = |id: &str| fs::read_to_string(f.probe().join(format!("out/{id}.ino"))).unwrap();
    f.probe_in(
        "demo/0",
        &format!(
            "{}is-leader\nconfig-get\nrelation-ids demo-peers\nstate-get\nleader-get\njuju-log hi\nnetwork-get demo-peers\nstatus-get\n{}status-set active hi\n{}is-leader\n",
            stat("a"),
            stat("b"),
            stat("c"),
        ),
    );
    assert_eq!(ino("a"), ino("b"), "a read-only call rewrote model.json");
    assert_ne!(ino("b"), ino("c"), "status-set did not save the model");
    let seqs = |f: &Fixture| -> Vec<u64> {
        f.json(&["calls"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["seq"].as_u64().unwrap())
            .collect()
    };
    let first = seqs(&f);
    assert_eq!(first.len(), 10, "{first:?}");
    let expected: Vec<u64> = (1..=10).collect();
    assert_eq!(first, expected);
    // The model file's call_seq is the last call that changed the model (status-set).
    assert_eq!(f.model_json()["call_seq"], 9);
    assert_eq!(
        fs::read_to_string(f.model().join("call-seq")).unwrap(),
        "10\n"
    );

    // The next hook's calls go on from there.
    f.probe_in("demo/0", "is-leader\nconfig-get\n");
    assert_eq!(seqs(&f)[10..], [11, 12]);

    // A model file from before `call-seq`: the count is its call_seq.
    fs::remove_file(f.model().join("call-seq")).unwrap();
    let mut m = f.model_json();
    m["call_seq"] = json!(40);
    fs::write(&model, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    f.probe_in("demo/0", "is-leader\n");
    assert_eq!(seqs(&f)[12..], [41]);

    // A model file with no call_seq at all still loads.
    let mut m = f.model_json();
    m.as_object_mut().unwrap().remove("call_seq");
    fs::write(&model, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    f.probe_in("demo/0", "is-leader\n");
    assert_eq!(seqs(&f)[13..], [42]);
}

/// `run-action demo/0 backup target=/srv --format json`, which may fail: its exit code and
/// the report it prints either way.
fn run_backup(f: &Fixture) -> (Option<i32>, serde_json::Value) {
    let out = f
        .sim()
        .args([
            "run-action",
            "demo/0",
            "backup",
            "target=/srv",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn run_action_validates_runs_and_reports() {
    let f = Fixture::deployed(1);
    f.on(
        "backup",
        r#"
t params action-get --format=json
t target action-get target
action-set result.path=/srv/x size=3
action-log "half way"
echo done
"#,
    );
    let report = f.json(&["run-action", "demo/0", "backup", "target=/srv"]);
    assert_eq!(report["status"], "completed");
    assert_eq!(
        report["results"],
        json!({"result": {"path": "/srv/x"}, "size": "3"})
    );
    assert_eq!(report["stdout"], "done\n");
    assert_eq!(report["log"], json!(["half way"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&f.out("params").0).unwrap(),
        json!({"limit": 3, "target": "/srv"})
    );
    assert_eq!(f.out("target").0, "/srv\n");

    f.on("backup", "action-fail \"disk full\"\n");
    let (code, report) = run_backup(&f);
    assert_eq!(code, Some(1));
    assert_eq!(report["status"], "failed");
    assert_eq!(report["message"], "disk full");

    f.on("backup", "exit 4\n");
    let (_, report) = run_backup(&f);
    assert_eq!(report["message"], "exit status 4");
    // A failed action does not put the unit in error.
    assert_eq!(
        f.json(&["status"])["applications"]["demo"]["units"]["demo/0"]["juju-status"]["current"],
        "idle"
    );

    let err = fails(
        &f,
        &["run-action", "demo/0", "backup", "target=/srv", "extra=1"],
    );
    assert!(
        err.contains("additional property \"extra\" is not allowed"),
        "{err}"
    );
    let err = fails(
        &f,
        &["run-action", "demo/0", "backup", "limit=many", "target=x"],
    );
    assert!(
        err.contains("(root).limit : must be of type integer"),
        "{err}"
    );
    let err = fails(&f, &["run-action", "demo/0", "backup"]);
    assert!(
        err.contains("\"target\" property is missing and required"),
        "{err}"
    );
    let err = fails(&f, &["run-action", "demo/0", "restore"]);
    assert_eq!(
        err,
        "ERROR action \"restore\" not defined on unit \"demo/0\"\n"
    );
}

#[test]
fn profiles_are_listed_and_relate_picks_endpoints_by_interface_and_role() {
    let f = Fixture::new();
    let listed = f.json(&["profiles"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "alertmanager",
        "alertmanager-v0",
        "alertmanager-podspec",
        "alertmanager-lma",
        "grafana",
        "grafana-2021",
        "grafana-legacy",
        "grafana-lma",
        "scrape-target",
        "scrape-target-legacy",
        "monitoring-target",
        "remote-write-receiver",
        "remote-write-sender",
        "prometheus-scraper",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    f.deploy(1);
    // prometheus_scrape exists on both sides of the demo charm: the role decides.
    assert_eq!(
        f.ok(&["relate", "scrape-target", "demo"]),
        "metrics-endpoint:1\n"
    );
    assert_eq!(
        f.ok(&["relate", "demo", "prometheus-scraper"]),
        "self-metrics-endpoint:2\n"
    );
    assert_eq!(
        f.ok(&["relate", "kube", "demo", "--profile", "monitoring-target"]),
        "monitoring:3\n"
    );
    let data = f.json(&["show-relation-data", "3"]);
    assert_eq!(
        data["remote"]["application-data"]["targets"],
        "[\"10.1.4.10:8080\"]"
    );
    let err = fails(&f, &["relate", "scrape-target", "demo"]);
    assert!(err.contains("already exists"), "{err}");
    let err = fails(&f, &["relate", "nobody", "demo"]);
    assert!(err.contains("no profile named \"nobody\""), "{err}");
    let err = fails(
        &f,
        &[
            "relate",
            "mimir",
            "demo",
            "--profile",
            "remote-write-receiver",
        ],
    );
    assert_eq!(err, "ERROR no relations found\n");
    // Juju's application names need a letter in every dash-separated part.
    let err = fails(
        &f,
        &[
            "relate",
            "exporters-10",
            "demo",
            "--profile",
            "scrape-target",
        ],
    );
    assert_eq!(err, "ERROR invalid application name \"exporters-10\"\n");
}

#[test]
fn debug_log_has_hook_output_and_agent_lines() {
    let f = Fixture::new();
    f.on("install", "echo to-stdout\necho to-stderr >&2\n");
    f.deploy(1);
    let log = f.ok(&["debug-log"]);
    assert!(log.contains("DEBUG unit.demo/0.install to-stdout"), "{log}");
    assert!(
        log.contains("WARNING unit.demo/0.install to-stderr"),
        "{log}"
    );
    assert!(log.contains("INFO juju.worker.uniter.operation ran \"install\" hook (via hook dispatching script: dispatch)"));
    assert!(log.lines().all(|l| l.starts_with("unit-demo-0: ")));
}

fn leader_hooks(f: &Fixture) -> Vec<String> {
    f.hooks()
        .iter()
        .filter(|l| l.contains(" hooks/leader-"))
        .filter_map(|l| l.split_once(" remote=").map(|(h, _)| h.to_string()))
        .collect()
}

fn is_leader(f: &Fixture, unit: &str) -> String {
    f.probe_in(unit, "t lead is-leader --format=json\n");
    f.out("lead").0
}

#[test]
fn a_unit_added_after_the_last_one_left_becomes_leader() {
    let f = Fixture::new();
    crate::common::write(&f.probe().join("spec.yaml"), SPEC);
    f.on("config-changed", "status-set --application active ready\n");
    f.deploy(1);
    f.ok(&["remove-unit", "demo/0"]);
    let status = f.json(&["status"]);
    let app = &status["applications"]["demo"];
    assert_eq!(app["scale"], 0);
    assert_eq!(app["units"], json!({}));
    // Juju keeps the status the leader last set (state/application.go Application.Status).
    assert_eq!(
        app["application-status"],
        json!({"current": "active", "message": "ready"})
    );

    f.clear_hooks();
    f.on(
        "leader-elected",
        "t elected is-leader --format=json\nt spec pod-spec-set --file \"$probe/spec.yaml\"\n",
    );
    f.ok(&["add-unit", "demo"]);
    let first_hooks = [
        "install",
        "demo-peers-relation-created",
        "leader-elected",
        "config-changed",
        "start",
        "database-storage-attached",
        // The spec set in leader-elected created the Service: its new address runs
        // config-changed (WatchUnitAddressesHash).
        "config-changed",
    ];
    assert_eq!(f.hooks_of("demo/1"), first_hooks);
    assert_eq!(f.out("elected"), ("true\n".into(), String::new(), 0));
    assert_eq!(f.out("spec"), (String::new(), String::new(), 0));
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), SPEC);
    assert_eq!(is_leader(&f, "demo/1"), "true\n");
    let status = f.json(&["status"]);
    assert_eq!(
        status["applications"]["demo"]["units"]["demo/1"]["leader"],
        true
    );

    // Two at once: the first claims leadership, the second follows it.
    f.ok(&["remove-unit", "demo/1"]);
    f.clear_hooks();
    f.ok(&["add-unit", "demo", "-n", "2"]);
    // The Service exists by now: no address change, no second config-changed.
    assert_eq!(f.hooks_of("demo/2")[..6], first_hooks[..6]);
    assert_eq!(
        leader_hooks(&f),
        [
            "demo/2 hooks/leader-elected",
            "demo/3 hooks/leader-settings-changed"
        ]
    );
    assert_eq!(is_leader(&f, "demo/2"), "true\n");
    assert_eq!(is_leader(&f, "demo/3"), "false\n");
}

#[test]
fn removing_the_leader_elects_one_of_the_others() {
    let f = Fixture::new();
    crate::common::write(&f.probe().join("spec.yaml"), SPEC);
    f.deploy(4);
    f.clear_hooks();
    f.ok(&["remove-unit", "demo/1"]);
    assert!(leader_hooks(&f).is_empty(), "{:?}", f.hooks());
    f.ok(&["remove-unit", "demo/0"]);
    assert_eq!(
        leader_hooks(&f),
        [
            "demo/2 hooks/leader-elected",
            "demo/3 hooks/leader-settings-changed"
        ]
    );
    // The leader of two leaves: the other is elected once it has seen it depart.
    f.clear_hooks();
    f.ok(&["remove-unit", "demo/2"]);
    let hooks = f.hooks();
    let departed = hooks
        .iter()
        .position(|h| h.starts_with("demo/3 hooks/demo-peers-relation-departed"))
        .unwrap_or_else(|| panic!("{hooks:?}"));
    assert_eq!(
        hooks[departed + 1..],
        ["demo/3 hooks/leader-elected remote= departing="]
    );
    assert_eq!(is_leader(&f, "demo/3"), "true\n");
    f.probe_in(
        "demo/3",
        "t spec pod-spec-set --file \"$probe/spec.yaml\"\n",
    );
    assert_eq!(f.out("spec").2, 0);
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), SPEC);
}
