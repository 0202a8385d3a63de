//! `<model>/debug-log`, in `juju debug-log`'s line format:
//! `unit-prometheus-0: 14:21:33 DEBUG unit.prometheus/0.install <text>`.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{append_lines, io_err, unit_tag, ModelDir, ModelError};

fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, (day / 60) % 60, day % 60)
}

pub(crate) fn line(unit: &str, level: &str, module: &str, text: &str) -> String {
    format!("{}: {} {level} {module} {text}\n", unit_tag(unit), clock())
}

/// A line of the controller's own (the agents that apply the spec to the cluster).
pub(crate) fn controller_line(level: &str, module: &str, text: &str) -> String {
    format!("controller-0: {} {level} {module} {text}\n", clock())
}

/// Appends lines (each written whole, so concurrent writers do not interleave within one).
pub(crate) fn append(dir: &ModelDir, lines: &[String]) -> Result<(), ModelError> {
    append_lines(&dir.debug_log(), lines)
}

pub(crate) fn read(dir: &ModelDir) -> Result<String, ModelError> {
    let path = dir.debug_log();
    match fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io_err(&path)(e)),
    }
}
