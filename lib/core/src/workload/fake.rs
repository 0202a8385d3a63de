//! An in-memory Prometheus for tests of the shell: servers by address, each ready or not,
//! loading on reload whatever the test says is on disk (or refusing it), and serving it back
//! verbatim. An address with no server refuses the connection, as a missing pod does.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::prometheus::api::{ApiError, BuildInfo, PrometheusApi, Readiness, Target};

#[derive(Debug, Clone)]
pub struct FakeServer {
    pub ready: bool,
    pub version: String,
    /// What it loaded last; `None` before the first reload.
    pub loaded: Option<String>,
    /// The rule groups it loaded last.
    pub rule_groups: Vec<String>,
    /// How the Kubernetes API answered its discovery: status code → requests.
    pub kubernetes_answers: BTreeMap<String, f64>,
}

impl FakeServer {
    pub fn up() -> Self {
        FakeServer {
            ready: true,
            version: "2.42.0+ds".into(),
            loaded: None,
            rule_groups: Vec::new(),
            kubernetes_answers: BTreeMap::new(),
        }
    }
}

type Disk<'a> = Box<dyn Fn() -> Result<String, String> + 'a>;
type RulesDisk<'a> = Box<dyn Fn() -> Vec<String> + 'a>;

pub struct FakePrometheus<'a> {
    servers: RefCell<BTreeMap<Target, FakeServer>>,
    /// prometheus.yml as a reload reads it, or the error Prometheus gives for it.
    disk: Disk<'a>,
    /// The names of the rule groups in the rule file a reload reads (none unless told).
    rules_disk: RulesDisk<'a>,
    calls: RefCell<Vec<String>>,
}

impl<'a> FakePrometheus<'a> {
    pub fn new(disk: impl Fn() -> Result<String, String> + 'a) -> Self {
        FakePrometheus {
            servers: RefCell::new(BTreeMap::new()),
            disk: Box::new(disk),
            rules_disk: Box::new(Vec::new),
            calls: RefCell::new(Vec::new()),
        }
    }

    /// What a reload finds in the rule file: the names of its groups.
    pub fn with_rules(mut self, rules_disk: impl Fn() -> Vec<String> + 'a) -> Self {
        self.rules_disk = Box::new(rules_disk);
        self
    }

    pub fn with(self, target: Target, server: FakeServer) -> Self {
        self.servers.borrow_mut().insert(target, server);
        self
    }

    /// Each call as `<method> <address:port>`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    pub fn server(&self, target: &Target) -> Option<FakeServer> {
        self.servers.borrow().get(target).cloned()
    }

    fn call<T>(
        &self,
        method: &str,
        target: &Target,
        answer: impl FnOnce(&mut FakeServer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.calls.borrow_mut().push(format!("{method} {target}"));
        let mut servers = self.servers.borrow_mut();
        match servers.get_mut(target) {
            Some(server) => answer(server),
            None => Err(ApiError::Unreachable {
                target: target.clone(),
                reason: "Connection refused (os error 111)".into(),
            }),
        }
    }
}

impl PrometheusApi for FakePrometheus<'_> {
    fn ready(&self, target: &Target) -> Result<Readiness, ApiError> {
        self.call("ready", target, |s| {
            Ok(if s.ready {
                Readiness::Ready
            } else {
                Readiness::NotReady("Service Unavailable".into())
            })
        })
    }

    fn build_info(&self, target: &Target) -> Result<BuildInfo, ApiError> {
        self.call("build_info", target, |s| {
            Ok(BuildInfo {
                version: s.version.clone(),
                ..BuildInfo::default()
            })
        })
    }

    fn reload(&self, target: &Target) -> Result<(), ApiError> {
        let disk = (self.disk)();
        let rule_groups = (self.rules_disk)();
        self.call("reload", target, |s| match disk {
            Ok(text) => {
                s.loaded = Some(text);
                s.rule_groups = rule_groups;
                Ok(())
            }
            Err(message) => Err(ApiError::ReloadRefused {
                target: target.clone(),
                message,
            }),
        })
    }

    fn served_config(&self, target: &Target) -> Result<String, ApiError> {
        self.call("served_config", target, |s| {
            Ok(s.loaded.clone().unwrap_or_default())
        })
    }

    fn rule_groups(&self, target: &Target) -> Result<Vec<String>, ApiError> {
        self.call("rule_groups", target, |s| Ok(s.rule_groups.clone()))
    }

    fn kubernetes_answers(&self, target: &Target) -> Result<BTreeMap<String, f64>, ApiError> {
        self.call("kubernetes_answers", target, |s| {
            Ok(s.kubernetes_answers.clone())
        })
    }
}
