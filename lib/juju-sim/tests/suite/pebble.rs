//! The Pebble stand-in against the official Python client: `ops.pebble.Client` (from the
//! `ops` package, which CI installs) drives a live stand-in through
//! `pebble_conformance.py`. A machine without `ops` fails this test: it is what tells
//! the stand-in speaks Pebble's API.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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

/// A live stand-in in `dir`, up and answering; stopped when the guard drops.
fn stand_in(dir: &Path) -> (Group, PathBuf) {
    let socket = dir.join("pebble.socket");
    let exe = assert_cmd::cargo::cargo_bin("juju-sim");
    let child = Command::new(exe)
        .arg("pebble-serve")
        .arg("--socket")
        .arg(&socket)
        .arg("--root")
        .arg(dir.join("root"))
        .args(["--pod-ip", "127.0.0.1", "--container", "workload", "--live"])
        .arg("--log")
        .arg(dir.join("pebble.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Group(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the stand-in did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (group, socket)
}

/// HTTP/1.1 connections stay open for the next request, as Go's server keeps them.
#[test]
fn the_stand_in_keeps_http_11_connections_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_group, socket) = stand_in(dir.path());
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = "GET /v1/system-info HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        s.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK\r\n");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.trim().parse().unwrap();
            }
            assert!(!line.starts_with("Connection: close"), "{line}");
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["result"]["version"], "v1.32.1");
    }
    // The route answers unknown paths and methods as Pebble's mux does.
    s.write_all(b"DELETE /v1/plan HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(
        rest.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{rest}"
    );
    assert!(rest.contains("Connection: close\r\n"), "{rest}");
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
    let (_group, socket) = stand_in(dir.path());
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
