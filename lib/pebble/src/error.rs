//! What can go wrong talking to Pebble, split by what the caller does about it: not
//! reachable yet (wait for the next hook), the API said no (Pebble's own words), the
//! protocol was not what Pebble speaks (a bug here or there), or a change failed.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The socket is missing or nothing listens on it: the container (or Pebble in it) is
    /// not up yet, or restarting. The charm says *waiting*; it does not fail the hook.
    #[error("Pebble is not reachable at {}: {source}", socket.display())]
    NotReachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    /// Reading or writing an established connection failed (Pebble went away mid-call).
    #[error("I/O with Pebble failed while {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The call took longer than it may.
    #[error("Pebble did not answer in {after:?} while {what}")]
    Timeout { what: String, after: Duration },
    /// Pebble answered with an error response (`"type": "error"`).
    #[error("Pebble API error {status_code} {status} on {what}: {message}{}", kind.as_deref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Api {
        what: String,
        status_code: u16,
        status: String,
        kind: Option<String>,
        message: String,
    },
    /// One path of a files call failed (`result[].error`), e.g. `not-found`.
    #[error("Pebble cannot {action} {path}: {message} ({kind})")]
    Path {
        action: &'static str,
        path: String,
        kind: String,
        message: String,
    },
    /// A change (start, replan, exec, …) finished with an error.
    #[error("Pebble change {id} failed: {err}")]
    Change { id: String, err: String },
    /// What came back is not what Pebble sends.
    #[error("unexpected answer from Pebble on {what}: {detail}")]
    Protocol { what: String, detail: String },
    /// Our own request could not be written (a layer that does not serialize).
    #[error("cannot encode the request for {what}: {detail}")]
    Encode { what: String, detail: String },
}

impl Error {
    /// True when Pebble is simply not there (yet): the caller should wait, not fail.
    pub fn is_not_reachable(&self) -> bool {
        matches!(self, Error::NotReachable { .. })
    }

    pub(crate) fn protocol(what: &str, detail: impl Into<String>) -> Self {
        Error::Protocol {
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(what: &str, source: std::io::Error) -> Self {
        Error::Io {
            what: what.to_string(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
