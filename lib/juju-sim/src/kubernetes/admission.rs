//! What the API server admits when the controller applies a spec: every object Juju would
//! create or update, in the order of `ensureService` (caas/kubernetes/provider/k8s.go), its
//! names checked against Kubernetes' limits ([`super::names`]). [`check`] stops at the first
//! object refused, with the error Juju reports.

use super::names::*;
use super::template::PodTemplate;
use crate::podspec::PodSpecV3;

/// Collects the field errors of one object.
struct Object {
    kind: &'static str,
    name: String,
    errors: Vec<FieldError>,
}

impl Object {
    fn new(kind: &'static str, name: &str) -> Object {
        Object {
            kind,
            name: name.to_string(),
            errors: Vec::new(),
        }
    }

    fn field(mut self, field: &str, value: &str, check: fn(&str) -> Vec<String>) -> Object {
        for detail in check(value) {
            self.errors.push(FieldError::Invalid {
                field: field.to_string(),
                value: value.to_string(),
                detail,
            });
        }
        self
    }

    fn name_is(self, check: fn(&str) -> Vec<String>) -> Object {
        let name = self.name.clone();
        self.field("metadata.name", &name, check)
    }

    fn result(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                kind: self.kind,
                name: self.name,
                errors: self.errors,
            })
        }
    }
}

/// What the controller applies, as far as names and sizes go.
pub(crate) struct Apply<'a> {
    pub app: &'a str,
    /// The model's namespace (the model name).
    pub namespace: &'a str,
    pub spec: &'a PodSpecV3,
    pub template: &'a PodTemplate,
    /// Whether the StatefulSet exists already (an update rather than a create).
    pub existing: bool,
}

/// Walks the objects in `ensureService`'s order; the first one refused ends the apply.
pub(crate) fn check(a: &Apply) -> Result<(), ApplyError> {
    for name in a.spec.config_maps.keys() {
        Object::new("ConfigMap", name)
            .name_is(dns1123_subdomain)
            .result()
            .map_err(ApplyError::ConfigMaps)?;
    }
    check_service_accounts(a).map_err(ApplyError::ServiceAccount)?;
    check_services(a)?;
    for (name, data) in super::template::config_map_data(a.app, a.spec) {
        let mut cm = Object::new("ConfigMap", &name).name_is(dns1123_subdomain);
        for key in data.keys() {
            cm = cm.field(&format!("data[{key}]"), key, config_map_key);
        }
        let bytes: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > CONFIG_MAP_MAX_BYTES {
            cm.errors.push(FieldError::TooLong {
                field: "[]".into(),
                max: CONFIG_MAP_MAX_BYTES,
            });
        }
        cm.result().map_err(|source| ApplyError::FileSetConfigMap {
            name: name.clone(),
            source,
        })?;
    }
    check_statefulset(a).map_err(|source| ApplyError::StatefulSet {
        name: statefulset(a.app),
        existing: a.existing,
        source,
    })
}

fn check_service_accounts(a: &Apply) -> Result<(), Invalid> {
    let mut accounts: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    if let Some(sa) = &a.spec.service_account {
        let roles = sa
            .roles
            .iter()
            .map(|r| (r.name.clone(), r.global))
            .collect();
        accounts.push((service_account(a.app), roles));
    }
    if let Some(r) = &a.spec.kubernetes_resources {
        for sa in &r.service_accounts {
            let roles = sa
                .roles
                .iter()
                .map(|r| (r.name.clone(), r.global))
                .collect();
            accounts.push((sa.name.clone(), roles));
        }
    }
    for (account, roles) in accounts {
        Object::new("ServiceAccount", &account)
            .name_is(dns1123_subdomain)
            .result()?;
        for (index, (role_name, global)) in roles.iter().enumerate() {
            let role = role(a.namespace, role_name, &account, index, *global);
            let (kind, binding_kind) = if *global {
                (
                    "ClusterRole.rbac.authorization.k8s.io",
                    "ClusterRoleBinding.rbac.authorization.k8s.io",
                )
            } else {
                (
                    "Role.rbac.authorization.k8s.io",
                    "RoleBinding.rbac.authorization.k8s.io",
                )
            };
            Object::new(kind, &role).name_is(path_segment).result()?;
            Object::new(binding_kind, &binding(&account, &role))
                .name_is(path_segment)
                .result()?;
        }
    }
    Ok(())
}

fn check_services(a: &Apply) -> Result<(), ApplyError> {
    if a.spec.omit_service_frontend {
        return Ok(());
    }
    let ports: Vec<&str> = a
        .template
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter(|p| p.container_port != 0)
        .map(|p| p.name.as_str())
        .collect();
    if ports.is_empty() {
        return Err(ApplyError::NoPorts(a.app.to_string()));
    }
    let mut svc = Object::new("Service", &service(a.app)).name_is(dns1035_label);
    for (i, name) in ports.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
        svc = svc.field(&format!("spec.ports[{i}].name"), name, dns1123_label);
    }
    svc.result().map_err(|source| ApplyError::Service {
        app: a.app.to_string(),
        source,
    })?;
    Object::new("Service", &headless_service(a.app))
        .name_is(dns1035_label)
        .result()
        .map_err(ApplyError::HeadlessService)
}

fn check_statefulset(a: &Apply) -> Result<(), Invalid> {
    let t = a.template;
    let mut sts = Object::new("StatefulSet.apps", &statefulset(a.app)).name_is(dns1123_subdomain);
    for (i, v) in t.volumes.iter().enumerate() {
        sts = sts.field(
            &format!("spec.template.spec.volumes[{i}].name"),
            &v.name,
            dns1123_label,
        );
    }
    for (list, containers) in [
        ("initContainers", &t.init_containers),
        ("containers", &t.containers),
    ] {
        for (i, c) in containers.iter().enumerate() {
            let at = format!("spec.template.spec.{list}[{i}]");
            sts = sts.field(&format!("{at}.name"), &c.name, dns1123_label);
            for (j, p) in c
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.name.is_empty())
            {
                sts = sts.field(&format!("{at}.ports[{j}].name"), &p.name, port_name);
            }
        }
    }
    if !t.service_account_name.is_empty() {
        sts = sts.field(
            "spec.template.spec.serviceAccountName",
            &t.service_account_name,
            dns1123_subdomain,
        );
    }
    sts.result()
}
