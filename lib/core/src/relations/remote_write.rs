//! `prometheus_remote_write`, both ways.
//! - `send-remote-write` (we require): each remote unit's `remote_write` JSON `{"url": ...}`
//!   becomes a `remote_write` entry (the shell merges these with the `remote-write-urls`
//!   option, if that exists).
//! - `receive-remote-write` (we provide): the receiver is switched on while any relation
//!   exists, each of our units publishes its `/api/v1/write` URL, and the senders'
//!   app `alert_rules` become rule files, scoped by the `juju_*` labels each rule carries;
//!   the leader tells each sender which rules it refused in our app `event` (see `report`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::alert_rules;
use super::budget;
use super::databag::{bag, publish};
use super::grafana_source::unit_host;
use super::metrics_endpoint::fallback_rule_file_name;
use super::report::{clear_remote_write_event, publish_remote_write_event};
use super::validate::{parse_json, HttpUrl, Refused};
use super::{remote_app_name, Contribution, LocalIdentity, RelationSnapshot};
use crate::prometheus::config::RemoteWriteConfig;

#[derive(Serialize, Deserialize)]
struct Endpoint {
    url: String,
}

pub(super) fn contribute_send(relations: &[RelationSnapshot], out: &mut Contribution) {
    let mut urls = BTreeSet::new();
    for snapshot in relations {
        for (unit, data) in &snapshot.remote_units {
            let Some(raw) = data.get("remote_write") else {
                continue;
            };
            match endpoint_url(raw) {
                Ok(url) => {
                    urls.insert(url);
                }
                Err(e) => out.warn(snapshot, unit, format!("remote_write refused: {e}")),
            }
        }
    }
    out.remote_write
        .extend(urls.into_iter().map(|url| RemoteWriteConfig {
            url,
            ..RemoteWriteConfig::default()
        }));
}

fn endpoint_url(raw: &str) -> Result<String, Refused> {
    let endpoint: Endpoint = parse_json("remote_write", raw)?;
    Ok(HttpUrl::parse(endpoint.url.trim())?.to_string())
}

pub(super) fn contribute_receive(
    local: &LocalIdentity,
    relations: &[RelationSnapshot],
    out: &mut Contribution,
) {
    let ours = Endpoint {
        url: format!("http://{}:{}/api/v1/write", unit_host(local), local.port),
    };
    let value = serde_json::to_string(&ours).unwrap_or_default();
    for snapshot in budget::oldest_first(relations) {
        out.publish.extend(publish(
            snapshot,
            false,
            bag([("remote_write", value.clone())]),
        ));
        if snapshot.remote_units.is_empty() {
            continue;
        }
        let Some(raw) = snapshot.remote_app_data.get("alert_rules") else {
            // Rules withdrawn: errors about them no longer stand.
            out.publish
                .extend(clear_remote_write_event(local, snapshot));
            continue;
        };
        let app = remote_app_name(snapshot);
        let mut errors = Vec::new();
        match alert_rules::process(raw, None) {
            Ok(processed) => {
                errors.extend(
                    processed
                        .errors
                        .into_iter()
                        .map(|e| format!("alert rule refused: {e}")),
                );
                if let Some(file) = processed.file {
                    let part = Contribution {
                        rule_files: vec![(fallback_rule_file_name(snapshot, &app), file)],
                        ..Contribution::default()
                    };
                    if let Err(why) = out.admit(part) {
                        errors.push(why);
                    }
                }
            }
            Err(e) => errors.push(format!("alert_rules refused: {e}")),
        }
        for message in &errors {
            out.warn(snapshot, &app, message.clone());
        }
        out.publish
            .extend(publish_remote_write_event(local, snapshot, &errors));
    }
}

#[cfg(test)]
mod tests {
    use crate::relations::test_support::*;
    use crate::relations::{
        plan, RelationSnapshot, RelationsInput, RelationsPlan, RECEIVE_REMOTE_WRITE,
        SEND_REMOTE_WRITE,
    };

    fn run(endpoint: &str, relations: Vec<RelationSnapshot>) -> RelationsPlan {
        plan(&RelationsInput {
            local: local(false),
            endpoints: [(endpoint.to_string(), relations)].into(),
            budget: None,
        })
    }

    #[test]
    fn remote_units_become_remote_write_entries() {
        let mut mimir = relation(SEND_REMOTE_WRITE, 8, "mimir");
        for n in 0..2 {
            mimir.remote_units.insert(
                format!("mimir/{n}"),
                bag(&[("remote_write", &format!(r#"{{"url": "http://mimir-{n}.mimir-endpoints.cos.svc.cluster.local:9009/api/v1/push"}}"#))]),
            );
        }
        let mut prom = relation(SEND_REMOTE_WRITE, 9, "prometheus-lts");
        prom.remote_units.insert(
            "prometheus-lts/0".into(),
            bag(&[("remote_write", r#"{"url": "http://prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090/api/v1/write"}"#)]),
        );
        prom.remote_units.insert(
            "prometheus-lts/1".into(),
            bag(&[("remote_write", r#"{"url": "file:///etc/passwd"}"#)]),
        );
        prom.remote_units.insert(
            "prometheus-lts/2".into(),
            bag(&[("remote_write", "http://not-json")]),
        );
        prom.remote_units
            .insert("prometheus-lts/3".into(), bag(&[]));
        let p = run(SEND_REMOTE_WRITE, vec![mimir, prom]);
        let urls: Vec<_> = p.remote_write.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://mimir-0.mimir-endpoints.cos.svc.cluster.local:9009/api/v1/push",
                "http://mimir-1.mimir-endpoints.cos.svc.cluster.local:9009/api/v1/push",
                "http://prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090/api/v1/write",
            ]
        );
        let sources: Vec<_> = p.warnings.iter().map(|w| w.source.as_str()).collect();
        assert_eq!(sources, ["prometheus-lts/1", "prometheus-lts/2"]);
        assert!(!p.remote_write_receiver);
        // Broken relation: gone from the input, gone from the config.
        assert_eq!(run(SEND_REMOTE_WRITE, vec![]).remote_write, vec![]);
    }

    #[test]
    fn receiving_publishes_our_url_and_accepts_rules() {
        let mut agent = relation(RECEIVE_REMOTE_WRITE, 12, "grafana-agent");
        agent
            .remote_units
            .insert("grafana-agent/0".into(), bag(&[]));
        agent.remote_app_data = bag(&[("alert_rules", ZINC_RULES)]);
        let p = run(RECEIVE_REMOTE_WRITE, vec![agent.clone()]);
        assert!(p.remote_write_receiver);
        assert_eq!(p.warnings, vec![]);
        assert_eq!(p.publish.len(), 1);
        assert_eq!(
            p.publish[0].data["remote_write"],
            r#"{"url":"http://prometheus-0.prometheus-endpoints.cos.svc.cluster.local:9090/api/v1/write"}"#
        );
        let file = &p.rule_files["juju_receive-remote-write_12_grafana-agent.rules"];
        assert!(file.groups[0].rules[0]
            .expr
            .contains(r#"juju_application="zinc""#));

        // Sender gone: no rules, no receiver.
        agent.remote_units.clear();
        assert!(run(RECEIVE_REMOTE_WRITE, vec![agent]).rule_files.is_empty());
        assert!(!run(RECEIVE_REMOTE_WRITE, vec![]).remote_write_receiver);
    }

    /// prometheus_remote_write v1: the leader writes `event` = `{"errors": "..."}` in its
    /// app bag when it refuses a sender's alert rules, `{}` when it refuses none; the
    /// sender's library raises `alert_rule_status_changed` from it.
    #[test]
    fn senders_hear_which_rules_were_refused() {
        let bad_rule = r#"{"groups": [{"name": "cos_f4d59020_agent_agent_alerts", "rules": [
            {"alert": "AgentDown", "expr": "up{juju_application=\"agent\"} < 1", "for": "5m",
             "labels": {"severity": "critical", "juju_model": "cos", "juju_application": "agent"}},
            {"alert": "Broken", "expr": "rate(up[5m]", "labels": {"juju_model": "cos", "juju_application": "agent"}}
        ]}]}"#;
        let sender = |id: u32, rules: &str| {
            let mut r = relation(RECEIVE_REMOTE_WRITE, id, "agent");
            r.remote_units.insert("agent/0".into(), bag(&[]));
            r.remote_app_data = bag(&[("alert_rules", rules)]);
            r
        };
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(
                RECEIVE_REMOTE_WRITE.to_string(),
                vec![
                    sender(1, ZINC_RULES),
                    sender(2, bad_rule),
                    sender(3, "{not json"),
                ],
            )]
            .into(),
            budget: None,
        });
        let event = |id: u32| -> serde_json::Value {
            let publish = p
                .publish
                .iter()
                .find(|x| x.app && x.relation.id == id)
                .unwrap_or_else(|| panic!("no app bag on {id}: {:?}", p.publish));
            serde_json::from_str(&publish.data["event"]).unwrap()
        };
        assert_eq!(event(1), serde_json::json!({}));
        let errors = event(2)["errors"].as_str().unwrap().to_string();
        assert!(errors.starts_with("alert rule refused: "), "{errors}");
        assert!(errors.contains("rule #1: expr \"rate(up[5m]\""), "{errors}");
        assert!(!errors.contains("AgentDown"), "{errors}");
        assert_eq!(event(2).as_object().map(serde_json::Map::len), Some(1));
        // The good rule of that sender is still applied.
        let file = &p.rule_files["juju_receive-remote-write_2_agent.rules"];
        assert_eq!(file.groups[0].rules.len(), 1);
        assert!(event(3)["errors"]
            .as_str()
            .unwrap()
            .starts_with("alert_rules refused: "));
        // Rules withdrawn: the errors go, and a relation never told anything is left alone.
        let mut withdrawn = sender(2, bad_rule);
        withdrawn.remote_app_data.clear();
        withdrawn.local_app_data = bag(&[("event", r#"{"errors":"x"}"#)]);
        let mut quiet = sender(3, "");
        quiet.remote_app_data.clear();
        let p = plan(&RelationsInput {
            local: local(true),
            endpoints: [(RECEIVE_REMOTE_WRITE.to_string(), vec![withdrawn, quiet])].into(),
            budget: None,
        });
        let app: Vec<_> = p.publish.iter().filter(|x| x.app).collect();
        assert_eq!(app.len(), 1, "{app:?}");
        assert_eq!(app[0].relation.id, 2);
        assert_eq!(app[0].data["event"], "{}");
        // A follower writes no app bag.
        let p = plan(&RelationsInput {
            local: local(false),
            endpoints: [(RECEIVE_REMOTE_WRITE.to_string(), vec![sender(2, bad_rule)])].into(),
            budget: None,
        });
        assert!(p.publish.iter().all(|x| !x.app));
    }
}
