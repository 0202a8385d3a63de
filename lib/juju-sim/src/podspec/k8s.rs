//! The Kubernetes core types a v3 pod spec may embed (probes, security contexts), with the
//! field names of k8s.io/api/core/v1, decoded as strictly as Juju decodes them.

use std::collections::BTreeMap;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `intstr.IntOrString`: a port number or a port name (also used for quantities).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IntOrString {
    Int(i64),
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => s.serialize_i64(*i),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("intstr.IntOrString")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i64::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IntOrString, E> {
                Ok(IntOrString::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Probe {
    pub exec: Option<ExecAction>,
    #[serde(rename = "httpGet")]
    pub http_get: Option<HttpGetAction>,
    #[serde(rename = "tcpSocket")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(rename = "initialDelaySeconds")]
    pub initial_delay_seconds: i32,
    #[serde(rename = "timeoutSeconds")]
    pub timeout_seconds: i32,
    #[serde(rename = "periodSeconds")]
    pub period_seconds: i32,
    #[serde(rename = "successThreshold")]
    pub success_threshold: i32,
    #[serde(rename = "failureThreshold")]
    pub failure_threshold: i32,
    #[serde(rename = "terminationGracePeriodSeconds")]
    pub termination_grace_period_seconds: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct ExecAction {
    pub command: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct HttpGetAction {
    pub path: String,
    pub port: IntOrString,
    pub host: String,
    pub scheme: String,
    #[serde(rename = "httpHeaders")]
    pub http_headers: Vec<HttpHeader>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct TcpSocketAction {
    pub port: IntOrString,
    pub host: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Capabilities {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct SeLinuxOptions {
    pub user: String,
    pub role: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub level: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct WindowsSecurityContextOptions {
    #[serde(rename = "gmsaCredentialSpecName")]
    pub gmsa_credential_spec_name: Option<String>,
    #[serde(rename = "gmsaCredentialSpec")]
    pub gmsa_credential_spec: Option<String>,
    #[serde(rename = "runAsUserName")]
    pub run_as_user_name: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct SeccompProfile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "localhostProfile")]
    pub localhost_profile: Option<String>,
}

/// `core.SecurityContext` (container level).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct SecurityContext {
    pub capabilities: Option<Capabilities>,
    pub privileged: Option<bool>,
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    #[serde(rename = "windowsOptions")]
    pub windows_options: Option<WindowsSecurityContextOptions>,
    #[serde(rename = "runAsUser")]
    pub run_as_user: Option<i64>,
    #[serde(rename = "runAsGroup")]
    pub run_as_group: Option<i64>,
    #[serde(rename = "runAsNonRoot")]
    pub run_as_non_root: Option<bool>,
    #[serde(rename = "readOnlyRootFilesystem")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(rename = "allowPrivilegeEscalation")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(rename = "procMount")]
    pub proc_mount: Option<String>,
    #[serde(rename = "seccompProfile")]
    pub seccomp_profile: Option<SeccompProfile>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Sysctl {
    pub name: String,
    pub value: String,
}

/// `core.PodSecurityContext`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct PodSecurityContext {
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    #[serde(rename = "windowsOptions")]
    pub windows_options: Option<WindowsSecurityContextOptions>,
    #[serde(rename = "runAsUser")]
    pub run_as_user: Option<i64>,
    #[serde(rename = "runAsGroup")]
    pub run_as_group: Option<i64>,
    #[serde(rename = "runAsNonRoot")]
    pub run_as_non_root: Option<bool>,
    #[serde(rename = "supplementalGroups")]
    pub supplemental_groups: Vec<i64>,
    #[serde(rename = "fsGroup")]
    pub fs_group: Option<i64>,
    pub sysctls: Vec<Sysctl>,
    #[serde(rename = "fsGroupChangePolicy")]
    pub fs_group_change_policy: Option<String>,
    #[serde(rename = "seccompProfile")]
    pub seccomp_profile: Option<SeccompProfile>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct PodReadinessGate {
    #[serde(rename = "conditionType")]
    pub condition_type: String,
}

/// Juju's subset of `core.PodSpec` under `kubernetesResources.pod` (2.9).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct PodSpec {
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "restartPolicy")]
    pub restart_policy: String,
    #[serde(rename = "activeDeadlineSeconds")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(rename = "terminationGracePeriodSeconds")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(rename = "securityContext")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(rename = "readinessGates")]
    pub readiness_gates: Vec<PodReadinessGate>,
    #[serde(rename = "dnsPolicy")]
    pub dns_policy: String,
    #[serde(rename = "hostNetwork")]
    pub host_network: bool,
    #[serde(rename = "hostPID")]
    pub host_pid: bool,
    #[serde(rename = "priorityClassName")]
    pub priority_class_name: String,
    pub priority: Option<i32>,
}
