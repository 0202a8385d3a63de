//! HTTP/1.1 over Pebble's unix socket, one connection per call (`Connection: close`, as
//! ops' urllib opener does), so a response ends at its framing or at EOF and no connection
//! state outlives a call. Every read and write is bounded by the call's deadline.

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Largest header block we accept; Pebble's are a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body we keep in memory: a pulled file or a plan; the charm's are kilobytes.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

/// A unix stream whose every read and write gives up at one deadline: a per-operation
/// socket timeout alone would let a slow trickle of bytes keep a call alive for ever.
#[derive(Debug)]
pub(crate) struct DeadlineStream {
    stream: UnixStream,
    deadline: Instant,
}

impl DeadlineStream {
    /// Connects to the socket. A missing socket or nobody listening is "not reachable".
    pub(crate) fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let stream = UnixStream::connect(socket).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                Error::NotReachable {
                    socket: socket.to_path_buf(),
                    source,
                }
            }
            _ => Error::io("connecting", source),
        })?;
        Ok(DeadlineStream {
            stream,
            deadline: Instant::now() + timeout,
        })
    }

    /// A second handle on the same connection with the same deadline (exec writes stdin
    /// on one thread while another reads stdout).
    pub(crate) fn try_clone(&self) -> std::io::Result<Self> {
        Ok(DeadlineStream {
            stream: self.stream.try_clone()?,
            deadline: self.deadline,
        })
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        self.stream.shutdown(how)
    }

    fn remaining(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "deadline passed",
            ))
        } else {
            Ok(left)
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Maps an I/O error on an open connection: a passed deadline (or the socket timeout,
/// which reads as `WouldBlock` on Linux) is a timeout, anything else an I/O failure.
pub(crate) fn io_error(what: &str, timeout: Duration, source: std::io::Error) -> Error {
    match source.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Error::Timeout {
            what: what.to_string(),
            after: timeout,
        },
        _ => Error::io(what, source),
    }
}

/// One request: method, path, query pairs (in order), extra headers and a body.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
}

impl Request {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Request {
            method: "GET",
            path: path.into(),
            query: Vec::new(),
            headers: vec![("Accept", "application/json".to_string())],
            body: None,
        }
    }

    /// A POST with a JSON body, as ops' `_request` sends it.
    pub(crate) fn post_json(path: impl Into<String>, body: Vec<u8>) -> Self {
        Request {
            method: "POST",
            path: path.into(),
            query: Vec::new(),
            headers: vec![
                ("Accept", "application/json".to_string()),
                ("Content-Type", "application/json".to_string()),
            ],
            body: Some(body),
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// The path with its query string, encoded as Python's `urllib.parse.urlencode` does
    /// (what ops sends): only `A-Za-z0-9_.-~` stay, space is `+`, the rest `%XX`.
    pub(crate) fn target(&self) -> String {
        let mut target = self.path.clone();
        for (i, (key, value)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&form_encode(key));
            target.push('=');
            target.push_str(&form_encode(value));
        }
        target
    }

    /// The request's bytes. `Host: localhost` because ops' base URL is `http://localhost`;
    /// Pebble ignores it but HTTP/1.1 requires one.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: prometheus-charm-pebble\r\nConnection: close\r\n",
            self.method,
            self.target()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &self.body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A response as read off the wire: status line, headers, de-chunked body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    pub(crate) fn media_type(&self) -> String {
        self.header("Content-Type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Sends `request` on a new connection and reads the whole response.
pub(crate) fn round_trip(
    socket: &Path,
    timeout: Duration,
    what: &str,
    request: &Request,
) -> Result<Response> {
    let mut stream = DeadlineStream::connect(socket, timeout)?;
    stream
        .write_all(&request.encode())
        .map_err(|e| io_error(what, timeout, e))?;
    read_response(&mut stream).map_err(|e| match e {
        ReadError::Io(source) => io_error(what, timeout, source),
        ReadError::Protocol(detail) => Error::protocol(what, detail),
    })
}

#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    Protocol(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one HTTP/1.1 response: head, then the body by `Transfer-Encoding: chunked`,
/// `Content-Length`, or to EOF (we asked for `Connection: close`), in that order of
/// precedence (RFC 9112 §6.3).
pub(crate) fn read_response<R: Read>(reader: &mut R) -> std::result::Result<Response, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let (status, reason, headers, head_len) = loop {
        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut parsed);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response
                    .code
                    .ok_or_else(|| ReadError::Protocol("no status code".into()))?;
                let reason = response.reason.unwrap_or_default().to_string();
                let headers = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>();
                break (status, reason, headers, len);
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(ReadError::Protocol(format!("bad response head: {e}"))),
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Protocol("response head too long".into()));
        }
        let n = match reader.read(&mut chunk) {
            // A signal arrived before any byte did (EINTR): nothing was read, read again,
            // as std's read_exact and read_to_end do.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        if n == 0 {
            return Err(ReadError::Protocol(if buf.is_empty() {
                "connection closed before any response".into()
            } else {
                "connection closed inside the response head".into()
            }));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf.split_off(head_len);
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let mut body = BufReader::new(Cursor::new(rest).chain(reader));
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    response.body = if chunked {
        read_chunked(&mut body)?
    } else if let Some(length) = response.header("Content-Length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| ReadError::Protocol(format!("bad Content-Length {length:?}")))?;
        if length > MAX_BODY {
            return Err(ReadError::Protocol(format!("body of {length} bytes")));
        }
        let mut bytes = vec![0; length];
        body.read_exact(&mut bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                ReadError::Protocol("connection closed inside the body".into())
            }
            _ => ReadError::Io(e),
        })?;
        bytes
    } else {
        let mut bytes = Vec::new();
        body.take(MAX_BODY as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() > MAX_BODY {
            return Err(ReadError::Protocol("body too long".into()));
        }
        bytes
    };
    Ok(response)
}

/// De-chunks a body (RFC 9112 §7.1): `size[;ext]\r\n data \r\n` … `0\r\n` trailers `\r\n`.
fn read_chunked<R: BufRead>(reader: &mut R) -> std::result::Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Protocol(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailer fields until the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Protocol("body too long".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(eof_inside)?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(eof_inside)?;
        if &crlf != b"\r\n" {
            return Err(ReadError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

fn eof_inside(e: std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            ReadError::Protocol("connection closed inside a chunk".into())
        }
        _ => ReadError::Io(e),
    }
}

/// One CRLF-terminated line, without the CRLF.
fn read_line<R: BufRead>(reader: &mut R) -> std::result::Result<String, ReadError> {
    let mut line = Vec::new();
    reader.take(4096).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(ReadError::Protocol(
            "connection closed or line too long in chunked body".into(),
        ));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| ReadError::Protocol("chunk line is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Response {
        read_response(&mut Cursor::new(bytes.to_vec())).unwrap()
    }

    // The body is Pebble's system-info answer as `respJSON` marshals it
    // (internals/daemon/response.go: fields type, status-code, status, result in that
    // order; v1SystemInfo's result boot-id, version); the head is what Go's net/http
    // writes for a body it has whole: Content-Type, Date, Content-Length.
    const SYSTEM_INFO: &str = r#"{"type":"sync","status-code":200,"status":"OK","result":{"boot-id":"ab0f3a54-3f0d-4b9f-9a5e-0ba2cbd3ce36","version":"v1.19.0"}}"#;

    /// A reader interrupted by a signal (EINTR) before each of its bytes.
    struct Interrupted {
        bytes: Cursor<Vec<u8>>,
        interrupt: bool,
    }

    impl Read for Interrupted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let end = buf.len().min(1);
            self.bytes.read(&mut buf[..end])
        }
    }

    #[test]
    fn a_read_interrupted_by_a_signal_is_read_again() {
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{SYSTEM_INFO}",
            SYSTEM_INFO.len()
        );
        let mut reader = Interrupted {
            bytes: Cursor::new(raw.into_bytes()),
            interrupt: false,
        };
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, SYSTEM_INFO.as_bytes());
    }

    #[test]
    fn reads_a_content_length_body() {
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 29 Nov 2026 22:00:00 GMT\r\nContent-Length: {}\r\n\r\n{SYSTEM_INFO}",
            SYSTEM_INFO.len()
        );
        let response = parse(raw.as_bytes());
        assert_eq!(response.status, 200);
        assert_eq!(response.reason, "OK");
        assert_eq!(response.media_type(), "application/json");
        assert_eq!(response.body, SYSTEM_INFO.as_bytes());
    }

    #[test]
    fn reads_a_chunked_body_with_extensions_and_trailers() {
        // Go's net/http chunks a body larger than its 2 KiB buffer: hex sizes, CRLFs, a
        // zero chunk and an empty trailer section.
        let (a, b) = SYSTEM_INFO.split_at(40);
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:X};name=value\r\n{b}\r\n0\r\nX-Trailer: 1\r\n\r\n",
            a.len(),
            b.len()
        );
        let response = parse(raw.as_bytes());
        assert_eq!(response.body, SYSTEM_INFO.as_bytes());
    }

    #[test]
    fn reads_to_eof_without_framing() {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{SYSTEM_INFO}");
        assert_eq!(parse(raw.as_bytes()).body, SYSTEM_INFO.as_bytes());
    }

    #[test]
    fn truncated_responses_are_protocol_errors() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
            b"NOT HTTP\r\n\r\n",
        ] {
            let result = read_response(&mut Cursor::new(raw.to_vec()));
            assert!(
                matches!(result, Err(ReadError::Protocol(_))),
                "{:?}: {result:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn requests_are_encoded_as_ops_sends_them() {
        // ops: _request_raw builds `base_url + path + '?' + urlencode(query)`; urlencode
        // uses quote_plus, which escapes '/' and ','.
        let request = Request::get("/v1/files")
            .query("action", "read")
            .query("path", "/etc/prometheus/prometheus yml,1");
        assert_eq!(
            request.target(),
            "/v1/files?action=read&path=%2Fetc%2Fprometheus%2Fprometheus+yml%2C1"
        );
        let post = Request::post_json("/v1/layers", b"{}".to_vec());
        assert_eq!(
            String::from_utf8(post.encode()).unwrap(),
            "POST /v1/layers HTTP/1.1\r\nHost: localhost\r\nUser-Agent: prometheus-charm-pebble\r\n\
             Connection: close\r\nAccept: application/json\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n\r\n{}"
        );
    }
}
