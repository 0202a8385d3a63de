//! Changes and tasks as Pebble's state keeps them (`internals/overlord/state`) and its API
//! shows them (`api_changes.go`: `changeInfo`, `taskInfo`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// `2006-01-02T15:04:05.999999999Z`, as Go's `time.Time` marshals in UTC.
pub(crate) fn rfc3339(t: SystemTime, fraction: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let base = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if !fraction || nanos == 0 {
        return format!("{base}Z");
    }
    let digits = format!("{nanos:09}");
    format!("{base}.{}Z", digits.trim_end_matches('0'))
}

/// Howard Hinnant's days-to-civil.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Task {
    pub id: u64,
    pub kind: String,
    pub summary: String,
    pub status: String,
    pub log: Vec<String>,
    pub spawn: SystemTime,
    pub ready: Option<SystemTime>,
    pub data: Option<Value>,
    pub err: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub id: u64,
    pub kind: String,
    pub summary: String,
    pub tasks: Vec<Task>,
    pub spawn: SystemTime,
    pub ready: Option<SystemTime>,
    /// A change without tasks is marked done by hand (a replan with nothing to do).
    pub done_empty: bool,
}

fn ready_status(s: &str) -> bool {
    matches!(s, "Done" | "Error" | "Hold" | "Undone")
}

impl Change {
    /// The change's status from its tasks, as `state.Change.Status` derives it.
    pub(crate) fn status(&self) -> &'static str {
        if self.tasks.is_empty() {
            return if self.done_empty { "Done" } else { "Hold" };
        }
        if self.tasks.iter().any(|t| t.status == "Doing") {
            return "Doing";
        }
        if self.tasks.iter().any(|t| t.status == "Do") {
            return "Do";
        }
        if self.tasks.iter().any(|t| t.status == "Error") {
            return "Error";
        }
        "Done"
    }

    pub(crate) fn is_ready(&self) -> bool {
        ready_status(self.status())
    }

    /// `cannot perform the following tasks:\n- <summary> (<error>)`.
    pub(crate) fn err(&self) -> Option<String> {
        let failed: Vec<String> = self
            .tasks
            .iter()
            .filter_map(|t| t.err.as_ref().map(|e| format!("- {} ({e})", t.summary)))
            .collect();
        (!failed.is_empty())
            .then(|| format!("cannot perform the following tasks:\n{}", failed.join("\n")))
    }

    pub(crate) fn to_json(&self) -> Value {
        let status = self.status();
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id.to_string()));
        out.insert("kind".into(), json!(self.kind));
        out.insert("summary".into(), json!(self.summary));
        out.insert("status".into(), json!(status));
        let tasks: Vec<Value> = self.tasks.iter().map(Task::to_json).collect();
        if !tasks.is_empty() {
            out.insert("tasks".into(), Value::Array(tasks));
        }
        out.insert("ready".into(), json!(ready_status(status)));
        if let Some(e) = self.err() {
            out.insert("err".into(), json!(e));
        }
        out.insert("spawn-time".into(), json!(rfc3339(self.spawn, true)));
        if let Some(r) = self.ready {
            out.insert("ready-time".into(), json!(rfc3339(r, true)));
        }
        Value::Object(out)
    }
}

impl Task {
    pub(crate) fn new(id: u64, kind: &str, summary: String) -> Task {
        Task {
            id,
            kind: kind.to_string(),
            summary,
            status: "Do".into(),
            log: Vec::new(),
            spawn: SystemTime::now(),
            ready: None,
            data: None,
            err: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id.to_string()));
        out.insert("kind".into(), json!(self.kind));
        out.insert("summary".into(), json!(self.summary));
        out.insert("status".into(), json!(self.status));
        if !self.log.is_empty() {
            out.insert("log".into(), json!(self.log));
        }
        out.insert(
            "progress".into(),
            json!({"label": "", "done": usize::from(ready_status(&self.status)), "total": 1}),
        );
        out.insert("spawn-time".into(), json!(rfc3339(self.spawn, true)));
        if let Some(r) = self.ready {
            out.insert("ready-time".into(), json!(rfc3339(r, true)));
        }
        if let Some(d) = &self.data {
            out.insert("data".into(), d.clone());
        }
        Value::Object(out)
    }

    /// Ends the task: `Done`, or `Error` with the error in its log.
    pub(crate) fn finish(&mut self, result: Result<Option<String>, String>) {
        let now = SystemTime::now();
        let stamp = rfc3339(now, false);
        match result {
            Ok(note) => {
                self.status = "Done".into();
                if let Some(n) = note {
                    self.log.push(format!("{stamp} INFO {n}"));
                }
            }
            Err(e) => {
                self.status = "Error".into();
                self.log.push(format!("{stamp} ERROR {e}"));
                self.err = Some(e);
            }
        }
        self.ready = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_gos() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339(t, true), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339(t, false), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_failed_task_makes_the_change_err() {
        let mut t = Task::new(1, "start", "Start service \"p\"".into());
        t.finish(Err(
            "cannot start service: exited quickly with code 1".into()
        ));
        let c = Change {
            id: 1,
            kind: "start".into(),
            summary: "Start service \"p\"".into(),
            tasks: vec![t],
            spawn: SystemTime::now(),
            ready: None,
            done_empty: false,
        };
        assert_eq!(c.status(), "Error");
        assert_eq!(
            c.err().unwrap(),
            "cannot perform the following tasks:\n- Start service \"p\" (cannot start service: exited quickly with code 1)"
        );
    }
}
