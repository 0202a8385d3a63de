//! juju-sim: a local stand-in for Juju. Called through a symlink named after a hook tool
//! it is that tool; otherwise it is the driver CLI.

mod calls;
mod charm;
mod context;
mod debuglog;
mod driver;
mod event;
mod flags;
mod format;
mod gojson;
mod hash;
mod hooks;
mod kubernetes;
mod model;
mod pebble;
mod poddns;
mod podspec;
mod profiles;
mod tools;
mod workload;
mod yaml;

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let invoked = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let code = if tools::is_tool(&invoked) {
        tools::main(&invoked, &args[1..])
    } else {
        driver::main(args)
    };
    std::process::exit(code);
}
