//! The part of the StatefulSet's pod template that Juju 2.9 derives from a v3 pod spec
//! and writes again on every new spec (caas/kubernetes/provider: `ensureService` in
//! k8s.go, `configureStatefulSet`/`ensureStatefulSet` in statefulsets.go, `fileSetToVolume`
//! in volume.go).
//!
//! Since 2.9.30 `ensureStatefulSet` copies exactly these fields into an existing
//! StatefulSet: the template's annotations, containers, volumes, `serviceAccountName` and
//! `automountServiceAccountToken`. Kubernetes rolls every pod when any of them differs.
//! Init containers are set when the StatefulSet is created and, in 2.9, never updated
//! (3.x copies them too): [`PodTemplate::updated`] keeps the old ones. Everything else of the
//! pod (labels, `imagePullSecrets`, `kubernetesResources.pod`'s security context, DNS
//! policy, ...) is never updated either, so it is left out here. So are the parts that do
//! not depend on the spec: Juju's own init container and the storage mounts.
//!
//! File *contents* are not in the template: they live in the file set's ConfigMap, which
//! the kubelet syncs into running pods without a restart. Only each file's key, path and
//! mode (the volume's `items`) are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::names;
use crate::podspec::k8s::{IntOrString, Probe, SecurityContext};
use crate::podspec::types::{ContainerSpec, FileRef, FileSet};
use crate::podspec::PodSpecV3;

/// The pod template annotation that carries the charm's modified version: Juju bumps it
/// on upgrade-charm so that the pods roll (k8s.go, "inspired from `kubectl rollout
/// restart`"). The key is `utils.AnnotationCharmModifiedVersionKey` for a 2.9 model.
pub(crate) const CHARM_MODIFIED_VERSION: &str = "charm.juju.is/modified-version";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PodTemplate {
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "serviceAccountName")]
    pub service_account_name: String,
    #[serde(rename = "automountServiceAccountToken")]
    pub automount_service_account_token: Option<bool>,
    #[serde(rename = "initContainers")]
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Container {
    pub name: String,
    pub image: String,
    #[serde(rename = "imagePullPolicy")]
    pub image_pull_policy: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    #[serde(rename = "workingDir")]
    pub working_dir: String,
    pub ports: Vec<Port>,
    /// `envConfig` as given (Juju sorts it by name when it builds `env`).
    pub env: BTreeMap<String, Value>,
    #[serde(rename = "volumeMounts")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(rename = "livenessProbe")]
    pub liveness_probe: Option<Probe>,
    #[serde(rename = "readinessProbe")]
    pub readiness_probe: Option<Probe>,
    #[serde(rename = "startupProbe")]
    pub startup_probe: Option<Probe>,
    #[serde(rename = "securityContext")]
    pub security_context: Option<SecurityContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Port {
    pub name: String,
    #[serde(rename = "containerPort")]
    pub container_port: i32,
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct VolumeMount {
    pub name: String,
    #[serde(rename = "mountPath")]
    pub mount_path: String,
}

/// `core.KeyToPath`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct KeyToPath {
    pub key: String,
    pub path: String,
    pub mode: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum VolumeSource {
    ConfigMap {
        name: String,
        items: Vec<KeyToPath>,
        #[serde(rename = "defaultMode")]
        default_mode: Option<i32>,
    },
    Secret {
        #[serde(rename = "secretName")]
        secret_name: String,
        items: Vec<KeyToPath>,
        #[serde(rename = "defaultMode")]
        default_mode: Option<i32>,
    },
    HostPath {
        path: String,
        #[serde(rename = "type")]
        kind: String,
    },
    EmptyDir {
        medium: String,
        #[serde(rename = "sizeLimit")]
        size_limit: Option<IntOrString>,
    },
}

/// The parts of a template a change can touch, in the words the roll is logged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part {
    Annotations,
    Containers,
    Volumes,
    ServiceAccount,
}

impl Part {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Part::Annotations => "annotations",
            Part::Containers => "containers",
            Part::Volumes => "volumes",
            Part::ServiceAccount => "serviceaccount",
        }
    }
}

impl PodTemplate {
    /// The template Juju builds for application `app` from `spec`.
    pub(crate) fn build(app: &str, spec: &PodSpecV3, charm_modified_version: u32) -> PodTemplate {
        let mut template = PodTemplate::default();
        if let Some(pod) = spec
            .kubernetes_resources
            .as_ref()
            .and_then(|r| r.pod.as_ref())
        {
            template.annotations.extend(pod.annotations.clone());
        }
        template.annotations.insert(
            CHARM_MODIFIED_VERSION.to_string(),
            charm_modified_version.to_string(),
        );
        if let Some(sa) = &spec.service_account {
            template.service_account_name = names::service_account(app);
            template.automount_service_account_token = sa.automount_service_account_token;
        }
        for c in &spec.containers {
            let mut container = container(c);
            for set in &c.volume_config {
                let volume = volume(app, set);
                container.volume_mounts.push(VolumeMount {
                    name: volume.name.clone(),
                    mount_path: set.mount_path.clone(),
                });
                // As `PushUniqueVolume`: a volume shared by two containers is listed once
                // (the spec's validation has made sure such volumes are the same).
                if !template.volumes.iter().any(|v| v.name == volume.name) {
                    template.volumes.push(volume);
                }
            }
            if c.init {
                template.init_containers.push(container);
            } else {
                template.containers.push(container);
            }
        }
        template
    }

    /// What an existing StatefulSet holds after Juju 2.9 updates it to `self`: the
    /// fields `ensureStatefulSet` copies, the old init containers.
    pub(crate) fn updated(mut self, old: &PodTemplate) -> PodTemplate {
        self.init_containers = old.init_containers.clone();
        // Juju clears `serviceAccountName` when the spec drops its service account, but the
        // object it read back still has the deprecated `serviceAccount` field, which the
        // API server's v1 conversion takes when `serviceAccountName` is empty: the pods
        // keep the old account (and the template does not change on that count).
        if self.service_account_name.is_empty() {
            self.service_account_name = old.service_account_name.clone();
        }
        self
    }

    /// Which parts differ from `other`, in a stable order.
    pub(crate) fn changes_from(&self, other: &PodTemplate) -> Vec<Part> {
        let mut parts = Vec::new();
        if self.annotations != other.annotations {
            parts.push(Part::Annotations);
        }
        if self.containers != other.containers || self.init_containers != other.init_containers {
            parts.push(Part::Containers);
        }
        if self.volumes != other.volumes {
            parts.push(Part::Volumes);
        }
        if self.service_account_name != other.service_account_name
            || self.automount_service_account_token != other.automount_service_account_token
        {
            parts.push(Part::ServiceAccount);
        }
        parts
    }
}

fn container(c: &ContainerSpec) -> Container {
    let image = if c.image_details.image_path.is_empty() {
        c.image.clone()
    } else {
        c.image_details.image_path.clone()
    };
    let k8s = c.kubernetes.as_ref();
    Container {
        name: c.name.clone(),
        image,
        image_pull_policy: c.image_pull_policy.clone(),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        ports: c
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                container_port: p.container_port,
                protocol: p.protocol.clone(),
            })
            .collect(),
        env: c.env_config.clone(),
        volume_mounts: Vec::new(),
        liveness_probe: k8s.and_then(|k| k.liveness_probe.clone()),
        readiness_probe: k8s.and_then(|k| k.readiness_probe.clone()),
        startup_probe: k8s.and_then(|k| k.startup_probe.clone()),
        security_context: k8s.and_then(|k| k.security_context.clone()),
    }
}

fn items(files: &[FileRef]) -> Vec<KeyToPath> {
    files
        .iter()
        .map(|f| KeyToPath {
            key: f.key.clone(),
            path: f.path.clone(),
            mode: f.mode,
        })
        .collect()
}

/// `fileSetToVolume`: inline files become a ConfigMap of the application's own, with one
/// item per file whose key is the file's path; the other sources keep the file set's name.
fn volume(app: &str, set: &FileSet) -> Volume {
    if !set.files.is_empty() {
        let name = names::file_set_volume(app, &set.name);
        return Volume {
            name: name.clone(),
            source: VolumeSource::ConfigMap {
                name,
                items: set
                    .files
                    .iter()
                    .map(|f| KeyToPath {
                        key: f.path.clone(),
                        path: f.path.clone(),
                        mode: f.mode,
                    })
                    .collect(),
                default_mode: None,
            },
        };
    }
    let source = if let Some(h) = &set.host_path {
        VolumeSource::HostPath {
            path: h.path.clone(),
            kind: h.kind.clone(),
        }
    } else if let Some(e) = &set.empty_dir {
        VolumeSource::EmptyDir {
            medium: e.medium.clone(),
            size_limit: e.size_limit.clone(),
        }
    } else if let Some(r) = &set.config_map {
        VolumeSource::ConfigMap {
            name: r.name.clone(),
            items: items(&r.files),
            default_mode: r.default_mode,
        }
    } else if let Some(r) = &set.secret {
        VolumeSource::Secret {
            secret_name: r.name.clone(),
            items: items(&r.files),
            default_mode: r.default_mode,
        }
    } else {
        // Validation refuses a file set without a source; an empty dir is harmless.
        VolumeSource::EmptyDir {
            medium: String::new(),
            size_limit: None,
        }
    };
    Volume {
        name: set.name.clone(),
        source,
    }
}

/// The inline files of every file set, per ConfigMap name: what Juju writes into the
/// ConfigMaps, which pods see without a roll.
pub(crate) fn config_map_data(
    app: &str,
    spec: &PodSpecV3,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for set in spec.containers.iter().flat_map(|c| &c.volume_config) {
        if set.files.is_empty() {
            continue;
        }
        let data = out
            .entry(names::file_set_volume(app, &set.name))
            .or_default();
        for f in &set.files {
            data.insert(f.path.clone(), f.content.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podspec;

    const SPEC: &str = "version: 3
containers:
  - name: demo
    imageDetails: {imagePath: demo/image:1}
    args: [--a]
    ports: [{name: http, containerPort: 9090, protocol: TCP}]
    volumeConfig:
      - name: config
        mountPath: /etc/demo
        files:
          - {path: demo.yml, mode: 0600, content: one}
";

    fn build(text: &str) -> PodTemplate {
        PodTemplate::build("demo", &podspec::parse(text).unwrap(), 0)
    }

    #[test]
    fn file_sets_become_config_map_volumes_with_one_item_per_file() {
        let t = build(SPEC);
        assert_eq!(t.volumes.len(), 1);
        assert_eq!(t.volumes[0].name, "demo-config-config");
        assert_eq!(
            t.volumes[0].source,
            VolumeSource::ConfigMap {
                name: "demo-config-config".into(),
                items: vec![KeyToPath {
                    key: "demo.yml".into(),
                    path: "demo.yml".into(),
                    mode: Some(0o600)
                }],
                default_mode: None,
            }
        );
        assert_eq!(t.containers[0].volume_mounts[0].mount_path, "/etc/demo");
        assert_eq!(t.annotations[CHARM_MODIFIED_VERSION], "0");
        assert_eq!(t.service_account_name, "");
    }

    #[test]
    fn contents_do_not_change_the_template_but_names_modes_and_args_do() {
        let t = build(SPEC);
        assert!(build(&SPEC.replace("content: one", "content: two"))
            .changes_from(&t)
            .is_empty());
        assert_eq!(
            build(&SPEC.replace("demo.yml", "other.yml")).changes_from(&t),
            vec![Part::Volumes]
        );
        assert_eq!(
            build(&SPEC.replace("0600", "0644")).changes_from(&t),
            vec![Part::Volumes]
        );
        assert_eq!(
            build(&SPEC.replace("[--a]", "[--b]")).changes_from(&t),
            vec![Part::Containers]
        );
        let upgraded = PodTemplate::build("demo", &podspec::parse(SPEC).unwrap(), 1);
        assert_eq!(upgraded.changes_from(&t), vec![Part::Annotations]);
    }

    #[test]
    fn adding_a_service_account_rolls_but_dropping_it_keeps_the_old_one() {
        let plain = build(SPEC);
        let with_sa = build(&format!(
            "{SPEC}serviceAccount:\n  roles: [{{global: true, rules: [{{apiGroups: [''], resources: [pods], verbs: [get]}}]}}]\n"
        ))
        .updated(&plain);
        assert_eq!(with_sa.changes_from(&plain), vec![Part::ServiceAccount]);
        let dropped = build(SPEC).updated(&with_sa);
        assert!(dropped.changes_from(&with_sa).is_empty());
        assert_eq!(dropped.service_account_name, "demo");
    }

    #[test]
    fn init_containers_of_an_existing_statefulset_are_not_updated() {
        let with_init = |arg: &str| {
            build(&SPEC.replace(
                "containers:\n",
                &format!(
                    "containers:\n  - {{name: setup, init: true, image: busybox, args: [{arg}]}}\n"
                ),
            ))
        };
        let old = with_init("one");
        let new = with_init("two").updated(&old);
        assert!(new.changes_from(&old).is_empty());
        assert_eq!(new.init_containers[0].args, vec!["one"]);
    }

    #[test]
    fn the_template_survives_a_round_trip_through_the_model_file() {
        let t = build(&format!(
            "{SPEC}    kubernetes:\n      readinessProbe:\n        httpGet: {{path: /-/ready, port: http}}\nserviceAccount:\n  roles: [{{global: true, rules: [{{apiGroups: [''], resources: [pods], verbs: [get]}}]}}]\n"
        ));
        let text = serde_json::to_string(&t).unwrap();
        let back: PodTemplate = serde_json::from_str(&text).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.service_account_name, names::service_account("demo"));
    }
}
