//! Every Kubernetes name Juju 2.9 derives for a pod-spec application, and the limits the
//! API server holds them to. Juju checks none of them at `pod-spec-set`: a name that does
//! not fit only fails when the controller applies the spec, object by object, in the order
//! of `ensureService` (caas/kubernetes/provider/k8s.go); `admission::check` walks that
//! order with these names and limits.

use std::fmt;

use thiserror::Error;

/// `validation.DNS1123LabelMaxLength`, also the DNS-1035 label limit.
pub(crate) const LABEL_MAX: usize = 63;
/// `validation.DNS1123SubdomainMaxLength`.
pub(crate) const SUBDOMAIN_MAX: usize = 253;
/// `IsValidPortName`: an IANA service name.
pub(crate) const PORT_NAME_MAX: usize = 15;
/// `core.MaxSecretSize`, which ConfigMaps share.
pub(crate) const CONFIG_MAP_MAX_BYTES: usize = 1024 * 1024;

/// The Service in front of the pods (`deploymentName`, the application's name in a 2.9 model).
pub(crate) fn service(app: &str) -> String {
    app.to_string()
}

/// The headless Service of a StatefulSet (`headlessServiceName`).
pub(crate) fn headless_service(app: &str) -> String {
    format!("{app}-endpoints")
}

pub(crate) fn statefulset(app: &str) -> String {
    app.to_string()
}

/// `applicationConfigMapName`: the ConfigMap of a file set, and the pod volume of the
/// same name that mounts it.
pub(crate) fn file_set_volume(app: &str, file_set: &str) -> String {
    format!("{app}-{file_set}-config")
}

/// The pod spec's primary service account (`serviceAccount:`) takes the application's name.
pub(crate) fn service_account(app: &str) -> String {
    app.to_string()
}

/// `getRoleClusterRoleName` (rbac.go): a role's own name, else the service account's with
/// its index from the second role on; a global role (ClusterRole) is prefixed with the
/// namespace.
pub(crate) fn role(
    namespace: &str,
    role_name: &str,
    account: &str,
    index: usize,
    global: bool,
) -> String {
    let name = if !role_name.is_empty() {
        role_name.to_string()
    } else if index == 0 {
        account.to_string()
    } else {
        format!("{account}{index}")
    };
    if global {
        format!("{namespace}-{name}")
    } else {
        name
    }
}

/// `getBindingName` (rbac.go).
pub(crate) fn binding(account: &str, role: &str) -> String {
    if account == role {
        account.to_string()
    } else {
        format!("{account}-{role}")
    }
}

/// One `field.Error` of the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldError {
    Invalid {
        field: String,
        value: String,
        detail: String,
    },
    TooLong {
        field: String,
        max: usize,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FieldError::Invalid {
                field,
                value,
                detail,
            } => write!(f, "{field}: Invalid value: {value:?}: {detail}"),
            FieldError::TooLong { field, max } => {
                write!(f, "{field}: Too long: must have at most {max} bytes")
            }
        }
    }
}

/// The API server's `StatusError` for an invalid object (`errors.NewInvalid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Kind and group, as Kubernetes prints them: `Service`, `StatefulSet.apps`, ...
    pub kind: &'static str,
    pub name: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {:?} is invalid: ", self.kind, self.name)?;
        // `ToAggregate`: one error as itself, several in brackets.
        match self.errors.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                let parts: Vec<String> = all.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// Why the controller could not apply a spec, in Juju's words (the operator status).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum ApplyError {
    #[error("creating or updating configmaps: {0}")]
    ConfigMaps(Invalid),
    #[error("creating or updating service account: {0}")]
    ServiceAccount(Invalid),
    #[error("ports are required for kubernetes service {0:?}")]
    NoPorts(String),
    #[error("creating or updating service for {app}: {source}")]
    Service { app: String, source: Invalid },
    #[error("creating or updating headless service: {0}")]
    HeadlessService(Invalid),
    #[error("creating or updating StatefulSet: creating or updating ConfigMap for file set {name}: {source}")]
    FileSetConfigMap { name: String, source: Invalid },
    /// `createStatefulSet`/`updateStatefulSet` replace an Invalid error from the API server
    /// with `errors.NotValidf("stateful set %q")`: the operator status does not carry
    /// Kubernetes' reason, which [`ApplyError::kubernetes`] still gives.
    #[error("creating or updating StatefulSet: {}stateful set {name:?} not valid", if *.existing { String::new() } else { format!("ensuring stateful set {name:?}: ") })]
    StatefulSet {
        name: String,
        existing: bool,
        source: Invalid,
    },
}

impl ApplyError {
    /// What the API server said, when it refused an object.
    pub(crate) fn kubernetes(&self) -> Option<&Invalid> {
        match self {
            ApplyError::ConfigMaps(i)
            | ApplyError::ServiceAccount(i)
            | ApplyError::HeadlessService(i)
            | ApplyError::Service { source: i, .. }
            | ApplyError::FileSetConfigMap { source: i, .. }
            | ApplyError::StatefulSet { source: i, .. } => Some(i),
            ApplyError::NoPorts(_) => None,
        }
    }
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn label_shape(s: &str) -> bool {
    s.starts_with(is_lower_alnum)
        && s.ends_with(is_lower_alnum)
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONFIG_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// `validation.IsDNS1123Label`.
pub(crate) fn dns1123_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > LABEL_MAX {
        out.push(too_long(LABEL_MAX));
    }
    if !label_shape(s) {
        out.push(DNS1123_LABEL.to_string());
    }
    out
}

/// `validation.IsDNS1035Label` (Service names).
pub(crate) fn dns1035_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > LABEL_MAX {
        out.push(too_long(LABEL_MAX));
    }
    if !(label_shape(s) && s.starts_with(|c: char| c.is_ascii_lowercase())) {
        out.push(DNS1035_LABEL.to_string());
    }
    out
}

/// `validation.IsDNS1123Subdomain`.
pub(crate) fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        out.push(too_long(SUBDOMAIN_MAX));
    }
    if !s.split('.').all(label_shape) {
        out.push(DNS1123_SUBDOMAIN.to_string());
    }
    out
}

/// `validation.IsValidPortName` (IANA_SVC_NAME).
pub(crate) fn port_name(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > PORT_NAME_MAX {
        out.push(too_long(PORT_NAME_MAX));
    }
    if !s.chars().all(|c| is_lower_alnum(c) || c == '-') {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if s.contains("--") {
        out.push("must not contain consecutive hyphens".into());
    }
    if !s.chars().any(is_lower_alnum) {
        out.push("must contain at least one letter or number (a-z, 0-9)".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        out.push("must not begin or end with a hyphen".into());
    }
    out
}

/// `validation.IsConfigMapKey`.
pub(crate) fn config_map_key(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > SUBDOMAIN_MAX {
        out.push(too_long(SUBDOMAIN_MAX));
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        out.push(CONFIG_KEY.to_string());
    }
    if s == "." || s == ".." || s.starts_with("..") {
        out.push("must not be '.' or '..' or start with '..'".into());
    }
    out
}

/// `path.IsValidPathSegmentName` (RBAC object names).
pub(crate) fn path_segment(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut out = Vec::new();
    for bad in ["/", "%"] {
        if s.contains(bad) {
            out.push(format!("may not contain '{bad}'"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_kubernetes_own() {
        assert!(dns1123_label(&"a".repeat(63)).is_empty());
        assert_eq!(dns1123_label(&"a".repeat(64)), vec![too_long(63)]);
        assert_eq!(dns1123_label("A"), vec![DNS1123_LABEL.to_string()]);
        assert!(dns1035_label("abc-1").is_empty());
        assert_eq!(dns1035_label("1abc"), vec![DNS1035_LABEL.to_string()]);
        assert!(dns1123_subdomain("a.b-c").is_empty());
        assert_eq!(
            dns1123_subdomain("a..b"),
            vec![DNS1123_SUBDOMAIN.to_string()]
        );
        assert!(port_name("http").is_empty());
        assert_eq!(port_name("a-very-long-port-name"), vec![too_long(15)]);
        assert_eq!(
            port_name("a--b"),
            vec!["must not contain consecutive hyphens".to_string()]
        );
        assert!(config_map_key("prometheus.yml").is_empty());
        assert_eq!(
            config_map_key("rules/a.rules"),
            vec![CONFIG_KEY.to_string()]
        );
    }

    #[test]
    fn rbac_names_follow_juju() {
        assert_eq!(role("lma", "", "prometheus", 0, true), "lma-prometheus");
        assert_eq!(role("lma", "", "prometheus", 1, false), "prometheus1");
        assert_eq!(role("lma", "reader", "prometheus", 0, false), "reader");
        assert_eq!(binding("prometheus", "prometheus"), "prometheus");
        assert_eq!(
            binding("prometheus", "lma-prometheus"),
            "prometheus-lma-prometheus"
        );
    }

    #[test]
    fn errors_read_as_the_api_servers() {
        let one = Invalid {
            kind: "StatefulSet.apps",
            name: "x".into(),
            errors: vec![FieldError::Invalid {
                field: "spec.template.spec.volumes[0].name".into(),
                value: "v".into(),
                detail: too_long(63),
            }],
        };
        assert_eq!(
            one.to_string(),
            "StatefulSet.apps \"x\" is invalid: spec.template.spec.volumes[0].name: Invalid value: \"v\": must be no more than 63 characters"
        );
        let mut two = one.clone();
        two.errors.push(FieldError::TooLong {
            field: "[]".into(),
            max: 5,
        });
        assert!(two.to_string().ends_with(
            "is invalid: [spec.template.spec.volumes[0].name: Invalid value: \"v\": must be no more than 63 characters, []: Too long: must have at most 5 bytes]"
        ));
        let update = ApplyError::StatefulSet {
            name: "x".into(),
            existing: true,
            source: one.clone(),
        };
        assert_eq!(
            update.to_string(),
            "creating or updating StatefulSet: stateful set \"x\" not valid"
        );
        let create = ApplyError::StatefulSet {
            name: "x".into(),
            existing: false,
            source: one,
        };
        assert_eq!(
            create.to_string(),
            "creating or updating StatefulSet: ensuring stateful set \"x\": stateful set \"x\" not valid"
        );
    }
}
