//! SIGINT or SIGTERM during a 50-host run: the remote commands are stopped
//! on every host, the audit is sealed as interrupted and verifies, exit
//! 130. A second signal forces an immediate exit.

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::fault_support::{assert_verified, signal, ssh_masters, verify};
use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run, Spawned};

const HOSTS: usize = 50;

/// Starts `long-step` on every host and waits until `sleep 300` runs on all.
fn fifty_hosts_sleeping(fleet: &Fleet) -> Spawned {
    let mut engine = Run::new(fleet, "long-step")
        .all_hosts(fleet)
        .timeout(Duration::from_secs(150))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut waiting: Vec<_> = fleet.hosts().iter().collect();
    while !waiting.is_empty() {
        assert!(engine.is_running(), "the engine ended before the steps ran");
        assert!(
            Instant::now() < deadline,
            "the step never started on {} hosts",
            waiting.len()
        );
        waiting.retain(|h| h.pgrep("^sleep 300$").is_empty());
        thread::sleep(Duration::from_millis(20));
    }
    engine
}

fn interrupt_and_check(which: Signal, name: &str) {
    let fleet = Fleet::start(HOSTS);
    let engine = fifty_hosts_sleeping(&fleet);
    let sent = Instant::now();
    signal(engine.pid(), which);
    let run = engine.wait();
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "the engine took {:?} to stop 50 hosts",
        sent.elapsed()
    );
    run.assert_code(130);
    assert!(
        run.stderr
            .contains(&format!("{name}: stopping remote commands")),
        "{}",
        run.context()
    );
    assert_eq!(run.only("interrupted", None)["signal"], name);
    for host in fleet.hosts() {
        assert_gone(host, "^sleep 300$");
        let finished = run.host_events("host_finished", host.name(), None);
        assert_eq!(finished.len(), 1, "{}", host.name());
        assert_eq!(finished[0]["status"], "interrupted", "{}", finished[0]);
        let stopped = run.host_events("step_skipped", host.name(), Some("long"));
        assert_eq!(stopped.len(), 1, "{}", run.audit_text());
        assert_eq!(stopped[0]["reason"], "stopped", "{}", stopped[0]);
    }
    let sealed = run.events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(sealed["status"], "interrupted", "{sealed}");
    assert_eq!(sealed["exit_code"], 130, "{sealed}");
    assert_eq!(sealed["hosts"], serde_json::json!({"interrupted": HOSTS}));
    assert_verified(run.audit_path.as_deref().expect("audit"));
}

#[test]
fn sigint_stops_fifty_hosts_and_seals_the_audit() {
    interrupt_and_check(Signal::SIGINT, "SIGINT");
}

#[test]
fn sigterm_stops_fifty_hosts_and_seals_the_audit() {
    interrupt_and_check(Signal::SIGTERM, "SIGTERM");
}

#[test]
fn a_second_sigint_exits_at_once_and_leaves_no_ssh_master_behind() {
    let fleet = Fleet::start(HOSTS);
    let engine = fifty_hosts_sleeping(&fleet);
    let pid = engine.pid();
    let sent = Instant::now();
    signal(pid, Signal::SIGINT);
    // While the first stop is still at work on 50 hosts.
    thread::sleep(Duration::from_millis(30));
    signal(pid, Signal::SIGINT);
    // `wait` also checks that no SSH master of the fleet outlives the
    // engine (by more than a few seconds).
    let run = engine.wait();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "two SIGINTs took {:?} to end the engine",
        sent.elapsed()
    );
    run.assert_code(130);
    assert!(ssh_masters(&fleet.engine_tmp_dir()).is_empty());
    // The trail has every line written so far, intact: sealed if the
    // first stop won the race, else reported as not sealed.
    let path = run.audit_path.as_deref().expect("audit");
    let (code, out) = verify(path);
    match run.events.last().map(|e| e["type"].clone()) {
        Some(t) if t == "run_finished" => assert_eq!(code, Some(0), "{out}"),
        _ => {
            assert_eq!(code, Some(1), "{out}");
            assert!(out.contains("NOT SEALED"), "{out}");
            assert!(
                run.stderr.contains("audit trail is left unsealed"),
                "{}",
                run.context()
            );
        }
    }
    for interrupted in run.events_of("interrupted", None) {
        assert_eq!(interrupted["signal"], "SIGINT", "{interrupted}");
    }
}
