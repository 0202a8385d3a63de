//! Looking into the model: `show-pod-spec`, `calls`, `debug-log`, `profiles`, and the
//! fault injection of `fail-tool`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::status::table;
use super::{render, OutFormat};
use crate::calls::{self, Call};
use crate::debuglog;
use crate::hooks::{DriverError, Sim};
use crate::model::{io_err, ModelDir};
use crate::{podspec, profiles, tools};

#[derive(clap::Args, Debug)]
pub(super) struct PodSpecArgs {
    application: String,
    /// Write the files the spec mounts under DIR, at their mount paths.
    #[arg(long, value_name = "DIR")]
    extract: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(super) struct CallsArgs {
    #[arg(long)]
    unit: Option<String>,
    #[arg(long)]
    tool: Option<String>,
    #[arg(long)]
    hook: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

#[derive(clap::Args, Debug)]
pub(super) struct FailToolArgs {
    /// The hook tool to break, e.g. pod-spec-set.
    tool: String,
    /// What it fails with (after `ERROR `).
    #[arg(long)]
    message: Option<String>,
    /// Make the tool work again.
    #[arg(long)]
    clear: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct ProfilesArgs {
    #[arg(long, value_enum, default_value_t)]
    format: OutFormat,
}

/// A mount path made relative, refusing `..` so files stay under the extract root.
fn under(root: &Path, path: &str) -> Result<PathBuf, DriverError> {
    let mut out = root.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            _ => {
                return Err(DriverError::Usage(format!(
                    "mounted path {path:?} leaves the extract directory"
                )))
            }
        }
    }
    Ok(out)
}

pub(super) fn pod_spec(sim: &Sim, args: &PodSpecArgs) -> Result<String, DriverError> {
    let app = sim.model.app_named(&args.application)?;
    let stored = app.pod_spec.as_ref().ok_or_else(|| {
        DriverError::Usage(format!("no pod spec set for application {:?}", app.name))
    })?;
    let text = stored.text();
    let Some(root) = &args.extract else {
        return Ok(text);
    };
    let spec = stored
        .parsed()
        .map_err(|e| DriverError::Usage(e.to_string()))?;
    let mut written = Vec::new();
    for (path, content, mode) in podspec::mounted_files(&spec) {
        let target = under(root, &path)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::write(&target, content).map_err(io_err(&target))?;
        let mode = mode.map_or(0o644, |m| m as u32 & 0o777);
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
        written.push(target.display().to_string());
    }
    Ok(written.iter().map(|w| format!("{w}\n")).collect())
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=:./,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

pub(super) fn calls(dir: &ModelDir, args: &CallsArgs) -> Result<String, DriverError> {
    let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let wanted = |c: &Call| {
        matches(&args.unit, &c.unit) && matches(&args.tool, &c.tool) && matches(&args.hook, &c.hook)
    };
    let selected: Vec<Call> = calls::read(dir)?.into_iter().filter(wanted).collect();
    if args.format != OutFormat::Human {
        return render(&selected, args.format);
    }
    Ok(selected
        .iter()
        .map(|c| {
            let words: Vec<String> = c.args.iter().map(|a| shell_word(a)).collect();
            format!(
                "{} {}: {} {} -> {}\n",
                c.unit,
                c.hook,
                c.tool,
                words.join(" "),
                c.exit_code
            )
            .replace("  -> ", " -> ")
        })
        .collect())
}

pub(super) fn debug_log(dir: &ModelDir) -> Result<String, DriverError> {
    Ok(debuglog::read(dir)?)
}

pub(super) fn fail_tool(sim: &mut Sim, args: &FailToolArgs) -> Result<String, DriverError> {
    if !tools::is_tool(&args.tool) {
        return Err(DriverError::Usage(format!(
            "unknown hook tool {:?}",
            args.tool
        )));
    }
    if args.clear {
        sim.model.faults.remove(&args.tool);
        sim.save()?;
        return Ok(format!("{} works again\n", args.tool));
    }
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| format!("{} failed (injected by juju-sim)", args.tool));
    sim.model.faults.insert(args.tool.clone(), message.clone());
    sim.save()?;
    Ok(format!("{} now fails with: ERROR {message}\n", args.tool))
}

pub(super) fn profiles(args: &ProfilesArgs) -> Result<String, DriverError> {
    let all = profiles::all()?;
    if args.format != OutFormat::Human {
        return render(&all, args.format);
    }
    let mut rows = vec![vec![
        "Profile".to_string(),
        "Charm".into(),
        "Interface".into(),
        "Role".into(),
        "Endpoint".into(),
        "Description".into(),
    ]];
    for p in &all {
        rows.push(vec![
            p.name.clone(),
            p.charm.clone(),
            p.interface.clone(),
            p.role.clone(),
            p.endpoint.clone(),
            p.description.clone(),
        ]);
    }
    Ok(table(&rows))
}
