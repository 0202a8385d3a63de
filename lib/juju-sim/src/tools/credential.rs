//! `credential-get`: the cloud spec of the unit's model, for trusted applications
//! (jujuc/credential-get.go). On a Kubernetes (CAAS) model Juju never answers it: the hook
//! context refuses before asking the controller (runner/context/context.go `CloudSpec`:
//! `errors.NotSupportedf("credential-get on a %q model", model.CAAS)`, since the trust work
//! for sidecar charms in 2.9), and the tool annotates that with "cannot access cloud
//! credentials". Trust on Kubernetes is the application service account's RBAC instead
//! (`juju trust --scope=cluster`). juju-sim models are all Kubernetes models, so the
//! controller's own check — `permission denied` for an untrusted application
//! (apiserver/facades/agent/uniter CloudSpec, `accessCloudSpec`) — is never reached.

use super::{check_empty, parse_flags, with_output, Env, OutputOpts, ToolError, ToolResult};

/// The model type of every juju-sim model.
const MODEL_TYPE: &str = "caas";

pub(super) fn credential_get(_env: &mut Env, args: &[String]) -> ToolResult {
    let mut out = OutputOpts::default();
    let args = parse_flags(&with_output(&[]), args, |k, v| {
        out.set(k, v).unwrap_or(Ok(()))
    })?;
    check_empty(&args)?;
    Err(ToolError::Run(format!(
        "cannot access cloud credentials: credential-get on a {MODEL_TYPE:?} model not supported"
    )))
}
