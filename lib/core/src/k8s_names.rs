//! The Kubernetes names Juju derives from the application name and our pod spec when it
//! applies the spec (Juju 2.9 `caas/kubernetes/provider`), and the limits Kubernetes puts on
//! them. Kubernetes refuses a name only when Juju applies the spec, after the hook that set
//! it has succeeded: the application goes into error with no word to the operator about
//! why. So the charm checks them first and blocks, saying which name to deploy under.
//!
//! Juju itself sets no limit on application names (`juju/names`: lowercase letters, digits
//! and single hyphens); its operator StatefulSet `<app>-operator` already stops working past
//! 43 characters, before any hook of ours runs.

use crate::pod_spec::PodSpec;

/// DNS-1123/DNS-1035 labels: pod volume names, Service names, label values.
const LABEL: usize = 63;
/// Kubernetes labels each pod of a StatefulSet `controller-revision-hash: <name>-<hash>`
/// (a 10-character hash), a label value: so the StatefulSet's name may take 52.
const STATEFULSET: usize = LABEL - 11;
/// IANA service names: container port names.
const PORT_NAME: usize = 15;

/// One name Juju will create, and how long Kubernetes lets it be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedName {
    pub what: String,
    pub name: String,
    pub limit: usize,
}

/// Every name derived from `app` and the spec that Kubernetes limits in length.
pub fn derived(app: &str, spec: &PodSpec) -> Vec<DerivedName> {
    let name = |what: String, name: String, limit| DerivedName { what, name, limit };
    let mut names = vec![
        name("StatefulSet".into(), app.to_string(), STATEFULSET),
        name("Service".into(), app.to_string(), LABEL),
        name("headless Service".into(), format!("{app}-endpoints"), LABEL),
    ];
    for container in &spec.containers {
        for set in &container.volume_config {
            names.push(name(
                "pod volume".into(),
                format!("{app}-{}-config", set.name),
                LABEL,
            ));
        }
        for port in &container.ports {
            names.push(name("container port".into(), port.name.clone(), PORT_NAME));
        }
    }
    names
}

/// Why Kubernetes would refuse the spec for this application name, with the longest name
/// that would do; `None` when every derived name fits.
pub fn refusal(app: &str, spec: &PodSpec) -> Option<String> {
    let names = derived(app, spec);
    let over: Vec<&DerivedName> = names.iter().filter(|n| n.name.len() > n.limit).collect();
    let first = over.first()?;
    // Names that grow with the application name bound it; fixed ones (ports) cannot.
    let longest = names
        .iter()
        .filter(|n| n.name.contains(app))
        .map(|n| n.limit.saturating_sub(n.name.len() - app.len()))
        .min()
        .unwrap_or(STATEFULSET);
    Some(format!(
        "application name {app:?} is too long for Kubernetes: {} {:?} would take {} \
         characters, over its {} (redeploy under a name of at most {longest} characters)",
        first.what,
        first.name,
        first.name.len(),
        first.limit
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_config as config;
    use crate::image::ImageDetails;
    use crate::pod_spec::{build, ConfigFiles, PodSpecInput};

    fn spec() -> PodSpec {
        build(PodSpecInput {
            config: &config(&[("monitor-k8s", serde_json::json!(true))]),
            image: &ImageDetails {
                image_path: "ubuntu/prometheus:latest".into(),
                username: None,
                password: None,
            },
            files: &ConfigFiles::default(),
            remote_write_receiver: false,
        })
    }

    fn app(len: usize) -> String {
        let mut name = "p".repeat(len);
        name.replace_range(len / 2..len / 2 + 1, "-");
        name
    }

    #[test]
    fn every_derived_name_fits_up_to_the_longest_allowed_application_name() {
        let spec = spec();
        let longest = (1..=80)
            .take_while(|&n| refusal(&app(n), &spec).is_none())
            .last();
        assert_eq!(longest, Some(49), "`<app>-config-config` bounds it");
        for n in [1, 20, 43, 49] {
            assert_eq!(refusal(&app(n), &spec), None, "{n}");
            for d in derived(&app(n), &spec) {
                assert!(d.name.len() <= d.limit, "{d:?}");
            }
        }
    }

    #[test]
    fn a_long_name_is_refused_naming_the_name_and_what_to_do() {
        let name = app(60);
        let message = refusal(&name, &spec()).unwrap();
        assert!(
            message.starts_with(&format!(
                "application name {name:?} is too long for Kubernetes: StatefulSet"
            )),
            "{message}"
        );
        assert!(
            message.ends_with("(redeploy under a name of at most 49 characters)"),
            "{message}"
        );
    }
}
