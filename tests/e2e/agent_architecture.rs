//! A host of another CPU architecture gets no agent: the probe fails with
//! a message that says why and what to do.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn a_probe_on_a_host_of_another_architecture_fails_with_a_clear_message() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start();
    fleet
        .host("node-1")
        .write_fixture_file("bin/uname", "#!/bin/sh\necho aarch64\n");

    let run = Run::new(&fleet, "memory-probe")
        .host("node-1")
        .with_agent()
        .output();
    run.assert_code(1);
    let expected = format!(
        "the host's CPU is aarch64 but the agent here is built for {}",
        std::env::consts::ARCH
    );
    let memory = run.finished("memory");
    assert_eq!(memory["status"], "failed", "{memory}");
    let error = memory["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&expected) && error.contains("--agent-path"),
        "{error}"
    );
    assert!(run.events_of("agent_installed", None).is_empty());
    assert!(
        !Run::default_agent_dir(&fleet).exists(),
        "an agent was uploaded to the wrong architecture"
    );
    // The run reports it.
    assert!(run.stdout.contains(&expected), "{}", run.context());
    assert_eq!(run.only("host_finished", None)["status"], "failed");
}
