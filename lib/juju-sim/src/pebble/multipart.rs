//! `multipart/form-data` as Pebble's files API speaks it: a `request` (push) or
//! `response` (pull) JSON part and `files` parts named by their path.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub body: Vec<u8>,
}

/// The `boundary` parameter of a `Content-Type` (quoted or not).
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The media type of a `Content-Type`, lower-cased.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A `Content-Disposition` parameter (`name`, `filename`), with `\"` unescaped.
fn disposition_param(value: &str, key: &str) -> Option<String> {
    let mut rest = value;
    while let Some(at) = rest.find(';') {
        rest = rest[at + 1..].trim_start();
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        if k.trim().eq_ignore_ascii_case(key) {
            let v = v.trim_start();
            if let Some(quoted) = v.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                        }
                        '"' => break,
                        c => out.push(c),
                    }
                }
                return Some(out);
            }
            return Some(v.split(';').next().unwrap_or("").trim().to_string());
        }
    }
    None
}

/// Splits a form body into its parts.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0).ok_or("multipart: NextPart: EOF")?;
    let mut parts = Vec::new();
    loop {
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let head_start = after + 2; // CRLF after the delimiter
        let (head_end, content_start) = if body
            .get(head_start..)
            .is_some_and(|rest| rest.starts_with(b"\r\n"))
        {
            (head_start, head_start + 2)
        } else {
            let end =
                find(body, b"\r\n\r\n", head_start).ok_or("multipart: malformed part head")?;
            (end, end + 4)
        };
        let head = String::from_utf8_lossy(body.get(head_start..head_end).unwrap_or_default());
        let mut name = String::new();
        let mut filename = None;
        for line in head.split("\r\n") {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-disposition") {
                    name = disposition_param(v, "name").unwrap_or_default();
                    filename = disposition_param(v, "filename");
                }
            }
        }
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(delimiter);
        let end = find(body, &closing, content_start).ok_or("multipart: unexpected EOF")?;
        parts.push(Part {
            name,
            filename,
            body: body[content_start..end].to_vec(),
        });
        at = end + 2;
    }
}

/// A part to write: its headers and body.
pub(crate) type FormPart = (Vec<(String, String)>, Vec<u8>);

/// Writes a form: each part with its headers, as Go's `multipart.Writer` does.
pub(crate) fn build(boundary: &str, parts: &[FormPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for (headers, body) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (k, v) in headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_ops_sends() {
        let b = "0123456789abcdef0123456789abcdef";
        let body = format!(
            "--{b}\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{{\"action\":\"write\"}}\r\n--{b}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"files\"; filename=\"/a \\\"b\\\"\"\r\n\r\nline\r\n\r\n--{b}--\r\n"
        );
        let parts = parse(body.as_bytes(), b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "request");
        assert_eq!(parts[0].body, b"{\"action\":\"write\"}");
        assert_eq!(parts[1].filename.as_deref(), Some("/a \"b\""));
        assert_eq!(parts[1].body, b"line\r\n");
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary=\"{b}\"")).as_deref(),
            Some(b)
        );
        let built = build(b, &[(vec![], b"x".to_vec())]);
        assert_eq!(parse(&built, b).unwrap()[0].body, b"x");
    }
}
