//! ARCHITECTURE.md is a promise about the code; this module holds the code to it (as
//! rust-analyzer's tidy test does): every source file is on the module map, no module
//! imports in a circle, and the functional core does no I/O and knows nothing of the shell.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source trees of the workspace's crates.
const CRATES: [&str; 5] = [
    "src",
    CORE,
    "lib/juju/src",
    "lib/juju-sim/src",
    "lib/pebble/src",
];

/// `src/relations/validate.rs` → `relations::validate`; `src/syntax/mod.rs` → `syntax`.
fn module_name(src: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap();
    let text = rel.with_extension("").to_string_lossy().replace('/', "::");
    text.strip_suffix("::mod").unwrap_or(&text).to_string()
}

/// The code the charm runs: a file's text before its first `#[cfg(test)]` (test modules and
/// test-only files are not part of the boundaries).
fn shipped_code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    // Test-only files (declared under `#[cfg(test)]` or the `test-support` feature).
    const TEST_ONLY: [&str; 3] = ["test_support.rs", "fake.rs", "promtool.rs"];
    if name.ends_with("_tests.rs") || TEST_ONLY.contains(&name.as_str()) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    Some(text[..end].to_string())
}

/// Each module of the charm crate → the modules its shipped code names through `crate::` or
/// `super::` paths (a parent naming its own children is how Rust nests modules, not an
/// import).
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let names: BTreeSet<String> = files.iter().map(|f| module_name(src, f)).collect();
    let longest_module = |parts: &[&str]| {
        (1..=parts.len())
            .rev()
            .map(|k| parts[..k].join("::"))
            .find(|m| names.contains(m))
    };
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_name(src, file);
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(code) = shipped_code(file) else {
            continue;
        };
        // `super::` in `a/b.rs` and in `a/b/mod.rs` both name `a`.
        let mut parent: Vec<&str> = module.split("::").collect();
        parent.pop();
        let mut deps = BTreeSet::new();
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            for (i, _) in code.match_indices(prefix) {
                let rest: String = code[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let mut parts = base.clone();
                parts.extend(rest.split("::").filter(|p| !p.is_empty()));
                match longest_module(&parts) {
                    Some(m) => deps.insert(m),
                    None if !base.is_empty() => deps.insert(base.join("::")),
                    None => false,
                };
            }
        }
        deps.remove(&module);
        graph.insert(module, deps);
    }
    graph
}

#[test]
fn no_module_imports_in_a_circle() {
    for src in CRATES {
        no_cycle(&imports(&root().join(src)), src);
    }
}

fn no_cycle(graph: &BTreeMap<String, BTreeSet<String>>, src: &str) {
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((module, path)) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                assert!(
                    next != start,
                    "import cycle in {src}: {} -> {next}",
                    path.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
}

/// The functional core is its own crate; this is where ARCHITECTURE.md says it lives.
const CORE: &str = "lib/core/src";

/// What the core's shipped code may not name: the shell's crate, and I/O.
const NOT_IN_CORE: [&str; 9] = [
    "prometheus_charm",
    "reqwest",
    "tempfile",
    "std::fs",
    "std::process",
    "std::env",
    "std::net::Tcp",
    "std::net::Udp",
    "std::os::unix::net",
];

#[test]
fn the_functional_core_does_no_io_and_knows_nothing_of_the_shell() {
    let mut files = Vec::new();
    rust_files(&root().join(CORE), &mut files);
    for file in files {
        let module = module_name(&root().join(CORE), &file);
        let Some(code) = shipped_code(&file) else {
            continue;
        };
        for forbidden in NOT_IN_CORE {
            assert!(
                !code.contains(forbidden),
                "{module} (core) names {forbidden}: move that to the shell (ARCHITECTURE.md)"
            );
        }
    }
}

/// Cargo holds the boundary: what the core crate links, test doubles aside, has no HTTP
/// client, no temporary files and no process runner (`juju` comes without its tools).
#[test]
fn the_core_crate_builds_without_the_shells_dependencies() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "charm-core",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.contains("juju v"), "{tree}");
    for crate_name in ["reqwest", "tempfile", "wait-timeout", "tracing-subscriber"] {
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with(&format!("{crate_name} v"))),
            "charm-core depends on {crate_name}:\n{tree}"
        );
    }
}

#[test]
fn every_source_file_is_on_the_module_map() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join(CORE), &mut files);
    for dir in ["lib/juju/src", "lib/juju-sim/src", "lib/pebble/src"] {
        assert!(
            map.contains(&format!("`{}`", dir.trim_end_matches("/src"))),
            "{dir}"
        );
    }
    let mut missing = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // A file is on the map by its own row, or by its directory's (`src/relations/`).
        let mut covered = map.contains(&format!("`{rel}`"));
        let mut dir = Path::new(&rel).parent();
        while let (false, Some(d)) = (covered, dir) {
            covered = map.contains(&format!("`{}/`", d.display()));
            dir = d
                .parent()
                .filter(|p| !p.as_os_str().is_empty() && !p.ends_with("src"));
        }
        if !covered {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "not on ARCHITECTURE.md's module map: {missing:?}"
    );
}

#[test]
fn every_path_on_the_module_map_exists() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for line in map.lines().filter(|l| l.starts_with("| `")) {
        let path = line.trim_start_matches("| `");
        let path = &path[..path.find('`').unwrap_or(0)];
        assert!(
            root().join(path).exists(),
            "ARCHITECTURE.md maps {path}, which does not exist"
        );
    }
}
