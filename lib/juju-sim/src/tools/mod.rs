//! The hook tools. Each call: find the model through `JUJU_AGENT_SOCKET_ADDRESS` and the
//! hook through `JUJU_CONTEXT_ID`, run the tool against the model and the hook's pending
//! changes, record the call, and answer as jujud does (stdout, `ERROR <msg>` on stderr,
//! exit 0, 1 for runtime errors, 2 for argument errors).

mod action;
mod config;
mod credential;
mod goal;
mod leader;
mod log;
mod network;
mod relation;
pub(crate) use relation::valid_app_name;
mod resource;
mod spec;
mod state;
mod status;

use std::io::{Read, Write};
use std::path::Path;

use crate::calls::{self, Call};
use crate::context::Context;
use crate::debuglog;
use crate::flags::{self, Flag, Parsed};
use crate::format::{self, Format, Output};
use crate::model::{Model, ModelDir, ModelError, Relation};

/// How a tool fails: exit code 2 for flag and argument (Init) errors, 1 for runtime errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolError {
    Init(String),
    Run(String),
    Help,
}

impl From<flags::FlagError> for ToolError {
    fn from(e: flags::FlagError) -> Self {
        ToolError::Init(e.to_string())
    }
}

impl From<ModelError> for ToolError {
    fn from(e: ModelError) -> Self {
        ToolError::Run(e.to_string())
    }
}

pub(crate) type ToolResult = Result<String, ToolError>;

struct ToolDef {
    name: &'static str,
    args: &'static str,
    purpose: &'static str,
    run: fn(&mut Env, &[String]) -> ToolResult,
}

const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "config-get",
        args: "[<key>]",
        purpose: "print application configuration",
        run: config::config_get,
    },
    ToolDef {
        name: "is-leader",
        args: "",
        purpose: "print application leadership status",
        run: leader::is_leader,
    },
    ToolDef {
        name: "leader-get",
        args: "[<key>]",
        purpose: "print application leadership settings",
        run: leader::leader_get,
    },
    ToolDef {
        name: "leader-set",
        args: "<key>=<value> [...]",
        purpose: "write application leadership settings",
        run: leader::leader_set,
    },
    ToolDef {
        name: "relation-ids",
        args: "<name>",
        purpose: "list all relation ids with the given relation name",
        run: relation::relation_ids,
    },
    ToolDef {
        name: "relation-list",
        args: "",
        purpose: "list relation units",
        run: relation::relation_list,
    },
    ToolDef {
        name: "relation-get",
        args: "<key> <unit id>",
        purpose: "get relation settings",
        run: relation::relation_get,
    },
    ToolDef {
        name: "relation-set",
        args: "key=value [key=value ...]",
        purpose: "set relation settings",
        run: relation::relation_set,
    },
    ToolDef {
        name: "resource-get",
        args: "<resource name>",
        purpose: "get the path to the locally cached resource file",
        run: resource::resource_get,
    },
    ToolDef {
        name: "pod-spec-set",
        args: "--file <core spec file> [--k8s-resources <k8s spec file>]",
        purpose: "set k8s spec information (deprecated)",
        run: spec::pod_spec_set,
    },
    ToolDef {
        name: "k8s-spec-set",
        args: "--file <core spec file> [--k8s-resources <k8s spec file>]",
        purpose: "set k8s spec information",
        run: spec::k8s_spec_set,
    },
    ToolDef {
        name: "pod-spec-get",
        args: "",
        purpose: "get k8s spec information (deprecated)",
        run: spec::spec_get,
    },
    ToolDef {
        name: "k8s-spec-get",
        args: "",
        purpose: "get k8s spec information",
        run: spec::spec_get,
    },
    ToolDef {
        name: "status-set",
        args: "<maintenance | blocked | waiting | active> [message]",
        purpose: "set status information",
        run: status::status_set,
    },
    ToolDef {
        name: "status-get",
        args: "[--include-data] [--application]",
        purpose: "print status information",
        run: status::status_get,
    },
    ToolDef {
        name: "application-version-set",
        args: "<new-version>",
        purpose: "specify which version of the application is deployed",
        run: status::application_version_set,
    },
    ToolDef {
        name: "juju-log",
        args: "<message>",
        purpose: "write a message to the juju log",
        run: log::juju_log,
    },
    ToolDef {
        name: "network-get",
        args: "<binding-name> [--ingress-address] [--bind-address] [--egress-subnets]",
        purpose: "get network config",
        run: network::network_get,
    },
    ToolDef {
        name: "action-get",
        args: "[<key>[.<key>.<key>...]]",
        purpose: "get action parameters",
        run: action::action_get,
    },
    ToolDef {
        name: "action-set",
        args: "<key>=<value> [<key>=<value> ...]",
        purpose: "set action results",
        run: action::action_set,
    },
    ToolDef {
        name: "action-fail",
        args: "[\"<failure message>\"]",
        purpose: "set action fail status with message",
        run: action::action_fail,
    },
    ToolDef {
        name: "action-log",
        args: "<message>",
        purpose: "record a progress message for the current action",
        run: action::action_log,
    },
    ToolDef {
        name: "state-get",
        args: "[<key>]",
        purpose: "print server-side-state value",
        run: state::state_get,
    },
    ToolDef {
        name: "state-set",
        args: "key=value [key=value ...]",
        purpose: "set server-side-state values",
        run: state::state_set,
    },
    ToolDef {
        name: "state-delete",
        args: "<key>",
        purpose: "delete server-side-state key value pair",
        run: state::state_delete,
    },
    ToolDef {
        name: "credential-get",
        args: "",
        purpose: "access cloud credentials",
        run: credential::credential_get,
    },
    ToolDef {
        name: "goal-state",
        args: "",
        purpose: "print the status of the charm's peers and related units",
        run: goal::goal_state,
    },
];

pub(crate) fn is_tool(name: &str) -> bool {
    TOOLS.iter().any(|t| t.name == name)
}

pub(crate) fn tool_names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|t| t.name)
}

/// The model as a tool holds it: reading is free, and any mutable access marks it
/// changed. Only a changed model is saved: most calls only read, and rewriting the whole
/// model file for each of them made a call cost as much as the model is large.
pub(crate) struct Tracked {
    model: Model,
    changed: bool,
}

impl Tracked {
    fn new(model: Model) -> Tracked {
        Tracked {
            model,
            changed: false,
        }
    }
}

impl std::ops::Deref for Tracked {
    type Target = Model;
    fn deref(&self) -> &Model {
        &self.model
    }
}

impl std::ops::DerefMut for Tracked {
    fn deref_mut(&mut self) -> &mut Model {
        self.changed = true;
        &mut self.model
    }
}

/// What a tool sees: the model, the hook's context, and its own stdin.
pub(crate) struct Env {
    pub dir: ModelDir,
    pub model: Tracked,
    pub ctx: Context,
    /// Set once the tool read stdin (Juju forwards stdin only to tools that read it).
    pub stdin: Option<String>,
    /// stdin read before the model was locked, for tools whose arguments say they read it
    /// (so `relation-get ... | relation-set --file -` cannot deadlock on the lock).
    preread: Option<String>,
    /// Text the tool writes to stderr besides an error (deprecation notes).
    pub stderr: String,
    pub log: Vec<String>,
}

impl Env {
    pub(crate) fn unit(&self) -> &str {
        &self.ctx.unit
    }

    pub(crate) fn app_name(&self) -> &str {
        self.ctx.unit.split('/').next().unwrap_or_default()
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.model.is_leader(&self.ctx.unit)
    }

    pub(crate) fn read_stdin(&mut self) -> Result<String, ToolError> {
        if let Some(s) = &self.stdin {
            return Ok(s.clone());
        }
        if let Some(text) = self.preread.take() {
            self.stdin = Some(text.clone());
            return Ok(text);
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| ToolError::Run(format!("cannot read stdin: {e}")))?;
        self.stdin = Some(text.clone());
        Ok(text)
    }

    /// A `cmd.FileVar`: `-` is stdin, anything else a path (relative to the tool's cwd).
    pub(crate) fn read_file_var(&mut self, path: &str) -> Result<String, ToolError> {
        if path == "-" {
            return self.read_stdin();
        }
        read_path(path).map_err(ToolError::Run)
    }

    /// [`Env::read_file_var`] as raw bytes, for input whose reader checks the encoding
    /// itself (yaml.v2).
    pub(crate) fn read_file_var_bytes(&mut self, path: &str) -> Result<Vec<u8>, ToolError> {
        if path == "-" {
            return self.read_stdin().map(String::into_bytes);
        }
        std::fs::read(path).map_err(|e| ToolError::Run(go_open_error(path, &e)))
    }

    /// Relations this unit is in, as `ctx.Relation(id)` knows them.
    pub(crate) fn relation(&self, id: u32) -> Option<&Relation> {
        self.model
            .relations
            .get(&id)
            .filter(|r| r.views.contains_key(&self.ctx.unit))
    }

    /// The `-r` setter: `7` or `alertmanager:7`.
    pub(crate) fn parse_relation(&self, value: &str) -> Result<u32, String> {
        let raw = value.rsplit_once(':').map_or(value, |(_, id)| id);
        let id: i64 = raw.parse().map_err(|_| "invalid relation id".to_string())?;
        u32::try_from(id)
            .ok()
            .filter(|id| self.relation(*id).is_some())
            .ok_or_else(|| "relation not found".to_string())
    }

    /// The relation of a relation hook (`-r`'s default).
    pub(crate) fn hook_relation(&self) -> Option<u32> {
        self.ctx.relation.as_ref().map(|r| r.id)
    }

    pub(crate) fn log_line(&mut self, level: &str, module: &str, text: &str) {
        self.log
            .push(debuglog::line(&self.ctx.unit, level, module, text));
    }
}

/// Go's `os.Open` error text for a path.
pub(crate) fn read_path(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| go_open_error(path, &e))
}

fn go_open_error(path: &str, e: &std::io::Error) -> String {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {reason}")
}

/// Parses flags; `None` when help was asked for.
pub(crate) fn parse_flags(
    defs: &[Flag],
    args: &[String],
    set: impl FnMut(&'static str, &str) -> Result<(), String>,
) -> Result<Vec<String>, ToolError> {
    match flags::parse(defs, args, set)? {
        Parsed::Args(a) => Ok(a),
        Parsed::Help => Err(ToolError::Help),
    }
}

pub(crate) fn check_empty(args: &[String]) -> Result<(), ToolError> {
    flags::check_empty(args).map_err(ToolError::Init)
}

/// The one argument a tool takes (`missing` is its error when there is none).
pub(crate) fn only_arg<'a>(args: &'a [String], missing: &str) -> Result<&'a String, ToolError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(ToolError::Init(missing.into()));
    };
    check_empty(rest)?;
    Ok(first)
}

/// The key argument of the `*-get` tools: none or `-` asks for every key ("").
pub(crate) fn key_arg(args: &[String]) -> String {
    match args.first().map(String::as_str) {
        None | Some("-") => String::new(),
        Some(k) => k.to_string(),
    }
}

/// `--format` and `-o/--output`, which every formatting tool has.
#[derive(Debug, Default)]
pub(crate) struct OutputOpts {
    pub format: Format,
    pub file: Option<String>,
}

pub(crate) const OUTPUT_FLAGS: [Flag; 3] = [
    Flag::value("format", "format"),
    Flag::value("o", "output"),
    Flag::value("output", "output"),
];

impl OutputOpts {
    /// Handles the output flags; `None` for any other key.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        match key {
            "format" => Some(Format::parse(value).map(|f| self.format = f)),
            "output" => {
                self.file = Some(value.to_string());
                Some(Ok(()))
            }
            _ => None,
        }
    }

    pub(crate) fn write(&self, output: &Output) -> ToolResult {
        let text =
            format::render(output, self.format).map_err(|e| ToolError::Run(e.to_string()))?;
        format::emit(&text, self.file.as_deref()).map_err(|e| ToolError::Run(e.to_string()))
    }
}

/// Flags of a formatting tool: its own plus the output flags.
pub(crate) fn with_output(own: &[Flag]) -> Vec<Flag> {
    own.iter().copied().chain(OUTPUT_FLAGS).collect()
}

/// Runs the hook tool `name` as jujud would; returns the exit code.
pub(crate) fn main(name: &str, args: &[String]) -> i32 {
    let (code, stdout, stderr) = run(name, args);
    let _ = std::io::stdout().write_all(stdout.as_bytes());
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    code
}

fn run(name: &str, args: &[String]) -> (i32, String, String) {
    let Some(context_id) = std::env::var("JUJU_CONTEXT_ID")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return (1, String::new(), "ERROR JUJU_CONTEXT_ID not set\n".into());
    };
    let Some(dir) = std::env::var("JUJU_AGENT_SOCKET_ADDRESS")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|s| ModelDir::from_socket(Path::new(&s)))
    else {
        return (
            1,
            String::new(),
            "ERROR JUJU_AGENT_SOCKET_ADDRESS not set\n".into(),
        );
    };
    let preread = if wants_stdin(name, args) {
        let mut bytes = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
            return (1, String::new(), format!("ERROR cannot read stdin: {e}\n"));
        }
        // Every tool that reads stdin parses it with yaml.v2, whose reader refuses
        // malformed UTF-8 before anything else.
        match crate::yaml::check_reader(&bytes) {
            Err(e @ crate::yaml::YamlError::Other(_)) if std::str::from_utf8(&bytes).is_err() => {
                return (1, String::new(), format!("ERROR {e}\n"));
            }
            _ => Some(String::from_utf8_lossy(&bytes).into_owned()),
        }
    } else {
        None
    };
    match run_in_model(&dir, &context_id, name, args, preread) {
        Ok(result) => result,
        Err(e) => (1, String::new(), format!("ERROR {e}\n")),
    }
}

/// Whether the tool's arguments make it read stdin: `--file -` for relation-set and
/// state-set; no `--file` (or `--file -`) for the spec setters.
fn wants_stdin(name: &str, args: &[String]) -> bool {
    let mut file: Option<&str> = None;
    let mut iter = args.iter().map(String::as_str).take_while(|a| *a != "--");
    while let Some(a) = iter.next() {
        if let Some(v) = a.strip_prefix("--file=") {
            file = Some(v);
        } else if a == "--file" {
            file = iter.next();
        }
    }
    match name {
        "relation-set" | "state-set" => file == Some("-"),
        "pod-spec-set" | "k8s-spec-set" => file.is_none_or(|f| f == "-"),
        _ => false,
    }
}

fn run_in_model(
    dir: &ModelDir,
    context_id: &str,
    name: &str,
    args: &[String],
    preread: Option<String>,
) -> Result<(i32, String, String), ModelError> {
    let _lock = dir.lock()?;
    let mut model = dir.load()?;
    let Some(ctx) = Context::load(dir, context_id)? else {
        return Ok((
            1,
            String::new(),
            format!("ERROR bad request: unknown context {context_id:?}\n"),
        ));
    };
    let def = TOOLS.iter().find(|t| t.name == name);
    let (code, stdout, stderr, env) = match (def, model.faults.get(name).cloned()) {
        (_, Some(message)) => (1, String::new(), format!("ERROR {message}\n"), None),
        (None, None) => (
            1,
            String::new(),
            format!("ERROR unknown command {name:?}\n"),
            None,
        ),
        (Some(def), None) => {
            let mut env = Env {
                dir: dir.clone(),
                // The tool's result replaces the model below; no copy is needed.
                model: Tracked::new(std::mem::take(&mut model)),
                ctx: ctx.clone(),
                stdin: None,
                preread,
                stderr: String::new(),
                log: Vec::new(),
            };
            let result = (def.run)(&mut env, args);
            let (code, out, err) = match result {
                Ok(out) => (0, out, env.stderr.clone()),
                Err(ToolError::Help) => (0, help(def), String::new()),
                Err(ToolError::Init(m)) => (2, String::new(), format!("{}ERROR {m}\n", env.stderr)),
                Err(ToolError::Run(m)) => (1, String::new(), format!("{}ERROR {m}\n", env.stderr)),
            };
            (code, out, err, Some(env))
        }
    };
    let mut stdin = None;
    let mut changed = false;
    if let Some(env) = env {
        stdin = env.stdin.clone();
        changed = env.model.changed;
        model = env.model.model;
        if env.ctx != ctx {
            env.ctx.save(dir)?;
        }
        debuglog::append(dir, &env.log)?;
    }
    let seq = calls::next_seq(dir, model.call_seq)?;
    let call = Call {
        seq,
        unit: ctx.unit.clone(),
        hook: ctx.hook.clone(),
        tool: name.to_string(),
        args: args.to_vec(),
        stdin,
        exit_code: code,
        stderr: stderr.clone(),
    };
    if changed {
        model.call_seq = seq;
        dir.save(&model)?;
    }
    calls::set_seq(dir, seq)?;
    calls::append(dir, &call)?;
    // The process ends with this call: freeing a large model piece by piece only costs time.
    std::mem::forget(model);
    Ok((code, stdout, stderr))
}

fn help(def: &ToolDef) -> String {
    format!(
        "Usage: {} [options] {}\n\nSummary:\n{}\n",
        def.name, def.args, def.purpose
    )
}

/// juju/utils `keyvalues.Parse(args, allowEmptyValues=true)`: plain strings, not YAML
/// (so control characters pass), trimmed of surrounding white space.
pub(crate) fn parse_key_values(
    args: &[String],
) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    let mut out = std::collections::BTreeMap::new();
    for kv in args {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(ToolError::Init(format!(
                "expected \"key=value\", got {kv:?}"
            )));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            // Go's `"%s=%s"` of the trimmed parts, unquoted.
            return Err(ToolError::Init(format!(
                "expected \"key=value\", got \"{k}={v}\""
            )));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ToolError::Init(format!(
                "key {k:?} specified more than once"
            )));
        }
    }
    Ok(out)
}

/// The settings of `relation-set` and `state-set`: the `--file` ones (if any), then
/// the `key=value` arguments over them.
pub(crate) fn settings_with_file(
    env: &mut Env,
    file: Option<&str>,
    overrides: std::collections::BTreeMap<String, String>,
) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    let mut settings = match file {
        Some(path) => parse_settings_file(&env.read_file_var_bytes(path)?)?,
        None => Default::default(),
    };
    settings.extend(overrides);
    Ok(settings)
}

/// A `--file` of settings, as Juju's `readSettings` reads it: yaml.v2 decoding into
/// `map[string]string` (see [`crate::yaml::string_map_v2`]); any YAML error fails the
/// tool (exit 1).
pub(crate) fn parse_settings_file(
    bytes: &[u8],
) -> Result<std::collections::BTreeMap<String, String>, ToolError> {
    crate::yaml::string_map_v2(bytes).map_err(|e| ToolError::Run(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn knows_which_calls_read_stdin() {
        assert!(wants_stdin(
            "relation-set",
            &args(&["-r", "1", "--file", "-"])
        ));
        assert!(wants_stdin("state-set", &args(&["--file=-"])));
        assert!(!wants_stdin("relation-set", &args(&["a=b"])));
        assert!(!wants_stdin("relation-set", &args(&["--", "--file", "-"])));
        assert!(wants_stdin("pod-spec-set", &args(&[])));
        assert!(!wants_stdin(
            "pod-spec-set",
            &args(&["--file", "spec.yaml"])
        ));
        assert!(!wants_stdin("relation-get", &args(&["--file", "-"])));
    }
}
