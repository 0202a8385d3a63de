//! A charm as Juju reads it: metadata.yaml, config.yaml, actions.yaml, and the files a
//! unit's charm directory holds, taken from a charm directory or a `.charm` zip.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::yaml;

#[derive(Debug, Error)]
pub(crate) enum CharmError {
    #[error("cannot read charm {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read charm archive {path}: {message}")]
    Zip { path: String, message: String },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("symlink {0:?} is absolute: {1:?}")]
    AbsoluteSymlink(String, String),
    #[error("symlink {0:?} links out of charm: {1:?}")]
    SymlinkOutOfCharm(String, String),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CharmError + '_ {
    move |source| CharmError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Provider,
    Requirer,
    Peer,
}

impl Role {
    /// The role a remote endpoint needs to relate to this one.
    pub(crate) fn counterpart(self) -> Role {
        match self {
            Role::Provider => Role::Requirer,
            Role::Requirer => Role::Provider,
            Role::Peer => Role::Peer,
        }
    }

    /// Juju's relation key puts the requirer first.
    pub(crate) fn order(self) -> u8 {
        match self {
            Role::Requirer => 0,
            Role::Provider => 1,
            Role::Peer => 2,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Role> {
        match s {
            "provides" | "provider" => Some(Role::Provider),
            "requires" | "requirer" => Some(Role::Requirer),
            "peers" | "peer" => Some(Role::Peer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub name: String,
    pub role: Role,
    pub interface: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Storage {
    pub name: String,
    pub kind: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resource {
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct Metadata {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    pub resources: Vec<Resource>,
    pub storage: Vec<Storage>,
    pub extra_bindings: Vec<String>,
    /// The workload containers of a sidecar charm (`containers:`), by name.
    #[serde(default)]
    pub containers: Vec<String>,
    /// Charm metadata format v2 (Juju's `charm.MetaFormat`): a manifest with bases and no
    /// `series` in metadata.yaml. Juju runs such a charm with containers as a sidecar
    /// charm, and refuses it a pod spec.
    #[serde(default)]
    pub format_v2: bool,
}

impl Metadata {
    /// A sidecar charm: format v2, the unit agent in the pod beside Pebble-run containers.
    pub(crate) fn sidecar(&self) -> bool {
        self.format_v2
    }

    pub(crate) fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConfigOption {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct ActionSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default, rename = "additionalProperties")]
    pub additional_properties: bool,
}

/// Everything the simulator needs to know about a charm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub(crate) struct CharmInfo {
    pub metadata: Metadata,
    pub options: BTreeMap<String, ConfigOption>,
    pub actions: BTreeMap<String, ActionSpec>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRelation {
    Interface(String),
    Full { interface: String },
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provides: BTreeMap<String, RawRelation>,
    #[serde(default)]
    requires: BTreeMap<String, RawRelation>,
    #[serde(default)]
    peers: BTreeMap<String, RawRelation>,
    #[serde(default)]
    resources: BTreeMap<String, RawResource>,
    #[serde(default)]
    storage: BTreeMap<String, RawStorage>,
    #[serde(default, rename = "extra-bindings")]
    extra_bindings: BTreeMap<String, Value>,
    #[serde(default)]
    containers: BTreeMap<String, Value>,
    #[serde(default)]
    series: Vec<String>,
}

/// `bases` of manifest.yaml (what `charmcraft pack` writes), or of charmcraft.yaml
/// (`bases:` or the newer `base:`) for an unpacked charm directory.
#[derive(Deserialize, Default)]
struct RawBases {
    #[serde(default)]
    bases: Vec<Value>,
    #[serde(default)]
    base: Option<Value>,
}

impl RawBases {
    fn any(&self) -> bool {
        !self.bases.is_empty() || self.base.as_ref().is_some_and(|b| !b.is_null())
    }
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct RawStorage {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    location: String,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    options: BTreeMap<String, ConfigOption>,
}

fn read_yaml<T: serde::de::DeserializeOwned + Default>(
    dir: &Path,
    file: &str,
    required: bool,
) -> Result<T, CharmError> {
    let path = dir.join(file);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(T::default()),
        Err(e) => return Err(io(&path)(e)),
    };
    let value: Value = yaml::from_str(&text).map_err(|e| CharmError::Yaml {
        file: file.into(),
        message: e.to_string(),
    })?;
    if value.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(value).map_err(|e| CharmError::Yaml {
        file: file.into(),
        message: e.to_string(),
    })
}

/// Reads metadata.yaml, config.yaml and actions.yaml from an unpacked charm.
pub(crate) fn read_info(dir: &Path) -> Result<CharmInfo, CharmError> {
    let raw: RawMetadata = read_yaml(dir, "metadata.yaml", true)?;
    if raw.name.is_empty() {
        return Err(CharmError::Invalid(
            "metadata.yaml: charm name is missing".into(),
        ));
    }
    let mut endpoints = Vec::new();
    for (role, map) in [
        (Role::Provider, raw.provides),
        (Role::Requirer, raw.requires),
        (Role::Peer, raw.peers),
    ] {
        for (name, rel) in map {
            let interface = match rel {
                RawRelation::Interface(i) | RawRelation::Full { interface: i } => i,
            };
            endpoints.push(Endpoint {
                name,
                role,
                interface,
            });
        }
    }
    let config: RawConfig = read_yaml(dir, "config.yaml", false)?;
    for (name, option) in &config.options {
        if !matches!(option.kind.as_str(), "string" | "int" | "float" | "boolean") {
            return Err(CharmError::Invalid(format!(
                "config.yaml: option {name:?} has unknown type {:?}",
                option.kind
            )));
        }
    }
    let actions: BTreeMap<String, ActionSpec> = read_yaml(dir, "actions.yaml", false)?;
    let manifest: RawBases = read_yaml(dir, "manifest.yaml", false)?;
    let charmcraft: RawBases = read_yaml(dir, "charmcraft.yaml", false)?;
    // charm.MetaFormat (core/charm/format.go): v1 unless the manifest has bases and
    // metadata.yaml names no series.
    let format_v2 = (manifest.any() || charmcraft.any()) && raw.series.is_empty();
    Ok(CharmInfo {
        metadata: Metadata {
            name: raw.name,
            endpoints,
            resources: raw
                .resources
                .into_iter()
                .map(|(name, r)| Resource { name, kind: r.kind })
                .collect(),
            storage: raw
                .storage
                .into_iter()
                .map(|(name, s)| Storage {
                    name,
                    kind: s.kind,
                    location: s.location,
                })
                .collect(),
            extra_bindings: raw.extra_bindings.into_keys().collect(),
            containers: raw.containers.into_keys().collect(),
            format_v2,
        },
        options: config.options,
        actions,
    })
}

/// The top-level entries of a charm directory that make up the charm (never `target/`,
/// `.git`, sources).
const CHARM_ENTRIES: &[&str] = &[
    "metadata.yaml",
    "config.yaml",
    "actions.yaml",
    "charmcraft.yaml",
    "manifest.yaml",
    "dispatch",
    "hooks",
    "actions",
    "README.md",
    "icon.svg",
    "LICENSE",
    "revision",
    "version",
];

/// Puts the charm at `source` (a directory or a `.charm` zip) into the empty dir `dest`.
pub(crate) fn unpack(source: &Path, dest: &Path) -> Result<(), CharmError> {
    let meta = fs::metadata(source).map_err(io(source))?;
    fs::create_dir_all(dest).map_err(io(dest))?;
    if meta.is_dir() {
        copy_charm_dir(source, dest)
    } else {
        extract_archive(source, dest)
    }
}

/// Lexically resolves `target` relative to the directory of `link` (both relative to the
/// charm root); `None` when it leaves the charm.
fn resolve_in_charm(link: &Path, target: &Path) -> Option<PathBuf> {
    let mut out: Vec<Component> = link
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::ParentDir => {
                out.pop()?;
            }
            Component::CurDir => {}
            Component::Normal(_) => out.push(c),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

fn check_symlink(rel: &Path, target: &Path) -> Result<PathBuf, CharmError> {
    let name = rel.display().to_string();
    let shown = target.display().to_string();
    if target.is_absolute() {
        return Err(CharmError::AbsoluteSymlink(name, shown));
    }
    resolve_in_charm(rel, target).ok_or(CharmError::SymlinkOutOfCharm(name, shown))
}

fn copy_charm_dir(source: &Path, dest: &Path) -> Result<(), CharmError> {
    let mut wanted: Vec<PathBuf> = CHARM_ENTRIES
        .iter()
        .map(PathBuf::from)
        .filter(|p| fs::symlink_metadata(source.join(p)).is_ok())
        .collect();
    // Symlinks may point at files outside the list (dispatch -> prometheus-charm): those
    // come along too, until nothing new is referenced.
    while let Some(rel) = wanted.pop() {
        if fs::symlink_metadata(dest.join(&rel)).is_ok() {
            continue;
        }
        copy_entry(source, dest, &rel, &mut wanted)?;
    }
    Ok(())
}

fn copy_entry(
    source: &Path,
    dest: &Path,
    rel: &Path,
    wanted: &mut Vec<PathBuf>,
) -> Result<(), CharmError> {
    let from = source.join(rel);
    let to = dest.join(rel);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let meta = fs::symlink_metadata(&from).map_err(io(&from))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(&from).map_err(io(&from))?;
        let resolved = check_symlink(rel, &target)?;
        symlink(&target, &to).map_err(io(&to))?;
        if fs::symlink_metadata(source.join(&resolved)).is_ok() {
            wanted.push(resolved);
        }
    } else if meta.is_dir() {
        fs::create_dir_all(&to).map_err(io(&to))?;
        for entry in fs::read_dir(&from).map_err(io(&from))? {
            let entry = entry.map_err(io(&from))?;
            copy_entry(source, dest, &rel.join(entry.file_name()), wanted)?;
        }
    } else {
        fs::copy(&from, &to).map_err(io(&to))?;
        fs::set_permissions(&to, meta.permissions()).map_err(io(&to))?;
    }
    Ok(())
}

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

fn extract_archive(source: &Path, dest: &Path) -> Result<(), CharmError> {
    let zip_err = |message: String| CharmError::Zip {
        path: source.display().to_string(),
        message,
    };
    let file = fs::File::open(source).map_err(io(source))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_err(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| zip_err(e.to_string()))?;
        let rel = entry
            .enclosed_name()
            .ok_or_else(|| zip_err(format!("entry {:?} leaves the charm", entry.name())))?;
        let to = dest.join(&rel);
        let mode = entry.unix_mode().unwrap_or(0o644);
        if entry.is_dir() {
            fs::create_dir_all(&to).map_err(io(&to))?;
            continue;
        }
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if mode & S_IFMT == S_IFLNK {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(|e| zip_err(e.to_string()))?;
            check_symlink(&rel, Path::new(&target))?;
            symlink(&target, &to).map_err(io(&to))?;
            continue;
        }
        let mut out = fs::File::create(&to).map_err(io(&to))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&to))?;
        // Juju makes every hook executable by its owner.
        let in_hooks = rel.parent().is_some_and(|p| p == Path::new("hooks"));
        let perm = (mode & 0o777) | if in_hooks { 0o100 } else { 0 };
        fs::set_permissions(&to, fs::Permissions::from_mode(perm)).map_err(io(&to))?;
    }
    Ok(())
}

/// Copies an unpacked charm (keeping symlinks and modes), for a unit's own charm dir.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), CharmError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).map_err(io(&src))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&src).map_err(io(&src))?;
            symlink(target, &dst).map_err(io(&dst))?;
        } else if meta.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside() {
        assert_eq!(
            check_symlink(Path::new("hooks/install"), Path::new("../dispatch")).unwrap(),
            PathBuf::from("dispatch")
        );
        assert_eq!(
            check_symlink(Path::new("hooks/x"), Path::new("../../etc"))
                .unwrap_err()
                .to_string(),
            "symlink \"hooks/x\" links out of charm: \"../../etc\""
        );
        assert_eq!(
            check_symlink(Path::new("dispatch"), Path::new("/bin/sh"))
                .unwrap_err()
                .to_string(),
            "symlink \"dispatch\" is absolute: \"/bin/sh\""
        );
    }

    #[test]
    fn reads_metadata_in_both_relation_forms() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("metadata.yaml"),
            "name: c\nprovides:\n  a: {interface: x}\nrequires:\n  b: why\npeers:\n  p:\n    interface: z\nresources:\n  img: {type: oci-image}\nstorage:\n  data: {type: filesystem, location: /d}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("config.yaml"),
            "options:\n  port: {type: int, default: 9090}\n",
        )
        .unwrap();
        let info = read_info(dir.path()).unwrap();
        assert_eq!(info.metadata.endpoints.len(), 3);
        assert_eq!(info.metadata.endpoint("b").unwrap().interface, "why");
        assert_eq!(info.metadata.endpoint("p").unwrap().role, Role::Peer);
        assert_eq!(info.options["port"].default, Some(Value::from(9090)));
        assert_eq!(info.metadata.storage[0].location, "/d");
    }
}
