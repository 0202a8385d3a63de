//! The Pebble stand-in against the official Python client: `ops.pebble.Client` (from the
//! `ops` package, which CI installs) drives a live stand-in through
//! `pebble_conformance.py`. A machine without `ops` fails this test: it is what tells
//! the stand-in speaks Pebble's API.

use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("pebble_conformance.py");

/// Stops the stand-in's process group (it and its services) however the test ends.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_official_python_client_drives_the_stand_in() {
    let ops = Command::new("python3")
        .args(["-c", "import ops.pebble, websocket"])
        .output()
        .expect("python3 runs");
    assert!(
        ops.status.success(),
        "the conformance test needs Python's ops and websocket-client \
         (`python3 -m pip install ops websocket-client`, as `make deps` does): {}",
        String::from_utf8_lossy(&ops.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pebble.socket");
    let exe = assert_cmd::cargo::cargo_bin("juju-sim");
    let child = Command::new(exe)
        .arg("pebble-serve")
        .arg("--socket")
        .arg(&socket)
        .arg("--root")
        .arg(dir.path().join("root"))
        .args(["--pod-ip", "127.0.0.1", "--container", "workload", "--live"])
        .arg("--log")
        .arg(dir.path().join("pebble.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let _group = Group(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the stand-in did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = dir.path().join("conformance.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&socket)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("pebble.log")).unwrap_or_default();
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .trim_end()
                .ends_with("ok"),
        "conformance script failed\nstdout:\n{}\nstderr:\n{}\nstand-in log:\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}
