//! `runbook plan` renders every command a run would execute without
//! touching any host.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn plan_renders_the_commands_and_touches_no_host() {
    let fleet = Fleet::start(2);
    let up = fleet.host("node-1");
    fleet.host("node-2").stop_sshd();
    let log_before = up.sshd_log();

    let run = Run::command(&fleet, "plan", "remedy")
        .host("node-1")
        .host("node-2")
        .output();
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("plan for runbook remedy on 2 hosts (nothing is run)"),
        "{}",
        run.context()
    );
    // Rendered for the first host, and marked as a change.
    assert!(
        run.stdout
            .contains("$ systemctl restart kubelet && echo restarted node-1"),
        "{}",
        run.context()
    );
    assert!(run.stdout.contains("changes the host"), "{}", run.context());
    assert!(run.audit_path.is_none(), "plan wrote an audit file");
    assert_eq!(
        up.sshd_log(),
        log_before,
        "plan connected to node-1:\n{}",
        run.context()
    );
    assert!(!up.fixture_dir().join("actions.log").exists());
}
