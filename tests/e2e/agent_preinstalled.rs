//! `--agent-path`: an agent the operator installed on the hosts is used as
//! is; nothing is uploaded.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::Fleet;
use crate::run_support::{agent_binary, Run};

#[test]
fn agent_path_uses_a_preinstalled_agent_and_uploads_nothing() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start();
    let host = fleet.host("node-1");
    let installed = host.fixture_dir().join("opt/runbook agent/runbook-agent");
    fs::create_dir_all(installed.parent().expect("parent")).expect("mkdir");
    fs::copy(agent_binary(), &installed).expect("install the agent");
    fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).expect("chmod");

    let run = Run::new(&fleet, "memory-probe")
        .host("node-1")
        .with_agent()
        .args(["--agent-path"])
        .args([&installed])
        .output();
    run.assert_code(0);
    assert!(
        run.events_of("agent_installed", None).is_empty(),
        "{}",
        run.audit_text()
    );
    assert!(
        !Run::default_agent_dir(&fleet).exists(),
        "something was uploaded into the agent dir"
    );
    // The path is shell-quoted (it has a space).
    let started = run.only("step_started", Some("memory"));
    assert!(
        started["command"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("'{}' probe memory", installed.display()))),
        "{started}"
    );
    assert_eq!(
        run.finished("memory")["captures"]["available"],
        53_652 * 1024
    );
}
