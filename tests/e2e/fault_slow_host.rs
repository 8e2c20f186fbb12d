//! A host that answers, but so slowly that every step takes seconds (like
//! the seed node at load 176): `--deadline` still ends the run on time,
//! with a truthful outcome — the steps that finished are recorded, the one
//! cut short is marked stopped, the host ends as `deadline` and the audit
//! is sealed.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::fault_support::{assert_verified, inventory, DelayProxy};
use crate::harness::Fleet;
use crate::run_support::{assert_gone, Run};

#[test]
fn a_very_slow_host_still_ends_within_the_deadline_with_what_finished_recorded() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    // The proxy listens on node-1's own address (another port), so the
    // fleet's `Host node-1` block applies and `-p` points ssh at the proxy;
    // known_hosts learns the host's key under the proxy's port.
    let proxy = DelayProxy::start(
        SocketAddr::new(host.addr().into(), 0),
        host.socket_addr(),
        Duration::from_millis(300),
    );
    let mut known = OpenOptions::new()
        .append(true)
        .open(fleet.known_hosts_path())
        .expect("open known_hosts");
    writeln!(
        known,
        "[{}]:{} {}",
        host.addr(),
        proxy.address().port(),
        host.host_key().public_key
    )
    .expect("trust the proxy's port");
    let inventory = inventory(&[format!(
        "node-1: {{ address: node-1, port: {} }}",
        proxy.address().port()
    )]);

    let deadline = Duration::from_secs(12);
    let run = Run::new(&fleet, "fault-slow")
        .args([
            "--deadline",
            "12s",
            "--connect-timeout",
            "30s",
            "--inventory",
        ])
        .args([inventory.path()])
        .timeout(Duration::from_secs(90))
        .output();
    run.assert_code(1);
    // The deadline is the operator's time budget: stopping the step that
    // runs when it passes may cost a little, not another deadline.
    assert!(
        run.elapsed < deadline + Duration::from_secs(5),
        "a {deadline:?} deadline took {:?}\n{}\n{}",
        run.elapsed,
        run.audit_text(),
        run.context()
    );
    // It really was slow: not every step made it.
    let finished: Vec<&str> = run
        .events_of("step_finished", None)
        .iter()
        .map(|e| e["step"].as_str().unwrap_or_default())
        .collect();
    assert!(
        !finished.is_empty() && finished.len() < 6,
        "steps finished: {finished:?}\n{}",
        run.audit_text()
    );
    // What finished is recorded with its output, in order.
    let words = ["one", "two", "three", "four", "five", "six"];
    for (i, step) in finished.iter().enumerate() {
        assert_eq!(*step, format!("s{}", i + 1));
        let event = run.finished(step);
        assert_eq!(event["status"], "ok", "{event}");
        assert_eq!(
            event["stdout"]["text"],
            format!("{}\n", words[i]),
            "{event}"
        );
    }
    // The step that ran when time was up is recorded as stopped, and the
    // host as out of time.
    let stopped = run.events_of("step_skipped", None);
    assert!(
        stopped.iter().all(|e| e["reason"] == "stopped"),
        "{}",
        run.audit_text()
    );
    let host_finished = run.only("host_finished", None);
    assert_eq!(host_finished["status"], "deadline", "{host_finished}");
    assert!(run.events_of("concluded", None).is_empty());
    assert!(
        run.stdout.contains("NO CONCLUSION (deadline)"),
        "{}",
        run.context()
    );
    let sealed = run.events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(sealed["hosts"], serde_json::json!({"deadline": 1}));
    assert_verified(run.audit_path.as_deref().expect("audit file"));
    assert_gone(host, r"^sleep 1$");
    drop(proxy);
}
