//! Hosts that drop every packet: `--connect-timeout` bounds the wait, the
//! hosts fail with `connection_failed` in the audit, and the run ends.
//!
//! Loopback always answers, so the engine runs in a network namespace of
//! its own (`unshare --net`) with a veth pair whose far end has no address:
//! SYNs to 10.255.0.0/24 leave and are never answered. Nothing outside the
//! namespace is touched, and it vanishes with the engine.

use std::time::Duration;

use crate::fault_support::{assert_verified, inventory, NsRun};

/// Sets up the black hole, then runs the engine.
const BLACKHOLE: &str = "set -e
ip link set lo up
ip link add bh0 type veth peer name bh1
ip addr add 10.255.0.1/24 dev bh0
ip link set bh0 up
ip link set bh1 up
for i in 2 3 4 5 6; do
  ip neigh add 10.255.0.$i lladdr 02:00:00:00:00:0$i dev bh0 nud permanent
done
set +e
exec \"$@\"";

#[test]
fn blackholed_hosts_fail_within_the_connect_timeout_and_are_recorded() {
    let hosts: Vec<String> = (2..=6)
        .map(|i| format!("hole-{i}: {{ address: \"10.255.0.{i}\", port: 22 }}"))
        .collect();
    let inventory = inventory(&hosts);
    // No fleet: nothing in this namespace could answer anyway. An empty
    // ssh_config keeps the developer's ~/.ssh/config out of it.
    let ssh_config = tempfile::NamedTempFile::new().expect("temp ssh_config");
    let run = NsRun::new(&["--net"], BLACKHOLE, "kubelet-state");
    let audit = run.audit_dir().to_path_buf();
    let run = run
        .args(["--connect-timeout", "2s", "--audit-dir"])
        .args([audit.as_os_str()])
        .args(["--ssh-config".as_ref(), ssh_config.path().as_os_str()])
        .args(["--inventory".as_ref(), inventory.path().as_os_str()])
        .timeout(Duration::from_secs(60))
        .output();
    assert_eq!(run.code, Some(1), "{}", run.context());
    // Five hosts at once, each given 2 s: the run is over in about 2 s
    // (plus the start-up of a debug build), not 5 × 2 s and not ssh's
    // own default of the kernel's SYN retries (over two minutes).
    assert!(
        run.elapsed < Duration::from_secs(8),
        "a 2 s connect timeout took {:?}\n{}",
        run.elapsed,
        run.context()
    );
    let failed = run.events_of("connection_failed", None);
    assert_eq!(failed.len(), 5, "{}", run.context());
    for f in &failed {
        assert_eq!(f["kind"], "connect", "{f}");
        let error = f["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("timed out") || error.contains("no answer within"),
            "{error}"
        );
    }
    for finished in run.events_of("host_finished", None) {
        assert_eq!(finished["status"], "failed", "{finished}");
        let took = finished["duration_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(took < 6_000, "{finished}");
    }
    let sealed = run.events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(
        sealed["hosts"],
        serde_json::json!({"failed": 5}),
        "{sealed}"
    );
    for i in 2..=6 {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("hole-{i} "))
                    && l.contains("cannot connect to hole-")),
            "{}",
            run.context()
        );
    }
    assert_verified(run.audit_path.as_deref().expect("an audit file"));
}
