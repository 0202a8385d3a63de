//! Issue 2: deploy, non-leader units, config change, idempotent re-runs, missing resource.

use crate::harness::Sim;

#[test]
fn deploy_sets_a_pod_spec_that_promtool_accepts() {
    let sim = Sim::deployed(1);
    let spec = sim.pod_spec();
    assert!(spec.contains("version: 3"), "{spec}");
    sim.assert_promtool_accepts();
    sim.assert_not_blocked("prometheus/0");
}
