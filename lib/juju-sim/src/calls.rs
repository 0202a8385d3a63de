//! `calls.jsonl`: one JSON line per hook tool call, for tests and benchmarks.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::model::{append_lines, io_err, ModelDir, ModelError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Call {
    pub seq: u64,
    pub unit: String,
    pub hook: String,
    pub tool: String,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub exit_code: i32,
    pub stderr: String,
}

pub(crate) fn append(dir: &ModelDir, call: &Call) -> Result<(), ModelError> {
    let path = dir.calls_file();
    let mut line = serde_json::to_string(call).map_err(|e| ModelError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    line.push('\n');
    append_lines(&path, &[line])
}

pub(crate) fn read(dir: &ModelDir) -> Result<Vec<Call>, ModelError> {
    let path = dir.calls_file();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| ModelError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        })
        .collect()
}
