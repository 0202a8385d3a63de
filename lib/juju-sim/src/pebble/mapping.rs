//! The workload container as a local directory (pure): a container path maps under the
//! unit's pod root (`workload::container::Place.root`, the same root the pod-spec live
//! mode uses), except the image's system directories (`/usr`, `/bin`, `/sbin`, `/lib`, …),
//! which the host's stand in for; the image's `prometheus` (`/bin/prometheus`,
//! `/usr/bin/prometheus`) and `alertmanager` are the host's Debian binaries; in services
//! and exec commands every absolute path argument outside the system directories maps
//! under the root and `--web.listen-address` binds the pod IP (its port kept).

use std::path::{Component, Path, PathBuf};

use crate::workload::container::{ALERTMANAGER, PROMETHEUS};

/// Directories the host stands in for (the image's own system files).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev",
];
const LISTEN_FLAG: &str = "--web.listen-address";
/// Pebble's default PATH for services and exec when the environment has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Splits a service command as Pebble does (shell words; a trailing `[ ... ]` group holds
/// default arguments, which run unless replaced).
pub(crate) fn split_command(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n) => current.push(n),
                None => return Err("EOF found after escape character".into()),
            },
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => match chars.next() {
                Some(n) => {
                    current.push(n);
                    in_word = true;
                }
                None => return Err("EOF found after escape character".into()),
            },
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("EOF found when expecting closing quote".into());
    }
    if in_word {
        words.push(current);
    }
    let mut out = Vec::new();
    let mut in_group = false;
    for w in words {
        match w.as_str() {
            "[" if in_group => return Err("cannot nest [ ... ] groups".into()),
            "[" if out.is_empty() => return Err("cannot start command with [ ... ] group".into()),
            "[" => in_group = true,
            "]" if !in_group => return Err("cannot have ] outside of [ ... ] group".into()),
            "]" => in_group = false,
            _ => out.push(w),
        }
    }
    if in_group {
        return Err("cannot have any arguments after [ ... ] group".into());
    }
    if out.is_empty() {
        return Err("empty command".into());
    }
    Ok(out)
}

/// Lexically normalises an absolute container path; `None` if it is not absolute.
pub(crate) fn clean(path: &str) -> Option<PathBuf> {
    if !path.starts_with('/') {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn is_system(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
}

/// One unit's container, as the stand-in sees it.
#[derive(Debug, Clone)]
pub(crate) struct Mapper {
    pub root: PathBuf,
    pub pod_ip: String,
}

impl Mapper {
    /// Where the files API finds a container path: always under the root (`..` cannot
    /// climb out of it).
    pub(crate) fn file(&self, path: &str) -> Option<PathBuf> {
        let clean = clean(path)?;
        let relative = clean.strip_prefix("/").unwrap_or(&clean).to_path_buf();
        Some(self.root.join(relative))
    }

    /// Where a process finds a container path: system directories are the host's.
    pub(crate) fn process_path(&self, path: &str) -> String {
        match clean(path) {
            Some(c) if !is_system(&c) => self
                .file(path)
                .map_or_else(|| path.to_string(), |p| p.display().to_string()),
            _ => path.to_string(),
        }
    }

    /// The host program for a command's first word, or `None` when there is none
    /// (Pebble: `cannot find executable`).
    pub(crate) fn program(&self, word: &str, path_var: &str) -> Option<PathBuf> {
        let base = Path::new(word)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(word);
        match base {
            "prometheus" => return Some(PathBuf::from(PROMETHEUS)),
            "alertmanager" | "prometheus-alertmanager" => return Some(PathBuf::from(ALERTMANAGER)),
            _ => {}
        }
        if word.contains('/') {
            let local = PathBuf::from(self.process_path(word));
            if executable(&local) {
                return Some(local);
            }
            // An image binary the host keeps elsewhere (`/bin/promtool` → `/usr/bin/promtool`).
            let on_host = Path::new("/usr/bin").join(base);
            return (clean(word).is_some_and(|c| is_system(&c)) && executable(&on_host))
                .then_some(on_host);
        }
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(self.process_path(d)).join(word))
            .find(|p| executable(p))
    }

    /// Arguments with container paths and the listen address mapped.
    pub(crate) fn args(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(args.len());
        let mut pending: Option<&str> = None;
        for a in args {
            if a.starts_with('-') {
                pending = None;
                match a.split_once('=') {
                    Some((flag, value)) => {
                        out.push(format!("{flag}={}", self.value(Some(flag), value)));
                    }
                    None => {
                        pending = Some(a.as_str());
                        out.push(a.clone());
                    }
                }
            } else {
                out.push(self.value(pending.take(), a));
            }
        }
        out
    }

    fn value(&self, flag: Option<&str>, value: &str) -> String {
        if flag == Some(LISTEN_FLAG) {
            if let Some((_, port)) = value.rsplit_once(':') {
                return format!("{}:{port}", self.pod_ip);
            }
        }
        if value.starts_with('/') {
            return self.process_path(value);
        }
        value.to_string()
    }

    /// A check's or URL's host: the pod's own names are its IP here.
    pub(crate) fn host(&self, host: &str) -> String {
        match host {
            "" | "localhost" | "127.0.0.1" | "0.0.0.0" | "::1" | "[::1]" | "::" => {
                self.pod_ip.clone()
            }
            h => h.to_string(),
        }
    }
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper() -> Mapper {
        Mapper {
            root: PathBuf::from("/m/workloads/prometheus-0/root"),
            pod_ip: "127.0.0.9".into(),
        }
    }

    #[test]
    fn commands_split_like_pebbles() {
        assert_eq!(
            split_command("/bin/prometheus --a='x y' \"q\\\"\" [ --d ]").unwrap(),
            ["/bin/prometheus", "--a=x y", "q\"", "--d"]
        );
        assert!(split_command("a 'b").is_err());
        assert!(split_command("[ a ]").is_err());
    }

    #[test]
    fn paths_and_the_listen_address_map_into_the_pod() {
        let m = mapper();
        assert_eq!(
            m.args(&[
                "--config.file=/etc/prometheus/prometheus.yml".into(),
                "--web.listen-address=0.0.0.0:9090".into(),
                "--web.console.templates=/usr/share/prometheus/consoles".into(),
                "--storage.tsdb.path".into(),
                "/prometheus".into(),
                "plain".into(),
            ]),
            [
                "--config.file=/m/workloads/prometheus-0/root/etc/prometheus/prometheus.yml",
                "--web.listen-address=127.0.0.9:9090",
                "--web.console.templates=/usr/share/prometheus/consoles",
                "--storage.tsdb.path",
                "/m/workloads/prometheus-0/root/prometheus",
                "plain",
            ]
        );
        assert_eq!(
            m.file("/etc/../../x").unwrap(),
            PathBuf::from("/m/workloads/prometheus-0/root/x")
        );
        assert_eq!(m.file("relative"), None);
        assert_eq!(
            m.program("/bin/prometheus", DEFAULT_PATH),
            Some(PathBuf::from(PROMETHEUS))
        );
        assert_eq!(m.host("localhost"), "127.0.0.9");
    }
}
