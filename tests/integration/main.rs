//! Integration tests: the packed charm's hooks run under juju-sim, the local stand-in for Juju,
//! driven with the verbs an operator types. One test crate; one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: a failed expectation is the test failing

#[macro_use]
mod harness;

mod actions;
mod architecture;
mod deploy;
mod live;
mod options;
mod relations;
mod scale;
