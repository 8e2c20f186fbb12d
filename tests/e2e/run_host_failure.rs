//! A step that fails without `on_failure` fails its host at once: the
//! host's other running steps are stopped, on the host too.

use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn a_failing_branch_stops_the_other_running_branches_of_its_host() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "failing-branch")
        .host("node-1")
        .timeout(Duration::from_secs(60))
        .output();
    run.assert_code(1);

    let failing = run.finished("failing");
    assert_eq!(failing["status"], "timed_out", "{failing}");
    let stopped = run.only("step_skipped", Some("long"));
    assert_eq!(stopped["reason"], "stopped", "{stopped}");
    let detail = stopped["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("stopped") && !detail.contains("interrupted"),
        "the stopped branch blames the wrong cause: {detail}"
    );
    let finished = run.only("host_finished", None);
    assert_eq!(finished["status"], "failed", "{finished}");
    assert_eq!(
        finished["error"], "step `failing` failed: timed out after 1s",
        "{finished}"
    );
    assert!(
        run.elapsed < Duration::from_secs(20),
        "the host took {:?} to fail",
        run.elapsed
    );
    assert_gone(host, "sleep [23]00");
}

#[test]
fn a_failing_branch_also_stops_a_called_runbook_running_beside_it() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "calls-long")
        .host("node-1")
        .timeout(Duration::from_secs(60))
        .output();
    run.assert_code(1);
    assert!(
        run.elapsed < Duration::from_secs(20),
        "the host took {:?} to fail",
        run.elapsed
    );
    assert_eq!(run.skipped_reason("nested"), "stopped");
    assert_eq!(run.only("host_finished", None)["status"], "failed");
    assert_gone(host, "sleep [23]00");
}
