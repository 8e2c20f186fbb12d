//! The branches of a fan-out run at the same time on a host, over one SSH
//! connection.

use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::{event_time, Run};

#[test]
fn two_one_second_branches_of_a_fan_out_finish_together_in_about_one_second() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "concurrency").host("node-1").output();
    run.assert_code(0);

    // Both started before either finished…
    let last_start = ["sleep-a", "sleep-b"]
        .map(|step| run.position("step_started", step))
        .into_iter()
        .max()
        .unwrap_or_default();
    let first_finish = ["sleep-a", "sleep-b"]
        .map(|step| run.position("step_finished", step))
        .into_iter()
        .min()
        .unwrap_or_default();
    assert!(
        last_start < first_finish,
        "the branches ran one after the other:\n{}",
        run.audit_text()
    );

    // …and the span from the first start to the last finish is one sleep,
    // not two (1.8 s leaves room for a busy machine). Each end is its
    // start's audit time plus the duration the engine measured, so a slow
    // fsync of the audit file cannot stretch it.
    let starts = ["sleep-a", "sleep-b"].map(|step| run.only("step_started", Some(step)));
    let ends = ["sleep-a", "sleep-b"].map(|step| {
        let started = event_time(run.only("step_started", Some(step)));
        let took = run.finished(step)["duration_ms"]
            .as_i64()
            .unwrap_or(i64::MAX);
        started + chrono::Duration::milliseconds(took)
    });
    let first_start = starts.iter().map(|e| event_time(e)).min().expect("two");
    let last_end = ends.into_iter().max().expect("two");
    let span = (last_end - first_start).to_std().unwrap_or_default();
    assert!(
        span >= Duration::from_millis(950) && span < Duration::from_millis(1800),
        "the two branches took {span:?} together:\n{}",
        run.audit_text()
    );
    assert_eq!(run.concluded_steps(), ["both"]);
    assert_eq!(run.events_of("connected", None).len(), 1);
}
