//! A host whose connection drops while a step runs: the host fails cleanly
//! with a message (or `on_failure` / a retry takes over) — never a hang.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::Fleet;
use crate::run_support::{Run, RunOutput};

/// Runs `runbook` on node-1 and kills node-1's SSH sessions once its
/// five-second step is running.
fn cut_connection_mid_step(fleet: &Fleet, runbook: &str) -> RunOutput {
    let host = fleet.host("node-1");
    let mut engine = Run::new(fleet, runbook)
        .host("node-1")
        .timeout(Duration::from_secs(60))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.pgrep(r"^sleep 5$").is_empty() {
        assert!(engine.is_running(), "the engine ended before the step ran");
        assert!(
            Instant::now() < deadline,
            "the step never started on the host"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let cut = Instant::now();
    host.kill_connections();
    let run = engine.wait();
    assert!(
        cut.elapsed() < Duration::from_secs(15),
        "the engine took {:?} to notice the lost connection",
        cut.elapsed()
    );
    run
}

#[test]
fn a_host_that_drops_mid_step_fails_cleanly_with_a_message() {
    let fleet = Fleet::start(1);
    let run = cut_connection_mid_step(&fleet, "connection-loss");
    run.assert_code(1);
    let long = run.finished("long");
    assert_eq!(long["status"], "failed", "{long}");
    let error = long["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("connection to node-1 was lost"),
        "{error}\n{}",
        run.audit_text()
    );
    let finished = run.only("host_finished", None);
    assert_eq!(finished["status"], "failed");
    assert!(
        run.stdout
            .contains("step `long` failed: connection to node-1 was lost"),
        "{}",
        run.context()
    );
    assert_eq!(run.only("run_finished", None)["exit_code"], 1);
}

#[test]
fn on_failure_is_taken_when_the_connection_drops_mid_step() {
    let fleet = Fleet::start(1);
    let run = cut_connection_mid_step(&fleet, "connection-loss-handled");
    run.assert_code(0);
    let decision = run.only("decision", Some("long"));
    assert_eq!(decision["via"], "on_failure", "{decision}");
    assert_eq!(run.concluded_steps(), ["lost"]);
    let finding = run.only("concluded", None)["finding"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        finding.starts_with("the connection was lost: connection to node-1 was lost"),
        "{finding}"
    );
}

#[test]
fn a_retry_after_the_connection_drops_reconnects_and_finishes() {
    let fleet = Fleet::start(1);
    let run = cut_connection_mid_step(&fleet, "connection-loss-retried");
    run.assert_code(0);
    let retried = run.only("step_retried", Some("long"));
    assert!(
        retried["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connection to node-1 was lost")),
        "{retried}"
    );
    assert_eq!(run.only("concluded", None)["finding"], "slept on attempt 2");
}
