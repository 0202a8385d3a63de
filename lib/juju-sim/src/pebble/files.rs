//! Pebble's files API (`internals/daemon/api_files.go`) over the unit's pod root: list,
//! read (a multipart answer), write (a multipart request, with `make-dirs` and
//! `permissions`), make-dirs and remove. Paths are the container's; every message names
//! them as Go's `os` errors do (`stat /etc/x: no such file or directory`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::changes::rfc3339;
use super::daemon::Daemon;
use super::http::{self, bad_request, Request, Response};
use super::mapping::clean;
use super::multipart;

/// Go's error text for an I/O error: glibc's message, lower-cased, without Rust's suffix.
pub(crate) fn errno_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(f) => f.to_lowercase().collect::<String>() + chars.as_str(),
        None => text,
    }
}

fn kind_of(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => "not-found",
        io::ErrorKind::PermissionDenied => "permission-denied",
        _ => "generic-file-error",
    }
}

/// A per-path error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileError {
    kind: &'static str,
    message: String,
}

impl FileError {
    fn io(op: &str, path: &str, e: &io::Error) -> FileError {
        FileError {
            kind: kind_of(e),
            message: format!("{op} {path}: {}", errno_text(e)),
        }
    }

    fn generic(message: String) -> FileError {
        FileError {
            kind: "generic-file-error",
            message,
        }
    }
}

fn results(items: Vec<(String, Result<(), FileError>)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(path, r)| match r {
                Ok(()) => json!({"path": path}),
                Err(e) => json!({"path": path, "error": {"message": e.message, "kind": e.kind}}),
            })
            .collect(),
    )
}

fn absolute(path: &str) -> Result<(), FileError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(FileError::generic(format!(
            "paths must be absolute, got {path:?}"
        )))
    }
}

pub(crate) fn get(d: &Daemon, r: &Request) -> Response {
    let action = r.query("action").unwrap_or("");
    match action {
        "read" => {
            let paths = r.query_all("path");
            if paths.is_empty() {
                return bad_request("must specify one or more paths");
            }
            if r.header("accept") != Some("multipart/form-data") {
                return bad_request("must accept multipart/form-data");
            }
            read(d, &paths)
        }
        "list" => {
            let path = r.query("path").unwrap_or("");
            if path.is_empty() {
                return bad_request("must specify path");
            }
            let itself = r.query("itself").unwrap_or("");
            if !matches!(itself, "" | "true" | "false") {
                return bad_request("itself parameter must be \"true\" or \"false\"");
            }
            list(d, path, r.query("pattern").unwrap_or(""), itself == "true")
        }
        other => bad_request(&format!("invalid action {other:?}")),
    }
}

fn boundary_for(seed: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let h = crate::hash::fnv1a(crate::hash::OFFSET ^ (nanos as u64), seed.as_bytes());
    format!(
        "{h:016x}{:016x}{:028x}",
        h.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
        nanos
    )
}

fn read(d: &Daemon, paths: &[&str]) -> Response {
    let boundary = boundary_for(paths.first().copied().unwrap_or(""));
    let mut parts: Vec<multipart::FormPart> = Vec::new();
    let mut outcome = Vec::new();
    for path in paths {
        let r = read_one(d, path);
        match r {
            Ok(content) => {
                parts.push((
                    vec![
                        (
                            "Content-Disposition".into(),
                            format!(
                                "form-data; name=\"files\"; filename=\"{}\"",
                                path.replace('\\', "\\\\").replace('"', "\\\"")
                            ),
                        ),
                        ("Content-Type".into(), "application/octet-stream".into()),
                    ],
                    content,
                ));
                outcome.push((path.to_string(), Ok(())));
            }
            Err(e) => outcome.push((path.to_string(), Err(e))),
        }
    }
    let response = json!({
        "type": "sync", "status-code": 200, "status": "OK", "result": results(outcome),
    });
    parts.push((
        vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "Content-Disposition".into(),
                "form-data; name=\"response\"".into(),
            ),
        ],
        serde_json::to_vec(&response).unwrap_or_default(),
    ));
    Response {
        status: 200,
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body: multipart::build(&boundary, &parts),
    }
}

/// Where an absolute container path is locally.
fn local(d: &Daemon, path: &str) -> Result<std::path::PathBuf, FileError> {
    absolute(path)?;
    d.cfg
        .mapper
        .file(path)
        .ok_or_else(|| FileError::generic(format!("paths must be absolute, got {path:?}")))
}

fn read_one(d: &Daemon, path: &str) -> Result<Vec<u8>, FileError> {
    let local = local(d, path)?;
    let meta = fs::metadata(&local).map_err(|e| FileError::io("stat", path, &e))?;
    if !meta.is_file() {
        return Err(FileError::generic(format!(
            "can only read a regular file: {path:?}"
        )));
    }
    fs::read(&local).map_err(|e| FileError::io("open", path, &e))
}

fn names(file: &str) -> BTreeMap<u32, String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

fn file_type(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        "file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_socket() {
        "socket"
    } else if t.is_fifo() {
        "named-pipe"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "unknown"
    }
}

fn info(
    path: &str,
    meta: &fs::Metadata,
    users: &BTreeMap<u32, String>,
    groups: &BTreeMap<u32, String>,
) -> Value {
    let mut out = Map::new();
    out.insert("path".into(), json!(path));
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("/");
    out.insert("name".into(), json!(name));
    out.insert("type".into(), json!(file_type(meta)));
    if meta.is_file() {
        out.insert("size".into(), json!(meta.len()));
    }
    out.insert(
        "permissions".into(),
        json!(format!("{:03o}", meta.permissions().mode() & 0o777)),
    );
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    out.insert("last-modified".into(), json!(rfc3339(modified, false)));
    out.insert("user-id".into(), json!(meta.uid()));
    out.insert(
        "user".into(),
        json!(users.get(&meta.uid()).cloned().unwrap_or_default()),
    );
    out.insert("group-id".into(), json!(meta.gid()));
    out.insert(
        "group".into(),
        json!(groups.get(&meta.gid()).cloned().unwrap_or_default()),
    );
    Value::Object(out)
}

/// Go's `path.Match` for one name: `*`, `?` and `[...]` classes.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| !n[..i].contains(&'/') && go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(c) = n.first() else {
                    return false;
                };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && go(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn list(d: &Daemon, path: &str, pattern: &str, itself: bool) -> Response {
    if !path.starts_with('/') {
        return bad_request(&format!("path must be absolute, got {path:?}"));
    }
    let Some(local) = d.cfg.mapper.file(path) else {
        return bad_request(&format!("path must be absolute, got {path:?}"));
    };
    let shown = clean(path)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let meta = match fs::metadata(&local) {
        Ok(m) => m,
        Err(e) => {
            let status = match e.kind() {
                io::ErrorKind::NotFound => 404,
                io::ErrorKind::PermissionDenied => 403,
                _ => 400,
            };
            return http::error(
                status,
                &format!("stat {path}: {}", errno_text(&e)),
                Some(kind_of(&e)),
            );
        }
    };
    let users = names("/etc/passwd");
    let groups = names("/etc/group");
    let mut entries: Vec<(String, fs::Metadata)> = Vec::new();
    if !meta.is_dir() || itself {
        let name = Path::new(&shown)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("/")
            .to_string();
        entries.push((name, meta));
        let parent = Path::new(&shown)
            .parent()
            .map_or_else(|| "/".into(), |p| p.display().to_string());
        return finish(entries, &parent, pattern, &users, &groups);
    }
    match fs::read_dir(&local) {
        Ok(rd) => {
            for e in rd.flatten() {
                if let Ok(m) = e.path().symlink_metadata() {
                    entries.push((e.file_name().to_string_lossy().into_owned(), m));
                }
            }
        }
        Err(e) => {
            return http::error(
                400,
                &format!("open {path}: {}", errno_text(&e)),
                Some(kind_of(&e)),
            )
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    finish(entries, &shown, pattern, &users, &groups)
}

fn finish(
    entries: Vec<(String, fs::Metadata)>,
    dir: &str,
    pattern: &str,
    users: &BTreeMap<u32, String>,
    groups: &BTreeMap<u32, String>,
) -> Response {
    let out: Vec<Value> = entries
        .iter()
        .filter(|(n, _)| pattern.is_empty() || glob(pattern, n))
        .map(|(n, m)| {
            let full = Path::new(dir).join(n).display().to_string();
            info(&full, m, users, groups)
        })
        .collect();
    http::sync(Value::Array(out))
}

fn permissions(text: &str, default: u32) -> Result<u32, FileError> {
    if text.is_empty() {
        return Ok(default);
    }
    match u32::from_str_radix(text, 8) {
        Ok(p) if text.len() == 3 => Ok(p),
        _ => Err(FileError::generic(format!(
            "permissions must be a 3-digit octal string, got {text:?}"
        ))),
    }
}

fn ids(item: &Map<String, Value>) -> (Option<u32>, Option<u32>) {
    let id = |k: &str| {
        item.get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    (id("user-id"), id("group-id"))
}

fn chown(local: &Path, item: &Map<String, Value>) {
    let (uid, gid) = ids(item);
    if uid.is_some() || gid.is_some() {
        let _ = std::os::unix::fs::chown(local, uid, gid);
    }
}

/// `mkdir -p` with each new directory given `mode`.
fn make_parents(
    path: &str,
    local: &Path,
    mode: u32,
    item: &Map<String, Value>,
) -> Result<(), FileError> {
    let mut missing = Vec::new();
    let mut at = local.to_path_buf();
    while !at.exists() {
        missing.push(at.clone());
        if !at.pop() {
            break;
        }
    }
    for dir in missing.iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode));
                chown(dir, item);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FileError::io("mkdir", path, &e)),
        }
    }
    match fs::metadata(local) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(FileError::generic(format!("mkdir {path}: not a directory"))),
        Err(e) => Err(FileError::io("mkdir", path, &e)),
    }
}

fn write_one(d: &Daemon, item: &Map<String, Value>, content: &[u8]) -> Result<(), FileError> {
    let path = item.get("path").and_then(Value::as_str).unwrap_or("");
    let local = local(d, path)?;
    let parent = local.parent().unwrap_or(&d.cfg.mapper.root).to_path_buf();
    if item
        .get("make-dirs")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let shown = Path::new(path)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        make_parents(&shown, &parent, 0o755, item)
            .map_err(|e| FileError::generic(format!("cannot create directory: {}", e.message)))?;
    }
    let mode = permissions(
        item.get("permissions")
            .and_then(Value::as_str)
            .unwrap_or(""),
        0o644,
    )?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(&parent).map_err(|e| FileError::io("open", path, &e))?;
    tmp.write_all(content)
        .map_err(|e| FileError::io("write", path, &e))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .map_err(|e| FileError::io("chmod", path, &e))?;
    chown(tmp.path(), item);
    tmp.persist(&local)
        .map_err(|e| FileError::io("rename", path, &e.error))?;
    Ok(())
}

pub(crate) fn post(d: &Daemon, r: &Request) -> Response {
    let content_type = r.header("content-type").unwrap_or("");
    match multipart::media_type(content_type).as_str() {
        "multipart/form-data" => {
            let boundary = multipart::boundary(content_type).unwrap_or_default();
            if boundary.len() < 32 {
                return bad_request(&format!("invalid boundary {boundary:?}"));
            }
            write(d, &r.body, &boundary)
        }
        "application/json" => {
            let body: Map<String, Value> = match serde_json::from_slice(&r.body) {
                Ok(b) => b,
                Err(e) => return bad_request(&format!("cannot decode request body: {e}")),
            };
            let items = |k: &str| -> Vec<Map<String, Value>> {
                body.get(k)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
                    .unwrap_or_default()
            };
            match body.get("action").and_then(Value::as_str).unwrap_or("") {
                "make-dirs" => http::sync(results(
                    items("dirs")
                        .iter()
                        .map(|i| (text(i, "path"), make_dir(d, i)))
                        .collect(),
                )),
                "remove" => http::sync(results(
                    items("paths")
                        .iter()
                        .map(|i| (text(i, "path"), remove(d, i)))
                        .collect(),
                )),
                "write" => bad_request("must use multipart with \"write\" action"),
                other => bad_request(&format!("invalid action {other:?}")),
            }
        }
        other => bad_request(&format!("invalid media type {other:?}")),
    }
}

fn text(item: &Map<String, Value>, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn write(d: &Daemon, body: &[u8], boundary: &str) -> Response {
    let parts = match multipart::parse(body, boundary) {
        Ok(p) => p,
        Err(e) => return bad_request(&format!("cannot read request metadata: {e}")),
    };
    let Some(first) = parts.first() else {
        return bad_request("cannot read request metadata: EOF");
    };
    if first.name != "request" {
        return bad_request(&format!(
            "metadata field name must be \"request\", got {:?}",
            first.name
        ));
    }
    let payload: Map<String, Value> = match serde_json::from_slice(&first.body) {
        Ok(p) => p,
        Err(e) => return bad_request(&format!("cannot decode request metadata: {e}")),
    };
    let action = payload.get("action").and_then(Value::as_str).unwrap_or("");
    if action != "write" {
        return bad_request(&format!(
            "multipart action must be \"write\", got {action:?}"
        ));
    }
    let files: Vec<Map<String, Value>> = payload
        .get("files")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    if files.is_empty() {
        return bad_request("must specify one or more files");
    }
    let mut done: BTreeMap<String, Result<(), FileError>> = BTreeMap::new();
    for part in &parts[1..] {
        if part.name != "files" {
            return bad_request(&format!(
                "field name must be \"files\", got {:?}",
                part.name
            ));
        }
        let path = part.filename.clone().unwrap_or_default();
        let Some(item) = files.iter().find(|f| text(f, "path") == path) else {
            return bad_request(&format!("no metadata for path {path:?}"));
        };
        let result = write_one(d, item, &part.body);
        done.insert(path, result);
    }
    let outcome = files
        .iter()
        .map(|f| {
            let path = text(f, "path");
            let r = done.remove(&path).unwrap_or_else(|| {
                Err(FileError::generic(format!(
                    "no file content for path {path:?}"
                )))
            });
            (path, r)
        })
        .collect();
    d.note("files written");
    http::sync(results(outcome))
}

fn make_dir(d: &Daemon, item: &Map<String, Value>) -> Result<(), FileError> {
    let path = text(item, "path");
    absolute(&path)?;
    let mode = permissions(&text(item, "permissions"), 0o755)?;
    let local = d
        .cfg
        .mapper
        .file(&path)
        .ok_or_else(|| FileError::generic(format!("paths must be absolute, got {path:?}")))?;
    if item
        .get("make-parents")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        make_parents(&path, &local, mode, item)?;
        let _ = fs::set_permissions(&local, fs::Permissions::from_mode(mode));
        return Ok(());
    }
    fs::create_dir(&local).map_err(|e| FileError::io("mkdir", &path, &e))?;
    let _ = fs::set_permissions(&local, fs::Permissions::from_mode(mode));
    chown(&local, item);
    Ok(())
}

fn remove(d: &Daemon, item: &Map<String, Value>) -> Result<(), FileError> {
    let path = text(item, "path");
    let local = local(d, &path)?;
    if local == d.cfg.mapper.root {
        return Err(FileError::generic(format!(
            "remove {path}: device or resource busy"
        )));
    }
    let recursive = item
        .get("recursive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let meta = fs::symlink_metadata(&local);
    let result = match (recursive, meta) {
        (true, Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        (true, Ok(m)) if m.is_dir() => fs::remove_dir_all(&local),
        (_, Ok(m)) if m.is_dir() => fs::remove_dir(&local),
        (_, Ok(_)) => fs::remove_file(&local),
        (_, Err(e)) => Err(e),
    };
    result.map_err(|e| FileError::io("remove", &path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go_path_match() {
        assert!(glob("*.yml", "prometheus.yml"));
        assert!(!glob("*.yml", "rules.yaml"));
        assert!(glob("p[0-9][0-9].json", "p07.json"));
        assert!(glob("?", "a"));
        assert!(!glob("[^a]", "a"));
    }

    #[test]
    fn io_errors_read_as_gos() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(
            FileError::io("stat", "/x", &e).message,
            "stat /x: no such file or directory"
        );
        assert_eq!(kind_of(&e), "not-found");
    }
}
