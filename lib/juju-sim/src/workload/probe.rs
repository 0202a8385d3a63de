//! The kubelet's HTTP probe: a GET that succeeds with a status from 200 to 399.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::container::HttpProbe;

/// Probes answer quickly or count as failed: `status` must not hang.
const TIMEOUT: Duration = Duration::from_secs(1);

/// `Ok(())` when the probe passes, else why not.
pub(crate) fn check(probe: &HttpProbe) -> Result<(), String> {
    let target = format!("{}:{}", probe.host, probe.port);
    let addr: SocketAddr = target
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve {target}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("GET http://{target}{}: {e}", probe.path))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {target}\r\nUser-Agent: kube-probe/juju-sim\r\nConnection: close\r\n\r\n",
        probe.path
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("GET http://{target}{}: {e}", probe.path))?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("GET http://{target}{}: {e}", probe.path)),
        }
        if head[..read].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..read]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET http://{target}{}: not an HTTP answer", probe.path))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!(
            "GET http://{target}{}: HTTP status {code}",
            probe.path
        ))
    }
}
