//! The audit trail cannot be written: a disk that fills up mid-run stops
//! the run with an error naming the audit file (no step runs whose start
//! is not on disk), and a read-only audit directory refuses the run before
//! any host is touched.
//!
//! The audit dir is a 64 KiB tmpfs mounted in a private mount namespace
//! (`unshare --mount`) that only the engine sees; the file is copied out
//! before the namespace goes away.

use std::path::Path;
use std::time::Duration;

use crate::fault_support::{verify, NsRun};
use crate::harness::Fleet;
use crate::run_support::{read_events, RunOutput};

/// Mounts the tmpfs on `$RUNBOOK_E2E_TMPFS`; when the run's `wait` step
/// has started, a filler takes every byte left; runs the engine; copies
/// the audit file out.
const FILL_MID_RUN: &str = r#"d="$RUNBOOK_E2E_TMPFS"
mount -t tmpfs -o size=64k,mode=0700 runbook-e2e-audit "$d" || exit 90
(
  until grep -qs '"type":"step_started","host":"node-1","step":"wait"' "$d"/*.jsonl; do sleep 0.01; done
  cat /dev/zero > "$d/filler" 2>/dev/null
  touch "$RUNBOOK_E2E_AUDIT/filled"
) &
"$@"; rc=$?
kill $! 2>/dev/null
cp "$d"/*.jsonl "$RUNBOOK_E2E_AUDIT"/ 2>/dev/null
exit $rc
"#;

/// Mounts a read-only tmpfs there, then runs the engine.
const READ_ONLY: &str = r#"mount -t tmpfs -o ro,size=64k runbook-e2e-audit "$RUNBOOK_E2E_TMPFS" || exit 90
exec "$@""#;

fn ran(fleet: &Fleet, step: &str) -> bool {
    fleet
        .host("node-1")
        .fixture_dir()
        .join(format!("ran-{step}"))
        .exists()
}

fn namespaced_run(fleet: &Fleet, setup: &str, mount_point: &Path) -> RunOutput {
    NsRun::new(&["--mount"], setup, "fault-audit")
        .env("RUNBOOK_E2E_TMPFS", mount_point)
        .args(["--host", "node-1", "--audit-dir"])
        .args([mount_point.as_os_str()])
        .args([
            std::ffi::OsStr::new("--ssh-config"),
            fleet.ssh_config_path().as_os_str(),
        ])
        .timeout(Duration::from_secs(60))
        .output()
}

#[test]
fn a_full_audit_disk_stops_the_run_with_an_error_naming_the_file() {
    let fleet = Fleet::start(1);
    let mount_point = tempfile::tempdir().expect("mount point");
    let run = namespaced_run(&fleet, FILL_MID_RUN, mount_point.path());
    assert_eq!(run.code, Some(1), "{}", run.context());
    let path = run
        .audit_path
        .as_deref()
        .expect("the audit file, copied out");
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    let in_namespace = mount_point.path().join(name);
    assert!(
        run.stderr.contains(&format!(
            "error: cannot write the audit trail {}: No space left on device",
            in_namespace.display()
        )),
        "{}",
        run.context()
    );
    assert!(
        run.stderr.contains("the run was stopped"),
        "{}",
        run.context()
    );
    assert!(
        !run.stdout.contains("CONCLUDED") && run.events_of("concluded", None).is_empty(),
        "{}",
        run.context()
    );
    // Stopped, not continued unaudited: a step only ran if its start is
    // on disk, and the run never got to the last one.
    let events = read_events(path);
    for step in ["first", "wait", "after", "later"] {
        let recorded = events
            .iter()
            .any(|e| e["type"] == "step_started" && e["step"] == step);
        assert!(
            recorded || !ran(&fleet, step),
            "`{step}` ran on the host but its start is not in the audit trail\n{}",
            run.context()
        );
    }
    assert!(ran(&fleet, "first") && ran(&fleet, "wait"));
    assert!(!ran(&fleet, "later"), "{}", run.context());
    // Everything written is intact; the trail says it is not sealed.
    let (code, out) = verify(path);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("NOT SEALED"), "{out}");
    assert!(run.elapsed < Duration::from_secs(30), "{}", run.context());
}

#[test]
fn a_read_only_audit_directory_refuses_the_run_before_any_host_is_touched() {
    let fleet = Fleet::start(1);
    let mount_point = tempfile::tempdir().expect("mount point");
    let run = namespaced_run(&fleet, READ_ONLY, mount_point.path());
    assert_eq!(run.code, Some(1), "{}", run.context());
    assert!(
        run.stderr.contains(&format!(
            "cannot write the audit trail in {}: Read-only file system",
            mount_point.path().display()
        )) && run.stderr.contains("refusing to run unaudited"),
        "{}",
        run.context()
    );
    assert!(run.audit_path.is_none());
    assert!(!ran(&fleet, "first"), "a step ran without an audit trail");
    assert!(
        !fleet
            .host("node-1")
            .sshd_log()
            .contains("Accepted publickey"),
        "the engine logged in to the host:\n{}",
        fleet.host("node-1").sshd_log()
    );
}
