//! Detached workload processes: started in their own process group so they outlive the
//! juju-sim command, recognised later by PID *and* start time (a PID alone may have been
//! reused), stopped like a kubelet does (SIGTERM, then SIGKILL after a grace period).

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to exit after SIGTERM.
pub(crate) const GRACE: Duration = Duration::from_secs(10);

/// A process we started, as it identifies itself in /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Running {
    pub pid: u32,
    pub start_time: u64,
}

/// `/proc/<pid>/stat`: the state letter and the start time (clock ticks since boot).
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

/// Whether the process still runs (a zombie has finished: it only awaits its parent).
pub(crate) fn alive(p: Running) -> bool {
    stat(p.pid).is_some_and(|(state, start)| start == p.start_time && !matches!(state, 'Z' | 'X'))
}

/// Starts `program` detached, with exactly `env`, output appended to `log`.
pub(crate) fn spawn(
    program: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    log: &Path,
) -> std::io::Result<Running> {
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    // The child is not waited for: it is the model's, not this command's.
    drop(child);
    let start_time = stat(pid)
        .map(|(_, t)| t)
        .ok_or_else(|| std::io::Error::other(format!("process {pid} vanished as it started")))?;
    Ok(Running { pid, start_time })
}

/// Sends a signal to the process's group (its own, see [`spawn`]) through kill(1).
fn signal(p: Running, name: &str) {
    if alive(p) {
        let _ = Command::new("kill")
            .args([format!("-{name}"), "--".into(), format!("-{}", p.pid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn wait_gone(p: Running, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while alive(p) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

/// SIGTERM, then SIGKILL once the grace period is over; true when the process is gone.
pub(crate) fn stop(p: Running, grace: Duration) -> bool {
    signal(p, "TERM");
    if wait_gone(p, grace) {
        return true;
    }
    signal(p, "KILL");
    wait_gone(p, Duration::from_secs(5))
}

/// A TCP port nothing listens on at the moment, on the loopback interface.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_process_is_alive_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let p = spawn(
            "/bin/sleep",
            &["30".to_string()],
            &env,
            dir.path(),
            &dir.path().join("log"),
        )
        .unwrap();
        assert!(alive(p));
        assert!(!alive(Running {
            start_time: p.start_time + 1,
            ..p
        }));
        assert!(stop(p, Duration::from_secs(5)));
        assert!(!alive(p));
    }
}
