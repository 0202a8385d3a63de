//! The real client of Prometheus's HTTP API ([`PrometheusApi`]), over reqwest.
//!
//! Plain HTTP only (Prometheus is reached inside the cluster, and each TLS stack costs
//! megabytes in a static binary), no proxy from the environment (a cluster-wide proxy would
//! swallow pod IPs), no redirects, and short timeouts: a hook must never hang on its workload.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::prometheus::api::{
    decode_envelope, quote, reload_failure, ApiError, BuildInfo, PrometheusApi, QueryData,
    Readiness, RuleGroups, ServedConfig, Target, BUILD_INFO, CONFIG, KUBERNETES_ANSWERS, READY,
    RELOAD, RULES,
};

/// How long to wait for a TCP connection: a missing pod usually refuses at once, but an
/// address nobody answers for drops packets instead.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A reload re-reads every rule file and restarts changed scrape pools: allow it longer.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The real client.
pub struct HttpApi {
    /// Built on first use: the blocking client starts a thread, which hooks that ask
    /// Prometheus nothing (a blocked unit) need not pay for.
    client: OnceCell<Result<reqwest::blocking::Client, String>>,
}

impl HttpApi {
    /// Never fails: a client that cannot be built makes every call fail instead, which the
    /// charm reports like an unreachable server.
    pub fn new() -> Self {
        HttpApi {
            client: OnceCell::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, ApiError> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .map_err(|e| error_chain(&e))
            })
            .as_ref()
            .map_err(|reason| ApiError::Client(reason.clone()))
    }

    /// Sends one request; gives the status and body of any answer.
    fn send(
        &self,
        target: &Target,
        post: bool,
        path: &'static str,
        timeout: Duration,
    ) -> Result<(u16, String), ApiError> {
        let client = self.client()?;
        let url = format!("{}{path}", target.base_url());
        let request = if post {
            client.post(&url)
        } else {
            client.get(&url)
        };
        let transport = |e: reqwest::Error| classify(e, target, path, timeout);
        let response = request.timeout(timeout).send().map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.text().map_err(transport)?;
        Ok((status, body))
    }

    fn get_data<T: DeserializeOwned>(
        &self,
        target: &Target,
        path: &'static str,
    ) -> Result<T, ApiError> {
        let (status, body) = self.send(target, false, path, REQUEST_TIMEOUT)?;
        decode_envelope(target, path, status, &body)
    }
}

impl Default for HttpApi {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusApi for HttpApi {
    fn ready(&self, target: &Target) -> Result<Readiness, ApiError> {
        let (status, body) = self.send(target, false, READY, REQUEST_TIMEOUT)?;
        match status {
            200 => Ok(Readiness::Ready),
            503 => Ok(Readiness::NotReady(quote(&body))),
            _ => Err(ApiError::Http {
                target: target.clone(),
                path: READY,
                status,
                body: quote(&body),
            }),
        }
    }

    fn build_info(&self, target: &Target) -> Result<BuildInfo, ApiError> {
        self.get_data(target, BUILD_INFO)
    }

    fn reload(&self, target: &Target) -> Result<(), ApiError> {
        let (status, body) = self.send(target, true, RELOAD, RELOAD_TIMEOUT)?;
        match status {
            200 => Ok(()),
            // web.go: `http.Error(w, "failed to reload config: ...", 500)`.
            500 => Err(ApiError::ReloadRefused {
                target: target.clone(),
                message: quote(reload_failure(&body)),
            }),
            _ => Err(ApiError::Http {
                target: target.clone(),
                path: RELOAD,
                status,
                body: quote(&body),
            }),
        }
    }

    fn served_config(&self, target: &Target) -> Result<String, ApiError> {
        self.get_data::<ServedConfig>(target, CONFIG)
            .map(|config| config.yaml)
    }

    fn rule_groups(&self, target: &Target) -> Result<Vec<String>, ApiError> {
        self.get_data::<RuleGroups>(target, RULES)
            .map(|rules| rules.groups.into_iter().map(|g| g.name).collect())
    }

    fn kubernetes_answers(&self, target: &Target) -> Result<BTreeMap<String, f64>, ApiError> {
        self.get_data::<QueryData>(target, KUBERNETES_ANSWERS)
            .map(|data| data.by_label("status_code"))
    }
}

fn classify(e: reqwest::Error, target: &Target, path: &'static str, timeout: Duration) -> ApiError {
    if e.is_timeout() {
        ApiError::Timeout {
            target: target.clone(),
            path,
            seconds: timeout.as_secs(),
        }
    } else {
        ApiError::Unreachable {
            target: target.clone(),
            reason: error_chain(&e),
        }
    }
}

/// reqwest's own message only says that sending failed; the cause (connection refused, no
/// route to host) is at the end of the source chain.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves one canned HTTP answer per connection, in order, on a loopback port.
    fn serve(answers: Vec<&'static str>) -> (Target, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap();
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                requests.push(request.lines().next().unwrap_or_default().to_string());
                stream.write_all(answer.as_bytes()).unwrap();
            }
            requests
        });
        (Target::new("127.0.0.1", port), handle)
    }

    fn http(status: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    #[test]
    fn the_client_speaks_http_to_a_server() {
        let (target, server) = serve(vec![
            http("503 Service Unavailable", "Service Unavailable"),
            http("200 OK", "Prometheus Server is Ready.\n"),
            http("200 OK", ""),
            http(
                "500 Internal Server Error",
                "failed to reload config: boom\n",
            ),
            http(
                "200 OK",
                r#"{"status":"success","data":{"yaml":"global: {}\n"}}"#,
            ),
        ]);
        let api = HttpApi::new();
        assert_eq!(
            api.ready(&target).unwrap(),
            Readiness::NotReady("Service Unavailable".into())
        );
        assert_eq!(api.ready(&target).unwrap(), Readiness::Ready);
        api.reload(&target).unwrap();
        assert_eq!(
            api.reload(&target).unwrap_err(),
            ApiError::ReloadRefused {
                target: target.clone(),
                message: "boom".into()
            }
        );
        assert_eq!(api.served_config(&target).unwrap(), "global: {}\n");
        assert_eq!(
            server.join().unwrap(),
            vec![
                "GET /-/ready HTTP/1.1",
                "GET /-/ready HTTP/1.1",
                "POST /-/reload HTTP/1.1",
                "POST /-/reload HTTP/1.1",
                "GET /api/v1/status/config HTTP/1.1",
            ]
        );
    }

    #[test]
    fn a_closed_port_is_unreachable_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::new("127.0.0.1", listener.local_addr().unwrap().port());
        drop(listener);
        let started = std::time::Instant::now();
        let err = HttpApi::new().ready(&target).unwrap_err();
        assert!(started.elapsed() < CONNECT_TIMEOUT, "{err}");
        match err {
            ApiError::Unreachable { reason, .. } => {
                assert!(reason.contains("refused"), "{reason}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_silent_server_times_out() {
        // Accepts the connection but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::new("127.0.0.1", listener.local_addr().unwrap().port());
        let started = std::time::Instant::now();
        let err = HttpApi::new().ready(&target).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, ApiError::Timeout { seconds: 5, .. }), "{err}");
        assert!(took < REQUEST_TIMEOUT + Duration::from_secs(2), "{took:?}");
        drop(listener);
    }
}
