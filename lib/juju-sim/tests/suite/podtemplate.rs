//! The cluster side of a spec: the StatefulSet pod template Juju derives from it (rolls only
//! when the template changes, never for file contents), the API server's name limits
//! checked when the spec is applied, and upgrade-charm.

use std::fs;

use crate::common::{Fixture, SPEC};
use serde_json::{json, Value};

/// A fixture whose leader sets `spec.yaml` (in the probe dir) on every config-changed,
/// recording the pod-spec-set call under `set`.
fn spec_fixture(spec: &str) -> Fixture {
    let f = Fixture::new();
    write_spec(&f, spec);
    f.on(
        "config-changed",
        "if [ \"$(is-leader)\" = True ]; then t set pod-spec-set --file \"$probe/spec.yaml\"; fi\n",
    );
    f
}

fn write_spec(f: &Fixture, spec: &str) {
    fs::write(f.probe().join("spec.yaml"), spec).unwrap();
}

fn deploy_as(f: &Fixture, app: &str, units: u32) {
    let charm = f.charm().display().to_string();
    f.ok(&[
        "deploy",
        &charm,
        app,
        "--resource",
        "demo-image=demo/image:1",
        "-n",
        &units.to_string(),
    ]);
}

fn app_status(f: &Fixture, app: &str) -> Value {
    f.json(&["status"])["applications"][app].clone()
}

fn pod_template(f: &Fixture, app: &str) -> Value {
    app_status(f, app)["pod-template"].clone()
}

/// Sets a new spec through a config change (config-changed on every unit).
fn set_spec(f: &Fixture, app: &str, spec: &str, value: &str) {
    write_spec(f, spec);
    f.ok(&["config", app, &format!("name={value}")]);
}

#[test]
fn a_content_only_change_rolls_no_pod() {
    let f = spec_fixture(SPEC);
    deploy_as(&f, "demo", 2);
    assert_eq!(
        pod_template(&f, "demo"),
        json!({"revision": 1, "rolls": 0, "rolled-pods": 0})
    );
    assert!(f
        .debug_log()
        .contains("statefulset demo: created with pod template revision 1 (2 pod(s))"));

    set_spec(
        &f,
        "demo",
        &SPEC.replace("hello: world", "hello: there"),
        "a",
    );
    assert_eq!(f.out("set").2, 0);
    assert_eq!(
        pod_template(&f, "demo"),
        json!({"revision": 1, "rolls": 0, "rolled-pods": 0})
    );
    assert!(!f.debug_log().contains("pod template changed"));
}

#[test]
fn a_new_file_name_or_mode_or_arg_rolls_every_pod_once() {
    let f = spec_fixture(SPEC);
    deploy_as(&f, "demo", 2);

    set_spec(&f, "demo", &SPEC.replace("demo.yml", "other.yml"), "a");
    assert_eq!(
        pod_template(&f, "demo"),
        json!({"revision": 2, "rolls": 1, "rolled-pods": 2, "last-change": ["volumes"]})
    );
    assert!(
        f.debug_log().contains(
            "INFO juju-sim.kubernetes statefulset demo: pod template changed (volumes): rolling 2 pod(s), revision 2"
        ),
        "{}",
        f.debug_log()
    );

    let with_arg = SPEC
        .replace("demo.yml", "other.yml")
        .replace("    ports:", "    args: [--verbose]\n    ports:");
    set_spec(&f, "demo", &with_arg, "b");
    assert_eq!(
        pod_template(&f, "demo"),
        json!({"revision": 3, "rolls": 2, "rolled-pods": 4, "last-change": ["containers"]})
    );

    // The same spec again is no change at all; a new mode is.
    set_spec(&f, "demo", &with_arg, "c");
    assert_eq!(pod_template(&f, "demo")["rolls"], 2);
    set_spec(&f, "demo", &with_arg.replace("0600", "0640"), "d");
    assert_eq!(pod_template(&f, "demo")["rolls"], 3);
    assert_eq!(pod_template(&f, "demo")["last-change"], json!(["volumes"]));
}

/// What the prometheus charm sets: one container with a named port, one file set, a
/// service account with a cluster-wide role.
const CHARM_LIKE_SPEC: &str = "version: 3
containers:
  - name: prometheus
    imageDetails: {imagePath: demo/image:1}
    args: [--config.file=/etc/prometheus/prometheus.yml]
    ports:
      - {name: http, containerPort: 9090, protocol: TCP}
    volumeConfig:
      - name: prometheus-config
        mountPath: /etc/prometheus
        files:
          - {path: prometheus.yml, mode: 0644, content: 'global: {}'}
serviceAccount:
  roles:
    - global: true
      rules:
        - {apiGroups: [''], resources: [pods], verbs: [get, list, watch]}
";

#[test]
fn a_60_character_name_is_refused_when_the_spec_is_applied_not_when_it_is_set() {
    let app = format!("p{}", "x".repeat(59));
    assert_eq!(app.len(), 60);
    let f = spec_fixture(CHARM_LIKE_SPEC);
    deploy_as(&f, &app, 1);
    // pod-spec-set took the spec and the hook committed: nothing failed in the charm.
    let (_, stderr, code) = f.out("set");
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(f.ok(&["show-pod-spec", &app]).contains("prometheus-config"));
    let status = app_status(&f, &app);
    let headless = format!("{app}-endpoints");
    let refused = format!(
        "Service {headless:?} is invalid: metadata.name: Invalid value: {headless:?}: must be no more than 63 characters"
    );
    assert_eq!(
        status["application-status"],
        json!({"current": "error", "message": format!("creating or updating headless service: {refused}")})
    );
    assert_eq!(
        status["pod-template"],
        json!({"revision": 0, "rolls": 0, "rolled-pods": 0, "error": refused})
    );
    assert_eq!(
        status["units"][format!("{app}/0")]["juju-status"]["current"],
        "idle"
    );
    assert!(f.debug_log().contains(&format!(
        "ERROR juju.worker.caasunitprovisioner {app}: creating or updating headless service"
    )));
}

#[test]
fn a_volume_name_over_63_characters_fails_the_statefulset_and_keeps_the_old_template() {
    // 45 characters: the Services fit, `<app>-prometheus-config-config` (70) does not.
    let app = format!("p{}", "x".repeat(44));
    let f = spec_fixture(&CHARM_LIKE_SPEC.replace("prometheus-config", "c"));
    deploy_as(&f, &app, 1);
    assert_eq!(pod_template(&f, &app)["revision"], 1);

    set_spec(&f, &app, CHARM_LIKE_SPEC, "a");
    let volume = format!("{app}-prometheus-config-config");
    let status = app_status(&f, &app);
    assert_eq!(
        status["application-status"],
        json!({"current": "error", "message": format!("creating or updating StatefulSet: stateful set {app:?} not valid")})
    );
    assert_eq!(
        status["pod-template"]["error"],
        format!(
            "StatefulSet.apps {app:?} is invalid: spec.template.spec.volumes[0].name: Invalid value: {volume:?}: must be no more than 63 characters"
        )
    );
    assert_eq!(status["pod-template"]["revision"], 1);
    assert_eq!(status["pod-template"]["rolls"], 0);

    // A spec that fits is applied again and the error goes.
    set_spec(
        &f,
        &app,
        &CHARM_LIKE_SPEC.replace("prometheus-config", "config"),
        "b",
    );
    let status = app_status(&f, &app);
    assert_eq!(status["application-status"]["current"], "unknown");
    assert_eq!(
        status["pod-template"],
        json!({"revision": 2, "rolls": 1, "rolled-pods": 1, "last-change": ["containers", "volumes"]})
    );
}

#[test]
fn port_names_are_iana_service_names() {
    let f = spec_fixture(SPEC);
    deploy_as(&f, "demo", 1);
    set_spec(
        &f,
        "demo",
        &SPEC.replace("name: http", "name: web-interface-port"),
        "a",
    );
    let status = app_status(&f, "demo");
    assert_eq!(status["application-status"]["current"], "error");
    assert_eq!(
        status["pod-template"]["error"],
        "StatefulSet.apps \"demo\" is invalid: spec.template.spec.containers[0].ports[0].name: Invalid value: \"web-interface-port\": must be no more than 15 characters"
    );
}

#[test]
fn upgrade_charm_replaces_the_charm_runs_upgrade_charm_then_config_changed_and_rolls() {
    let f = spec_fixture(SPEC);
    deploy_as(&f, "demo", 2);
    f.clear_hooks();
    f.write_charm_file("version", "second revision\n");
    let charm = f.charm().display().to_string();
    let out = f.ok(&["upgrade-charm", "demo", "--path", &charm]);
    assert_eq!(
        out,
        "Added charm \"local:kubernetes/demo-k8s-1\" to the model.\n"
    );
    for unit in ["demo/0", "demo/1"] {
        assert_eq!(f.hooks_of(unit), vec!["upgrade-charm", "config-changed"]);
        let copy = f.model().join("units").join(unit.replace('/', "-"));
        assert_eq!(
            fs::read_to_string(copy.join("charm/version")).unwrap(),
            "second revision\n"
        );
    }
    let status = app_status(&f, "demo");
    assert_eq!(status["charm"], "local:kubernetes/demo-k8s-1");
    assert_eq!(status["charm-rev"], 1);
    // The spec is the same; the charm modified version in the template is not.
    assert_eq!(
        status["pod-template"],
        json!({"revision": 2, "rolls": 1, "rolled-pods": 2, "last-change": ["annotations"]})
    );

    // Without --path the charm comes from where it was deployed from, again. A leader
    // whose upgrade-charm sets a new spec gets one roll for both changes.
    write_spec(
        &f,
        &SPEC.replace("    ports:", "    args: [--verbose]\n    ports:"),
    );
    f.on(
        "upgrade-charm",
        "if [ \"$(is-leader)\" = True ]; then pod-spec-set --file \"$probe/spec.yaml\"; fi\n",
    );
    f.ok(&["upgrade-charm", "demo"]);
    assert_eq!(
        pod_template(&f, "demo"),
        json!({"revision": 3, "rolls": 2, "rolled-pods": 4, "last-change": ["annotations", "containers"]})
    );
    let out = f.sim().args(["upgrade-charm", "other"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR application \"other\" not found\n"
    );
}
