//! Filled in by its issue; see tests/integration/main.rs.
