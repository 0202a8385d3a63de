//! Strict pod spec parsing and validation, as `pod-spec-set`/`k8s-spec-set` do it in
//! Juju 2.9 (juju-hook-reference §3): YAML to JSON, the version picks the parser, Go's JSON
//! decoder refuses unknown fields, then Juju's validation messages (§3.4).

pub(crate) mod k8s;
pub(crate) mod types;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use thiserror::Error;

use crate::gojson::{self, GoJsonError};
use crate::yaml::{self, YamlError};

pub(crate) use types::{FileSet, PodSpecV3};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum PodSpecError {
    #[error("error converting YAML to JSON: {0}")]
    Yaml(YamlError),
    #[error("json: {0}")]
    Json(String),
    #[error("yaml: unmarshal errors:\n  line {line}: cannot unmarshal {value} into specs.Version")]
    VersionType { line: usize, value: String },
    #[error("{0}")]
    Decode(#[from] GoJsonError),
    #[error("latest supported version 3, but got podspec version {0}")]
    Unsupported(i64),
    /// Juju would parse these with its older parsers (reference §3.1: `version` 2, or absent
    /// for the legacy format); the reference gives no messages for them, so juju-sim says
    /// in its own name that it does not simulate them rather than imitate Juju's outcome.
    #[error("juju-sim simulates pod spec version 3 only, not the legacy format (a spec without `version`, or version 0)")]
    Legacy,
    #[error("juju-sim simulates pod spec version 3 only, not version {0}")]
    NotSimulated(i64),
    #[error("{0}")]
    Invalid(String),
}

/// Parses and validates a pod spec (with any `--k8s-resources` text already appended).
pub(crate) fn parse(text: &str) -> Result<PodSpecV3, PodSpecError> {
    let value = to_json(text)?;
    match version(text, &value)? {
        3 => {}
        0 => return Err(PodSpecError::Legacy),
        2 => return Err(PodSpecError::NotSimulated(2)),
        v => return Err(PodSpecError::Unsupported(v)),
    }
    let spec: PodSpecV3 = gojson::from_value(&value)?;
    validate(&spec).map_err(PodSpecError::Invalid)?;
    Ok(spec)
}

/// Juju sniffs for a leading `{`: JSON is decoded as such (only its first value is read),
/// anything else goes through the YAML to JSON conversion.
fn to_json(text: &str) -> Result<Value, PodSpecError> {
    if text.trim_start().starts_with('{') {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        return match values.next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(PodSpecError::Json(e.to_string())),
            None => Ok(Value::Null),
        };
    }
    yaml::from_str(text).map_err(PodSpecError::Yaml)
}

fn version(text: &str, value: &Value) -> Result<i64, PodSpecError> {
    let raw = match value.get("version") {
        None | Some(Value::Null) => return Ok(0),
        Some(v) => v,
    };
    let as_int = raw.as_i64().or_else(|| {
        raw.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 2.0e9)
            .map(|f| f as i64)
    });
    as_int.ok_or_else(|| PodSpecError::VersionType {
        line: text
            .lines()
            .position(|l| l.trim_start().starts_with("version"))
            .map_or(1, |i| i + 1),
        value: match raw {
            Value::String(s) => format!("!!str `{s}`"),
            Value::Bool(b) => format!("!!bool `{b}`"),
            Value::Array(_) => "!!seq".to_string(),
            Value::Object(_) => "!!map".to_string(),
            other => format!("`{other}`"),
        },
    })
}

/// Juju's checks in Juju's order: the Kubernetes resources, each container, then the
/// generic spec (version, service, file set uniqueness) and the primary service account.
fn validate(spec: &PodSpecV3) -> Result<(), String> {
    if let Some(resources) = &spec.kubernetes_resources {
        validate_kubernetes_resources(resources)?;
    }
    if spec.containers.is_empty() {
        return Err("require at least one container spec".into());
    }
    for c in &spec.containers {
        validate_container(c)?;
    }
    if spec.version != 3 {
        return Err(format!(
            "expected version 3, but found {} not valid",
            spec.version
        ));
    }
    if let Some(service) = &spec.service {
        match service.scale_policy.as_str() {
            "" | "parallel" | "serial" => {}
            other => return Err(format!("scale policy {other:?} not supported")),
        }
    }
    validate_file_set_uniqueness(&spec.containers)?;
    if let Some(sa) = &spec.service_account {
        validate_roles(
            &sa.roles,
            "either all or none of the roles should have a name set",
        )
        .map_err(|e| format!("invalid primary service account: {e}"))?;
    }
    Ok(())
}

fn validate_container(c: &types::ContainerSpec) -> Result<(), String> {
    if c.name.is_empty() {
        return Err("spec name is missing".into());
    }
    if c.image.is_empty() && c.image_details.image_path.is_empty() {
        return Err("spec image details is missing".into());
    }
    for fs in &c.volume_config {
        validate_file_set(fs)?;
    }
    for (name, value) in &c.env_config {
        validate_env(name, value)?;
    }
    Ok(())
}

fn validate_file_set(fs: &FileSet) -> Result<(), String> {
    if fs.name.is_empty() {
        return Err("file set name is missing".into());
    }
    if fs.mount_path.is_empty() {
        return Err(format!("mount path is missing for file set {:?}", fs.name));
    }
    let name = &fs.name;
    let mut sources = 0;
    if !fs.files.is_empty() {
        sources += 1;
        for f in &fs.files {
            if f.path.is_empty() {
                return Err(format!("Path is missing for {name:?}"));
            }
            if f.content.is_empty() {
                return Err(format!("Content is missing for {name:?}"));
            }
        }
    }
    if let Some(hp) = &fs.host_path {
        sources += 1;
        if hp.path.is_empty() {
            return Err(format!("Path is missing for {name:?}"));
        }
    }
    if fs.empty_dir.is_some() {
        sources += 1;
    }
    for r in [&fs.secret, &fs.config_map].into_iter().flatten() {
        sources += 1;
        if r.name.is_empty() {
            return Err(format!("Name is missing for {name:?}"));
        }
        for f in &r.files {
            if f.key.is_empty() {
                return Err(format!("Key is missing for {name:?}"));
            }
            if f.path.is_empty() {
                return Err(format!("Path is missing for {name:?}"));
            }
        }
    }
    match sources {
        0 => Err(format!("file set {name:?} requires volume source")),
        1 => Ok(()),
        _ => Err(format!("file set {name:?} can only have one volume source")),
    }
}

/// A file set name may be shared between containers only for the very same volume; within
/// one container neither the same file set nor the same mount path may repeat. Container
/// names are not compared: Juju's `caasContainers.Validate` (caas/specs/base.go) does not,
/// so `pod-spec-set` takes two containers of one name (Kubernetes refuses the pod later).
/// The reference (§3.4) gives no message for it either.
fn validate_file_set_uniqueness(containers: &[types::ContainerSpec]) -> Result<(), String> {
    let mut volumes: BTreeMap<&str, &FileSet> = BTreeMap::new();
    for c in containers {
        let mut seen: Vec<&FileSet> = Vec::new();
        let mut mount_paths = BTreeSet::new();
        for f in &c.volume_config {
            match volumes.get(f.name.as_str()) {
                Some(v) if !f.same_volume(v) => {
                    return Err(format!(
                        "duplicated file {:?} with different volume spec not valid",
                        f.name
                    ))
                }
                Some(_) => {}
                None => {
                    volumes.insert(&f.name, f);
                }
            }
            if seen.contains(&f) {
                return Err(format!(
                    "duplicated file {:?} in container {:?} not valid",
                    f.name, c.name
                ));
            }
            seen.push(f);
            if !mount_paths.insert(f.mount_path.as_str()) {
                return Err(format!(
                    "duplicated mount path {:?} in container {:?} not valid",
                    f.mount_path, c.name
                ));
            }
        }
    }
    Ok(())
}

/// `envConfig` values are scalars, or a reference of exactly one kind.
fn validate_env(name: &str, value: &Value) -> Result<(), String> {
    let unsupported = || format!("config format of {name:?} not supported");
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        Value::Object(map) => {
            let allowed: &[(&str, &[&str])] = &[
                ("field", &["path", "api-version"]),
                ("resource", &["container-name", "resource", "divisor"]),
                ("secret", &["name", "key", "optional"]),
                ("config-map", &["name", "key", "optional"]),
            ];
            let mut kinds = map.iter();
            let (Some((kind, body)), None) = (kinds.next(), kinds.next()) else {
                return Err(unsupported());
            };
            let fields = allowed
                .iter()
                .find(|(k, _)| k == kind)
                .map(|(_, f)| *f)
                .ok_or_else(unsupported)?;
            match body {
                Value::Object(body) if body.keys().all(|k| fields.contains(&k.as_str())) => Ok(()),
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

/// `ServiceAccountSpecV3.Validate`.
fn validate_roles(roles: &[types::Role], mixed_names: &str) -> Result<(), String> {
    if roles.is_empty() {
        return Err("roles is required".into());
    }
    if roles.iter().any(|r| r.rules.is_empty()) {
        return Err("rules is required".into());
    }
    let mut names = BTreeSet::new();
    for r in roles.iter().filter(|r| !r.name.is_empty()) {
        if !names.insert(r.name.as_str()) {
            return Err(format!("duplicated role name {:?} not valid", r.name));
        }
    }
    if names.is_empty() || names.len() == roles.len() {
        Ok(())
    } else {
        Err(mixed_names.to_string())
    }
}

fn validate_kubernetes_resources(r: &types::KubernetesResources) -> Result<(), String> {
    for crd in &r.custom_resource_definitions {
        let scope = crd.spec.get("scope").and_then(Value::as_str).unwrap_or("");
        if scope != "Namespaced" && scope != "Cluster" {
            return Err(format!(
                "custom resource definition {:?} scope {scope:?} is not supported, please use \"Namespaced\" or \"Cluster\" scope",
                crd.name
            ));
        }
    }
    for (name, crs) in &r.custom_resources {
        if crs.is_empty() {
            return Err(format!("empty custom resources {name:?} not valid"));
        }
    }
    for w in r
        .mutating_webhook_configurations
        .iter()
        .chain(&r.validating_webhook_configurations)
    {
        if w.webhooks.is_empty() {
            return Err(format!("empty webhooks {:?} not valid", w.name));
        }
    }
    let mut sa_names = BTreeSet::new();
    for sa in &r.service_accounts {
        if sa.name.is_empty() {
            return Err("name is missing".into());
        }
        validate_roles(
            &sa.roles,
            &format!(
                "either all or none of the roles of the service account {:?} should have a name set",
                sa.name
            ),
        )?;
        if !sa_names.insert(sa.name.as_str()) {
            return Err(format!(
                "duplicated service account name {:?} not valid",
                sa.name
            ));
        }
    }
    Ok(())
}

/// The files a spec mounts, as (path under the pod's root, content, mode).
pub(crate) fn mounted_files(spec: &PodSpecV3) -> Vec<(String, String, Option<i32>)> {
    spec.containers
        .iter()
        .flat_map(|c| &c.volume_config)
        .flat_map(|fs| {
            fs.files.iter().map(move |f| {
                let dir = fs.mount_path.trim_end_matches('/');
                (format!("{dir}/{}", f.path), f.content.clone(), f.mode)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: 3
containers:
  - name: prometheus
    imageDetails:
      imagePath: ubuntu/prometheus:latest
    ports:
      - {name: http, containerPort: 9090, protocol: TCP}
    envConfig:
      HASH: abc
      NS:
        field: {path: metadata.namespace, api-version: v1}
    volumeConfig:
      - name: config
        mountPath: /etc/prometheus
        files:
          - path: prometheus.yml
            mode: 0644
            content: |
              global: {}
    kubernetes:
      readinessProbe:
        httpGet: {path: /-/ready, port: 9090}
serviceAccount:
  roles:
    - global: true
      rules:
        - apiGroups: ['']
          resources: [pods]
          verbs: [get]
";

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_full_spec_and_lists_its_files() {
        let spec = parse(GOOD).unwrap();
        let files = mounted_files(&spec);
        assert_eq!(
            files,
            vec![(
                "/etc/prometheus/prometheus.yml".to_string(),
                "global: {}\n".to_string(),
                Some(420)
            )]
        );
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth() {
        assert_eq!(
            err(&GOOD.replace("imagePath:", "imagePth:")),
            "json: unknown field \"imagePth\""
        );
        assert_eq!(
            err(&GOOD.replace("httpGet:", "httpGot:")),
            "json: unknown field \"httpGot\""
        );
        assert_eq!(
            err(&format!("{GOOD}bogus: 1\n")),
            "json: unknown field \"bogus\""
        );
    }

    #[test]
    fn version_selects_the_parser() {
        assert_eq!(
            err(&GOOD.replace("version: 3", "version: 4")),
            "latest supported version 3, but got podspec version 4"
        );
    }

    #[test]
    fn older_formats_are_refused_in_juju_sims_own_name() {
        let legacy = "juju-sim simulates pod spec version 3 only, not the legacy format (a spec without `version`, or version 0)";
        assert_eq!(err(&GOOD.replace("version: 3\n", "")), legacy);
        assert_eq!(err(&GOOD.replace("version: 3", "version: 0")), legacy);
        assert_eq!(err("\n"), legacy);
        assert_eq!(err("{}"), legacy);
        assert_eq!(
            err(&GOOD.replace("version: 3", "version: 2")),
            "juju-sim simulates pod spec version 3 only, not version 2"
        );
    }

    #[test]
    fn container_names_may_repeat_as_juju_validates() {
        let text =
            "version: 3\ncontainers:\n- {name: c, image: img/one}\n- {name: c, image: img/two}\n";
        assert_eq!(parse(text).unwrap().containers.len(), 2);
    }

    #[test]
    fn validation_messages_are_jujus() {
        assert_eq!(
            err("version: 3\ncontainers: []\n"),
            "require at least one container spec"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- imageDetails: {imagePath: x}\n"),
            "spec name is missing"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n"),
            "spec image details is missing"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\n  volumeConfig:\n  - name: v\n    mountPath: /a\n"),
            "file set \"v\" requires volume source"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\n  volumeConfig:\n  - name: v\n    mountPath: /a\n    emptyDir: {}\n    hostPath: {path: /x}\n"),
            "file set \"v\" can only have one volume source"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\n  volumeConfig:\n  - name: v\n    mountPath: /a\n    files:\n    - path: f\n"),
            "Content is missing for \"v\""
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\n  volumeConfig:\n  - {name: v, mountPath: /a, emptyDir: {}}\n  - {name: w, mountPath: /a, emptyDir: {}}\n"),
            "duplicated mount path \"/a\" in container \"c\" not valid"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\nserviceAccount: {roles: []}\n"),
            "invalid primary service account: roles is required"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\nservice: {scalePolicy: x}\n"),
            "scale policy \"x\" not supported"
        );
        assert_eq!(
            err("version: 3\ncontainers:\n- name: c\n  image: x\n  envConfig:\n    A: {field: {path: p}, secret: {name: s}}\n"),
            "config format of \"A\" not supported"
        );
    }

    #[test]
    fn kubernetes_resources_twice_is_a_duplicate_key() {
        let text =
            format!("{GOOD}kubernetesResources:\n  pod: {{}}\nkubernetesResources:\n  pod: {{}}\n");
        assert!(
            err(&text).contains("key \"kubernetesResources\" already set in map"),
            "{}",
            err(&text)
        );
    }

    #[test]
    fn configmaps_match_case_insensitively() {
        let text = format!("{GOOD}configMaps:\n  extra: {{a: b}}\n");
        assert_eq!(parse(&text).unwrap().config_maps["extra"]["a"], "b");
    }
}
