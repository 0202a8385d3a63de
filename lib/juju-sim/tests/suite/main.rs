//! juju-sim's tests, one test crate (one binary to build and link): a module per concern,
//! sharing `common`'s fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed expectation is the test failing

mod common;

mod driver;
mod errors;
mod hooks;
mod live;
mod pebble;
mod podtemplate;
mod sidecar;
mod tools;
