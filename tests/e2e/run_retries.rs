//! Retries: a step that times out on its first attempt is tried again after
//! `retry_delay`, and the attempt that answers is the one recorded.

use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn a_step_that_times_out_once_is_retried_and_answers_on_the_second_attempt() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let run = Run::new(&fleet, "retry").host("node-1").output();
    run.assert_code(0);

    let retried = run.only("step_retried", Some("flaky"));
    assert_eq!(retried["attempt"], 1, "{retried}");
    assert_eq!(retried["error"], "timed out after 3s", "{retried}");
    assert_eq!(retried["delay_ms"], 100, "{retried}");

    let attempts: Vec<u64> = run
        .events_of("step_started", Some("flaky"))
        .iter()
        .filter_map(|e| e["attempt"].as_u64())
        .collect();
    assert_eq!(attempts, [1, 2], "{}", run.audit_text());
    // Recorded in order: attempt 1, the retry, attempt 2.
    let order: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e["step"] == "flaky")
        .filter_map(|e| e["type"].as_str())
        .filter(|kind| kind.starts_with("step_"))
        .collect();
    assert_eq!(
        order,
        [
            "step_started",
            "step_retried",
            "step_started",
            "step_finished"
        ],
        "{}",
        run.audit_text()
    );

    let flaky = run.finished("flaky");
    assert_eq!(flaky["status"], "ok", "{flaky}");
    assert_eq!(flaky["attempts"], 2, "{flaky}");
    assert_eq!(
        flaky["stdout"]["text"], "answered on attempt 2\n",
        "{flaky}"
    );
    assert_eq!(host.read_fixture_file("attempts").trim(), "2");
    assert_eq!(
        run.only("concluded", Some("answered"))["finding"],
        "answered on attempt 2"
    );
    // The first attempt's `sleep 60` was killed, not left behind.
    assert_gone(host, "^sleep 60$");
}
