//! `resource-get`: writes the OCI image details file and prints its path (no newline).

use super::{only_arg, parse_flags, Env, ToolError, ToolResult};
use crate::model::write_atomic;
use crate::yaml;

pub(super) fn resource_get(env: &mut Env, args: &[String]) -> ToolResult {
    let args = parse_flags(&[], args, |_, _| Ok(()))?;
    let name = only_arg(&args, "missing required resource name")?;
    let not_found = || {
        ToolError::Run(format!(
            "could not download resource: resource {name:?} not found"
        ))
    };
    let app = env.model.app()?;
    let image = app.resources.get(name).ok_or_else(not_found)?;
    let text = yaml::to_string(image).map_err(|e| ToolError::Run(e.to_string()))?;
    let path = env
        .dir
        .agent_dir(env.unit())
        .join("resources")
        .join(name)
        .join("content.yaml");
    write_atomic(&path, text.as_bytes())?;
    Ok(path.display().to_string())
}
