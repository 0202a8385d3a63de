//! The `event` key in our application bag: how a peer's library learns that we refused some
//! of what it sent.
//! - metrics-endpoint (`prometheus_scrape`): `{"valid", "errors", "scrape_job_errors"}`
//!   about its alert rules and scrape jobs.
//! - receive-remote-write (`prometheus_remote_write` v1): `{"errors": "..."}` when we
//!   refused alert rules, `{}` once we refuse none, as the Prometheus charm writes it; the
//!   sender's library raises `alert_rule_status_changed` from it.
//! - every other endpoint that reads data (monitoring, alertmanager in each dialect,
//!   send-remote-write): no peer library reads a report there, so the same
//!   `{"errors": "..."}` shape is written while something is refused, for the operator
//!   (`juju show-unit`) and any charm that looks, and the key is removed once nothing is.

use serde::Serialize;

use super::databag::{bag, publish};
use super::{LocalIdentity, Publish, RelationSnapshot};

/// Our application bag's key for the report, on both interfaces.
const EVENT: &str = "event";

/// What went wrong with one relation's data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Report {
    pub rule_errors: Vec<String>,
    pub job_errors: Vec<String>,
}

/// The value the library's provider reads: `valid` and `errors` are about alert rules,
/// `scrape_job_errors` (null when none) about jobs and unit data.
#[derive(Serialize)]
struct Event {
    valid: bool,
    errors: String,
    scrape_job_errors: Option<String>,
}

pub(super) fn event_json(report: &Report) -> String {
    let event = Event {
        valid: report.rule_errors.is_empty(),
        errors: report.rule_errors.join("; "),
        scrape_job_errors: (!report.job_errors.is_empty()).then(|| report.job_errors.join("; ")),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// Leader only: only the leader may write our application bag.
pub(super) fn publish_event(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    report: &Report,
) -> Option<Publish> {
    if !local.leader {
        return None;
    }
    publish(snapshot, true, bag([(EVENT, event_json(report))]))
}

/// The report for an endpoint with no report of its own: `{"errors": ...}` while `errors`
/// is not empty; the key removed (an empty value) once it is, if it was there.
pub(super) fn publish_errors(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    errors: &[&str],
) -> Option<Publish> {
    if !local.leader {
        return None;
    }
    let value = if errors.is_empty() {
        if !snapshot.local_app_data.contains_key(EVENT) {
            return None;
        }
        String::new()
    } else {
        let owned: Vec<String> = errors
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        remote_write_event_json(&owned)
    };
    publish(snapshot, true, bag([(EVENT, value)]))
}

/// What `prometheus_remote_write` v1 reads: `errors` only while there are some (its
/// provider drops the key once the rules validate).
#[derive(Serialize)]
struct RemoteWriteEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<String>,
}

pub(super) fn remote_write_event_json(rule_errors: &[String]) -> String {
    let event = RemoteWriteEvent {
        errors: (!rule_errors.is_empty()).then(|| rule_errors.join("; ")),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// `{}` in place of a report that no longer stands (the sender withdrew its rules), on a
/// relation that has one; nothing on a relation never told anything.
pub(super) fn clear_remote_write_event(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
) -> Option<Publish> {
    snapshot
        .local_app_data
        .contains_key(EVENT)
        .then(|| publish_remote_write_event(local, snapshot, &[]))
        .flatten()
}

/// Leader only, like [`publish_event`].
pub(super) fn publish_remote_write_event(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    rule_errors: &[String],
) -> Option<Publish> {
    if !local.leader {
        return None;
    }
    publish(
        snapshot,
        true,
        bag([(EVENT, remote_write_event_json(rule_errors))]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use juju::RelationId;

    #[test]
    fn event_json_matches_the_library() {
        assert_eq!(
            event_json(&Report::default()),
            r#"{"valid":true,"errors":"","scrape_job_errors":null}"#
        );
        let r = Report {
            rule_errors: vec!["a".into(), "b".into()],
            job_errors: vec!["c".into()],
        };
        assert_eq!(
            event_json(&r),
            r#"{"valid":false,"errors":"a; b","scrape_job_errors":"c"}"#
        );
    }

    #[test]
    fn remote_write_event_matches_the_library() {
        assert_eq!(remote_write_event_json(&[]), "{}");
        assert_eq!(
            remote_write_event_json(&["a".into(), "b".into()]),
            r#"{"errors":"a; b"}"#
        );
    }

    #[test]
    fn only_the_leader_reports() {
        let snapshot = RelationSnapshot {
            id: Some(RelationId::new("metrics-endpoint", 1)),
            ..RelationSnapshot::default()
        };
        let mut local = LocalIdentity::default();
        assert_eq!(publish_event(&local, &snapshot, &Report::default()), None);
        local.leader = true;
        let p = publish_event(&local, &snapshot, &Report::default()).unwrap();
        assert!(p.app);
        assert!(p.data.contains_key("event"));
    }
}
