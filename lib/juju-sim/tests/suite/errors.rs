//! Hook failures as Juju handles them (juju-hook-reference §1.3): a failing hook puts only
//! its unit in error, that unit runs no other hook while in error, events for it wait in
//! order, and `resolved` retries (or with `--no-retry` skips) the failed hook before they run.

use std::process::Output;

use crate::common::Fixture;
use serde_json::Value;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(std::string::ToString::to_string).collect()
}

fn run(f: &Fixture, args: &[&str]) -> Output {
    f.sim().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The unit's agent status from `status --format json`: (current, message).
fn agent(f: &Fixture, unit: &str) -> (String, String) {
    let status = f.json(&["status"]);
    let s = &status["applications"]["demo"]["units"][unit]["juju-status"];
    (
        s["current"].as_str().unwrap().to_string(),
        s["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn deferred(f: &Fixture, unit: &str) -> Vec<String> {
    let n = unit.split_once('/').unwrap().1;
    f.model_json()["application"]["units"][n]["deferred"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `demo/0`'s hook `hook` fails (exit 3, "boom" on stderr); the other units' succeeds.
fn fail_on_unit_0(f: &Fixture, hook: &str) {
    f.on(
        hook,
        "if [ \"$JUJU_UNIT_NAME\" = demo/0 ]; then echo boom >&2; exit 3; fi\n",
    );
}

#[test]
fn a_failing_hook_puts_only_its_unit_in_error_and_the_command_goes_on() {
    let f = Fixture::deployed(3);
    f.clear_hooks();
    fail_on_unit_0(&f, "config-changed");
    let out = run(&f, &["config", "demo", "port=80"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ERROR hook failed: \"config-changed\" (unit demo/0)"),
        "{err}"
    );
    assert!(err.contains("boom"), "{err}");
    assert!(!err.contains("demo/1") && !err.contains("demo/2"), "{err}");
    assert_eq!(f.hooks_of("demo/0"), strings(&["config-changed"]));
    assert_eq!(f.hooks_of("demo/1"), strings(&["config-changed"]));
    assert_eq!(f.hooks_of("demo/2"), strings(&["config-changed"]));
    assert_eq!(
        agent(&f, "demo/0"),
        ("error".into(), "hook failed: \"config-changed\"".into())
    );
    assert_eq!(agent(&f, "demo/1").0, "idle");
    assert_eq!(agent(&f, "demo/2").0, "idle");
    // The failure is the hook's: the new value is set.
    assert_eq!(f.json(&["config", "demo"])["settings"]["port"]["value"], 80);
}

#[test]
fn a_unit_in_error_runs_no_other_hook_and_its_events_wait_in_order() {
    let f = Fixture::deployed(2);
    fail_on_unit_0(&f, "config-changed");
    assert_eq!(
        run(&f, &["config", "demo", "port=80"]).status.code(),
        Some(1)
    );
    f.clear_hooks();

    // Later commands succeed: nothing failed in them; demo/0's events wait.
    f.ok(&["update-status"]);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.ok(&["update-status"]);
    f.ok(&["config", "demo", "name=other"]);
    assert!(f.hooks_of("demo/0").is_empty(), "{:?}", f.hooks());
    assert_eq!(
        f.hooks_of("demo/1"),
        strings(&[
            "update-status",
            "alertmanager-relation-created",
            "alertmanager-relation-joined(alertmanager/0)",
            "alertmanager-relation-changed(alertmanager/0)",
            "update-status",
            "config-changed",
        ])
    );
    // update-status is a timer: missed ticks are one event.
    let waiting = strings(&[
        "update-status",
        "alertmanager-relation-created",
        "alertmanager-relation-joined",
        "alertmanager-relation-changed",
        "config-changed",
    ]);
    assert_eq!(deferred(&f, "demo/0"), waiting);
    assert!(f.debug_log().contains(
        "awaiting error resolution for \"config-changed\" hook; \"update-status\" waits"
    ));

    // run-hook refuses a unit in error rather than clear the error by accident.
    let out = run(&f, &["run-hook", "demo/0", "update-status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "unit \"demo/0\" is in error (hook failed: \"config-changed\"): run \"juju-sim resolved demo/0\" first"
        ),
        "{}",
        stderr(&out)
    );
    assert!(f.hooks_of("demo/0").is_empty());

    // Resolving while the hook still fails: it runs once more, fails, nothing else runs.
    let out = run(&f, &["resolved", "demo/0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hook failed: \"config-changed\" (unit demo/0)"));
    assert_eq!(f.hooks_of("demo/0"), strings(&["config-changed"]));
    assert_eq!(agent(&f, "demo/0").0, "error");
    assert_eq!(deferred(&f, "demo/0"), waiting);

    // Fixed: the retry passes, the unit leaves error and the waiting events run in order.
    f.on("config-changed", "");
    f.clear_hooks();
    f.ok(&["resolved", "demo/0"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "config-changed",
            "update-status",
            "alertmanager-relation-created",
            "alertmanager-relation-joined(alertmanager/0)",
            "alertmanager-relation-changed(alertmanager/0)",
            "config-changed",
        ])
    );
    assert!(f.hooks_of("demo/1").is_empty());
    assert_eq!(agent(&f, "demo/0"), ("idle".into(), String::new()));
    assert!(deferred(&f, "demo/0").is_empty());
    f.ok(&["run-hook", "demo/0", "update-status"]);

    let out = run(&f, &["resolved", "demo/0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unit \"demo/0\" is not in an error state"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn resolved_retries_a_relation_hook_with_its_relation_and_remote_unit() {
    let f = Fixture::deployed(1);
    f.on(
        "alertmanager-relation-joined",
        "echo \"$JUJU_RELATION_ID $JUJU_REMOTE_UNIT\" >> \"$probe/joined\"\n[ -f \"$probe/fixed\" ] || exit 1\n",
    );
    let out = run(&f, &["relate", "alertmanager", "demo", "--units", "2"]);
    assert_eq!(out.status.code(), Some(1));
    // The relation id is still printed: the relation exists.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alertmanager:1\n");
    let failed = &f.model_json()["application"]["units"]["0"]["failed_hook"];
    assert_eq!(failed["name"], "alertmanager-relation-joined");
    assert_eq!(failed["relation"]["remote_unit"], "alertmanager/0");
    assert_eq!(
        deferred(&f, "demo/0"),
        strings(&[
            "alertmanager-relation-changed",
            "alertmanager-relation-joined",
            "alertmanager-relation-changed",
        ])
    );
    f.clear_hooks();
    std::fs::write(f.probe().join("fixed"), "").unwrap();
    f.ok(&["resolved", "demo/0"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "alertmanager-relation-joined(alertmanager/0)",
            "alertmanager-relation-changed(alertmanager/0)",
            "alertmanager-relation-joined(alertmanager/1)",
            "alertmanager-relation-changed(alertmanager/1)",
        ])
    );
    let joined = std::fs::read_to_string(f.probe().join("joined")).unwrap();
    assert_eq!(
        joined,
        "alertmanager:1 alertmanager/0\nalertmanager:1 alertmanager/0\nalertmanager:1 alertmanager/1\n"
    );
}

#[test]
fn resolved_no_retry_skips_the_failed_hook_and_runs_the_waiting_ones() {
    let f = Fixture::new();
    fail_on_unit_0(&f, "install");
    let charm = f.charm().display().to_string();
    let out = run(
        &f,
        &["deploy", &charm, "--resource", "demo-image=x", "-n", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hook failed: \"install\" (unit demo/0)"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Deployed \"demo\" with 2 unit(s)"));
    let first = [
        "install",
        "demo-peers-relation-created",
        "leader-settings-changed",
        "config-changed",
        "start",
        "database-storage-attached",
        "demo-peers-relation-joined(demo/0)",
        "demo-peers-relation-changed(demo/0)",
    ];
    assert_eq!(f.hooks_of("demo/1"), strings(&first));
    assert_eq!(f.hooks_of("demo/0"), strings(&["install"]));
    f.clear_hooks();
    f.ok(&["resolved", "--no-retry", "demo/0"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "demo-peers-relation-created",
            "leader-elected",
            "config-changed",
            "start",
            "database-storage-attached",
            "demo-peers-relation-joined(demo/1)",
            "demo-peers-relation-changed(demo/1)",
        ])
    );
    assert!(f
        .debug_log()
        .contains("skipped \"install\" hook (resolved --no-retry)"));
    assert_eq!(agent(&f, "demo/0").0, "idle");
    // Installed: update-status reaches it now.
    f.clear_hooks();
    f.ok(&["update-status"]);
    assert_eq!(f.hooks_of("demo/0"), strings(&["update-status"]));
}

#[test]
fn fail_tool_failures_are_resolved_once_the_tool_works_again() {
    let f = Fixture::deployed(2);
    f.on("update-status", "status-set active fine || exit 1\n");
    f.ok(&["fail-tool", "status-set", "--message", "connection refused"]);
    let out = run(&f, &["update-status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("(unit demo/0)") && err.contains("(unit demo/1)"),
        "{err}"
    );
    assert!(err.contains("ERROR connection refused"), "{err}");
    f.ok(&["fail-tool", "status-set", "--clear"]);
    f.clear_hooks();
    f.ok(&["resolved", "--all"]);
    assert_eq!(f.hooks_of("demo/0"), strings(&["update-status"]));
    assert_eq!(f.hooks_of("demo/1"), strings(&["update-status"]));
    let status = f.json(&["status"]);
    let units = &status["applications"]["demo"]["units"];
    for u in ["demo/0", "demo/1"] {
        assert_eq!(units[u]["juju-status"]["current"], "idle");
        assert_eq!(units[u]["workload-status"]["message"], "fine");
    }
}

#[test]
fn a_relation_removed_while_a_unit_is_in_error_waits_for_it() {
    let f = Fixture::deployed(1);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.on("update-status", "exit 1\n");
    assert_eq!(
        run(&f, &["run-hook", "demo/0", "update-status"])
            .status
            .code(),
        Some(1)
    );
    f.clear_hooks();
    f.ok(&["remove-relation", "1"]);
    assert!(f.hooks().is_empty());
    // Dying, kept for the unit that has not left it yet.
    let data = f.json(&["show-relation-data", "1"]);
    assert!(data.is_object(), "{data}");
    f.on("update-status", "");
    f.on(
        "alertmanager-relation-broken",
        "t ids relation-ids alertmanager --format=json\n",
    );
    f.ok(&["resolved", "demo/0"]);
    assert_eq!(
        f.hooks_of("demo/0"),
        strings(&[
            "update-status",
            "alertmanager-relation-departed(alertmanager/0)",
            "alertmanager-relation-broken",
        ])
    );
    assert_eq!(f.out("ids").0, "[\"alertmanager:1\"]\n");
    assert_eq!(run(&f, &["show-relation-data", "1"]).status.code(), Some(1));
    let relations: Vec<Value> = f.json(&["status"])["relations"].as_array().unwrap().clone();
    assert_eq!(relations.len(), 1, "{relations:?}");
}

#[test]
fn remove_unit_refuses_a_unit_in_error() {
    let f = Fixture::deployed(2);
    f.on(
        "update-status",
        "[ \"$JUJU_UNIT_NAME\" = demo/1 ] && exit 1\nexit 0\n",
    );
    assert_eq!(run(&f, &["update-status"]).status.code(), Some(1));
    let out = run(&f, &["remove-unit", "demo/1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is in error"), "{}", stderr(&out));
    f.on("update-status", "");
    f.ok(&["resolved", "demo/1"]);
    f.ok(&["remove-unit", "demo/1"]);
}

#[test]
fn actions_still_run_on_a_unit_in_error() {
    let f = Fixture::deployed(1);
    f.on("update-status", "exit 1\n");
    assert_eq!(
        run(&f, &["run-hook", "demo/0", "update-status"])
            .status
            .code(),
        Some(1)
    );
    f.on("backup", "action-set done=yes\n");
    let report = f.json(&["run-action", "demo/0", "backup", "target=/x"]);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(agent(&f, "demo/0").0, "error");
}
