//! Running a command in the workload container, as ops' `Client.exec` does it:
//! `POST /v1/exec` starts a change whose task waits for the `control`, `stdio` and
//! `stderr` websockets (`/v1/tasks/{task-id}/websocket/{id}`, each a new connection);
//! stdin goes out on `stdio` as binary messages, stdout and stderr come back as binary
//! messages, each direction ended by the text message `{"command":"end"}`
//! (internals/wsutil); the exit code is in the finished change's task data.
//! (internals/overlord/cmdstate/handlers.go, ops/pebble.py `exec`, `_wait`).
//!
//! stdin is written on its own thread and stderr read on another while stdout is read
//! here: a command that writes much before it reads all its input would otherwise fill
//! the socket buffers and stall both sides until the deadline.

use std::collections::BTreeMap;
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use serde::Serialize;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use crate::client::{async_change, decode, format_timeout, post, Client};
use crate::error::{Error, Result};
use crate::http::{io_error, DeadlineStream};
use crate::models::{ExecResult, ResponseType};

/// What a finished command left: its exit code and everything it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The body ops sends (every key, `null` where unset), with stderr on its own websocket.
#[derive(Serialize)]
struct ExecBody<'a> {
    command: &'a [&'a str],
    #[serde(rename = "service-context")]
    service_context: Option<&'a str>,
    environment: &'a BTreeMap<String, String>,
    #[serde(rename = "working-dir")]
    working_dir: Option<&'a str>,
    timeout: Option<String>,
    #[serde(rename = "user-id")]
    user_id: Option<i64>,
    user: Option<&'a str>,
    #[serde(rename = "group-id")]
    group_id: Option<i64>,
    group: Option<&'a str>,
    #[serde(rename = "split-stderr")]
    split_stderr: bool,
}

/// The text message that ends a stream either way (wsutil `endCommandJSON`).
const END: &str = r#"{"command":"end"}"#;

/// stdin goes out in messages of this size (ops' `bufsize`).
const STDIN_CHUNK: usize = 16 * 1024;

type Socket = WebSocket<DeadlineStream>;

impl Client {
    /// Runs `command` (argv) in the container with exactly `environment`, in `working_dir`
    /// (else the user's home), feeding it `stdin`; Pebble kills it after `timeout`, which
    /// is then [`Error::Change`]. A non-zero exit code is not an error here.
    pub fn exec(
        &self,
        command: &[&str],
        environment: &BTreeMap<String, String>,
        working_dir: Option<&str>,
        timeout: Duration,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput> {
        let what = format!("exec {:?}", command.first().copied().unwrap_or_default());
        if command.is_empty() {
            return Err(Error::Encode {
                what,
                detail: "an empty command".into(),
            });
        }
        let body = ExecBody {
            command,
            service_context: None,
            environment,
            working_dir,
            timeout: Some(format_timeout(timeout)),
            user_id: None,
            user: None,
            group_id: None,
            group: None,
            split_stderr: true,
        };
        let envelope = self.json(&what, &post(&what, "/v1/exec", &body)?, self.timeout())?;
        let change = async_change(&what, &envelope)?;
        let mut sync = envelope;
        sync.kind = ResponseType::Sync;
        let task: ExecResult = decode(&what, sync)?;

        // The command may run for `timeout`; its streams end right after it.
        let io_timeout = timeout + self.timeout() + Duration::from_secs(1);
        let connect = |id: &str| self.websocket(&task.task_id, id, io_timeout, &what);
        let sockets = connect("control").and_then(|control| {
            let stdio = connect("stdio")?;
            let stderr = connect("stderr")?;
            Ok((control, stdio, stderr))
        });
        let (control, stdio, stderr) = match sockets {
            Ok(sockets) => sockets,
            Err(e) => {
                // Most likely the command failed to start and the change says why; if it
                // does not, the connection's own error is the news.
                return match self.wait_change(&change, self.timeout()) {
                    Err(failed @ Error::Change { .. }) => Err(failed),
                    _ => Err(e),
                };
            }
        };
        let mut control = Some(control);
        let output = self.run(&what, io_timeout, stdio, stderr, stdin);
        // Closing the control socket before the command ends makes Pebble kill it
        // (handlers.go controlLoop: abnormal closure → SIGKILL): what we do when its
        // streams failed, rather than let it wait for input until its timeout. After it
        // ended, closing is just closing.
        if output.is_err() {
            control.take();
        }
        let finished = self.wait_change(&change, timeout + Duration::from_secs(1));
        drop(control);
        let change = finished?;
        let (stdout, stderr) = output?;
        let exit_code = change
            .tasks
            .first()
            .and_then(|t| t.data.get("exit-code"))
            .and_then(serde_json::Value::as_i64)
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| Error::protocol(&what, format!("no exit code in change {change:?}")))?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Opens `/v1/tasks/{task}/websocket/{id}` on a new connection.
    fn websocket(&self, task: &str, id: &str, timeout: Duration, what: &str) -> Result<Socket> {
        let stream = DeadlineStream::connect(self.socket(), timeout)?;
        let url = format!("ws://localhost/v1/tasks/{task}/websocket/{id}");
        match tungstenite::client::client(url.as_str(), stream) {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::HandshakeError::Failure(e)) => Err(ws_error(what, timeout, e)),
            Err(tungstenite::HandshakeError::Interrupted(_)) => Err(Error::Timeout {
                what: format!("{what}: connecting the {id} websocket"),
                after: timeout,
            }),
        }
    }

    /// Feeds stdin and collects stdout and stderr until each is ended.
    fn run(
        &self,
        what: &str,
        timeout: Duration,
        mut stdio: Socket,
        mut stderr: Socket,
        stdin: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let writer_stream = stdio
            .get_ref()
            .try_clone()
            .map_err(|e| Error::io(what, e))?;
        let closer = writer_stream.try_clone().map_err(|e| Error::io(what, e))?;
        let stderr_closer = stderr
            .get_ref()
            .try_clone()
            .map_err(|e| Error::io(what, e))?;
        let mut writer = WebSocket::from_raw_socket(writer_stream, Role::Client, None);
        thread::scope(|scope| {
            let input = scope.spawn(move || -> Result<()> {
                for chunk in stdin.unwrap_or_default().chunks(STDIN_CHUNK) {
                    writer
                        .send(Message::binary(chunk.to_vec()))
                        .map_err(|e| ws_error(what, timeout, e))?;
                }
                writer
                    .send(Message::text(END))
                    .map_err(|e| ws_error(what, timeout, e))
            });
            let errors = scope.spawn(move || read_stream(what, timeout, &mut stderr));
            let out = read_stream(what, timeout, &mut stdio);
            if out.is_err() {
                // stdout broke: stderr would only wait for the deadline.
                let _ = stderr_closer.shutdown(Shutdown::Both);
            }
            let err = errors
                .join()
                .unwrap_or_else(|_| Err(Error::protocol(what, "stderr reader panicked")));
            // Output ended: the command is done, and whatever stdin it did not read is of
            // no use. Shutting the socket down frees a writer blocked on a full buffer.
            let _ = closer.shutdown(Shutdown::Both);
            let sent = input
                .join()
                .unwrap_or_else(|_| Err(Error::protocol(what, "stdin writer panicked")));
            let (out, err) = (out?, err?);
            // A command may exit without reading its input; that is not a failure.
            if let Err(e) = sent {
                if !matches!(e, Error::Io { .. }) {
                    return Err(e);
                }
            }
            Ok((out, err))
        })
    }
}

/// Binary messages until the end command (or the peer closes): one output stream.
fn read_stream(what: &str, timeout: Duration, socket: &mut Socket) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Binary(data)) => out.extend_from_slice(&data),
            Ok(Message::Text(text)) => {
                // Other commands are ignored, as wsutil and ops do.
                #[derive(serde::Deserialize)]
                struct Command {
                    command: String,
                }
                if serde_json::from_str::<Command>(text.as_str()).is_ok_and(|c| c.command == "end")
                {
                    return Ok(out);
                }
            }
            Ok(Message::Close(_))
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(out)
            }
            Ok(_) => {}
            Err(e) => return Err(ws_error(what, timeout, e)),
        }
    }
}

fn ws_error(what: &str, timeout: Duration, e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(source) => io_error(what, timeout, source),
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Error::protocol(
                what,
                format!("websocket refused with {}: {body}", response.status()),
            )
        }
        other => Error::protocol(what, format!("websocket: {other}")),
    }
}
