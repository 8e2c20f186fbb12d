//! An `--agent-dir` the agent cannot be installed in — not a directory,
//! read-only, mounted noexec — fails the probe with a message naming
//! `--agent-dir`, not with a bare exit status.
//!
//! The read-only and noexec directories are tmpfs mounts made on the host,
//! that is inside its sshd's own mount namespace: they vanish with it and
//! are never visible on this machine. Where mounting is not permitted (no
//! CAP_SYS_ADMIN) those tests print why and pass without checking.

use std::path::{Path, PathBuf};

use crate::harness::{Fleet, Host};
use crate::run_support::{Run, RunOutput};

fn seed_fleet() -> Fleet {
    Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start()
}

fn probe_with_agent_dir(fleet: &Fleet, dir: &Path) -> RunOutput {
    let run = Run::new(fleet, "memory-probe")
        .host("node-1")
        .with_agent()
        .agent_dir(dir)
        .output();
    run.assert_code(1);
    assert!(run.events_of("agent_installed", None).is_empty());
    run
}

fn probe_error(run: &RunOutput) -> String {
    let memory = run.finished("memory");
    assert_eq!(memory["status"], "failed", "{memory}");
    memory["error"].as_str().unwrap_or_default().to_string()
}

/// A tmpfs mounted with `options` on the host; unmounted on drop.
struct HostMount<'a> {
    host: &'a Host,
    dir: PathBuf,
}

impl<'a> HostMount<'a> {
    /// `None` (with the reason printed) when the host may not mount.
    fn new(host: &'a Host, dir: PathBuf, options: &str) -> Option<HostMount<'a>> {
        let output = host.ssh(&format!(
            "mkdir -p '{0}' && mount -t tmpfs -o {options},size=256m runbook-e2e '{0}'",
            dir.display()
        ));
        if !output.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs on the host ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        Some(HostMount { host, dir })
    }
}

impl Drop for HostMount<'_> {
    fn drop(&mut self) {
        let _ = self.host.ssh(&format!("umount '{}'", self.dir.display()));
    }
}

#[test]
fn an_agent_dir_below_a_file_is_explained_naming_agent_dir() {
    let fleet = seed_fleet();
    let dir = fleet.host("node-1").fixture_dir().join("STATE/agent");
    let run = probe_with_agent_dir(&fleet, &dir);
    let error = probe_error(&run);
    assert!(
        error.contains(&format!("cannot write the agent into {}", dir.display()))
            && error.contains("--agent-dir DIR"),
        "{error}"
    );
    assert!(run.stdout.contains("--agent-dir"), "{}", run.context());
}

#[test]
fn a_read_only_agent_dir_is_explained_naming_agent_dir() {
    let fleet = seed_fleet();
    let host = fleet.host("node-1");
    let Some(mount) = HostMount::new(host, host.fixture_dir().join("ro"), "ro") else {
        return;
    };
    let run = probe_with_agent_dir(&fleet, &mount.dir);
    let error = probe_error(&run);
    assert!(
        error.contains(&format!(
            "cannot write the agent into {}",
            mount.dir.display()
        )) && error.contains("Read-only file system")
            && error.contains("--agent-dir DIR"),
        "{error}"
    );
}

#[test]
fn a_noexec_agent_dir_is_explained_naming_agent_dir() {
    let fleet = seed_fleet();
    let host = fleet.host("node-1");
    let Some(mount) = HostMount::new(host, host.fixture_dir().join("noexec"), "noexec") else {
        return;
    };
    let run = probe_with_agent_dir(&fleet, &mount.dir);
    let error = probe_error(&run);
    assert!(
        error.contains("cannot be executed there (is the filesystem mounted noexec?)")
            && error.contains(&mount.dir.display().to_string())
            && error.contains("--agent-dir DIR"),
        "{error}"
    );
}
