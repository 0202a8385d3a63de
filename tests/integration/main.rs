//! Integration tests: the packed charm's hooks run under juju-sim, the local stand-in for Juju,
//! driven with the verbs an operator types. One test crate; one module per concern.

mod harness;

mod actions;
mod deploy;
mod live;
mod options;
mod relations;
mod scale;
