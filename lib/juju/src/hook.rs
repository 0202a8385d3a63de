use std::fmt;
use std::path::Path;

use thiserror::Error;

/// What a `-relation-*` hook says happened to the relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationHookKind {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

impl RelationHookKind {
    pub const ALL: [RelationHookKind; 5] = [
        Self::Created,
        Self::Joined,
        Self::Changed,
        Self::Departed,
        Self::Broken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Joined => "joined",
            Self::Changed => "changed",
            Self::Departed => "departed",
            Self::Broken => "broken",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a `-storage-*` hook says happened to the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageHookKind {
    Attached,
    Detaching,
}

impl StorageHookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attached => "attached",
            Self::Detaching => "detaching",
        }
    }
}

/// What a `<container>-pebble-*` hook of a sidecar charm says about the workload container
/// (Juju 3.6 `charm/hooks`: `WorkloadHooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadHookKind {
    /// Pebble in the container answers (again: a restarted container fires it anew).
    PebbleReady,
    PebbleCustomNotice,
    PebbleCheckFailed,
    PebbleCheckRecovered,
}

impl WorkloadHookKind {
    pub const ALL: [WorkloadHookKind; 4] = [
        Self::PebbleReady,
        Self::PebbleCustomNotice,
        Self::PebbleCheckFailed,
        Self::PebbleCheckRecovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PebbleReady => "pebble-ready",
            Self::PebbleCustomNotice => "pebble-custom-notice",
            Self::PebbleCheckFailed => "pebble-check-failed",
            Self::PebbleCheckRecovered => "pebble-check-recovered",
        }
    }
}

/// The hook (or action) Juju is running, as named by `JUJU_DISPATCH_PATH` or argv[0].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    LeaderElected,
    LeaderSettingsChanged,
    UpdateStatus,
    CollectMetrics,
    PreSeriesUpgrade,
    PostSeriesUpgrade,
    Relation {
        endpoint: String,
        kind: RelationHookKind,
    },
    Storage {
        name: String,
        kind: StorageHookKind,
    },
    /// `<container>-pebble-ready` and the other workload hooks of a sidecar charm.
    Workload {
        container: String,
        kind: WorkloadHookKind,
    },
    Action(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HookError {
    #[error("unknown hook {0:?}")]
    Unknown(String),
    #[error("run as {0:?} without JUJU_DISPATCH_PATH: Juju older than 2.8 cannot run dispatch")]
    DispatchWithoutPath(String),
    #[error("cannot tell the hook: argv[0] is empty")]
    NoName,
}

const STANDARD: [(&str, Hook); 12] = [
    ("install", Hook::Install),
    ("start", Hook::Start),
    ("stop", Hook::Stop),
    ("remove", Hook::Remove),
    ("config-changed", Hook::ConfigChanged),
    ("upgrade-charm", Hook::UpgradeCharm),
    ("leader-elected", Hook::LeaderElected),
    ("leader-settings-changed", Hook::LeaderSettingsChanged),
    ("update-status", Hook::UpdateStatus),
    ("collect-metrics", Hook::CollectMetrics),
    ("pre-series-upgrade", Hook::PreSeriesUpgrade),
    ("post-series-upgrade", Hook::PostSeriesUpgrade),
];

impl Hook {
    /// Names every standard (non-relation, non-storage) hook, for tools that lay out `hooks/`.
    pub fn standard_names() -> impl Iterator<Item = &'static str> {
        STANDARD.iter().map(|(name, _)| *name)
    }

    /// Resolves the hook as Juju 2.8+ and older agents present it: `JUJU_DISPATCH_PATH`
    /// (`hooks/<name>` or `actions/<name>`) when set and non-empty, else argv[0]'s basename,
    /// with its parent directory telling hooks from actions.
    pub fn resolve(dispatch_path: Option<&str>, argv0: &str) -> Result<Hook, HookError> {
        let path = match dispatch_path {
            Some(p) if !p.is_empty() => p,
            _ => argv0,
        };
        let path = Path::new(path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or(HookError::NoName)?;
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|p| p.to_str())
            .unwrap_or("");
        if parent == "actions" {
            return Ok(Hook::Action(name.to_string()));
        }
        if name == "dispatch" {
            return Err(HookError::DispatchWithoutPath(argv0.to_string()));
        }
        Self::from_name(name)
    }

    /// Parses a hook name such as `config-changed` or `alertmanager-relation-departed`.
    pub fn from_name(name: &str) -> Result<Hook, HookError> {
        if let Some((_, hook)) = STANDARD.iter().find(|(n, _)| *n == name) {
            return Ok(hook.clone());
        }
        // Endpoint names may contain dashes, so split on the last marker.
        if let Some(idx) = name.rfind("-relation-") {
            let (endpoint, rest) = (&name[..idx], &name[idx + "-relation-".len()..]);
            if let Some(kind) = RelationHookKind::parse(rest) {
                if !endpoint.is_empty() {
                    return Ok(Hook::Relation {
                        endpoint: endpoint.to_string(),
                        kind,
                    });
                }
            }
        }
        if let Some(idx) = name.rfind("-storage-") {
            let (storage, rest) = (&name[..idx], &name[idx + "-storage-".len()..]);
            let kind = match rest {
                "attached" => Some(StorageHookKind::Attached),
                "detaching" => Some(StorageHookKind::Detaching),
                _ => None,
            };
            if let (Some(kind), false) = (kind, storage.is_empty()) {
                return Ok(Hook::Storage {
                    name: storage.to_string(),
                    kind,
                });
            }
        }
        // Container names have no dashes' restriction either: the suffix decides.
        for kind in WorkloadHookKind::ALL {
            if let Some(container) = name.strip_suffix(&format!("-{}", kind.as_str())) {
                if !container.is_empty() {
                    return Ok(Hook::Workload {
                        container: container.to_string(),
                        kind,
                    });
                }
            }
        }
        Err(HookError::Unknown(name.to_string()))
    }

    pub fn is_action(&self) -> bool {
        matches!(self, Hook::Action(_))
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::Relation { endpoint, kind } => {
                write!(f, "{endpoint}-relation-{}", kind.as_str())
            }
            Hook::Storage { name, kind } => write!(f, "{name}-storage-{}", kind.as_str()),
            Hook::Workload { container, kind } => write!(f, "{container}-{}", kind.as_str()),
            Hook::Action(name) => write!(f, "actions/{name}"),
            other => {
                let name = STANDARD
                    .iter()
                    .find(|(_, h)| h == other)
                    .map_or("unknown", |(n, _)| *n);
                f.write_str(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_path_wins_over_argv0() {
        let hook = Hook::resolve(Some("hooks/config-changed"), "/charm/dispatch").unwrap();
        assert_eq!(hook, Hook::ConfigChanged);
    }

    #[test]
    fn empty_dispatch_path_falls_back_to_argv0() {
        let hook = Hook::resolve(Some(""), "/var/lib/juju/charm/hooks/install").unwrap();
        assert_eq!(hook, Hook::Install);
    }

    #[test]
    fn relation_hooks_split_on_the_last_marker() {
        let hook = Hook::from_name("send-remote-write-relation-departed").unwrap();
        assert_eq!(
            hook,
            Hook::Relation {
                endpoint: "send-remote-write".into(),
                kind: RelationHookKind::Departed
            }
        );
        assert_eq!(hook.to_string(), "send-remote-write-relation-departed");
    }

    #[test]
    fn storage_hooks_parse() {
        let hook = Hook::from_name("database-storage-attached").unwrap();
        assert_eq!(
            hook,
            Hook::Storage {
                name: "database".into(),
                kind: StorageHookKind::Attached
            }
        );
    }

    #[test]
    fn workload_hooks_name_their_container() {
        for kind in WorkloadHookKind::ALL {
            let name = format!("prometheus-{}", kind.as_str());
            let hook = Hook::from_name(&name).unwrap();
            assert_eq!(
                hook,
                Hook::Workload {
                    container: "prometheus".into(),
                    kind
                }
            );
            assert_eq!(hook.to_string(), name);
        }
        assert!(Hook::from_name("-pebble-ready").is_err());
    }

    #[test]
    fn actions_come_from_their_directory() {
        let hook = Hook::resolve(Some("actions/show-config"), "/charm/dispatch").unwrap();
        assert_eq!(hook, Hook::Action("show-config".into()));
        let hook = Hook::resolve(None, "/charm/actions/reload").unwrap();
        assert_eq!(hook, Hook::Action("reload".into()));
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let err = Hook::from_name("frobnicate").unwrap_err();
        assert_eq!(err.to_string(), "unknown hook \"frobnicate\"");
        assert!(Hook::from_name("x-relation-exploded").is_err());
        assert!(Hook::from_name("-relation-joined").is_err());
    }

    #[test]
    fn dispatch_without_path_is_an_error() {
        assert!(matches!(
            Hook::resolve(None, "/charm/dispatch"),
            Err(HookError::DispatchWithoutPath(_))
        ));
    }

    #[test]
    fn standard_hooks_round_trip() {
        for name in Hook::standard_names() {
            assert_eq!(Hook::from_name(name).unwrap().to_string(), name);
        }
    }
}
