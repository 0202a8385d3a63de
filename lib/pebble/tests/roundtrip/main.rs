//! The client against a fake Pebble on a temporary unix socket: every call round-trips,
//! and what reaches the socket is what ops' `pebble.Client` sends (method, path, query,
//! JSON keys — recorded from ops 3.9 against a recording socket; see each test).
// Helpers here may unwrap and panic: a failed expectation is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use std::collections::BTreeMap;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use fake::{http, Fake};
use pebble::{
    layer_differs, CheckLevel, CheckStatus, Client, Error, GoDuration, HttpCheck, Layer, Override,
    Service, ServiceAction, ServiceStatus, Startup,
};
use serde_json::json;

fn client(fake: &Fake) -> Client {
    Client::new(&fake.socket).with_timeout(Duration::from_secs(5))
}

fn layer() -> Layer {
    let mut layer = Layer {
        summary: "prometheus".into(),
        ..Layer::default()
    };
    layer.services.insert(
        "prometheus".into(),
        Service {
            r#override: Some(Override::Replace),
            command: "/bin/prometheus --config.file=/etc/prometheus/prometheus.yml".into(),
            startup: Some(Startup::Enabled),
            on_check_failure: [("alive".to_string(), ServiceAction::Restart)].into(),
            kill_delay: Some(GoDuration::from_secs(30)),
            ..Service::default()
        },
    );
    layer.checks.insert(
        "alive".into(),
        pebble::Check {
            r#override: Some(Override::Replace),
            level: Some(CheckLevel::Alive),
            http: Some(HttpCheck {
                url: "http://localhost:9090/-/healthy".into(),
                ..HttpCheck::default()
            }),
            ..pebble::Check::default()
        },
    );
    layer
}

#[test]
fn system_info_round_trips() {
    let fake = Fake::start();
    let info = client(&fake).system_info().unwrap();
    assert_eq!(info.version, "v1.19.0");
    let sent = &fake.requests()[0];
    // ops: GET /v1/system-info, Accept: application/json.
    assert_eq!(sent.line(), "GET /v1/system-info");
    assert_eq!(sent.headers["accept"], "application/json");
    assert_eq!(sent.headers["host"], "localhost");
}

#[test]
fn a_chunked_answer_is_read_whole() {
    let fake = Fake::start();
    // Go's net/http chunks bodies it does not have whole.
    let body = r#"{"type":"sync","status-code":200,"status":"OK","result":{"boot-id":"x","version":"v1.7.0"}}"#;
    let (a, b) = body.split_at(17);
    fake.can(
        "GET /v1/system-info",
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        ),
    );
    assert_eq!(client(&fake).system_info().unwrap().version, "v1.7.0");
}

#[test]
fn layers_go_out_as_ops_sends_them_and_the_plan_comes_back_typed() {
    let fake = Fake::start();
    let c = client(&fake);
    c.add_layer("prometheus", &layer(), true).unwrap();
    let sent = &fake.requests()[0];
    // ops: POST /v1/layers {"action": "add", "combine": true, "label": …, "format": "yaml",
    // "layer": <yaml>} with Content-Type application/json.
    assert_eq!(sent.line(), "POST /v1/layers");
    assert_eq!(sent.headers["content-type"], "application/json");
    let body = sent.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["action", "combine", "format", "label", "layer"]);
    assert_eq!(body["action"], "add");
    assert_eq!(body["combine"], true);
    assert_eq!(body["label"], "prometheus");
    assert_eq!(body["format"], "yaml");
    let yaml = body["layer"].as_str().unwrap();
    assert!(yaml.contains("kill-delay: 30s"), "{yaml}");
    let back: Layer = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(back, layer());

    // What Pebble's yaml.Marshal(plan) gives back for it (4-space indent, Go's field order,
    // threshold filled in, durations by Duration.String).
    fake.with(|s| {
        s.plan = "services:
    prometheus:
        startup: enabled
        override: replace
        command: /bin/prometheus --config.file=/etc/prometheus/prometheus.yml
        on-check-failure:
            alive: restart
        kill-delay: 30s
checks:
    alive:
        override: replace
        level: alive
        threshold: 3
        http:
            url: http://localhost:9090/-/healthy
"
        .into();
    });
    let plan = c.get_plan().unwrap();
    assert_eq!(fake.requests()[1].line(), "GET /v1/plan?format=yaml");
    assert!(!layer_differs(&plan, &layer(), &["prometheus"]));
    let mut changed = layer();
    changed.services.get_mut("prometheus").unwrap().kill_delay = Some(GoDuration::from_secs(31));
    assert!(layer_differs(&plan, &changed, &["prometheus"]));
}

#[test]
fn services_start_stop_and_changes() {
    let fake = Fake::start();
    let c = client(&fake);
    let services = c.services(&["prometheus", "other"]).unwrap();
    assert_eq!(services[0].current, ServiceStatus::Active);
    assert_eq!(services[1].current, ServiceStatus::Inactive);
    let id = c.start(&["prometheus"]).unwrap();
    let change = c.wait_change(&id, Duration::from_secs(5)).unwrap();
    assert!(change.ready);
    c.stop(&["prometheus"]).unwrap();
    c.restart(&["prometheus"]).unwrap();
    let replan = c.replan().unwrap();
    assert_eq!(c.change(&replan).unwrap().kind, "replan");

    let sent = fake.requests();
    // ops: GET /v1/services?names=a%2Cb (names joined by commas, urlencoded).
    assert_eq!(sent[0].line(), "GET /v1/services?names=prometheus%2Cother");
    // ops: {"action": "start", "services": [...]}, replan with an empty list.
    assert_eq!(sent[1].line(), "POST /v1/services");
    assert_eq!(
        sent[1].json(),
        json!({"action": "start", "services": ["prometheus"]})
    );
    assert!(sent[2]
        .target
        .starts_with(&format!("/v1/changes/{id}/wait?timeout=")));
    let timeout = sent[2].target.split("timeout=").nth(1).unwrap();
    assert!(timeout.ends_with('s') && timeout.contains('.'), "{timeout}");
    assert_eq!(
        sent[3].json(),
        json!({"action": "stop", "services": ["prometheus"]})
    );
    assert_eq!(
        sent[4].json(),
        json!({"action": "restart", "services": ["prometheus"]})
    );
    assert_eq!(sent[5].json(), json!({"action": "replan", "services": []}));
    assert_eq!(sent[6].line(), format!("GET /v1/changes/{replan}"));
}

#[test]
fn a_failed_change_is_a_change_error() {
    let fake = Fake::start();
    let c = client(&fake);
    let id = c.start(&["broken"]).unwrap();
    match c.wait_change(&id, Duration::from_secs(5)) {
        Err(Error::Change { id: got, err }) => {
            assert_eq!(got, id.0);
            assert!(err.contains("exited quickly"), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn waiting_gives_up_at_the_timeout() {
    let fake = Fake::start();
    let c = client(&fake);
    // A change that stays in progress: each /wait answers 504 when its timeout passes.
    fake.with(|s| s.stuck = true);
    let id = c.start(&["prometheus"]).unwrap();
    let started = Instant::now();
    match c.wait_change(&id, Duration::from_millis(300)) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn waiting_polls_a_pebble_without_the_wait_endpoint() {
    let fake = Fake::start();
    let c = client(&fake);
    let id = c.start(&["prometheus"]).unwrap();
    fake.can(
        &format!("GET /v1/changes/{id}/wait"),
        http(404, "Not Found", "text/plain", b"404 page not found\n"),
    );
    assert!(c.wait_change(&id, Duration::from_secs(5)).unwrap().ready);
    assert_eq!(fake.requests()[2].line(), format!("GET /v1/changes/{id}"));
}

#[test]
fn files_push_pull_list_make_and_remove() {
    let fake = Fake::start();
    let c = client(&fake);
    let content = b"global:\r\n  scrape_interval: 1m\n\x00\xff--binary\r\n--".to_vec();
    c.push(
        "/etc/prometheus/prometheus.yml",
        &content,
        true,
        Some(0o640),
    )
    .unwrap();
    assert_eq!(
        fake.with(|s| s.files["/etc/prometheus/prometheus.yml"].clone()),
        content
    );
    assert_eq!(c.pull("/etc/prometheus/prometheus.yml").unwrap(), content);
    let listed = c
        .list_files("/etc/prometheus", Some("*.yml"), false)
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "prometheus.yml");
    assert_eq!(listed[0].size, Some(content.len() as u64));
    c.make_dir("/etc/prometheus/rules", true, Some(0o755))
        .unwrap();
    c.remove_path("/etc/prometheus/prometheus.yml", false)
        .unwrap();

    let sent = fake.requests();
    // ops push: POST /v1/files, Content-Type multipart/form-data; boundary="<32 hex>",
    // Accept application/json, the "request" part {"action": "write", "files": [{
    // "permissions": "640", "path": …, "make-dirs": true}]} then the "files" part.
    assert_eq!(sent[0].line(), "POST /v1/files");
    assert_eq!(sent[0].headers["accept"], "application/json");
    let ct = &sent[0].headers["content-type"];
    assert!(ct.starts_with("multipart/form-data; boundary=\""), "{ct}");
    assert_eq!(ct.len(), "multipart/form-data; boundary=\"\"".len() + 32);
    let body = String::from_utf8_lossy(&sent[0].body);
    assert!(body.contains(r#"{"action":"write","files":[{"permissions":"640","path":"/etc/prometheus/prometheus.yml","make-dirs":true}]}"#), "{body}");
    // ops pull: GET /v1/files?action=read&path=…, Accept multipart/form-data.
    assert_eq!(
        sent[1].line(),
        "GET /v1/files?action=read&path=%2Fetc%2Fprometheus%2Fprometheus.yml"
    );
    assert_eq!(sent[1].headers["accept"], "multipart/form-data");
    // ops list_files: path, pattern, itself, then action.
    assert_eq!(
        sent[2].line(),
        "GET /v1/files?path=%2Fetc%2Fprometheus&pattern=%2A.yml&action=list"
    );
    assert_eq!(
        sent[3].json(),
        json!({"action": "make-dirs", "dirs": [{"permissions": "755", "path": "/etc/prometheus/rules", "make-parents": true}]})
    );
    assert_eq!(
        sent[4].json(),
        json!({"action": "remove", "paths": [{"path": "/etc/prometheus/prometheus.yml"}]})
    );
}

#[test]
fn file_errors_name_the_path_and_kind() {
    let fake = Fake::start();
    let c = client(&fake);
    match c.pull("/etc/missing") {
        Err(Error::Path { path, kind, .. }) => {
            assert_eq!(path, "/etc/missing");
            assert_eq!(kind, "not-found");
        }
        other => panic!("{other:?}"),
    }
    match c.push("/readonly/x", b"x", false, None) {
        Err(Error::Path { kind, .. }) => assert_eq!(kind, "permission-denied"),
        other => panic!("{other:?}"),
    }
    match c.remove_path("/etc/missing", false) {
        Err(Error::Path { kind, .. }) => assert_eq!(kind, "not-found"),
        other => panic!("{other:?}"),
    }
    c.remove_path("/etc/missing", true).unwrap();
    match c.list_files("/nowhere", None, false) {
        Err(Error::Api {
            status_code, kind, ..
        }) => {
            assert_eq!(status_code, 404);
            assert_eq!(kind.as_deref(), Some("not-found"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn checks_round_trip() {
    let fake = Fake::start();
    let checks = client(&fake)
        .checks(Some(CheckLevel::Alive), &["alive", "ready"])
        .unwrap();
    assert_eq!(checks[1].status, CheckStatus::Down);
    assert_eq!(checks[1].failures, 3);
    // ops get_checks: level, then names repeated (urlencode doseq).
    assert_eq!(
        fake.requests()[0].line(),
        "GET /v1/checks?level=alive&names=alive&names=ready"
    );
}

#[test]
fn exec_runs_over_the_task_websockets() {
    let fake = Fake::start();
    let env: BTreeMap<String, String> = [("FOO".to_string(), "bar".to_string())].into();
    let out = client(&fake)
        .exec(
            &[
                "/bin/sh",
                "-c",
                "read x; echo \"out:$x:$FOO\"; echo err >&2; exit 3",
            ],
            &env,
            Some("/"),
            Duration::from_secs(10),
            Some(b"hello\n"),
        )
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout, b"out:hello:bar\n");
    assert_eq!(out.stderr, b"err\n");

    let sent = fake.requests();
    // ops exec: every key, null where unset, split-stderr true; then the control, stdio
    // and stderr websockets of the task, in that order; then the change's /wait.
    assert_eq!(sent[0].line(), "POST /v1/exec");
    assert_eq!(
        sent[0].json(),
        json!({
            "command": ["/bin/sh", "-c", "read x; echo \"out:$x:$FOO\"; echo err >&2; exit 3"],
            "service-context": null,
            "environment": {"FOO": "bar"},
            "working-dir": "/",
            "timeout": "10.000s",
            "user-id": null,
            "user": null,
            "group-id": null,
            "group": null,
            "split-stderr": true,
        })
    );
    let lines: Vec<String> = sent[1..4].iter().map(fake::Recorded::line).collect();
    let task = sent[1].target.split('/').nth(3).unwrap().to_string();
    assert_eq!(
        lines,
        [
            format!("GET /v1/tasks/{task}/websocket/control"),
            format!("GET /v1/tasks/{task}/websocket/stdio"),
            format!("GET /v1/tasks/{task}/websocket/stderr"),
        ]
    );
    assert_eq!(sent[1].headers["upgrade"], "websocket");
    assert!(sent[4].target.contains("/wait?timeout="));
}

#[test]
fn exec_carries_large_binary_streams_both_ways() {
    let fake = Fake::start();
    let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = client(&fake)
        .exec(
            &["/bin/sh", "-c", "cat; cat /dev/null >&2"],
            &BTreeMap::new(),
            None,
            Duration::from_secs(30),
            Some(&input),
        )
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout.len(), input.len());
    assert!(out.stdout == input);
    assert!(out.stderr.is_empty());
}

#[test]
fn exec_reads_stderr_while_stdout_is_still_open() {
    let fake = Fake::start();
    // 2 MB to stderr before any stdout: read one after the other, both sides would stall.
    let out = client(&fake)
        .exec(
            &["/bin/sh", "-c", "head -c 2000000 /dev/zero >&2; echo done"],
            &BTreeMap::new(),
            None,
            Duration::from_secs(30),
            None,
        )
        .unwrap();
    assert_eq!(out.stderr.len(), 2_000_000);
    assert_eq!(out.stdout, b"done\n");
}

#[test]
fn exec_without_stdin_sees_end_of_file() {
    let fake = Fake::start();
    let out = client(&fake)
        .exec(
            &["/bin/cat"],
            &BTreeMap::new(),
            None,
            Duration::from_secs(10),
            None,
        )
        .unwrap();
    assert_eq!((out.exit_code, out.stdout.len()), (0, 0));
}

#[test]
fn exec_timeouts_and_missing_commands_are_errors() {
    let fake = Fake::start();
    let c = client(&fake);
    match c.exec(
        &["/bin/sleep", "5"],
        &BTreeMap::new(),
        None,
        Duration::from_millis(200),
        None,
    ) {
        Err(Error::Change { err, .. }) => assert!(err.contains("timed out"), "{err}"),
        other => panic!("{other:?}"),
    }
    match c.exec(
        &["no-such-command-here"],
        &BTreeMap::new(),
        None,
        Duration::from_secs(1),
        None,
    ) {
        Err(Error::Api {
            status_code,
            message,
            ..
        }) => {
            assert_eq!(status_code, 400);
            assert!(message.contains("cannot find executable"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_exec_websocket_is_reported() {
    let fake = Fake::start();
    // An exec whose task the daemon does not know: the websocket answers 404 (api_tasks.go
    // "cannot find task"), and the change does not exist either.
    fake.can(
        "POST /v1/exec",
        http(
            202,
            "Accepted",
            "application/json",
            br#"{"type":"async","status-code":202,"status":"Accepted","change":"99","result":{"task-id":"T99"}}"#,
        ),
    );
    let e = client(&fake)
        .exec(
            &["/bin/true"],
            &BTreeMap::new(),
            None,
            Duration::from_secs(1),
            None,
        )
        .unwrap_err();
    match e {
        Error::Protocol { detail, .. } => assert!(detail.contains("404"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_socket_or_nobody_listening_is_not_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Client::new(dir.path().join("pebble.socket"));
    let e = missing.system_info().unwrap_err();
    assert!(e.is_not_reachable(), "{e:?}");

    // A socket file left behind by a Pebble that is gone: connection refused.
    let stale = dir.path().join("stale.socket");
    drop(UnixListener::bind(&stale).unwrap());
    let e = Client::new(&stale).get_plan().unwrap_err();
    assert!(e.is_not_reachable(), "{e:?}");
}

#[test]
fn a_pebble_that_does_not_answer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accepts (the kernel does, from the backlog) but never answers.
    let c = Client::new(&socket).with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let e = c.system_info().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(!e.is_not_reachable());
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);
}
