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
    #[serde(rename = "egress-subnets")]
    egress_subnets: Vec<String>,
    #[serde(rename = "ingress-addresses")]
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

pub fn network_get(env: &mut Env, args: &[String]) -> ToolResult {
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
    let pod = env.model.unit_address(env.unit()).unwrap_or_default();
    let service = env.model.service_address(&app.name).unwrap_or_default();
    let info = NetworkInfoResult {
        bind_addresses: vec![NetworkInfo {
            mac_address: String::new(),
            interface_name: String::new(),
            addresses: vec![InterfaceAddress {
                hostname: String::new(),
                value: pod.clone(),
                cidr: String::new(),
            }],
        }],
        egress_subnets: vec![format!("{service}/32")],
        ingress_addresses: vec![service.clone()],
    };
    if primary {
        if !keys.is_empty() {
            return Err(ToolError::Run(
                "--primary-address must be the only flag specified".into(),
            ));
        }
        return out.write(&Output::Str(pod));
    }
    let value_of = |key: &str| match key {
        "bind-address" => Value::from(pod.clone()),
        "ingress-address" => Value::from(service.clone()),
        _ => Value::from(vec![format!("{service}/32")]),
    };
    match keys.as_slice() {
        [] => {
            let output = Output::from_struct(&info).map_err(|e| ToolError::Run(e.to_string()))?;
            out.write(&output)
        }
        [one] => out.write(&match value_of(one) {
            Value::Array(items) => Output::Strings(
                items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
            ),
            v => Output::from_value(v),
        }),
        many => {
            let map: Map<String, Value> =
                many.iter().map(|k| (k.to_string(), value_of(k))).collect();
            out.write(&Output::Value(Value::Object(map)))
        }
    }
}
