//! Pod spec version 3 as Juju 2.9 decodes it (caas/specs, caas/kubernetes/provider/specs),
//! with Go's JSON field names. Go's inline structs are flattened here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::k8s::{IntOrString, PodSpec, Probe, SecurityContext};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct PodSpecV3 {
    pub version: i32,
    #[serde(rename = "omitServiceFrontend")]
    pub omit_service_frontend: bool,
    pub service: Option<ServiceSpec>,
    /// Go's tag is `configmaps`; `configMaps` matches it case-insensitively.
    #[serde(rename = "configmaps")]
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(rename = "serviceAccount")]
    pub service_account: Option<ServiceAccountSpec>,
    #[serde(rename = "kubernetesResources")]
    pub kubernetes_resources: Option<KubernetesResources>,
    pub containers: Vec<ContainerSpec>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ServiceSpec {
    #[serde(rename = "scalePolicy")]
    pub scale_policy: String,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "updateStrategy")]
    pub update_strategy: Option<UpdateStrategy>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct UpdateStrategy {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "rollingUpdate")]
    pub rolling_update: Option<RollingUpdate>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RollingUpdate {
    pub partition: Option<i32>,
    #[serde(rename = "maxUnavailable")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(rename = "maxSurge")]
    pub max_surge: Option<IntOrString>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct PolicyRule {
    pub verbs: Vec<String>,
    #[serde(rename = "apiGroups")]
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    #[serde(rename = "resourceNames")]
    pub resource_names: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    pub name: String,
    pub global: bool,
    pub rules: Vec<PolicyRule>,
}

/// `ServiceAccountSpecV3`: the workload pod's own account.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ServiceAccountSpec {
    #[serde(rename = "automountServiceAccountToken")]
    pub automount_service_account_token: Option<bool>,
    pub roles: Vec<Role>,
}

/// `K8sServiceAccountSpec`: `name` plus the inline `ServiceAccountSpecV3`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NamedServiceAccountSpec {
    pub name: String,
    #[serde(rename = "automountServiceAccountToken")]
    pub automount_service_account_token: Option<bool>,
    pub roles: Vec<Role>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct KubernetesResources {
    pub pod: Option<PodSpec>,
    pub secrets: Vec<Secret>,
    pub services: Vec<NamedObject>,
    #[serde(rename = "customResourceDefinitions")]
    pub custom_resource_definitions: Vec<NamedObject>,
    #[serde(rename = "customResources")]
    pub custom_resources: BTreeMap<String, Vec<Value>>,
    #[serde(rename = "mutatingWebhookConfigurations")]
    pub mutating_webhook_configurations: Vec<WebhookConfiguration>,
    #[serde(rename = "validatingWebhookConfigurations")]
    pub validating_webhook_configurations: Vec<WebhookConfiguration>,
    #[serde(rename = "serviceAccounts")]
    pub service_accounts: Vec<NamedServiceAccountSpec>,
    #[serde(rename = "ingressResources")]
    pub ingress_resources: Vec<NamedObject>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Secret {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: BTreeMap<String, String>,
    #[serde(rename = "stringData")]
    pub string_data: BTreeMap<String, String>,
}

/// CRDs, extra services and ingresses: Juju metadata around a Kubernetes `spec`, which
/// the simulator keeps as free JSON.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NamedObject {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub spec: Value,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct WebhookConfiguration {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub webhooks: Vec<Value>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct ImageDetails {
    #[serde(rename = "imagePath")]
    pub image_path: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct ContainerPort {
    pub name: String,
    #[serde(rename = "containerPort")]
    pub container_port: i32,
    pub protocol: String,
}

/// `k8sContainer`: `specs.ContainerSpec` inline plus `kubernetes`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerSpec {
    pub name: String,
    pub init: bool,
    pub image: String,
    #[serde(rename = "imageDetails")]
    pub image_details: ImageDetails,
    pub ports: Vec<ContainerPort>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    #[serde(rename = "workingDir")]
    pub working_dir: String,
    #[serde(rename = "envConfig")]
    pub env_config: BTreeMap<String, Value>,
    #[serde(rename = "volumeConfig")]
    pub volume_config: Vec<FileSet>,
    #[serde(rename = "imagePullPolicy")]
    pub image_pull_policy: String,
    pub kubernetes: Option<K8sContainerSpec>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct K8sContainerSpec {
    #[serde(rename = "livenessProbe")]
    pub liveness_probe: Option<Probe>,
    #[serde(rename = "readinessProbe")]
    pub readiness_probe: Option<Probe>,
    #[serde(rename = "startupProbe")]
    pub startup_probe: Option<Probe>,
    #[serde(rename = "securityContext")]
    pub security_context: Option<SecurityContext>,
}

/// `FileSet` with its inline `VolumeSource`.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct FileSet {
    pub name: String,
    #[serde(rename = "mountPath")]
    pub mount_path: String,
    pub files: Vec<File>,
    #[serde(rename = "hostPath")]
    pub host_path: Option<HostPathVol>,
    #[serde(rename = "emptyDir")]
    pub empty_dir: Option<EmptyDirVol>,
    #[serde(rename = "configMap")]
    pub config_map: Option<ResourceRefVol>,
    pub secret: Option<ResourceRefVol>,
}

impl FileSet {
    /// Two file sets make the same volume when all but the mount path agree.
    pub(crate) fn same_volume(&self, other: &FileSet) -> bool {
        self.name == other.name
            && self.files == other.files
            && self.host_path == other.host_path
            && self.empty_dir == other.empty_dir
            && self.config_map == other.config_map
            && self.secret == other.secret
    }
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct File {
    pub path: String,
    pub content: String,
    pub mode: Option<i32>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct FileRef {
    pub key: String,
    pub path: String,
    pub mode: Option<i32>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct HostPathVol {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct EmptyDirVol {
    pub medium: String,
    #[serde(rename = "sizeLimit")]
    pub size_limit: Option<IntOrString>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct ResourceRefVol {
    pub name: String,
    pub files: Vec<FileRef>,
    #[serde(rename = "defaultMode")]
    pub default_mode: Option<i32>,
}
