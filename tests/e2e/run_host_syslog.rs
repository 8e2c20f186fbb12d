//! Both ends of the wire: every remote command leaves one line in the
//! host's own syslog naming the run, the operator, the runbook and the
//! step, written by one `logger` per connection. The host's `logger` is a
//! stand-in (first on its PATH) that keeps what it is sent in a file.

use crate::harness::{Fleet, Host};
use crate::run_support::{assert_gone, Run};

/// Installs a `logger` on `host` that records its arguments, once per
/// start, and every line it is asked to log.
fn record_syslog(host: &Host) {
    host.write_fixture_file(
        "bin/logger",
        "#!/bin/sh\n\
         echo \"$*\" >>\"$RUNBOOK_FIXTURE/logger-starts\"\n\
         cat >>\"$RUNBOOK_FIXTURE/syslog\"\n",
    );
}

fn fixture_lines(host: &Host, file: &str) -> Vec<String> {
    let path = host.fixture_dir().join(file);
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_leaves_one_line_in_the_hosts_syslog() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    record_syslog(host);
    let run = Run::new(&fleet, "syslog")
        .host("node-1")
        .args(["--operator", "alice"])
        .output();
    run.assert_code(0);
    let id = run.run_id();

    let mut logged = fixture_lines(host, "syslog");
    logged.sort();
    let line = |step: &str| format!("run={id} operator=alice runbook=syslog step={step}");
    let mut expected = vec![
        line("first"),
        line("left"),
        line("right"),
        line("flaky"),
        format!("{} attempt=2", line("flaky")),
    ];
    expected.sort();
    assert_eq!(logged, expected, "{}", run.audit_text());

    // One `logger` for the whole run, tagged, and gone with the run.
    assert_eq!(fixture_lines(host, "logger-starts"), ["-t runbook"]);
    assert_gone(host, "bin/logger");
    // The audit keeps the runbook's own commands, nothing around them.
    assert_eq!(
        run.only("step_started", Some("first"))["command"],
        "echo one"
    );
}

#[test]
fn no_remote_log_leaves_the_hosts_syslog_alone() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    record_syslog(host);
    let run = Run::new(&fleet, "run-id")
        .host("node-1")
        .args(["--no-remote-log"])
        .output();
    run.assert_code(0);
    assert!(fixture_lines(host, "logger-starts").is_empty());
    assert!(fixture_lines(host, "syslog").is_empty());
}

#[test]
fn a_fan_out_wider_than_the_hosts_max_sessions_waits_for_free_channels() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    record_syslog(host);
    host.limit_sessions(10);

    let run = Run::new(&fleet, "wide-fan-out").host("node-1").output();
    run.assert_code(0);
    assert_eq!(run.events_of("step_finished", None).len(), 12);
    assert_eq!(run.concluded_steps(), ["all"]);
    assert_eq!(fixture_lines(host, "syslog").len(), 12);

    // Opening them all at once is what the host refuses (branches long
    // enough that none ends before the last one opens, even on a busy
    // machine; the refused ones end the run at once).
    let greedy = Run::new(&fleet, "wide-fan-out")
        .host("node-1")
        .param("seconds", "3")
        .args(["--channels-per-host", "12"])
        .output();
    greedy.assert_code(1);
    assert!(
        greedy
            .audit_text()
            .contains("cannot run the command on node-1"),
        "{}",
        greedy.audit_text()
    );
}

#[test]
fn a_deadline_kills_every_branch_of_a_fan_out_that_fills_the_connection() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    host.limit_sessions(10);

    let started = std::time::Instant::now();
    let run = Run::new(&fleet, "wide-fan-out")
        .host("node-1")
        .param("seconds", "300")
        .args(["--deadline", "2s"])
        .output();
    run.assert_code(1);
    // Eight ran and four waited for a channel; the eight were killed
    // through the one channel kept for kills, without waiting in turn.
    assert_eq!(run.events_of("step_started", None).len(), 12);
    assert!(run.events_of("step_finished", None).is_empty());
    assert_eq!(run.events_of("step_skipped", None).len(), 12);
    assert_gone(host, "^sleep 300$");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "stopping took {:?}:\n{}",
        started.elapsed(),
        run.audit_text()
    );
}

#[test]
fn a_host_that_allows_one_channel_gives_it_to_the_commands() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    record_syslog(host);
    host.limit_sessions(1);
    let run = Run::new(&fleet, "run-id")
        .host("node-1")
        .args(["--channels-per-host", "1"])
        .output();
    run.assert_code(0);
    assert!(run.stderr.contains("MaxSessions"), "{}", run.stderr);
    // The line sent before the channel was given up is in the syslog.
    let logged = fixture_lines(host, "syslog");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].ends_with("step=whoami"), "{logged:?}");
}
