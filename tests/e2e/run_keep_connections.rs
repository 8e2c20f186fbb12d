//! `run --keep-connections IDLE`: a run leaves each host's SSH master
//! running, the next run with the same SSH settings uses it without
//! logging in again, OpenSSH ends it after IDLE unused, and `runbook
//! connections --close` ends it at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::harness::processes_mentioning;
use crate::harness::{run_bounded, Fleet, Host};
use crate::run_support::{assert_no_ssh_master_left, Run};

/// A private directory for kept masters (short: socket paths are limited)
/// that closes whatever is left in it when the test ends, passed or not.
struct KeptDir {
    dir: TempDir,
}

impl KeptDir {
    fn new() -> KeptDir {
        let dir = tempfile::Builder::new()
            .prefix("rb-ssh-")
            .tempdir()
            .expect("cannot create a temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 700");
        KeptDir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `runbook connections ARGS` with this directory: (exit code, stdout).
    fn connections(&self, args: &[&str]) -> (Option<i32>, String) {
        let output = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_runbook"))
                .arg("connections")
                .args(args)
                .env("RUNBOOK_SSH_DIR", self.path()),
            Duration::from_secs(30),
        );
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

impl Drop for KeptDir {
    fn drop(&mut self) {
        let _ = self.connections(&["--close"]);
    }
}

fn logins(host: &Host) -> usize {
    host.sshd_log().matches("Accepted publickey").count()
}

#[test]
fn the_next_run_uses_the_kept_connection_without_logging_in_again() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let kept = KeptDir::new();

    let first = Run::new(&fleet, "run-id")
        .host("node-1")
        .keep_connections(kept.path(), "60s")
        .output();
    first.assert_code(0);
    assert!(first.only("connected", None).get("reused").is_none());
    let after_first = logins(host);

    let second = Run::new(&fleet, "run-id")
        .host("node-1")
        .keep_connections(kept.path(), "60s")
        .output();
    second.assert_code(0);
    assert_eq!(second.only("connected", None)["reused"], true);
    assert_eq!(logins(host), after_first, "the second run logged in again");
    // The step really ran over the kept connection, with this run's id.
    assert!(
        second.finished("whoami")["stdout"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&second.run_id())),
        "{}",
        second.context()
    );

    let (code, listed) = kept.connections(&[]);
    assert_eq!(code, Some(0));
    assert!(listed.contains("node-1"), "{listed}");
    let (code, closed) = kept.connections(&["--close"]);
    assert_eq!(code, Some(0));
    assert_eq!(closed.trim(), "closed 1 kept connection");
    assert_no_ssh_master_left(&fleet.engine_tmp_dir(), &closed);
}

#[test]
fn other_ssh_settings_do_not_share_a_kept_connection() {
    let fleet = Fleet::start(1);
    let kept = KeptDir::new();
    let run = |extra: &[&str]| {
        Run::new(&fleet, "run-id")
            .host("node-1")
            .keep_connections(kept.path(), "60s")
            .args(extra)
            .output()
    };
    run(&[]).assert_code(0);
    let as_root = run(&["--user", "root"]);
    as_root.assert_code(0);
    assert!(as_root.only("connected", None).get("reused").is_none());
    let (_, closed) = kept.connections(&["--close"]);
    assert_eq!(closed.trim(), "closed 2 kept connections");
}

#[test]
fn a_kept_connection_ends_after_its_idle_time() {
    let fleet = Fleet::start(1);
    let kept = KeptDir::new();
    Run::new(&fleet, "run-id")
        .host("node-1")
        .keep_connections(kept.path(), "3s")
        .output()
        .assert_code(0);
    let needle = fleet.engine_tmp_dir().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    assert!(
        !processes_mentioning(&needle).is_empty(),
        "the master did not outlive the run"
    );
    while !processes_mentioning(&needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the kept master outlived its 3 s idle time by 12 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // The next run finds nothing alive and logs in anew.
    let next = Run::new(&fleet, "run-id")
        .host("node-1")
        .keep_connections(kept.path(), "60s")
        .output();
    next.assert_code(0);
    assert!(next.only("connected", None).get("reused").is_none());
}

#[test]
fn a_kept_connection_directory_others_can_enter_is_refused() {
    let fleet = Fleet::start(1);
    let kept = KeptDir::new();
    std::fs::set_permissions(kept.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let run = Run::new(&fleet, "run-id")
        .host("node-1")
        .keep_connections(kept.path(), "60s")
        .output();
    run.assert_code(1);
    assert!(run.stderr.contains("others may enter it"), "{}", run.stderr);
    assert!(run.events.is_empty(), "refused before the audit started");
}
