//! A step past its `timeout`: its whole process tree is killed on the host
//! and the walk goes on at `on_failure`.

use std::thread;
use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn a_timed_out_step_has_its_remote_process_tree_killed_and_on_failure_is_taken() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "timeout").host("node-1").output();
    run.assert_code(0);

    let slow = run.finished("slow");
    assert_eq!(slow["status"], "timed_out", "{slow}");
    assert_eq!(slow["error"], "timed out after 1s", "{slow}");
    let decision = run.only("decision", Some("slow"));
    assert_eq!(decision["via"], "on_failure", "{decision}");
    assert_eq!(decision["goto"], serde_json::json!(["timed-out"]));
    assert_eq!(run.concluded_steps(), ["timed-out"]);
    assert_eq!(run.skipped_reason("finished"), "pruned");
    assert!(
        run.stdout
            .contains("WARNING  the step did not finish: timed out after 1s"),
        "{}",
        run.context()
    );

    // Both sleeps, the background one included, are gone from the host.
    assert_gone(host, "sleep 30[01]");
    assert!(
        run.elapsed < Duration::from_secs(30),
        "the run took {:?}",
        run.elapsed
    );
}

#[test]
fn a_step_that_times_out_before_the_host_reports_its_process_group_is_still_killed() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "instant-timeout").host("node-1").output();
    run.assert_code(0);
    assert_eq!(run.finished("hasty")["status"], "timed_out");
    assert_eq!(run.concluded_steps(), ["timed-out"]);
    // Give a command that was left behind time to show up, then look.
    thread::sleep(Duration::from_millis(500));
    assert_gone(host, "^sleep 300$");
}
