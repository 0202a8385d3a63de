//! `calls.jsonl`: one JSON line per hook tool call, for tests and benchmarks.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::model::{append_lines, io_err, write_atomic, ModelDir, ModelError};

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

/// The sequence number of the next call: one more than the last call's, which
/// `<model>/call-seq` holds (a model from before that file has it in `Model::call_seq`
/// only; the larger of the two counts). Read and written under the model lock.
pub(crate) fn next_seq(dir: &ModelDir, model_seq: u64) -> Result<u64, ModelError> {
    let path = dir.call_seq_file();
    let last = match fs::read_to_string(&path) {
        Ok(t) => t.trim().parse::<u64>().map_err(|e| ModelError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io_err(&path)(e)),
    };
    Ok(last.max(model_seq) + 1)
}

/// Records `seq` as the last call's sequence number.
pub(crate) fn set_seq(dir: &ModelDir, seq: u64) -> Result<(), ModelError> {
    write_atomic(&dir.call_seq_file(), format!("{seq}\n").as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_goes_on_from_the_file_or_an_older_model() {
        let root = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(root.path()).unwrap();
        assert_eq!(next_seq(&dir, 0).unwrap(), 1);
        assert_eq!(next_seq(&dir, 7).unwrap(), 8);
        set_seq(&dir, 8).unwrap();
        assert_eq!(next_seq(&dir, 3).unwrap(), 9);
        assert_eq!(next_seq(&dir, 20).unwrap(), 21);
        fs::write(dir.call_seq_file(), "x\n").unwrap();
        assert!(matches!(next_seq(&dir, 0), Err(ModelError::Corrupt { .. })));
    }
}
