//! 200 hosts in one run, a tenth of them broken in assorted ways (sshd
//! down, host key changed, a step that times out with no `on_failure`,
//! connections killed mid-step, a tool that exits 127): every healthy host
//! still concludes, and each broken one is reported with its own reason —
//! in the table, the JSON document and the audit trail.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault_support::assert_verified;
use crate::harness::{Fleet, Host};
use crate::run_support::{Run, RunOutput};

const HOSTS: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Healthy,
    SshdStopped,
    HostKeyRotated,
    StepTimesOut,
    ConnectionsKilled,
    ToolMissing,
}

/// Every tenth host is broken, the kinds taking turns (four of each).
fn fault_of(k: usize) -> Fault {
    if k % 10 != 0 {
        return Fault::Healthy;
    }
    match (k / 10) % 5 {
        1 => Fault::SshdStopped,
        2 => Fault::HostKeyRotated,
        3 => Fault::StepTimesOut,
        4 => Fault::ConnectionsKilled,
        _ => Fault::ToolMissing,
    }
}

fn broken_fleet() -> Fleet {
    let fleet = Fleet::start(HOSTS);
    thread::scope(|scope| {
        for (i, host) in fleet.hosts().iter().enumerate() {
            scope.spawn(move || break_host(host, fault_of(i + 1)));
        }
    });
    fleet
}

fn break_host(host: &Host, fault: Fault) {
    let check = match fault {
        Fault::StepTimesOut => "#!/bin/sh\nexec sleep 121\n".to_string(),
        Fault::ConnectionsKilled => "#!/bin/sh\nexec sleep 122\n".to_string(),
        Fault::ToolMissing => {
            "#!/bin/sh\necho 'node-check: error while loading shared libraries: libcheck.so.1' >&2\nexit 127\n"
                .to_string()
        }
        _ => "#!/bin/sh\necho \"node-check ok on $RUNBOOK_NODE_NAME\"\n".to_string(),
    };
    host.write_fixture_file("bin/node-check", check);
    match fault {
        Fault::SshdStopped => host.stop_sshd(),
        Fault::HostKeyRotated => host.rotate_host_key(),
        _ => {}
    }
}

/// Runs the fleet, killing the connections of the `ConnectionsKilled`
/// hosts once their check runs.
fn run_fleet(fleet: &Fleet, extra: &[&str]) -> RunOutput {
    let mut engine = Run::new(fleet, "fault-fleet")
        .all_hosts(fleet)
        .args(["--forks", "200", "--connect-timeout", "20s"])
        .args(extra)
        .timeout(Duration::from_secs(240))
        .spawn();
    let mut to_cut: Vec<&Host> = fleet
        .hosts()
        .iter()
        .enumerate()
        .filter(|(i, _)| fault_of(i + 1) == Fault::ConnectionsKilled)
        .map(|(_, h)| h)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !to_cut.is_empty() {
        assert!(
            engine.is_running(),
            "the engine ended before every check ran"
        );
        assert!(Instant::now() < deadline, "the checks never started");
        to_cut.retain(|h| {
            if h.pgrep("^sleep 122$").is_empty() {
                true
            } else {
                h.kill_connections();
                false
            }
        });
        thread::sleep(Duration::from_millis(20));
    }
    engine.wait()
}

/// The reason each kind of broken host must be reported with.
fn expected_reason(host: &str, fault: Fault) -> (&'static str, String) {
    match fault {
        Fault::Healthy => ("concluded", format!("node-check ok on {host}")),
        Fault::SshdStopped => (
            "failed",
            format!("step `check` failed: cannot connect to {host}: "),
        ),
        Fault::HostKeyRotated => (
            "failed",
            format!("step `check` failed: host key of {host} cannot be verified: "),
        ),
        Fault::StepTimesOut => ("failed", "step `check` failed: timed out after 15s".into()),
        Fault::ConnectionsKilled => (
            "failed",
            format!("step `check` failed: connection to {host} was lost"),
        ),
        Fault::ToolMissing => (
            "concluded",
            "node-check cannot run (exit 127): node-check: error while loading shared libraries: libcheck.so.1"
                .into(),
        ),
    }
}

fn check_audit(run: &RunOutput, fleet: &Fleet) {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (i, host) in fleet.hosts().iter().enumerate() {
        let name = host.name();
        let fault = fault_of(i + 1);
        let (status, reason) = expected_reason(name, fault);
        let finished = run.host_events("host_finished", name, None);
        assert_eq!(finished.len(), 1, "{name}: {finished:?}");
        assert_eq!(finished[0]["status"], status, "{name}: {}", finished[0]);
        *by_status.entry(status.to_string()).or_default() += 1;
        if status == "concluded" {
            let concluded = run.host_events("concluded", name, None);
            assert_eq!(concluded.len(), 1, "{name}");
            assert_eq!(concluded[0]["finding"], reason.as_str(), "{name}");
        } else {
            let error = finished[0]["error"].as_str().unwrap_or_default();
            assert!(error.starts_with(&reason), "{name} ({fault:?}): {error}");
        }
        match fault {
            Fault::SshdStopped | Fault::HostKeyRotated => {
                let failed = run.host_events("connection_failed", name, None);
                let kind = if fault == Fault::SshdStopped {
                    "connect"
                } else {
                    "host_key"
                };
                assert_eq!(failed.len(), 1, "{name}");
                assert_eq!(failed[0]["kind"], kind, "{name}: {}", failed[0]);
            }
            Fault::StepTimesOut => {
                let step = run.host_events("step_finished", name, Some("check"));
                assert_eq!(step[0]["status"], "timed_out", "{}", step[0]);
            }
            Fault::ToolMissing => {
                let step = run.host_events("step_finished", name, Some("check"));
                assert_eq!(step[0]["exit_code"], 127, "{}", step[0]);
            }
            _ => {}
        }
    }
    assert_eq!(by_status["concluded"], 184);
    assert_eq!(by_status["failed"], 16);
    let sealed = run.events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(
        sealed["hosts"],
        serde_json::json!({"concluded": 184, "failed": 16}),
        "{sealed}"
    );
    assert_verified(run.audit_path.as_deref().expect("audit"));
}

#[test]
fn two_hundred_hosts_with_a_tenth_broken_each_report_their_own_reason() {
    let fleet = broken_fleet();

    let run = run_fleet(&fleet, &[]);
    run.assert_code(1);
    check_audit(&run, &fleet);
    // The table: one row per host, each broken host with its reason.
    for (i, host) in fleet.hosts().iter().enumerate() {
        let name = host.name();
        let (status, reason) = expected_reason(name, fault_of(i + 1));
        let row = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}\n{}", run.context()));
        if status == "failed" {
            assert!(
                row.contains(&format!("no conclusion (failed): {reason}")),
                "{row}"
            );
        } else {
            assert!(row.ends_with(&reason), "{row}");
        }
    }

    let run = run_fleet(&fleet, &["--output", "json"]);
    run.assert_code(1);
    check_audit(&run, &fleet);
    let doc = run.json();
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), HOSTS);
    for (i, h) in hosts.iter().enumerate() {
        let name = format!("node-{}", i + 1);
        assert_eq!(h["host"], name.as_str());
        let (status, reason) = expected_reason(&name, fault_of(i + 1));
        assert_eq!(h["status"], status, "{h}");
        if status == "failed" {
            assert!(
                h["error"].as_str().is_some_and(|e| e.starts_with(&reason)),
                "{h}"
            );
            assert_eq!(h["conclusions"], Value::Array(Vec::new()));
        } else {
            assert_eq!(h["conclusions"][0]["finding"], reason.as_str(), "{h}");
        }
    }
    assert_eq!(
        doc["summary"]["by_status"],
        serde_json::json!({"concluded": 184, "failed": 16})
    );
}
