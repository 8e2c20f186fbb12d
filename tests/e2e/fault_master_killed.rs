//! The run's SSH master process dies (OOM killer, an operator's `pkill
//! ssh`): a step that was running on it fails cleanly and its retry
//! reconnects; a step that starts after it died connects anew instead of
//! failing. Each new connection is in the audit trail.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::fault_support::{assert_verified, signal, ssh_masters, wait_until};
use crate::harness::Fleet;
use crate::run_support::{Run, RunOutput};

/// Kills the run's one SSH master (SIGKILL, like the OOM killer) and
/// waits until it is gone. Called once a command runs on it: by then ssh
/// has forked into the background (`-f`), and the process found is the
/// master itself, not the parent that is about to exit.
fn kill_the_master(fleet: &Fleet) {
    let masters = ssh_masters(&fleet.engine_tmp_dir());
    assert_eq!(masters.len(), 1, "not one master: {masters:?}");
    let pid = masters[0];
    signal(pid, Signal::SIGKILL);
    wait_until("the master is gone", Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| stat.contains(") Z "))
    });
}

/// Whether a process descending from `pid` has the command line `line`
/// (children are listed per thread: the engine forks from its workers).
fn descendant_runs(pid: u32, line: &str) -> bool {
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.filter_map(|t| t.ok()) {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                let cmdline = fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                if cmdline.trim_end_matches('\0').replace('\0', " ") == line {
                    return true;
                }
                stack.push(child);
            }
        }
    }
    false
}

/// Connections made to node-1 (the local `pause` step connects too).
fn connected_events(run: &RunOutput) -> usize {
    run.events_of("connected", None)
        .iter()
        .filter(|e| e["target"] == "node-1")
        .count()
}

#[test]
fn a_step_after_the_master_died_reconnects_instead_of_failing() {
    let fleet = Fleet::start(1);
    let mut engine = Run::new(&fleet, "fault-master")
        .host("node-1")
        .timeout(Duration::from_secs(60))
        .spawn();
    // Between two host steps: `pause` runs on this machine.
    let pid = engine.pid();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !descendant_runs(pid, "sleep 3") {
        assert!(engine.is_running(), "the engine ended before `pause`");
        assert!(Instant::now() < deadline, "`pause` never started");
        thread::sleep(Duration::from_millis(10));
    }
    kill_the_master(&fleet);
    let run = engine.wait();
    run.assert_code(0);
    assert_eq!(run.finished("first")["status"], "ok");
    let second = run.finished("second");
    assert_eq!(second["status"], "ok", "{second}");
    assert_eq!(second["attempts"], 1, "{second}");
    assert_eq!(second["stdout"]["text"], "second on node-1\n");
    // Connected twice, the second time after `pause` and before `second`.
    assert_eq!(connected_events(&run), 2, "{}", run.audit_text());
    let reconnected = run
        .events
        .iter()
        .rposition(|e| e["type"] == "connected" && e["target"] == "node-1")
        .expect("connected");
    assert!(reconnected > run.position("step_finished", "pause"));
    assert!(reconnected < run.position("step_started", "second"));
    assert_eq!(
        run.only("concluded", None)["finding"],
        "first on node-1 (attempt 1), second on node-1"
    );
    assert_verified(run.audit_path.as_deref().expect("audit"));
}

#[test]
fn a_step_whose_master_dies_under_it_fails_cleanly_and_its_retry_reconnects() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let mut engine = Run::new(&fleet, "fault-master")
        .host("node-1")
        .timeout(Duration::from_secs(60))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.pgrep("^sleep 2$").is_empty() {
        assert!(engine.is_running(), "the engine ended before `first` ran");
        assert!(Instant::now() < deadline, "`first` never started");
        thread::sleep(Duration::from_millis(10));
    }
    let killed = Instant::now();
    kill_the_master(&fleet);
    let run = engine.wait();
    assert!(killed.elapsed() < Duration::from_secs(20));
    run.assert_code(0);
    // Attempt 1 failed with the lost connection, recorded; attempt 2 ran
    // on a new connection.
    let retried = run.only("step_retried", Some("first"));
    assert!(
        retried["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connection to node-1 was lost")),
        "{retried}"
    );
    let first = run.finished("first");
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["attempts"], 2, "{first}");
    assert_eq!(connected_events(&run), 2, "{}", run.audit_text());
    let reconnected = run
        .events
        .iter()
        .rposition(|e| e["type"] == "connected" && e["target"] == "node-1")
        .expect("connected");
    assert!(reconnected > run.position("step_retried", "first"));
    assert_eq!(run.finished("second")["status"], "ok");
    assert_eq!(
        run.only("concluded", None)["finding"],
        "first on node-1 (attempt 2), second on node-1"
    );
    assert_verified(run.audit_path.as_deref().expect("audit"));
}
