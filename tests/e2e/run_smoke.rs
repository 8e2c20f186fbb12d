//! The main job end to end: `runbook run` over real sshd reaches a
//! conclusion and leaves a verifiable audit file.

use std::process::Command;
use std::time::Duration;

use crate::harness::{run_bounded, Fleet};

#[test]
fn linux_health_concludes_over_ssh() {
    let fleet = Fleet::start(1);
    let audit = tempfile::tempdir().expect("tempdir");
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_runbook"))
            .args(["run", "linux-health", "--host", "node-1", "--runbooks"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../runbooks"))
            .arg("--ssh-config")
            .arg(fleet.ssh_config_path())
            .arg("--audit-dir")
            .arg(audit.path()),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("== node-1 =="), "{stdout}");
}
