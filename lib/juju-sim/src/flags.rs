//! Command-line flags the way juju/gnuflag reads them for the hook tools: `-r 3`, `-r3`,
//! `--relation 3`, `--relation=3`, clustered one-letter flags (`-ab`), boolean flags that
//! take a value only after `=`, flags after positional arguments, and `--` ending flags.
//! Every value is handed to the tool's setter as it is met, so errors come in Go's order.

use std::collections::VecDeque;

use thiserror::Error;

/// Parse errors; Juju reports all of them with exit code 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum FlagError {
    #[error("option provided but not defined: {0}")]
    NotDefined(String),
    #[error("option needs an argument: {0}")]
    NeedsArgument(String),
    #[error("invalid value {value:?} for option {flag}: {reason}")]
    InvalidValue {
        value: String,
        flag: String,
        reason: String,
    },
    #[error("empty option in argument {0:?}")]
    Empty(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Value,
}

/// One spelling of a flag; aliases (`-r`, `--relation`) share a key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    pub name: &'static str,
    pub key: &'static str,
    pub kind: Kind,
}

impl Flag {
    pub(crate) const fn boolean(name: &'static str, key: &'static str) -> Flag {
        Flag {
            name,
            key,
            kind: Kind::Bool,
        }
    }
    pub(crate) const fn value(name: &'static str, key: &'static str) -> Flag {
        Flag {
            name,
            key,
            kind: Kind::Value,
        }
    }
}

/// The result of parsing: positional arguments, or a request for help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Args(Vec<String>),
    Help,
}

/// gnuflag's `--flag` / `-f` rendering in messages.
fn with_minus(name: &str) -> String {
    if name.len() > 1 {
        format!("--{name}")
    } else {
        format!("-{name}")
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Parses `args` against `flags`, calling `set(key, value)` for each flag as it is met
/// (booleans arrive as `"true"`/`"false"`). A setter's error becomes
/// `invalid value "<v>" for option <flag>: <error>`.
pub(crate) fn parse(
    flags: &[Flag],
    args: &[String],
    mut set: impl FnMut(&'static str, &str) -> Result<(), String>,
) -> Result<Parsed, FlagError> {
    let mut rest: VecDeque<&str> = args.iter().map(String::as_str).collect();
    let mut positional = Vec::new();
    let mut pending = String::new();
    loop {
        let (name, long) = if !pending.is_empty() {
            let mut chars = pending.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            pending = chars.as_str().to_string();
            (first, false)
        } else {
            let Some(a) = rest.pop_front() else { break };
            if a == "-" || !a.starts_with('-') {
                positional.push(a.to_string());
                continue;
            }
            if a == "--" {
                positional.extend(rest.drain(..).map(String::from));
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                match long.find('=') {
                    Some(0) => return Err(FlagError::Empty(a.to_string())),
                    Some(i) => {
                        pending = long[i..].to_string();
                        (long[..i].to_string(), true)
                    }
                    None => (long.to_string(), true),
                }
            } else {
                let mut chars = a[1..].chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                pending = chars.as_str().to_string();
                (first, false)
            }
        };
        let Some(flag) = flags.iter().find(|f| f.name == name) else {
            if name == "help" || name == "h" {
                return Ok(Parsed::Help);
            }
            return Err(FlagError::NotDefined(with_minus(&name)));
        };
        let typed = with_minus(&name);
        let value = if flag.kind == Kind::Bool && !pending.starts_with('=') {
            "true".to_string()
        } else if !pending.is_empty() {
            let v = std::mem::take(&mut pending);
            if long {
                v[1..].to_string()
            } else {
                v
            }
        } else if let Some(next) = rest.pop_front() {
            next.to_string()
        } else {
            return Err(FlagError::NeedsArgument(typed));
        };
        let invalid = |reason: String| FlagError::InvalidValue {
            value: value.clone(),
            flag: typed.clone(),
            reason,
        };
        let normalized = match flag.kind {
            Kind::Bool => parse_bool(&value).map_err(invalid)?.to_string(),
            Kind::Value => value.clone(),
        };
        set(flag.key, &normalized).map_err(invalid)?;
    }
    Ok(Parsed::Args(positional))
}

/// Juju's `cmd.CheckEmpty`: leftover arguments are an error.
pub(crate) fn check_empty(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        let quoted: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        Err(format!("unrecognized args: [{}]", quoted.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag::value("r", "relation"),
        Flag::value("relation", "relation"),
        Flag::boolean("app", "app"),
        Flag::boolean("a", "all"),
        Flag::boolean("b", "b"),
        Flag::value("format", "format"),
    ];

    fn run(args: &[&str]) -> Result<(Vec<(String, String)>, Parsed), FlagError> {
        let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
        let mut seen = Vec::new();
        let parsed = parse(FLAGS, &args, |k, v| {
            if k == "relation" && v == "bad" {
                return Err("invalid relation id".into());
            }
            seen.push((k.to_string(), v.to_string()));
            Ok(())
        })?;
        Ok((seen, parsed))
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn values_in_every_spelling() {
        for args in [
            vec!["-r", "3"],
            vec!["-r3"],
            vec!["--relation", "3"],
            vec!["--relation=3"],
        ] {
            let (seen, parsed) = run(&args).unwrap();
            assert_eq!(seen, pairs(&[("relation", "3")]));
            assert_eq!(parsed, Parsed::Args(vec![]));
        }
    }

    #[test]
    fn booleans_take_values_only_after_equals() {
        let (seen, parsed) = run(&["--app", "x", "--app=False", "--app=1"]).unwrap();
        assert_eq!(
            seen,
            pairs(&[("app", "true"), ("app", "false"), ("app", "true")])
        );
        assert_eq!(parsed, Parsed::Args(vec!["x".into()]));
        assert_eq!(
            run(&["--app=yes"]).unwrap_err().to_string(),
            "invalid value \"yes\" for option --app: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn clustered_short_flags_and_interspersed_args() {
        let (seen, parsed) = run(&["k", "-ab", "u", "-", "--format", "json"]).unwrap();
        assert_eq!(
            seen,
            pairs(&[("all", "true"), ("b", "true"), ("format", "json")])
        );
        assert_eq!(
            parsed,
            Parsed::Args(vec!["k".into(), "u".into(), "-".into()])
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        let (_, parsed) = run(&["--", "--app", "-r"]).unwrap();
        assert_eq!(parsed, Parsed::Args(vec!["--app".into(), "-r".into()]));
    }

    #[test]
    fn errors_in_gnuflag_words() {
        assert_eq!(
            run(&["--foo"]).unwrap_err().to_string(),
            "option provided but not defined: --foo"
        );
        assert_eq!(
            run(&["-x"]).unwrap_err().to_string(),
            "option provided but not defined: -x"
        );
        assert_eq!(
            run(&["-r"]).unwrap_err().to_string(),
            "option needs an argument: -r"
        );
        assert_eq!(
            run(&["-r", "bad"]).unwrap_err().to_string(),
            "invalid value \"bad\" for option -r: invalid relation id"
        );
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(run(&["x", "--help"]).unwrap().1, Parsed::Help);
        assert_eq!(run(&["-h"]).unwrap().1, Parsed::Help);
    }

    #[test]
    fn leftover_args_message() {
        assert_eq!(
            check_empty(&["x".into(), "y".into()]).unwrap_err(),
            "unrecognized args: [\"x\" \"y\"]"
        );
    }
}
