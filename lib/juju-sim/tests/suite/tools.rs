//! Each hook tool against juju-hook-reference §1.5, §2: flags, formats, errors, exit codes.

use crate::common::{Fixture, SPEC};
use serde_json::{json, Value};

fn json_out(f: &Fixture, id: &str) -> Value {
    let (out, err, code) = f.out(id);
    assert_eq!(code, 0, "{id}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{id}: {e}: {out:?}"))
}

fn err_out(f: &Fixture, id: &str, code: i32, message: &str) {
    let (out, err, got) = f.out(id);
    assert_eq!(
        (got, err.as_str(), out.as_str()),
        (code, format!("ERROR {message}\n").as_str(), ""),
        "{id}"
    );
}

#[test]
fn config_get_formats_keys_and_errors() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        r#"
t all config-get --format=json
t every config-get --all --format json
t every_short config-get -a --format=json
t smart config-get
t key config-get port
t key_json config-get port --format=json
t key_yaml config-get name --format=yaml
t missing config-get nope --format=json
t missing_smart config-get nope
t conflict config-get port --all
t unknown_flag config-get --bogus
t extra config-get port name
t bad_format config-get --format=xml
t to_file config-get port --format=json -o "$probe/out/file.json"
"#,
    );
    assert_eq!(
        json_out(&f, "all"),
        json!({"flag": false, "name": "demo", "port": 9090, "ratio": 0.5})
    );
    assert_eq!(json_out(&f, "every")["unset"], Value::Null);
    assert_eq!(json_out(&f, "every"), json_out(&f, "every_short"));
    assert_eq!(
        f.out("smart").0,
        "flag: false\nname: demo\nport: 9090\nratio: 0.5\n"
    );
    assert_eq!(f.out("key").0, "9090\n");
    assert_eq!(f.out("key_json").0, "9090\n");
    assert_eq!(f.out("key_yaml").0, "demo\n");
    assert_eq!(f.out("missing"), ("null\n".into(), String::new(), 0));
    assert_eq!(f.out("missing_smart"), (String::new(), String::new(), 0));
    err_out(
        &f,
        "conflict",
        2,
        "cannot use argument --all together with key \"port\"",
    );
    err_out(
        &f,
        "unknown_flag",
        2,
        "option provided but not defined: --bogus",
    );
    err_out(&f, "extra", 2, "unrecognized args: [\"name\"]");
    err_out(
        &f,
        "bad_format",
        2,
        "invalid value \"xml\" for option --format: unknown format \"xml\"",
    );
    assert_eq!(f.out("to_file").0, "");
    assert_eq!(
        std::fs::read_to_string(f.probe().join("out/file.json")).unwrap(),
        "9090\n"
    );
}

#[test]
fn tools_outside_a_hook_refuse_to_run() {
    let f = Fixture::deployed(1);
    let tool = f.model().join("tools/unit-demo-0/is-leader");
    let out = std::process::Command::new(&tool)
        .env_remove("JUJU_CONTEXT_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR JUJU_CONTEXT_ID not set\n"
    );
}

#[test]
fn is_leader_and_leader_settings() {
    let f = Fixture::deployed(2);
    f.probe_in(
        "demo/0",
        r#"
t smart is-leader
t json is-leader --format=json
t set leader-set a=1 b=two c=
t all leader-get --format=json
t one leader-get a
t missing leader-get zz --format=json
t bad_key leader-get a=b
t bad_arg leader-set novalue
"#,
    );
    assert_eq!(f.out("smart").0, "True\n");
    assert_eq!(f.out("json").0, "true\n");
    assert_eq!(f.out("set").2, 0);
    assert_eq!(json_out(&f, "all"), json!({"a": "1", "b": "two"}));
    assert_eq!(f.out("one").0, "1\n");
    assert_eq!(f.out("missing").0, "null\n");
    err_out(&f, "bad_key", 2, "invalid key \"a=b\"");
    err_out(&f, "bad_arg", 2, "expected \"key=value\", got \"novalue\"");
    // The follower heard about it.
    assert!(f
        .hooks_of("demo/1")
        .ends_with(&["leader-settings-changed".to_string()]));
    f.probe_in(
        "demo/1",
        r#"
t smart is-leader
t json is-leader --format=json
t set leader-set a=2
t all leader-get --format=json
"#,
    );
    assert_eq!(f.out("smart").0, "False\n");
    assert_eq!(f.out("json").0, "false\n");
    err_out(
        &f,
        "set",
        1,
        "cannot write leadership settings: cannot write settings: not the leader",
    );
    assert_eq!(json_out(&f, "all"), json!({"a": "1", "b": "two"}));
}

#[test]
fn relation_ids_list_and_get() {
    let f = Fixture::deployed_with_spec(2);
    f.ok(&["relate", "alertmanager", "demo", "--units", "2"]);
    f.probe_in(
        "demo/0",
        r#"
t ids relation-ids alertmanager --format=json
t ids_smart relation-ids alertmanager
t ids_none relation-ids nothing --format=json
t ids_none_smart relation-ids nothing
t ids_noname relation-ids
t list relation-list -r 1 --format=json
t list_smart relation-list -r alertmanager:1
t list_app relation-list -r1 --app --format=json
t list_app_smart relation-list --relation=1 --app
t list_noid relation-list
t list_badid relation-list -r x
t list_unknown relation-list -r alertmanager:9
t get relation-get -r 1 - alertmanager/0 --format=json
t get_interspersed relation-get - alertmanager/1 -r 1 --format json
t get_key relation-get -r 1 url alertmanager/0
t get_missing relation-get -r 1 nope alertmanager/0 --format=json
t get_missing_smart relation-get -r 1 nope alertmanager/0
t get_nounit relation-get -r 1
t get_app relation-get -r 1 --app - alertmanager --format=json
t get_app_by_unit relation-get -r 1 --app=True - alertmanager/0 --format=json
t get_never relation-get -r 1 - alertmanager/7
t get_own relation-get -r 1 - demo/0 --format=json
t get_own_app relation-get -r 1 --app - demo --format=json
t peer_list relation-list -r 0 --format=json
t peer_get relation-get -r demo-peers:0 - demo/1 --format=json
"#,
    );
    assert_eq!(json_out(&f, "ids"), json!(["alertmanager:1"]));
    assert_eq!(f.out("ids_smart").0, "alertmanager:1\n");
    assert_eq!(json_out(&f, "ids_none"), json!([]));
    assert_eq!(f.out("ids_none_smart").0, "\n");
    err_out(&f, "ids_noname", 2, "no relation name specified");
    assert_eq!(
        json_out(&f, "list"),
        json!(["alertmanager/0", "alertmanager/1"])
    );
    assert_eq!(f.out("list_smart").0, "alertmanager/0\nalertmanager/1\n");
    assert_eq!(json_out(&f, "list_app"), json!("alertmanager"));
    assert_eq!(f.out("list_app_smart").0, "alertmanager\n");
    err_out(&f, "list_noid", 2, "no relation id specified");
    err_out(
        &f,
        "list_badid",
        2,
        "invalid value \"x\" for option -r: invalid relation id",
    );
    err_out(
        &f,
        "list_unknown",
        2,
        "invalid value \"alertmanager:9\" for option -r: relation not found",
    );
    assert_eq!(
        json_out(&f, "get"),
        json!({
            "egress-subnets": "127.152.183.12/32",
            "ingress-address": "127.152.183.12",
            "private-address": "127.152.183.12",
            "url": "http://alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local:9093"
        })
    );
    assert_eq!(
        json_out(&f, "get_interspersed")["url"],
        "http://alertmanager-1.alertmanager-endpoints.lma.svc.cluster.local:9093"
    );
    assert_eq!(
        f.out("get_key").0,
        "http://alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local:9093\n"
    );
    assert_eq!(f.out("get_missing").0, "null\n");
    assert_eq!(
        f.out("get_missing_smart"),
        (String::new(), String::new(), 0)
    );
    err_out(&f, "get_nounit", 2, "no unit or application specified");
    assert_eq!(json_out(&f, "get_app"), json!({}));
    assert_eq!(json_out(&f, "get_app_by_unit"), json!({}));
    err_out(
        &f,
        "get_never",
        1,
        "cannot read settings for unit \"alertmanager/7\" in relation \"demo:alertmanager alertmanager:alerting\": unit \"alertmanager/7\": settings not found",
    );
    assert_eq!(
        json_out(&f, "get_own"),
        json!({"egress-subnets": "127.152.183.11/32", "ingress-address": "127.152.183.11", "private-address": "127.152.183.11"})
    );
    assert_eq!(json_out(&f, "get_own_app"), json!({}));
    assert_eq!(json_out(&f, "peer_list"), json!(["demo/1"]));
    // On Kubernetes every unit's private-address is its application's Service address.
    assert_eq!(
        json_out(&f, "peer_get")["private-address"],
        "127.152.183.11"
    );

    f.probe_in(
        "demo/1",
        "t own_app relation-get -r 1 --app - demo --format=json\nt peer_app relation-get -r 0 --app - demo --format=json\n",
    );
    err_out(&f, "own_app", 1, "permission denied");
    assert_eq!(json_out(&f, "peer_app"), json!({}));
}

#[test]
fn relation_get_defaults_to_the_hook_remote_unit_or_app() {
    let f = Fixture::deployed(1);
    f.on(
        "alertmanager-podspec-relation-changed",
        "t \"changed-${JUJU_REMOTE_UNIT:-app}\" relation-get --format=json\nt \"list-${JUJU_REMOTE_UNIT:-app}\" relation-list --format=json\n",
    );
    f.on(
        "alertmanager-podspec-relation-joined",
        "t joined-list relation-list --format=json\n",
    );
    f.ok(&[
        "relate",
        "demo:alertmanager-podspec",
        "alertmanager:alerting",
        "--profile",
        "alertmanager-podspec",
    ]);
    // -changed for the remote app's bag: relation-get implies --app.
    assert_eq!(
        json_out(&f, "changed-app"),
        json!({"addrs": "[\"alertmanager-0.alertmanager-endpoints.lma.svc.cluster.local\"]", "port": "9093"})
    );
    assert_eq!(json_out(&f, "joined-list"), json!(["alertmanager/0"]));
    assert_eq!(json_out(&f, "list-app"), json!(["alertmanager/0"]));
}

#[test]
fn relation_set_is_transactional_and_reads_back_pending_values() {
    let f = Fixture::deployed(2);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.probe_in(
        "demo/0",
        r#"
t set relation-set -r 1 port=9090 gone=
printf '{"multi": "a\\nb", "padded": "  x  "}' > "$probe/settings.json"
t file relation-set -r 1 --file "$probe/settings.json" extra=1
printf 'stdin_key: from-stdin\n' | relation-set -r 1 --file -
t own relation-get -r 1 - demo/0 --format=json
t app_set relation-set -r 1 --app ready=yes
t own_app relation-get -r 1 --app ready demo
t dup relation-set -r 1 a=1 a=2
t noeq relation-set -r 1 a
t fmt relation-set -r 1 --format=json b=1
t noid relation-set x=1
"#,
    );
    let own = json_out(&f, "own");
    assert_eq!(own["port"], "9090");
    assert_eq!(own["multi"], "a\nb");
    assert_eq!(own["padded"], "  x  ");
    assert_eq!(own["extra"], "1");
    assert_eq!(own["stdin_key"], "from-stdin");
    assert!(own.get("gone").is_none());
    assert_eq!(f.out("own_app").0, "yes\n");
    err_out(&f, "dup", 2, "key \"a\" specified more than once");
    err_out(&f, "noeq", 2, "expected \"key=value\", got \"a\"");
    assert_eq!(
        f.out("fmt").1,
        "--format flag deprecated for command \"relation-set\""
    );
    err_out(&f, "noid", 2, "no relation id specified");
    let data = f.json(&["show-relation-data", "1", "--side", "local"]);
    assert_eq!(data["local"]["units"]["demo/0"]["port"], "9090");
    assert_eq!(data["local"]["application-data"]["ready"], "yes");
    let calls = f.json(&["calls", "--tool", "relation-set"]);
    let with_stdin: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["stdin"] == "stdin_key: from-stdin\n")
        .collect();
    assert_eq!(with_stdin.len(), 1);

    // A failing hook commits nothing.
    f.on("update-status", "relation-set -r 1 port=1\nexit 3\n");
    let out = f
        .sim()
        .args(["run-hook", "demo/0", "update-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hook failed: \"update-status\""));
    let data = f.json(&["show-relation-data", "1"]);
    assert_eq!(data["local"]["units"]["demo/0"]["port"], "9090");

    // Followers may not write the application bag.
    f.on("update-status", "");
    f.probe_in("demo/1", "t app relation-set -r 1 --app a=b\n");
    err_out(&f, "app", 1, "cannot write relation settings");
}

#[test]
fn peer_data_changes_reach_the_other_units() {
    let f = Fixture::deployed(2);
    f.clear_hooks();
    f.probe_in(
        "demo/0",
        "relation-set -r 0 seen=1\nrelation-set -r 0 --app shared=1\n",
    );
    assert_eq!(
        f.hooks_of("demo/1"),
        vec![
            "demo-peers-relation-changed(demo/0)",
            "demo-peers-relation-changed"
        ]
    );
    assert_eq!(f.hooks_of("demo/0"), vec!["update-status"]);
}

#[test]
fn status_set_get_and_application_version() {
    let f = Fixture::deployed(2);
    f.probe_in(
        "demo/0",
        r#"
t set status-set active "all good"
t get status-get
t get_json status-get --format=json
t get_data status-get --include-data --format=json
t app_set status-set --application=True blocked "needs relation"
t app_get status-get --application --include-data --format=json
t app_smart status-get --application
t bad status-set error
t none status-set
t many status-set active a b
t version application-version-set -- 2.26.0
t noversion application-version-set
t dash status-set --application=False maintenance -- "--dashed"
"#,
    );
    assert_eq!(f.out("get").0, "active\n");
    assert_eq!(f.out("get_json").0, "{\"status\":\"active\"}\n");
    assert_eq!(
        f.out("get_data").0,
        "{\"message\":\"all good\",\"status\":\"active\",\"status-data\":{}}\n"
    );
    assert_eq!(f.out("app_smart").0, "blocked\n");
    assert_eq!(
        json_out(&f, "app_get"),
        json!({"application-status": {
            "message": "needs relation", "status": "blocked", "status-data": {},
            "units": {
                "demo/0": {"message": "all good", "status": "active", "status-data": {}},
                "demo/1": {"message": "", "status": "unknown", "status-data": {}}
            }
        }})
    );
    err_out(
        &f,
        "bad",
        2,
        "invalid status \"error\", expected one of [maintenance blocked waiting active]",
    );
    err_out(&f, "none", 2, "invalid args, require <status> [message]");
    err_out(&f, "many", 2, "unrecognized args: [\"b\"]");
    err_out(&f, "noversion", 2, "no version specified");
    let status = f.json(&["status"]);
    let app = &status["applications"]["demo"];
    assert_eq!(app["version"], "2.26.0");
    assert_eq!(app["application-status"]["current"], "blocked");
    assert_eq!(
        app["units"]["demo/0"]["workload-status"]["message"],
        "--dashed"
    );
    f.probe_in(
        "demo/1",
        "t app status-set --application active x\nt app_get status-get --application\n",
    );
    err_out(&f, "app", 1, "this unit is not the leader");
    err_out(
        &f,
        "app_get",
        1,
        "finding application status: this unit is not the leader",
    );

    // status-set applies at once, whatever the hook's exit code.
    f.on("update-status", "status-set waiting \"half way\"\nexit 1\n");
    let out = f
        .sim()
        .args(["run-hook", "demo/1", "update-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let status = f.json(&["status"]);
    let unit = &status["applications"]["demo"]["units"]["demo/1"];
    assert_eq!(unit["juju-status"]["current"], "error");
    assert_eq!(unit["workload-status"]["current"], "error");
    assert_eq!(
        unit["workload-status"]["message"],
        "hook failed: \"update-status\""
    );
    f.on("update-status", "");
    f.ok(&["resolved", "demo/1"]);
    let status = f.json(&["status"]);
    let unit = &status["applications"]["demo"]["units"]["demo/1"];
    assert_eq!(unit["juju-status"]["current"], "idle");
    assert_eq!(unit["workload-status"]["message"], "half way");
}

#[test]
fn juju_log_levels_and_relation_prefix() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        r#"
t debug juju-log --log-level DEBUG -- hello world
t warn juju-log -l warn careful
t dbg juju-log --debug quiet
t bogus juju-log -l bogus still logged
t none juju-log
"#,
    );
    let log = f.debug_log();
    for line in [
        "DEBUG unit.demo/0.juju-log hello world",
        "WARNING unit.demo/0.juju-log careful",
        "DEBUG unit.demo/0.juju-log quiet",
        "WARNING unit.demo/0.juju-log Specified log level of \"bogus\" is not valid",
        "INFO unit.demo/0.juju-log still logged",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
    assert_eq!(f.out("debug"), (String::new(), String::new(), 0));
    err_out(&f, "none", 2, "no message specified");
    f.on("alertmanager-relation-created", "juju-log in relation\n");
    f.ok(&["relate", "alertmanager", "demo"]);
    assert!(f
        .debug_log()
        .contains("INFO unit.demo/0.juju-log alertmanager:1: in relation"));
}

#[test]
fn network_get_answers_with_the_pod_and_service_addresses() {
    let f = Fixture::deployed_with_spec(1);
    f.probe_in(
        "demo/0",
        r#"
t full network-get alertmanager --format=json
t ingress network-get alertmanager --ingress-address
t bind network-get demo-peers --bind-address --format=json
t two network-get alertmanager --bind-address --egress-subnets --format=json
t egress network-get alertmanager --egress-subnets
t unknown network-get nope
t none network-get
"#,
    );
    assert_eq!(
        f.out("full").0,
        "{\"bind-addresses\":[{\"mac-address\":\"\",\"interface-name\":\"\",\"addresses\":[{\"hostname\":\"\",\"value\":\"127.20.111.1\",\"cidr\":\"\"}]}],\"egress-subnets\":[\"127.152.183.11/32\"],\"ingress-addresses\":[\"127.152.183.11\"]}\n"
    );
    assert_eq!(f.out("ingress").0, "127.152.183.11\n");
    assert_eq!(f.out("bind").0, "\"127.20.111.1\"\n");
    assert_eq!(
        json_out(&f, "two"),
        json!({"bind-address": "127.20.111.1", "egress-subnets": ["127.152.183.11/32"]})
    );
    assert_eq!(f.out("egress").0, "127.152.183.11/32\n");
    err_out(
        &f,
        "unknown",
        1,
        "no network config found for binding \"nope\"",
    );
    err_out(&f, "none", 2, "no arguments specified");
}

#[test]
fn before_the_first_spec_there_is_no_pod_and_no_service_address() {
    let f = Fixture::deployed(2);
    f.probe_in(
        "demo/0",
        r#"
t full network-get demo-peers --format=json
t ingress network-get demo-peers --ingress-address
t primary network-get demo-peers --primary-address
t bind network-get demo-peers --bind-address
t egress network-get demo-peers --egress-subnets --format=json
t two network-get demo-peers --ingress-address --bind-address
t own relation-get -r 0 - demo/0 --format=json
t peer relation-get -r 0 - demo/1 --format=json
"#,
    );
    // networkinfocaas.go: one bind entry whose addresses are the pod's (none yet); no
    // ingress, no egress, and network-get.go omits empty lists.
    assert_eq!(
        f.out("full").0,
        "{\"bind-addresses\":[{\"mac-address\":\"\",\"interface-name\":\"\",\"addresses\":[]}]}\n"
    );
    let none = "no addresses attached to space for binding \"demo-peers\"";
    err_out(&f, "ingress", 1, none);
    err_out(&f, "primary", 1, none);
    err_out(&f, "bind", 1, "unexpected EOF");
    assert_eq!(f.out("egress").0, "null\n");
    err_out(&f, "two", 1, none);
    // EnterScope with no ingress address writes none of Juju's keys.
    assert_eq!(json_out(&f, "own"), json!({}));
    assert_eq!(json_out(&f, "peer"), json!({}));
    let status = f.json(&["status"]);
    assert_eq!(status["applications"]["demo"]["address"], "");

    // The leader's first spec creates the Service: config-changed on every unit, whose
    // commit publishes the Service address as both private- and ingress-address.
    write_spec_on_leader_config_changed(&f);
    f.clear_hooks();
    f.ok(&["config", "demo", "port=9191"]);
    f.on("config-changed", "");
    let cc = |u: &str| {
        f.hooks_of(u)
            .iter()
            .filter(|h| *h == "config-changed")
            .count()
    };
    assert_eq!((cc("demo/0"), cc("demo/1")), (2, 2), "{:?}", f.hooks());
    let service = "127.152.183.11";
    let keys = json!({
        "egress-subnets": format!("{service}/32"),
        "ingress-address": service,
        "private-address": service,
    });
    let data = f.json(&["show-relation-data", "0"]);
    assert_eq!(data["local"]["units"]["demo/0"], keys);
    assert_eq!(data["local"]["units"]["demo/1"], keys);
    // Each unit saw the other's bag change.
    assert!(f
        .hooks_of("demo/1")
        .contains(&"demo-peers-relation-changed(demo/0)".to_string()));
    f.probe_in("demo/1", "t full network-get demo-peers --format=json\n");
    assert_eq!(
        json_out(&f, "full"),
        json!({
            "bind-addresses": [{"mac-address": "", "interface-name": "", "addresses": [
                {"hostname": "", "value": "127.20.111.2", "cidr": ""}]}],
            "egress-subnets": [format!("{service}/32")],
            "ingress-addresses": [service],
        })
    );
    let status = f.json(&["status"]);
    assert_eq!(status["applications"]["demo"]["address"], service);
}

fn write_spec_on_leader_config_changed(f: &Fixture) {
    crate::common::write(&f.probe().join("spec.yaml"), SPEC);
    f.on(
        "config-changed",
        "if [ \"$(is-leader)\" = True ]; then pod-spec-set --file \"$probe/spec.yaml\"; fi\n",
    );
}

#[test]
fn service_addresses_are_loopback_and_stable_per_application() {
    let f = Fixture::deployed_with_spec(1);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.ok(&["relate", "grafana", "demo:grafana-source"]);
    let status = f.json(&["status"]);
    let address = |app: &str| {
        status["applications"][app]["address"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let all = [address("demo"), address("alertmanager"), address("grafana")];
    for a in &all {
        assert!(a.starts_with("127.152.183."), "{all:?}");
    }
    assert_ne!(all[0], all[1]);
    assert_ne!(all[1], all[2]);
    // A remote unit's private-address is its application's Service address too.
    let data = f.json(&["show-relation-data", "1"]);
    assert_eq!(
        data["remote"]["units"]["alertmanager/0"]["private-address"],
        all[1]
    );
    f.ok(&["add-unit", "demo"]);
    assert_eq!(
        f.json(&["status"])["applications"]["demo"]["address"],
        all[0]
    );
}

#[test]
fn settings_files_are_read_as_yaml_v2_reads_them() {
    let f = Fixture::deployed(1);
    f.ok(&["relate", "alertmanager", "demo"]);
    f.probe_in(
        "demo/0",
        r#"
printf 'int: 1\nfloat: 1.50\nbool: yes\nhex: 0x1F\noctal: 0644\nnull1: ~\nquoted: "~"\nesc: "a\\x01b"\ndup: 1\ndup: 2\nanc: &s val\nali: *s\n<<: {m: merged}\nlit: |\n  two\n  lines\n' > "$probe/types.yaml"
t types relation-set -r 1 --file "$probe/types.yaml"
t own relation-get -r 1 - demo/0 --format=json
printf 'a: x\001y\n' > "$probe/ctrl.yaml"
t ctrl relation-set -r 1 --file "$probe/ctrl.yaml"
printf 'a: x\177y\n' | relation-set -r 1 --file - ; echo $? > "$probe/out/del.code"
t del_state state-set --file "$probe/ctrl.yaml"
printf 'a: \377\n' > "$probe/utf8.yaml"
t utf8 relation-set -r 1 --file "$probe/utf8.yaml"
printf 'a: ok\nlist:\n  - 1\nmap: {x: 1}\n' > "$probe/nested.yaml"
t nested relation-set -r 1 --file "$probe/nested.yaml"
printf -- '- a\n' > "$probe/seq.yaml"
t seq relation-set -r 1 --file "$probe/seq.yaml"
printf 'just a string\n' > "$probe/str.yaml"
t str state-set --file "$probe/str.yaml"
t arg relation-set -r 1 "argctl=$(printf 'p\001q')" "  spaced  =  v  "
t arg_own relation-get -r 1 - demo/0 --format=json
t empty_key relation-set -r 1 " =v"
"#,
    );
    assert_eq!(f.out("types").2, 0, "{:?}", f.out("types"));
    let own = json_out(&f, "own");
    // Scalars keep the text they were written with; null is "" (which deletes).
    assert_eq!(own["int"], "1");
    assert_eq!(own["float"], "1.50");
    assert_eq!(own["bool"], "yes");
    assert_eq!(own["hex"], "0x1F");
    assert_eq!(own["octal"], "0644");
    assert!(own.get("null1").is_none());
    assert_eq!(own["quoted"], "~");
    assert_eq!(own["esc"], "a\u{1}b");
    assert_eq!(own["dup"], "2");
    assert_eq!(own["m"], "merged");
    assert_eq!(own["lit"], "two\nlines\n");
    assert_eq!(own["ali"], "val");
    let control = "yaml: control characters are not allowed";
    err_out(&f, "ctrl", 1, control);
    assert_eq!(
        std::fs::read_to_string(f.probe().join("out/del.code")).unwrap(),
        "1\n"
    );
    err_out(&f, "del_state", 1, control);
    err_out(&f, "utf8", 1, "yaml: invalid leading UTF-8 octet");
    err_out(
        &f,
        "nested",
        1,
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!seq into string\n  line 4: cannot unmarshal !!map into string",
    );
    err_out(
        &f,
        "seq",
        1,
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into map[string]string",
    );
    err_out(
        &f,
        "str",
        1,
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `just a ...` into map[string]string",
    );
    // key=value arguments are not YAML (keyvalues.Parse): trimmed, control characters kept.
    assert_eq!(f.out("arg").2, 0, "{:?}", f.out("arg"));
    let own = json_out(&f, "arg_own");
    assert_eq!(own["argctl"], "p\u{1}q");
    assert_eq!(own["spaced"], "v");
    err_out(&f, "empty_key", 2, "expected \"key=value\", got \"=v\"");
}

#[test]
fn state_set_stores_empty_values_and_enforces_juju_quotas() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        r#"
t set state-set a=1 empty=
t all state-get --format=json
t key state-set "$(head -c 257 /dev/zero | tr '\0' k)=v"
t value state-set "k=$(head -c 65537 /dev/zero | tr '\0' v)"
"#,
    );
    assert_eq!(json_out(&f, "all"), json!({"a": "1", "empty": ""}));
    err_out(&f, "key", 1, "max allowed key length (256) exceeded");
    err_out(&f, "value", 1, "max allowed value length (65536) exceeded");
}

#[test]
fn action_set_refuses_reserved_keys_in_any_segment() {
    let f = Fixture::deployed(1);
    f.on(
        "backup",
        r#"
t top action-set stdout=x
t nested action-set result.stderr=x
t first action-set stdout-encoding.a=x
t deep action-set a.b.stderr-encoding=x
t invalid_first action-set Foo.stdout=x
t fine action-set result.stdout-ish=ok
"#,
    );
    f.ok(&["run-action", "demo/0", "backup", "target=/srv"]);
    err_out(&f, "top", 2, "cannot set reserved action key \"stdout\"");
    err_out(&f, "nested", 2, "cannot set reserved action key \"stderr\"");
    err_out(
        &f,
        "first",
        2,
        "cannot set reserved action key \"stdout-encoding\"",
    );
    err_out(
        &f,
        "deep",
        2,
        "cannot set reserved action key \"stderr-encoding\"",
    );
    err_out(
        &f,
        "invalid_first",
        2,
        "key \"Foo\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
    );
    assert_eq!(f.out("fine").2, 0);
}

#[test]
fn resource_get_prints_a_path_to_the_image_details() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        "t path resource-get demo-image\nt cat cat \"$(resource-get demo-image)\"\nt unknown resource-get nope\nt none resource-get\n",
    );
    let (path, _, code) = f.out("path");
    assert_eq!(code, 0);
    assert!(
        !path.ends_with('\n') && path.ends_with("content.yaml"),
        "{path:?}"
    );
    assert_eq!(
        f.out("cat").0,
        "registrypath: demo/image:1\nusername: \"\"\npassword: \"\"\n"
    );
    err_out(
        &f,
        "unknown",
        1,
        "could not download resource: resource \"nope\" not found",
    );
    err_out(&f, "none", 2, "missing required resource name");
}

#[test]
fn state_is_per_unit_and_transactional() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        r#"
t empty state-get --format=json
t set state-set a=1 b=2
config-get port | sed 's/^/c: /' | state-set --file -
t pending state-get --format=json
t del state-delete b
t nokey state-delete
"#,
    );
    assert_eq!(f.out("empty").0, "null\n");
    assert_eq!(
        json_out(&f, "pending"),
        json!({"a": "1", "b": "2", "c": "9090"})
    );
    err_out(&f, "nokey", 2, "no key specified");
    f.probe_in(
        "demo/0",
        "t all state-get --format=json\nt one state-get a\nt missing state-get zz --format=json\nt strict state-get zz --strict\nstate-set a=changed\n",
    );
    assert_eq!(json_out(&f, "all"), json!({"a": "1", "c": "9090"}));
    assert_eq!(f.out("one").0, "1\n");
    assert_eq!(f.out("missing").0, "\"\"\n");
    err_out(&f, "strict", 1, "\"zz\" not found");
    f.on("update-status", "state-set a=lost\nexit 1\n");
    let out = f
        .sim()
        .args(["run-hook", "demo/0", "update-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    f.ok(&["resolved", "--no-retry", "demo/0"]);
    f.probe_in("demo/0", "t after state-get a\n");
    assert_eq!(f.out("after").0, "changed\n");
}

#[test]
fn action_tools_only_work_in_actions() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        "t get action-get\nt set action-set a=1\nt fail action-fail\nt log action-log hi\nt set_bad action-set Foo=1\n",
    );
    for id in ["get", "set", "fail", "log"] {
        err_out(&f, id, 1, "not running an action");
    }
    // Argument errors come first, as in Juju (Init before Run).
    err_out(
        &f,
        "set_bad",
        2,
        "key \"Foo\" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods",
    );
}

#[test]
fn unknown_flags_and_help() {
    let f = Fixture::deployed(1);
    f.probe_in(
        "demo/0",
        "t unknown is-leader --app\nt short status-get -x\nt help relation-get --help\nt needs relation-get -r\n",
    );
    err_out(&f, "unknown", 2, "option provided but not defined: --app");
    err_out(&f, "short", 2, "option provided but not defined: -x");
    let (out, _, code) = f.out("help");
    assert_eq!(code, 0);
    assert!(out.starts_with("Usage: relation-get"), "{out}");
    err_out(&f, "needs", 2, "option needs an argument: -r");
}

#[test]
fn fail_tool_injects_a_failure_until_cleared() {
    let f = Fixture::deployed(1);
    f.ok(&["fail-tool", "status-set", "--message", "boom"]);
    f.probe_in("demo/0", "t s status-set active ok\n");
    err_out(&f, "s", 1, "boom");
    f.ok(&["fail-tool", "status-set", "--clear"]);
    f.probe_in("demo/0", "t s status-set active ok\n");
    assert_eq!(f.out("s").2, 0);
    let out = f
        .sim()
        .args(["fail-tool", "no-such-tool"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn pod_spec_set_is_leader_only_strict_and_committed_on_success() {
    let f = Fixture::deployed(2);
    crate::common::write(&f.probe().join("spec.yaml"), SPEC);
    crate::common::write(&f.probe().join("bad.yaml"), &format!("{SPEC}bogus: 1\n"));
    crate::common::write(
        &f.probe().join("resources.yaml"),
        "kubernetesResources:\n  pod:\n    terminationGracePeriodSeconds: 30\n",
    );
    crate::common::write(
        &f.probe().join("spec-with-resources.yaml"),
        &format!("{SPEC}kubernetesResources:\n  pod: {{}}\n"),
    );
    f.probe_in(
        "demo/1",
        "t follower pod-spec-set --file \"$probe/spec.yaml\"\n",
    );
    err_out(&f, "follower", 1, "this unit is not the leader");
    assert!(f
        .debug_log()
        .contains("\"demo/1\" is not the leader but is setting application k8s spec"));
    f.probe_in(
        "demo/0",
        r#"
t bad pod-spec-set --file "$probe/bad.yaml"
t empty pod-spec-set
t empty_k8s k8s-spec-set
t missing pod-spec-set --file "$probe/nope.yaml"
t dup k8s-spec-set --file "$probe/spec-with-resources.yaml" --k8s-resources "$probe/resources.yaml"
t good pod-spec-set --file "$probe/spec.yaml" --k8s-resources "$probe/resources.yaml"
t get pod-spec-get
"#,
    );
    err_out(&f, "bad", 1, "json: unknown field \"bogus\"");
    err_out(
        &f,
        "empty",
        1,
        "no pod spec specified: pipe pod spec to command, or specify a file with --file",
    );
    err_out(
        &f,
        "empty_k8s",
        1,
        "no k8s spec specified: pipe k8s spec to command, or specify a file with --file",
    );
    err_out(
        &f,
        "missing",
        1,
        &format!(
            "open {}/nope.yaml: no such file or directory",
            f.probe().display()
        ),
    );
    let (_, err, code) = f.out("dup");
    assert_eq!(code, 1);
    assert!(
        err.contains("key \"kubernetesResources\" already set in map"),
        "{err}"
    );
    assert_eq!(f.out("good").2, 0);
    let stored =
        format!("{SPEC}kubernetesResources:\n  pod:\n    terminationGracePeriodSeconds: 30\n");
    assert_eq!(f.out("get").0, stored);
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), stored);

    // A failing hook leaves the stored spec alone.
    f.on(
        "update-status",
        "pod-spec-set --file \"$probe/spec.yaml\"\nexit 1\n",
    );
    let out = f
        .sim()
        .args(["run-hook", "demo/0", "update-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), stored);
    f.ok(&["resolved", "--no-retry", "demo/0"]);

    // Leadership is checked again when the hook ends.
    let model = f.model().join("model.json");
    f.on(
        "update-status",
        &format!(
            "pod-spec-set --file \"$probe/spec.yaml\"\nsed -i 's/\"leader\": true/\"leader\": false/' {}\n",
            model.display()
        ),
    );
    let out = f
        .sim()
        .args(["run-hook", "demo/0", "update-status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR this unit is not the leader"));
    assert_eq!(f.ok(&["show-pod-spec", "demo"]), stored);
}
