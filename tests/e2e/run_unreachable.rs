//! A host that cannot be reached fails alone: a clear message, a
//! `connection_failed` record, exit 1 — and every other host concludes.

use std::fs;
use std::net::TcpListener;
use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn an_unreachable_host_fails_with_a_clear_message_while_the_others_conclude() {
    let fleet = Fleet::start(3);
    fleet.host("node-2").stop_sshd();
    // And one address where nothing ever listened, from an inventory.
    let refused = Fleet::refused_address();
    let inventory = tempfile::NamedTempFile::new().expect("temp inventory");
    fs::write(
        inventory.path(),
        format!(
            "hosts:\n  ghost: {{ address: \"{}\", port: {} }}\n",
            refused.ip(),
            refused.port()
        ),
    )
    .expect("write inventory");

    let run = Run::new(&fleet, "kubelet-state")
        .all_hosts(&fleet)
        .args(["--inventory"])
        .args([inventory.path()])
        .output();
    run.assert_code(1);

    for down in ["node-2", "ghost"] {
        let failed = run.host_events("connection_failed", down, None);
        assert_eq!(failed.len(), 1, "{}", run.audit_text());
        assert_eq!(failed[0]["kind"], "connect", "{}", failed[0]);
        let error = failed[0]["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(&format!("cannot connect to {down}:"))
                && error.contains("Connection refused"),
            "{error}"
        );
        // Progress says it once, on one line.
        assert!(
            run.stderr.contains(&format!(
                "[{down}] cannot connect to {down}: failed to connect"
            )),
            "{}",
            run.context()
        );
        let finished = run.host_events("host_finished", down, None);
        assert_eq!(finished[0]["status"], "failed", "{}", finished[0]);
        // The table says why, in words.
        let row = run
            .stdout
            .lines()
            .find(|line| line.starts_with(down))
            .unwrap_or_else(|| panic!("no row for {down}\n{}", run.context()));
        assert!(
            row.contains("no conclusion (failed)")
                && row.contains(&format!("cannot connect to {down}"))
                && row.contains("Connection refused"),
            "{row}"
        );
    }
    for up in ["node-1", "node-3"] {
        let finished = run.host_events("host_finished", up, None);
        assert_eq!(finished[0]["status"], "concluded", "{}", run.audit_text());
    }
    let sealed = run.only("run_finished", None);
    assert_eq!(
        sealed["hosts"],
        serde_json::json!({"concluded": 2, "failed": 2}),
        "{sealed}"
    );
    assert_eq!(sealed["exit_code"], 1);
}

#[test]
fn a_host_that_never_answers_costs_one_connect_timeout_not_one_per_branch() {
    let fleet = Fleet::start(1);
    // Accepts TCP connections (the kernel completes them) but never says a
    // word: ssh waits for the banner until its connect timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind a silent listener");
    let address = silent.local_addr().expect("local addr");
    let inventory = tempfile::NamedTempFile::new().expect("temp inventory");
    fs::write(
        inventory.path(),
        format!(
            "hosts:\n  silent: {{ address: \"{}\", port: {} }}\n",
            address.ip(),
            address.port()
        ),
    )
    .expect("write inventory");

    let run = Run::new(&fleet, "four-checks")
        .args(["--connect-timeout", "2s", "--inventory"])
        .args([inventory.path()])
        .timeout(Duration::from_secs(60))
        .output();
    run.assert_code(1);
    // One connection attempt, and the four branches waiting for it share
    // its failure instead of each trying (and timing out) in turn.
    let failed = run.only("connection_failed", None);
    assert_eq!(failed["kind"], "connect", "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("timed out") && !error.contains(['\r', '\n']),
        "{error}"
    );
    let finished = run.only("host_finished", None);
    assert_eq!(finished["status"], "failed", "{finished}");
    let took = finished["duration_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(
        took < 6_000,
        "the host took {took} ms to fail with a 2 s connect timeout:\n{}",
        run.audit_text()
    );
    drop(silent);
}
