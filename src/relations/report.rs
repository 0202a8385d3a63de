//! The `event` key in our application bag on each metrics-endpoint relation: how the
//! provider library learns that we refused some of its alert rules or scrape jobs.

use serde::Serialize;

use super::databag::{bag, publish};
use super::{LocalIdentity, Publish, RelationSnapshot};

/// What went wrong with one relation's data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
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

pub fn event_json(report: &Report) -> String {
    let event = Event {
        valid: report.rule_errors.is_empty(),
        errors: report.rule_errors.join("; "),
        scrape_job_errors: (!report.job_errors.is_empty()).then(|| report.job_errors.join("; ")),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// Leader only: only the leader may write our application bag.
pub fn publish_event(
    local: &LocalIdentity,
    snapshot: &RelationSnapshot,
    report: &Report,
) -> Option<Publish> {
    if !local.leader {
        return None;
    }
    publish(snapshot, true, bag([("event", event_json(report))]))
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
