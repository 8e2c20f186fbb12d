//! SIGINT stops a run: remote commands are killed on the hosts, the audit
//! is sealed as interrupted, and the engine exits 130 promptly.

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn sigint_kills_the_remote_commands_and_seals_the_audit_as_interrupted() {
    let fleet = Fleet::start(2);
    let mut engine = Run::new(&fleet, "long-step")
        .all_hosts(&fleet)
        .timeout(Duration::from_secs(60))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fleet
        .hosts()
        .iter()
        .any(|h| h.pgrep("^sleep 300$").is_empty())
    {
        assert!(engine.is_running(), "the engine ended before the steps ran");
        assert!(Instant::now() < deadline, "the steps never started");
        thread::sleep(Duration::from_millis(10));
    }
    let pid = Pid::from_raw(i32::try_from(engine.pid()).expect("pid fits"));
    let interrupted = Instant::now();
    kill(pid, Signal::SIGINT).expect("send SIGINT");
    let run = engine.wait();
    assert!(
        interrupted.elapsed() < Duration::from_secs(15),
        "the engine took {:?} to stop",
        interrupted.elapsed()
    );
    run.assert_code(130);
    assert!(
        run.stderr.contains("SIGINT: stopping remote commands"),
        "{}",
        run.context()
    );
    assert_eq!(run.only("interrupted", None)["signal"], "SIGINT");
    let sealed = run.events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(sealed["status"], "interrupted", "{sealed}");
    assert_eq!(sealed["exit_code"], 130, "{sealed}");
    for host in fleet.hosts() {
        let finished = run.host_events("host_finished", host.name(), None);
        assert_eq!(finished[0]["status"], "interrupted", "{}", finished[0]);
        let stopped = run.host_events("step_skipped", host.name(), Some("long"));
        assert_eq!(stopped[0]["reason"], "stopped", "{}", stopped[0]);
        assert_gone(host, "^sleep 300$");
    }
}
