//! Just enough HTTP/1.1 for Pebble's API over a unix socket: one request per connection
//! (`Connection: close`), bodies by `Content-Length` or chunked (Python's urllib sends
//! `push` bodies chunked), and the JSON envelopes Pebble's daemon answers with
//! (`internals/daemon/response.go`).

use std::io::{self, BufRead, Read, Write};

use serde_json::{json, Map, Value};

/// Bodies larger than this are refused (pushes of whole files are the big ones).
const MAX_BODY: usize = 256 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub method: String,
    pub version: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query_all(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A comma-separated list query (`names=a,b&names=c`), as Pebble's
    /// `strutil.MultiCommaSeparatedList` reads it.
    pub(crate) fn names(&self, key: &str) -> Vec<String> {
        self.query_all(key)
            .iter()
            .flat_map(|n| n.split(','))
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect()
    }

    /// Whether the connection stays open after this request (HTTP/1.1's default).
    pub(crate) fn keep_alive(&self) -> bool {
        !self
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            && self.version == "HTTP/1.1"
    }

    pub(crate) fn is_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }
}

/// The strings of a JSON body's list field (missing or mistyped: none).
pub(crate) fn strings(body: &Map<String, Value>, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// `%XX` and `+` decoded, as Go's `url.ParseQuery` does.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_line(reader: &mut impl BufRead, limit: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.take(*limit as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    *limit = limit.saturating_sub(n);
    if !line.ends_with(b"\n") {
        return Err(bad("request head too long or cut short"));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads one request; `None` when the peer closed the connection before sending one.
pub(crate) fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut limit = MAX_HEAD;
    let Some(first) = read_line(reader, &mut limit)? else {
        return Ok(None);
    };
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    if method.is_empty() || !target.starts_with('/') {
        return Err(bad(format!("malformed request line {first:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut limit)?.ok_or_else(|| bad("request head cut short"))?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let (path, query_text) = target.split_once('?').unwrap_or((&target, ""));
    let query = query_text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let mut request = Request {
        method,
        version,
        path: percent_decode(path),
        query,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(bad("request body too large"));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut limit = 1024;
        let line = read_line(reader, &mut limit)?.ok_or_else(|| bad("chunked body cut short"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut limit = MAX_HEAD;
                match read_line(reader, &mut limit)? {
                    Some(l) if !l.is_empty() => continue,
                    _ => break,
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// A response to write back.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

pub(crate) fn status_text(code: u16) -> &'static str {
    match code {
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

pub(crate) fn write_response(
    w: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
        response.status,
        status_text(response.status),
        response.content_type,
        response.body.len(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    w.write_all(head.as_bytes())?;
    w.write_all(&response.body)?;
    w.flush()
}

fn json_response(status: u16, value: &Value) -> Response {
    Response {
        status,
        content_type: "application/json".into(),
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// `{"type":"sync","status-code":200,"status":"OK","result":...}`.
pub(crate) fn sync(result: Value) -> Response {
    let mut body = Map::new();
    body.insert("type".into(), json!("sync"));
    body.insert("status-code".into(), json!(200));
    body.insert("status".into(), json!("OK"));
    if !result.is_null() {
        body.insert("result".into(), result);
    }
    json_response(200, &Value::Object(body))
}

/// `{"type":"async","status-code":202,"status":"Accepted","change":"<id>",...}`.
pub(crate) fn accepted(change: &str, result: Value) -> Response {
    let mut body = Map::new();
    body.insert("type".into(), json!("async"));
    body.insert("status-code".into(), json!(202));
    body.insert("status".into(), json!("Accepted"));
    body.insert("change".into(), json!(change));
    if !result.is_null() {
        body.insert("result".into(), result);
    }
    json_response(202, &Value::Object(body))
}

/// `{"type":"error","status-code":N,"status":"...","result":{"message":...,"kind":...}}`.
pub(crate) fn error(status: u16, message: &str, kind: Option<&str>) -> Response {
    let mut result = Map::new();
    result.insert("message".into(), json!(message));
    if let Some(k) = kind {
        result.insert("kind".into(), json!(k));
    }
    json_response(
        status,
        &json!({
            "type": "error",
            "status-code": status,
            "status": status_text(status),
            "result": result,
        }),
    )
}

pub(crate) fn bad_request(message: &str) -> Response {
    error(400, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_chunked_request_with_a_query() {
        let raw = b"POST /v1/files?action=read&path=%2Fetc%2Fa+b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = read_request(&mut &raw[..]).unwrap().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/files");
        assert_eq!(r.query("path"), Some("/etc/a b"));
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn envelopes_are_pebbles() {
        let r = error(404, "not found", Some("not-found"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","status-code":404,"status":"Not Found","result":{"message":"not found","kind":"not-found"}})
        );
        let v: Value = serde_json::from_slice(&accepted("3", Value::Null).body).unwrap();
        assert_eq!(
            v,
            json!({"type":"async","status-code":202,"status":"Accepted","change":"3"})
        );
    }
}
