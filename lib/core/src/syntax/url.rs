//! Hosts, ports, paths and `http(s)://` URLs as Prometheus (Go's `net/url`) reads them, for
//! targets and URLs from relation data and for URLs an operator types. Deliberately strict:
//! what Prometheus and a browser both read the same way.

use thiserror::Error;

/// Longest URL, host or path we accept.
pub const MAX_URL_BYTES: usize = 1024;

/// A refused host, port, path or URL: what it was meant to be, the value, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} {value:?}: {why}")]
pub struct UrlError {
    pub what: &'static str,
    pub value: String,
    pub why: String,
}

impl UrlError {
    fn new(what: &'static str, value: &str, why: impl Into<String>) -> Self {
        UrlError {
            what,
            value: value.to_string(),
            why: why.into(),
        }
    }
}

/// Host part of a target or URL: a DNS name, an IPv4 address, or an IPv6 address (bare or in
/// brackets). Returns the host as it must appear in `host:port`.
pub fn host(s: &str) -> Result<String, UrlError> {
    let bad = |why: &str| UrlError::new("host", s, why);
    if s.is_empty() || s.len() > 253 + 2 {
        return Err(bad("empty or too long"));
    }
    let ipv6 = |inner: &str| inner.parse::<std::net::Ipv6Addr>().is_ok();
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return if ipv6(inner) {
            Ok(s.to_string())
        } else {
            Err(bad("not an IPv6 address"))
        };
    }
    if ipv6(s) {
        return Ok(format!("[{s}]"));
    }
    let dns_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && !s.starts_with(['-', '.']);
    if dns_ok {
        Ok(s.to_string())
    } else {
        Err(bad("not a host name or IP address"))
    }
}

pub fn port(s: &str) -> Result<u16, UrlError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(UrlError::new("port", s, "not a port number")),
    }
}

/// `host[:port]` split into its parts, the host bracketed when it is IPv6.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), UrlError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or_else(|| UrlError::new("address", s, "unclosed '['"))?;
        let h = host(&format!("[{inner}]"))?;
        return match after {
            "" => Ok((h, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((h, Some(port(p)?))),
                None => Err(UrlError::new("address", s, "junk after ']'")),
            },
        };
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((h, _)) if h.contains(':') => Ok((host(s)?, None)),
        Some((h, p)) => Ok((host(h)?, Some(port(p)?))),
        None => Ok((host(s)?, None)),
    }
}

pub fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// An URL path (or path prefix): empty, or `/`-led, made of URL path characters.
pub fn url_path(s: &str) -> Result<(), UrlError> {
    if s.is_empty() {
        return Ok(());
    }
    if s.len() > MAX_URL_BYTES || !s.starts_with('/') {
        return Err(UrlError::new("path", s, "must start with '/' and be short"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c);
    if !s.chars().all(allowed) {
        return Err(UrlError::new(
            "path",
            s,
            "contains characters not allowed in a URL path",
        ));
    }
    if s.split('/').any(|seg| seg == "..") {
        return Err(UrlError::new("path", s, "contains '..'"));
    }
    let bad_escape = !valid_escapes(s);
    if bad_escape {
        return Err(UrlError::new("path", s, "has a malformed %-escape"));
    }
    Ok(())
}

/// `url` with any credentials in it (`user:password@`) replaced, for messages.
pub fn without_credentials(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{prefix}<credentials>{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// A parsed `http(s)://host[:port][/path]` URL; anything else (credentials, query, fragment)
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(s: &str) -> Result<Self, UrlError> {
        // A refused URL is quoted back: never with the credentials it may carry.
        let shown = without_credentials(s);
        let bad = |why: &str| UrlError::new("URL", &shown, why);
        if s.len() > MAX_URL_BYTES {
            return Err(bad("too long"));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("scheme must be http or https"));
        }
        if rest.contains(['?', '#', '@']) {
            return Err(bad("credentials, query or fragment not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority)?;
        url_path(path)?;
        Ok(HttpUrl {
            scheme,
            host,
            port,
            path: path.to_string(),
        })
    }

    pub fn address(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.address(), self.path)
    }
}

/// An absolute `http://` or `https://` URL an operator typed (`web-external-url`,
/// `remote-write-urls`): the host and port of [`split_host_port`] (IPv6 in brackets), with
/// optional user information, path, query and fragment as Go's `url.Parse` takes them
/// (valid `%`-escapes, no spaces or control characters).
pub fn is_http_url(text: &str) -> bool {
    if text.len() > MAX_URL_BYTES || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return false;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) if is_userinfo(userinfo) => host_port,
        Some(_) => return false,
        None => authority,
    };
    // A bare IPv6 address is ambiguous with a port: brackets required in a URL.
    let bare_ipv6 = !host_port.starts_with('[') && host_port.matches(':').count() > 1;
    if bare_ipv6 || split_host_port(host_port).is_err() {
        return false;
    }
    let (before_fragment, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    let path = before_fragment
        .split_once('?')
        .map_or(before_fragment, |(p, _)| p);
    valid_escapes(path) && valid_escapes(fragment) && valid_escapes(before_fragment)
}

/// `user[:password]`, non-empty, of the characters Go's `validUserinfo` allows.
fn is_userinfo(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
        && valid_escapes(s)
}

/// Every '%' starts an escape of two hex digits, or URL parsing fails.
fn valid_escapes(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_targets() {
        assert_eq!(
            split_host_port("10.1.36.90:8080"),
            Ok(("10.1.36.90".into(), Some(8080)))
        );
        assert_eq!(
            split_host_port("zinc-0.zinc-endpoints.cos.svc.cluster.local"),
            Ok(("zinc-0.zinc-endpoints.cos.svc.cluster.local".into(), None))
        );
        assert_eq!(
            split_host_port("[fd00::1]:9090"),
            Ok(("[fd00::1]".into(), Some(9090)))
        );
        assert_eq!(split_host_port("fd00::1"), Ok(("[fd00::1]".into(), None)));
        for bad in [
            "",
            "a b:80",
            "host:0",
            "host:99999",
            "host:+80",
            "http://x:80",
            "x/y:80",
            "[zz]:1",
            "-x",
            "a:b:c:",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://alertmanager-0.am.cos.svc.cluster.local:9093").unwrap();
        assert_eq!(u.scheme, "http");
        assert_eq!(u.port, Some(9093));
        assert_eq!(u.path, "");
        let u = HttpUrl::parse("HTTPS://10.0.0.1/cos-am/").unwrap();
        assert_eq!((u.scheme.as_str(), u.path.as_str()), ("https", "/cos-am/"));
        assert_eq!(u.to_string(), "https://10.0.0.1/cos-am/");
        for bad in [
            "ftp://x",
            "x:9093",
            "http://u:p@x",
            "http://x/?q",
            "http://x/a b",
            "http://x/../etc",
            "http://x/a%i/b",
            "http://x/a%2",
            "http:///p",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_urls() {
        for ok in [
            "http://mimir:9009/api/v1/push",
            "https://thanos.example.com",
            "HTTPS://thanos.example.com",
            "http://10.0.0.1:80/",
            "http://[::1]:9090/api/v1/write",
            "https://user:pass@host/x?y=1",
            "https://host/x?y=a%20b#frag",
            "http://host/%41",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "mimir:9009",
            "ftp://host/",
            "http://",
            "http:///path",
            "http://host:port/",
            "http://host:0/",
            "http://host:+80/",
            "http://host:70000/",
            "http://ho st/",
            "http://host/a b",
            "http://[zz]/",
            "http://@host/",
            "http://host:/",
            "http://fd00::1/",
            "http://host/%zz",
            "http://host/#%4",
            "http://us er@host/",
            "http://-host/",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
