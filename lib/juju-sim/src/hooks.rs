//! Running one hook or action the way the unit agent does (juju-hook-reference §1):
//! the handler chosen by `dispatch`/`hooks/<name>`, Juju's exact environment, the charm
//! dir as cwd, stdin from /dev/null, output into the debug log, and the hook's pending
//! changes committed only when it exits 0.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::charm::{self, CharmError};
use crate::context::{apply_changes, ActionState, Context, Pending};
use crate::debuglog;
pub(crate) use crate::event::{ContextRelation, HookSpec};
use crate::model::{
    io_err, service_ip, split_unit, Model, ModelDir, ModelError, StatusValue, StoredPodSpec,
    JUJU_VERSION,
};
use crate::tools;

#[derive(Debug, Error)]
pub(crate) enum DriverError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Charm(#[from] CharmError),
    #[error(transparent)]
    Profile(#[from] crate::profiles::ProfileError),
    #[error(transparent)]
    Workload(#[from] crate::workload::WorkloadError),
    /// The command ran to its end, but hooks failed on some units (now in error).
    #[error("hook failed")]
    HooksFailed {
        output: String,
        failures: Vec<HookFailure>,
    },
    #[error("{0}")]
    Usage(String),
    /// An action that ran and failed: its report goes to stdout, the command exits 1.
    #[error("action failed")]
    ActionFailed(String),
}

/// A hook that failed during a command: its unit is in error.
#[derive(Debug, Clone)]
pub(crate) struct HookFailure {
    pub unit: String,
    pub hook: String,
    pub stderr: String,
}

/// What became of an event delivered to a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The hook ran and exited 0 (or the charm has no handler for it).
    Ran,
    /// The hook failed: the unit is now in error.
    Failed,
    /// The unit is in error: the event waits in its queue until `resolved`.
    Deferred,
}

/// How an action ended.
#[derive(Debug, Clone)]
pub(crate) struct ActionOutcome {
    pub id: u32,
    pub status: String,
    pub message: String,
    pub results: Map<String, Value>,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub log: Vec<String>,
}

enum Job {
    Hook(HookSpec),
    Action(ActionState),
}

struct Finished {
    code: i32,
    stdout: String,
    stderr: String,
    ctx: Option<Context>,
    ran: bool,
}

/// Follow-up hooks beyond this many in one command mean the charm never settles.
const MAX_FOLLOW_UPS: usize = 1000;

/// The driver's view: the model in memory between hooks, saved before each hook runs
/// and reloaded after (the tools change it meanwhile).
pub(crate) struct Sim {
    pub dir: ModelDir,
    pub model: Model,
    pub verbose: bool,
    queue: VecDeque<(String, HookSpec)>,
    failures: Vec<HookFailure>,
}

impl Sim {
    pub(crate) fn new(dir: ModelDir, model: Model, verbose: bool) -> Sim {
        Sim {
            dir,
            model,
            verbose,
            queue: VecDeque::new(),
            failures: Vec::new(),
        }
    }

    pub(crate) fn save(&self) -> Result<(), ModelError> {
        self.dir.save(&self.model)
    }

    /// Gives a new unit its charm dir (a copy of the deployed charm), agent dir and tools
    /// dir (a symlink per tool to this binary).
    pub(crate) fn provision_unit(&self, unit: &str) -> Result<(), DriverError> {
        let app = self.model.app()?;
        let charm_dir = self.dir.unit_charm_dir(unit);
        if !charm_dir.exists() {
            charm::copy_tree(&self.dir.charm_store(&app.name), &charm_dir)?;
        }
        let agent = self.dir.agent_dir(unit);
        fs::create_dir_all(&agent).map_err(io_err(&agent))?;
        let tools_dir = self.dir.tools_dir(unit);
        fs::create_dir_all(&tools_dir).map_err(io_err(&tools_dir))?;
        let exe = std::env::current_exe().map_err(io_err(Path::new("juju-sim")))?;
        for name in tools::tool_names() {
            let link = tools_dir.join(name);
            let _ = fs::remove_file(&link);
            symlink(&exe, &link).map_err(io_err(&link))?;
        }
        Ok(())
    }

    /// Delivers an event to a unit as its agent would. A unit in error runs no other
    /// hook: the event waits in the unit's queue (in the model) until `resolved`. A
    /// failing hook puts only that unit in error; the command goes on with the other
    /// units and reports the failure when it ends ([`Sim::settle`]).
    pub(crate) fn hook(&mut self, unit: &str, spec: HookSpec) -> Result<Delivery, DriverError> {
        match self.model.unit(unit)?.failed_hook.clone() {
            Some(failed) => {
                self.defer(unit, spec, &failed)?;
                Ok(Delivery::Deferred)
            }
            None => self.run_hook(unit, spec),
        }
    }

    /// Runs a hook whatever the unit's state; a failure is recorded for the command's end.
    fn run_hook(&mut self, unit: &str, spec: HookSpec) -> Result<Delivery, DriverError> {
        let name = spec.name.clone();
        let done = self.execute(unit, Job::Hook(spec))?;
        if done.code != 0 {
            self.failures.push(HookFailure {
                unit: unit.to_string(),
                hook: name,
                stderr: done.stderr,
            });
            return Ok(Delivery::Failed);
        }
        Ok(Delivery::Ran)
    }

    fn defer(&mut self, unit: &str, spec: HookSpec, failed: &HookSpec) -> Result<(), DriverError> {
        let u = self.model.unit_mut(unit)?;
        // update-status comes from a timer: ticks missed while in error are one event.
        if spec.name == "update-status" && u.deferred.contains(&spec) {
            return Ok(());
        }
        let line = debuglog::line(
            unit,
            "INFO",
            "juju.worker.uniter",
            &format!(
                "awaiting error resolution for {:?} hook; {:?} waits",
                failed.name, spec.name
            ),
        );
        u.deferred.push(spec);
        self.save()?;
        debuglog::append(&self.dir, &[line])?;
        Ok(())
    }

    /// `juju resolved`: runs the failed hook again (same hook, same relation and remote
    /// unit), or with `retry` false drops it; once past it, the unit leaves error and the
    /// events that waited run in order, until one fails again.
    pub(crate) fn resolved(&mut self, unit: &str, retry: bool) -> Result<(), DriverError> {
        let failed =
            self.model.unit(unit)?.failed_hook.clone().ok_or_else(|| {
                DriverError::Usage(format!("unit {unit:?} is not in an error state"))
            })?;
        if retry {
            if self.run_hook(unit, failed.clone())? == Delivery::Failed {
                return Ok(());
            }
        } else {
            // Skipping install still counts as installed: the unit goes on to its next hooks.
            self.model.unit_mut(unit)?.past_hook(&failed.name);
            self.save()?;
            let line = debuglog::line(
                unit,
                "INFO",
                "juju.worker.uniter.operation",
                &format!("skipped {:?} hook (resolved --no-retry)", failed.name),
            );
            debuglog::append(&self.dir, &[line])?;
        }
        self.leave_dying_relation(unit, &failed)?;
        loop {
            let u = self.model.unit_mut(unit)?;
            if u.deferred.is_empty() {
                return Ok(());
            }
            let next = u.deferred.remove(0);
            self.save()?;
            if self.run_hook(unit, next.clone())? == Delivery::Failed {
                return Ok(());
            }
            self.leave_dying_relation(unit, &next)?;
        }
    }

    /// Once a unit is past `-broken` of a relation being removed, it is out of it; the
    /// relation goes when no unit is left in it (it waited for units in error).
    pub(crate) fn leave_dying_relation(
        &mut self,
        unit: &str,
        spec: &HookSpec,
    ) -> Result<(), DriverError> {
        let Some(r) = &spec.relation else {
            return Ok(());
        };
        if !spec.name.ends_with("-relation-broken") {
            return Ok(());
        }
        let Some(relation) = self.model.relations.get_mut(&r.id) else {
            return Ok(());
        };
        if !relation.dying {
            return Ok(());
        }
        relation.views.remove(unit);
        if relation.views.is_empty() {
            self.model.relations.remove(&r.id);
        }
        self.save()?;
        Ok(())
    }

    /// Ends a command: its output, or [`DriverError::HooksFailed`] with the output and
    /// every hook that failed.
    pub(crate) fn settle(&mut self, output: String) -> Result<String, DriverError> {
        if self.failures.is_empty() {
            return Ok(output);
        }
        Err(DriverError::HooksFailed {
            output,
            failures: std::mem::take(&mut self.failures),
        })
    }

    /// Queues a hook to run after the command's own sequence (coalescing repeats).
    pub(crate) fn queue(&mut self, unit: &str, spec: HookSpec) {
        let item = (unit.to_string(), spec);
        if !self.queue.contains(&item) {
            self.queue.push_back(item);
        }
    }

    /// Runs queued follow-up hooks (peer `-changed`, `leader-settings-changed`) until
    /// none are left.
    pub(crate) fn drain(&mut self) -> Result<(), DriverError> {
        let mut ran = 0;
        while let Some((unit, spec)) = self.queue.pop_front() {
            let live = self.model.is_installed(&unit);
            if !live || !relation_live(spec.relation.as_ref(), &self.model, &unit) {
                continue;
            }
            ran += 1;
            if ran > MAX_FOLLOW_UPS {
                return Err(DriverError::Usage(format!(
                    "more than {MAX_FOLLOW_UPS} follow-up hooks: the units keep changing their data"
                )));
            }
            self.hook(&unit, spec)?;
        }
        Ok(())
    }

    pub(crate) fn run_action(
        &mut self,
        unit: &str,
        name: &str,
        params: Map<String, Value>,
    ) -> Result<ActionOutcome, DriverError> {
        let id = self.model.next_action_id;
        self.model.next_action_id += 1;
        let state = ActionState {
            name: name.to_string(),
            id,
            params,
            ..ActionState::default()
        };
        let done = self.execute(unit, Job::Action(state))?;
        let action = done.ctx.and_then(|c| c.action).unwrap_or_default();
        let (status, message) = match (&action.failure, done.code, done.ran) {
            (_, _, false) => (
                "failed".to_string(),
                format!("action not implemented on unit {unit:?}"),
            ),
            (Some(m), _, _) => ("failed".to_string(), m.clone()),
            (None, 0, _) => ("completed".to_string(), String::new()),
            (None, code, _) => ("failed".to_string(), format!("exit status {code}")),
        };
        Ok(ActionOutcome {
            id,
            status,
            message,
            results: action.results,
            stdout: done.stdout,
            stderr: done.stderr,
            code: done.code,
            log: action.log,
        })
    }

    fn execute(&mut self, unit: &str, job: Job) -> Result<Finished, DriverError> {
        self.model.context_seq += 1;
        let (hook_name, dispatch_path, relation, action) = match &job {
            Job::Hook(spec) => (
                spec.name.clone(),
                format!("hooks/{}", spec.name),
                spec.relation.clone(),
                None,
            ),
            Job::Action(state) => (
                state.name.clone(),
                format!("actions/{}", state.name),
                None,
                Some(state.clone()),
            ),
        };
        // Juju's contextFactory.newId: `<unit>-<hook or action name>-<random>`.
        let context_id = format!(
            "{unit}-{hook_name}-{}",
            pseudo_random(&self.model.uuid, self.model.context_seq)
        );
        let ctx = Context {
            id: context_id.clone(),
            unit: unit.to_string(),
            hook: hook_name.clone(),
            relation,
            action,
            pending: Pending::default(),
        };
        let is_install = matches!(&job, Job::Hook(s) if s.name == "install");
        if is_install {
            self.model.unit_mut(unit)?.workload =
                StatusValue::new("maintenance", "installing charm software");
        }
        let leader_settings = self.model.leader_settings.clone();
        ctx.save(&self.dir)?;
        self.save()?;

        let charm_dir = self.dir.unit_charm_dir(unit);
        let handler = choose_handler(&charm_dir, &dispatch_path);
        let (code, stdout, stderr) = match &handler {
            Some(path) => {
                let env = self.environment(unit, &ctx, &job, &dispatch_path);
                self.spawn(unit, &hook_name, path, &charm_dir, env)?
            }
            None => (0, String::new(), String::new()),
        };

        self.model = self.dir.load()?;
        let ctx = Context::load(&self.dir, &context_id)?;
        Context::remove(&self.dir, &context_id)?;
        let mut code = code;
        let mut stderr = stderr;
        let spec_before = self.model.app().ok().and_then(|a| a.pod_spec.clone());
        if code == 0 && handler.is_some() {
            if let Some(ctx) = &ctx {
                match commit(&mut self.model, ctx) {
                    Ok(follow_ups) => {
                        for (u, spec) in follow_ups {
                            self.queue(&u, spec);
                        }
                    }
                    Err(message) => {
                        code = 1;
                        stderr.push_str(&format!("ERROR {message}\n"));
                    }
                }
            }
        }
        let spec_after = self.model.app().ok().and_then(|a| a.pod_spec.clone());
        if spec_before.is_none() && spec_after.is_some() {
            // The first spec creates the application's Service: its address is new, and
            // on Kubernetes a change of the Service addresses hash runs config-changed on
            // every unit (uniter resolver, WatchUnitAddressesHash), whose commit then
            // publishes the address in the unit's relation data.
            // (A unit not installed yet runs its own config-changed after install.)
            for u in self.model.app()?.installed_units() {
                self.queue(&u, HookSpec::plain("config-changed"));
            }
        }
        if spec_after != spec_before {
            // The controller applies the committed spec; then the kubelet's part: the
            // pods follow the applied template and ConfigMaps.
            crate::kubernetes::apply(&self.dir, &mut self.model)?;
            self.save()?;
            crate::workload::reconcile(&self.dir, &self.model)?;
        }
        let via = match &handler {
            Some(p) if p.ends_with("dispatch") => {
                "via hook dispatching script: dispatch".to_string()
            }
            Some(_) => "via explicit, bespoke hook script".to_string(),
            None => String::new(),
        };
        let what = if matches!(job, Job::Action(_)) {
            "action"
        } else {
            "hook"
        };
        let log = match (&handler, code) {
            (None, _) => debuglog::line(
                unit,
                "INFO",
                "juju.worker.uniter.operation",
                &format!("skipped {hook_name:?} {what} (missing)"),
            ),
            (Some(_), 0) => debuglog::line(
                unit,
                "INFO",
                "juju.worker.uniter.operation",
                &format!("ran {hook_name:?} {what} ({via})"),
            ),
            (Some(_), c) => debuglog::line(
                unit,
                "ERROR",
                "juju.worker.uniter.operation",
                &format!("{what} {hook_name:?} ({via}) failed: exit status {c}"),
            ),
        };
        debuglog::append(&self.dir, &[log])?;

        if let Job::Hook(spec) = &job {
            let u = self.model.unit_mut(unit)?;
            if code == 0 {
                u.past_hook(&spec.name);
            } else {
                u.failed_hook = Some(spec.clone());
                u.agent.status = "error".into();
                u.agent.message = format!("hook failed: {:?}", spec.name);
                u.agent.data = [("hook".to_string(), spec.name.clone())].into();
                if let Some(r) = &spec.relation {
                    u.agent.data.insert("relation-id".into(), r.id.to_string());
                    if let Some(remote) = &r.remote_unit {
                        u.agent.data.insert("remote-unit".into(), remote.clone());
                    }
                }
            }
        }
        if self.model.leader_settings != leader_settings {
            self.queue_leader_settings_changed();
        }
        self.save()?;
        Ok(Finished {
            code,
            stdout,
            stderr,
            ctx,
            ran: handler.is_some(),
        })
    }

    pub(crate) fn queue_leader_settings_changed(&mut self) {
        let followers: Vec<String> = match &self.model.application {
            Some(app) => app
                .units
                .values()
                .filter(|u| !u.leader && u.installed)
                .map(|u| app.unit_name(u.number))
                .collect(),
            None => return,
        };
        for f in followers {
            self.queue(&f, HookSpec::plain("leader-settings-changed"));
        }
    }

    /// Exactly Juju's hook environment (§1.4): nothing inherited.
    fn environment(
        &self,
        unit: &str,
        ctx: &Context,
        job: &Job,
        dispatch_path: &str,
    ) -> Vec<(String, String)> {
        let charm_dir = self.dir.unit_charm_dir(unit).display().to_string();
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.tools_dir(unit).display()
        );
        // The controller's Service, in loopback space like every cluster IP here.
        let api = service_ip(2);
        let mut env: Vec<(String, String)> = [
            ("JUJU_CHARM_DIR", charm_dir.clone()),
            ("CHARM_DIR", charm_dir),
            ("JUJU_CONTEXT_ID", ctx.id.clone()),
            // Juju's ActionContext leaves the hook name unset: "" for actions.
            (
                "JUJU_HOOK_NAME",
                match job {
                    Job::Action(_) => String::new(),
                    Job::Hook(_) => ctx.hook.clone(),
                },
            ),
            ("JUJU_UNIT_NAME", unit.to_string()),
            ("JUJU_MODEL_UUID", self.model.uuid.clone()),
            ("JUJU_MODEL_NAME", self.model.name.clone()),
            (
                "JUJU_AGENT_SOCKET_ADDRESS",
                self.dir.socket(unit).display().to_string(),
            ),
            ("JUJU_AGENT_SOCKET_NETWORK", "unix".to_string()),
            ("JUJU_API_ADDRESSES", format!("{api}:17070")),
            (
                "JUJU_VERSION",
                self.model
                    .app()
                    .map_or(JUJU_VERSION, |a| a.juju_version())
                    .to_string(),
            ),
            ("JUJU_DISPATCH_PATH", dispatch_path.to_string()),
            ("JUJU_SLA", "unsupported".to_string()),
            ("JUJU_MACHINE_ID", String::new()),
            ("JUJU_PRINCIPAL_UNIT", String::new()),
            ("JUJU_AVAILABILITY_ZONE", String::new()),
            ("JUJU_METER_STATUS", "AMBER".to_string()),
            ("JUJU_METER_INFO", "not set".to_string()),
            ("CLOUD_API_VERSION", String::new()),
            ("JUJU_CHARM_HTTP_PROXY", String::new()),
            ("JUJU_CHARM_HTTPS_PROXY", String::new()),
            ("JUJU_CHARM_FTP_PROXY", String::new()),
            ("JUJU_CHARM_NO_PROXY", String::new()),
            ("PATH", path),
            ("LANG", "C.UTF-8".to_string()),
            ("TERM", "tty".to_string()),
            ("DEBIAN_FRONTEND", "noninteractive".to_string()),
            ("APT_LISTCHANGES_FRONTEND", "none".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(r) = &ctx.relation {
            env.push(("JUJU_RELATION".into(), r.endpoint.clone()));
            env.push((
                "JUJU_RELATION_ID".into(),
                format!("{}:{}", r.endpoint, r.id),
            ));
            env.push((
                "JUJU_REMOTE_UNIT".into(),
                r.remote_unit.clone().unwrap_or_default(),
            ));
            env.push(("JUJU_REMOTE_APP".into(), r.remote_app.clone()));
            if let Some(d) = &r.departing_unit {
                env.push(("JUJU_DEPARTING_UNIT".into(), d.clone()));
            }
        }
        match job {
            Job::Action(state) => {
                env.push(("JUJU_ACTION_NAME".into(), state.name.clone()));
                env.push(("JUJU_ACTION_UUID".into(), state.id.to_string()));
                env.push(("JUJU_ACTION_TAG".into(), format!("action-{}", state.id)));
            }
            Job::Hook(spec) => {
                if let Some(w) = &spec.workload {
                    env.push(("JUJU_WORKLOAD_NAME".into(), w.clone()));
                }
                if let Some(s) = &spec.storage {
                    let n = split_unit(unit).map_or(0, |(_, n)| n);
                    env.push(("JUJU_STORAGE_ID".into(), format!("{}/{n}", s.name)));
                    env.push(("JUJU_STORAGE_LOCATION".into(), s.location.clone()));
                    env.push(("JUJU_STORAGE_KIND".into(), s.kind.clone()));
                }
            }
        }
        env
    }

    /// Runs the handler as in a pod, with the model's cluster DNS (see `poddns`); every
    /// output line goes to the debug log as it comes (stdout at DEBUG, stderr at WARNING).
    fn spawn(
        &self,
        unit: &str,
        hook: &str,
        handler: &Path,
        cwd: &Path,
        env: Vec<(String, String)>,
    ) -> Result<(i32, String, String), DriverError> {
        let mut files = crate::poddns::write(&self.dir, &self.model)?;
        let sidecar = self
            .model
            .app()
            .is_ok_and(super::model::Application::sidecar);
        if sidecar {
            files.containers = Some(crate::pebble::containers_dir(&self.dir, unit));
        }
        let mut command = if crate::poddns::available(&files) {
            crate::poddns::command(handler, &files)
        } else {
            if crate::poddns::first_fallback(&self.dir) {
                let mut text = "cannot give hooks a pod's DNS (`unshare --mount` and bind \
                     mounts need root and util-linux): hooks and actions run directly, with \
                     the host's /etc/hosts and /etc/resolv.conf, and pod names do not resolve"
                    .to_string();
                if sidecar {
                    text.push_str(&format!(
                        "; nor is {}/<container>/pebble.socket there: each unit's Pebble \
                         sockets stay in {}",
                        crate::poddns::CHARM_CONTAINERS,
                        crate::pebble::containers_dir(&self.dir, unit).display()
                    ));
                }
                let line = debuglog::line(unit, "WARNING", "juju-sim.poddns", &text);
                debuglog::append(&self.dir, &[line])?;
            }
            Command::new(handler)
        };
        let child = command
            .env_clear()
            .envs(env)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let message = format!("fork/exec {}: {e}", handler.display());
                let line = debuglog::line(unit, "ERROR", "juju.worker.uniter", &message);
                debuglog::append(&self.dir, &[line])?;
                return Ok((1, String::new(), format!("{message}\n")));
            }
        };
        let (tx, rx) = mpsc::channel::<(bool, String)>();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| (false, Box::new(s) as Box<dyn Read + Send>)),
            child
                .stderr
                .take()
                .map(|s| (true, Box::new(s) as Box<dyn Read + Send>)),
        ]
        .into_iter()
        .flatten()
        .map(|(is_err, stream)| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut buf = Vec::new();
                while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                    let _ = tx.send((is_err, String::from_utf8_lossy(&buf).into_owned()));
                    buf.clear();
                }
            })
        })
        .collect();
        drop(tx);
        let module = format!("unit.{unit}.{hook}");
        let (mut out, mut err) = (String::new(), String::new());
        for (is_err, text) in rx {
            let level = if is_err { "WARNING" } else { "DEBUG" };
            let line = debuglog::line(unit, level, &module, text.trim_end_matches('\n'));
            debuglog::append(&self.dir, &[line])?;
            if self.verbose {
                eprint!("{unit} {hook}: {text}");
                if !text.ends_with('\n') {
                    eprintln!();
                }
            }
            if is_err {
                err.push_str(&text);
            } else {
                out.push_str(&text);
            }
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child.wait().map_err(io_err(handler))?;
        Ok((status.code().unwrap_or(128), out, err))
    }
}

/// A queued relation hook still makes sense only while the unit is in the relation.
fn relation_live(relation: Option<&ContextRelation>, model: &Model, unit: &str) -> bool {
    match relation {
        None => true,
        Some(r) => model
            .relations
            .get(&r.id)
            .is_some_and(|rel| !rel.dying && rel.views.contains_key(unit)),
    }
}

/// `dispatch` when executable, else `hooks/<name>` / `actions/<name>` when present.
fn choose_handler(charm_dir: &Path, dispatch_path: &str) -> Option<PathBuf> {
    let dispatch = charm_dir.join("dispatch");
    let executable =
        fs::metadata(&dispatch).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if executable {
        return Some(dispatch);
    }
    let specific = charm_dir.join(dispatch_path);
    fs::symlink_metadata(&specific).is_ok().then_some(specific)
}

/// Context ids end in a large number, as Juju's do; ours is derived, not random.
fn pseudo_random(seed: &str, seq: u64) -> u64 {
    let start = crate::hash::OFFSET ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    crate::hash::fnv1a(start, seed.as_bytes()) % 10_000_000_000_000_000_000
}

/// Applies a successful hook's pending changes; returns the hooks other units get.
/// The pod spec is stored only if the unit is still the leader.
pub(crate) fn commit(model: &mut Model, ctx: &Context) -> Result<Vec<(String, HookSpec)>, String> {
    let unit = ctx.unit.clone();
    let leader = model.is_leader(&unit);
    if ctx.pending.pod_spec.is_some() && !leader {
        return Err("this unit is not the leader".into());
    }
    // state/podspec_ops.go: the commit of a spec for a v2 (sidecar) charm is refused.
    if ctx.pending.pod_spec.is_some() && model.app().is_ok_and(super::model::Application::sidecar) {
        return Err("cannot set k8s spec on a v2 charm".into());
    }
    let app_name = model.app().map_err(|e| e.to_string())?.name.clone();
    let mut follow_ups = Vec::new();
    for (id, changes) in &ctx.pending.relations {
        let Some(r) = model.relations.get_mut(id) else {
            continue;
        };
        let bag = r.unit_data.entry(unit.clone()).or_default();
        let before = bag.clone();
        apply_changes(bag, &changes.unit);
        let unit_changed = *bag != before;
        let mut app_changed = false;
        if leader && !changes.app.is_empty() {
            let bag = r.app_data.entry(app_name.clone()).or_default();
            let before = bag.clone();
            apply_changes(bag, &changes.app);
            app_changed = *bag != before;
        }
        if !r.is_peer() || r.dying {
            continue;
        }
        for (other, seen) in &r.views {
            if *other == unit {
                continue;
            }
            let relation = |remote_unit: Option<String>| ContextRelation {
                id: r.id,
                endpoint: r.local.endpoint.clone(),
                remote_app: app_name.clone(),
                remote_unit,
                departing_unit: None,
            };
            if unit_changed && seen.contains(&unit) {
                follow_ups.push((
                    other.clone(),
                    HookSpec::relation("changed", relation(Some(unit.clone()))),
                ));
            }
            if app_changed {
                follow_ups.push((other.clone(), HookSpec::relation("changed", relation(None))));
            }
        }
    }
    // Committing config-changed also refreshes the unit's Juju keys in its relations
    // (runner/context `doFlush` asks for UpdateNetworkInfo). The Service a spec set in
    // this very hook creates comes later, so this runs before the spec is stored.
    if ctx.action.is_none() && ctx.hook == "config-changed" {
        for id in model.refresh_juju_unit_keys(&unit) {
            let Some(r) = model.relations.get(&id) else {
                continue;
            };
            if !r.is_peer() || r.dying {
                continue;
            }
            for (other, seen) in &r.views {
                if *other != unit && seen.contains(&unit) {
                    let relation = ContextRelation {
                        id,
                        endpoint: r.local.endpoint.clone(),
                        remote_app: app_name.clone(),
                        remote_unit: Some(unit.clone()),
                        departing_unit: None,
                    };
                    follow_ups.push((other.clone(), HookSpec::relation("changed", relation)));
                }
            }
        }
    }
    if let Some(p) = &ctx.pending.pod_spec {
        model.app_mut().map_err(|e| e.to_string())?.pod_spec = Some(StoredPodSpec {
            spec: p.spec.clone(),
            k8s_resources: p.k8s_resources.clone(),
            unit: unit.clone(),
            tool: p.tool.clone(),
        });
    }
    if !ctx.pending.state.is_empty() {
        let u = model.unit_mut(&unit).map_err(|e| e.to_string())?;
        apply_changes(&mut u.state, &ctx.pending.state);
    }
    Ok(follow_ups)
}
