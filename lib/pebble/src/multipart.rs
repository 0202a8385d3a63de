//! `multipart/form-data` as Pebble's files API speaks it: push sends a `request` JSON part
//! then one `files` part per file (api_files.go `writeFiles`, in that order); pull answers
//! with the `files` parts then a `response` JSON part (`readFilesResponse`).

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

/// A boundary of 32 hex digits, as ops makes one (`hexlify(os.urandom(16))`); Pebble
/// refuses boundaries shorter than 32 (api_files.go `minBoundaryLength`). Random so that
/// no file content contains it: std's `RandomState` is seeded from the OS per instance.
pub(crate) fn boundary() -> String {
    let mut out = String::with_capacity(32);
    for salt in 0..2u8 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u8(salt);
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// `"` and `\` escaped for a quoted header parameter (what Go's multipart writer does).
/// ops escapes only `"`; Go's reader unescapes both, so this reads back right for every
/// path, and the same as ops for every path without a backslash.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The body of a push of one file: the `request` part with `metadata`, then the file, with
/// the part headers ops writes (`Client._encode_multipart`). Returns the body and its
/// `Content-Type`.
pub(crate) fn encode_push(
    boundary: &str,
    metadata: &[u8],
    path: &str,
    content: &[u8],
) -> (Vec<u8>, String) {
    let mut body = Vec::with_capacity(metadata.len() + content.len() + 512);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Type: application/json\r\n");
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"request\"\r\n\r\n");
    body.extend_from_slice(metadata);
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n\r\n",
            quote(path)
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        body,
        format!("multipart/form-data; boundary=\"{boundary}\""),
    )
}

/// One part: its headers (names lowercased) and body.
#[derive(Debug, PartialEq)]
pub(crate) struct Part {
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Part {
    /// `name` and `filename` of `Content-Disposition: form-data; …`.
    pub(crate) fn form_param(&self, key: &str) -> Option<String> {
        let value = self.headers.get("content-disposition")?;
        let (kind, params) = parse_media_type(value);
        if kind != "form-data" {
            return None;
        }
        params.get(key).cloned()
    }
}

/// The `boundary` parameter of a `Content-Type`.
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = parse_media_type(content_type);
    if kind != "multipart/form-data" {
        return None;
    }
    params.get("boundary").filter(|b| !b.is_empty()).cloned()
}

/// `type; key=value; key="quoted \" value"` → (lowercased type, params with lowercased
/// keys). Lenient where it can be: a malformed parameter is skipped.
fn parse_media_type(value: &str) -> (String, BTreeMap<String, String>) {
    let mut params = BTreeMap::new();
    let (kind, mut rest) = value.split_once(';').unwrap_or((value, ""));
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            val.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => val.push(c),
                }
            }
            (val, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, val);
        rest = tail;
    }
    (kind.trim().to_ascii_lowercase(), params)
}

/// Splits a multipart body (RFC 2046 §5.1.1): parts between `CRLF--boundary` delimiters,
/// transport padding after a delimiter allowed, `--` after the last. The body's first
/// delimiter has no CRLF before it, so one is prepended, as ops' parser does.
pub(crate) fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let delimiter = format!("\r\n--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut data = Vec::with_capacity(body.len() + 2);
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(body);

    let mut at = find(&data, delimiter, 0).ok_or("no boundary in multipart body")?;
    let mut parts = Vec::new();
    loop {
        let mut pos = at + delimiter.len();
        if data[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        while matches!(data.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !data[pos..].starts_with(b"\r\n") {
            return Err("boundary not followed by a line break".into());
        }
        let start = pos + 2;
        let next = find(&data, delimiter, start).ok_or("multipart body not terminated")?;
        parts.push(parse_part(&data[start..next])?);
        at = next;
    }
}

fn parse_part(raw: &[u8]) -> Result<Part, String> {
    // No headers at all: the part starts with the empty line.
    let (head, body) = if let Some(body) = raw.strip_prefix(b"\r\n") {
        (&[][..], body)
    } else {
        let end = find(raw, b"\r\n\r\n", 0).ok_or("part headers not terminated")?;
        (&raw[..end], &raw[end + 4..])
    };
    let head = std::str::from_utf8(head).map_err(|_| "part headers are not UTF-8")?;
    let mut headers = BTreeMap::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad part header {line:?}"))?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(Part {
        headers,
        body: body.to_vec(),
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_long_enough_for_pebble_and_differ() {
        let (a, b) = (boundary(), boundary());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn push_body_is_byte_for_byte_what_ops_sends() {
        // ops/pebble.py Client._encode_multipart with boundary b"0123…", metadata from
        // Client.push(path, b"Hello world", permissions=0o600, make_dirs=True).
        let metadata = br#"{"action": "write", "files": [{"permissions": "600", "path": "/etc/prometheus/prometheus.yml", "make-dirs": true}]}"#;
        let (body, content_type) = encode_push(
            "01234567890123456789012345678901",
            metadata,
            "/etc/prometheus/prometheus.yml",
            b"Hello world",
        );
        assert_eq!(
            content_type,
            "multipart/form-data; boundary=\"01234567890123456789012345678901\""
        );
        let expected = [
            &b"--01234567890123456789012345678901\r\n"[..],
            b"Content-Type: application/json\r\n",
            b"Content-Disposition: form-data; name=\"request\"\r\n",
            b"\r\n",
            metadata,
            b"\r\n--01234567890123456789012345678901\r\n",
            b"Content-Type: application/octet-stream\r\n",
            b"Content-Disposition: form-data; name=\"files\"; filename=\"/etc/prometheus/prometheus.yml\"\r\n",
            b"\r\n",
            b"Hello world",
            b"\r\n--01234567890123456789012345678901--\r\n",
        ]
        .concat();
        assert_eq!(body, expected);
        // And it reads back as the parts Pebble's writeFiles expects, in order.
        let parts = parse("01234567890123456789012345678901", &body).unwrap();
        assert_eq!(parts[0].form_param("name").as_deref(), Some("request"));
        assert_eq!(parts[0].body, metadata);
        assert_eq!(parts[1].form_param("name").as_deref(), Some("files"));
        assert_eq!(
            parts[1].form_param("filename").as_deref(),
            Some("/etc/prometheus/prometheus.yml")
        );
        assert_eq!(parts[1].body, b"Hello world");
    }

    #[test]
    fn reads_pebbles_test_request_with_bare_line_feeds_as_unterminated() {
        // internals/daemon/api_files_test.go TestWriteFile's body uses "\n" line ends,
        // which Go's multipart reader tolerates; ours reads only what Pebble *writes*
        // (CRLF), and says so rather than guessing.
        let body = "\n--01234567890123456789012345678901\nContent-Disposition: form-data; name=\"request\"\n\n{}\n--01234567890123456789012345678901--\n";
        assert!(parse("01234567890123456789012345678901", body.as_bytes()).is_err());
    }

    // What Pebble's readFilesResponse writes for a pull of one file, with Go's
    // multipart.Writer: the first delimiter without a leading CRLF, part headers sorted
    // (Content-Disposition before Content-Type), CreateFormFile's octet-stream, the JSON
    // from json.Encoder (so a trailing "\n"), then "\r\n--B--\r\n". The boundary has
    // Go's 60 hex digits, and FormDataContentType leaves it unquoted.
    const PULL_BOUNDARY: &str = "8f5b4e0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";
    fn pull_body(content: &str) -> String {
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"/etc/a \\\"b\\\".txt\"\r\nContent-Type: application/octet-stream\r\n\r\n{content}\r\n--{b}\r\nContent-Disposition: form-data; name=\"response\"\r\nContent-Type: application/json\r\n\r\n{{\"type\":\"sync\",\"status-code\":200,\"status\":\"OK\",\"result\":[{{\"path\":\"/etc/a \\\"b\\\".txt\"}}]}}\n\r\n--{b}--\r\n",
            b = PULL_BOUNDARY
        )
    }

    #[test]
    fn reads_a_pull_answer_as_pebble_writes_it() {
        assert_eq!(
            boundary_of(&format!("multipart/form-data; boundary={PULL_BOUNDARY}")).as_deref(),
            Some(PULL_BOUNDARY)
        );
        // Content that looks like a boundary of another length, and CRLFs, stays as is.
        let content = "line\r\n--8f5b\r\n\r\nend";
        let parts = parse(PULL_BOUNDARY, pull_body(content).as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0].form_param("filename").as_deref(),
            Some("/etc/a \"b\".txt")
        );
        assert_eq!(parts[0].body, content.as_bytes());
        assert_eq!(parts[1].form_param("name").as_deref(), Some("response"));
        assert!(parts[1].body.ends_with(b"]}\n"));
    }

    #[test]
    fn unterminated_bodies_are_errors() {
        let body = pull_body("x");
        let cut = &body.as_bytes()[..body.len() - 10];
        assert!(parse(PULL_BOUNDARY, cut).is_err());
        assert!(parse("other-boundary-000000000000000000", body.as_bytes()).is_err());
    }
}
