//! Host keys are checked strictly: a changed key is refused with a message
//! that says so, also under `--accept-new-host-keys`, which only trusts
//! hosts never seen before.

use std::fs;

use crate::harness::{Fleet, Host};
use crate::run_support::Run;

/// known_hosts without `host`'s line: the host is unknown, not changed.
fn forget_host_key(fleet: &Fleet, host: &Host) {
    let path = fleet.known_hosts_path();
    let text = fs::read_to_string(path).expect("read known_hosts");
    let prefix = format!("[{}]:{} ", host.addr(), host.port());
    let kept: String = text
        .lines()
        .filter(|line| !line.starts_with(&prefix))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(kept, text, "known_hosts has no line for {}", host.name());
    fs::write(path, kept).expect("write known_hosts");
}

fn known_hosts_lists(fleet: &Fleet, host: &Host) -> bool {
    let prefix = format!("[{}]:{} ", host.addr(), host.port());
    fs::read_to_string(fleet.known_hosts_path())
        .expect("read known_hosts")
        .lines()
        .any(|line| line.starts_with(&prefix))
}

#[test]
fn a_changed_host_key_is_refused_even_with_accept_new_host_keys() {
    let fleet = Fleet::start(1);
    fleet.host("node-1").rotate_host_key();

    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let run = Run::new(&fleet, "kubelet-state")
            .host("node-1")
            .args(extra)
            .output();
        run.assert_code(1);
        let failed = run.only("connection_failed", None);
        assert_eq!(failed["kind"], "host_key", "{failed}");
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("host key of node-1") && error.contains("does not match known_hosts"),
            "{error}"
        );
        assert!(
            run.stdout.contains("does not match known_hosts"),
            "{}",
            run.context()
        );
        // Refused before anything ran, and never retried.
        assert!(run.events_of("step_started", None).is_empty());
        assert!(run.events_of("step_retried", None).is_empty());
    }
}

#[test]
fn accept_new_host_keys_trusts_a_host_never_seen_before() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    forget_host_key(&fleet, host);

    let strict = Run::new(&fleet, "kubelet-state").host("node-1").output();
    strict.assert_code(1);
    let failed = strict.only("connection_failed", None);
    assert_eq!(failed["kind"], "host_key", "{failed}");
    assert!(
        failed["error"].as_str().is_some_and(
            |e| e.contains("not in known_hosts") && e.contains("--accept-new-host-keys")
        ),
        "{failed}"
    );
    assert!(!known_hosts_lists(&fleet, host));

    let trusting = Run::new(&fleet, "kubelet-state")
        .host("node-1")
        .args(["--accept-new-host-keys"])
        .output();
    trusting.assert_code(0);
    assert!(
        known_hosts_lists(&fleet, host),
        "the new key was not remembered"
    );

    // Remembered: the strict default now connects too.
    Run::new(&fleet, "kubelet-state")
        .host("node-1")
        .output()
        .assert_code(0);
}
