//! `network-get`: a Kubernetes unit's pod address and its application's Service address.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{check_empty, parse_flags, with_output, Env, OutputOpts, ToolError, ToolResult};
use crate::flags::Flag;
use crate::format::Output;

/// `params.NetworkInfoResult`, fields in Go's order.
#[derive(Serialize)]
struct NetworkInfoResult {
    #[serde(rename = "bind-addresses")]
    bind_addresses: Vec<NetworkInfo>,
    /// `omitempty` in Juju's display struct, as both lists are.
    #[serde(rename = "egress-subnets", skip_serializing_if = "Vec::is_empty")]
    egress_subnets: Vec<String>,
    #[serde(rename = "ingress-addresses", skip_serializing_if = "Vec::is_empty")]
    ingress_addresses: Vec<String>,
}

#[derive(Serialize)]
struct NetworkInfo {
    #[serde(rename = "mac-address")]
    mac_address: String,
    #[serde(rename = "interface-name")]
    interface_name: String,
    addresses: Vec<InterfaceAddress>,
}

#[derive(Serialize)]
struct InterfaceAddress {
    hostname: String,
    value: String,
    cidr: String,
}

pub(super) fn network_get(env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let mut keys: Vec<&'static str> = Vec::new();
    let mut primary = false;
    let flags = with_output(&[
        Flag::boolean("primary-address", "primary-address"),
        Flag::boolean("bind-address", "bind-address"),
        Flag::boolean("ingress-address", "ingress-address"),
        Flag::boolean("egress-subnets", "egress-subnets"),
        Flag::value("r", "relation"),
        Flag::value("relation", "relation"),
    ]);
    let args = parse_flags(&flags, args, |k, v| {
        if let Some(r) = out.set(k, v) {
            return r;
        }
        match k {
            "relation" => {
                env.parse_relation(v)?;
            }
            "primary-address" => primary = v == "true",
            key => {
                keys.retain(|k| *k != key);
                if v == "true" {
                    keys.push(key);
                }
            }
        }
        Ok(())
    })?;
    let Some(binding) = args.first() else {
        return Err(ToolError::Init("no arguments specified".into()));
    };
    if binding.is_empty() {
        return Err(ToolError::Init("no binding name specified".into()));
    }
    check_empty(&args[1..])?;
    let app = env.model.app()?;
    let meta = &app.charm.metadata;
    if meta.endpoint(binding).is_none() && !meta.extra_bindings.contains(binding) {
        return Err(ToolError::Run(format!(
            "no network config found for binding {binding:?}"
        )));
    }
    // Juju's NetworkInfoCAAS: the pod address (machine-local scope) is the only bind
    // address and never an ingress address; the Service address is the ingress. Before
    // the pod and the Service exist Juju knows neither: one bind entry with no
    // addresses, and no ingress or egress at all.
    let pod: Vec<String> = env.model.pod_address(env.unit()).into_iter().collect();
    let ingress: Vec<String> = env.model.service_address(&app.name).into_iter().collect();
    let egress: Vec<String> = ingress.iter().map(|a| format!("{a}/32")).collect();
    let no_addresses = || {
        ToolError::Run(format!(
            "no addresses attached to space for binding {binding:?}"
        ))
    };
    if primary {
        if !keys.is_empty() {
            return Err(ToolError::Run(
                "--primary-address must be the only flag specified".into(),
            ));
        }
        return out.write(&Output::Str(pod.first().cloned().ok_or_else(no_addresses)?));
    }
    let value_of = |key: &str| -> Result<Value, ToolError> {
        Ok(match key {
            "bind-address" => match pod.first() {
                Some(a) => Value::from(a.clone()),
                // network-get.go indexes Info[0].Addresses[0] unchecked here: the unit
                // agent panics and the tool's connection to it drops.
                None => return Err(ToolError::Run("unexpected EOF".into())),
            },
            "ingress-address" => Value::from(
                ingress
                    .first()
                    .or(pod.first())
                    .cloned()
                    .ok_or_else(no_addresses)?,
            ),
            // A nil slice when there are none: JSON `null`.
            _ if egress.is_empty() => Value::Null,
            _ => Value::from(egress.clone()),
        })
    };
    match keys.as_slice() {
        [] => {
            let info = NetworkInfoResult {
                bind_addresses: vec![NetworkInfo {
                    mac_address: String::new(),
                    interface_name: String::new(),
                    addresses: pod
                        .iter()
                        .map(|a| InterfaceAddress {
                            hostname: String::new(),
                            value: a.clone(),
                            cidr: String::new(),
                        })
                        .collect(),
                }],
                egress_subnets: egress.clone(),
                ingress_addresses: ingress.clone(),
            };
            let output = Output::from_struct(&info).map_err(|e| ToolError::Run(e.to_string()))?;
            out.write(&output)
        }
        [one] => out.write(&match value_of(one)? {
            Value::Array(items) => Output::Strings(
                items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
            ),
            v => Output::from_value(v),
        }),
        many => {
            // In network-get.go's order, which decides whose error comes first.
            let mut map = Map::new();
            for k in ["egress-subnets", "ingress-address", "bind-address"] {
                if many.contains(&k) {
                    map.insert(k.to_string(), value_of(k)?);
                }
            }
            out.write(&Output::Value(Value::Object(map)))
        }
    }
}
