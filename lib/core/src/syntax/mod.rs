//! The one place that knows the grammar Prometheus 2.42 (built with Go 1.19/1.20) reads:
//! durations, label and metric names, numbers, string literals, RE2 regexes, URLs, and the
//! FNV-1a fingerprint. Options (`config`) and relation data (`relations`) use the same
//! functions, so whatever either accepts, Prometheus accepts too: one value it refuses makes
//! it refuse the whole file, and a new pod would not start.
//!
//! Each edge here is checked against the real `promtool` through the options and relation
//! entry points (`relations::grammar_tests`, which generates the boundary cases). Where
//! matching Go exactly would take a copy of a large part of it (RE2's Unicode tables, `\Q…\E`)
//! or would let through what nobody means (a zero interval option, ports 0 and 65536 in a
//! URL), we refuse more than Prometheus does, never less, and say so where it happens.

pub mod duration;
pub mod fingerprint;
pub mod names;
pub mod number;
pub mod quote;
pub mod regex;
pub mod url;

pub use duration::{Duration, DurationError};
pub use names::{is_label_name, is_metric_name};
