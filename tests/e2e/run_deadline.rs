//! `--deadline` bounds the whole run: at the deadline running steps are
//! stopped (killed on the host) and their hosts end as `deadline`.

use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn the_deadline_stops_running_steps_and_fails_their_hosts() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "long-step")
        .host("node-1")
        .args(["--deadline", "2s"])
        .timeout(Duration::from_secs(60))
        .output();
    run.assert_code(1);
    assert!(
        run.elapsed < Duration::from_secs(15),
        "a 2 s deadline took {:?}",
        run.elapsed
    );
    let finished = run.only("host_finished", None);
    assert_eq!(finished["status"], "deadline", "{finished}");
    assert_eq!(run.skipped_reason("long"), "stopped");
    assert!(
        run.stdout.contains("the run's --deadline passed"),
        "{}",
        run.context()
    );
    assert_gone(host, "^sleep 300$");
}
