//! A step that changes the host runs only when approved: without a
//! terminal to ask and without `--yes` it is refused, recorded, and not run.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn without_a_terminal_or_yes_a_mutating_step_is_refused_and_does_not_run() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "kubelet-down")
        .start();
    let host = fleet.host("node-1");
    let command = "systemctl restart kubelet && echo restarted node-1";

    // stdin is not a terminal (closed).
    let run = Run::new(&fleet, "remedy").host("node-1").output();
    run.assert_code(0);
    assert_eq!(
        run.only("approval_asked", Some("restart"))["command"],
        command
    );
    let refused = run.only("approval_refused", Some("restart"));
    assert!(
        refused["by"]
            .as_str()
            .is_some_and(|by| by.contains("no terminal") && by.contains("--yes")),
        "{refused}"
    );
    assert_eq!(run.skipped_reason("restart"), "approval_refused");
    assert!(run.events_of("step_started", Some("restart")).is_empty());
    assert_eq!(run.skipped_reason("restarted"), "pruned");
    assert_eq!(run.concluded_steps(), ["down"]);
    assert!(
        !host.fixture_dir().join("actions.log").exists(),
        "a refused step changed the host"
    );
    assert!(
        run.stdout
            .contains(&format!("refused: did not run `restart`: {command}")),
        "{}",
        run.context()
    );

    let run = Run::new(&fleet, "remedy")
        .host("node-1")
        .args(["--yes"])
        .output();
    run.assert_code(0);
    let given = run.only("approval_given", Some("restart"));
    assert!(
        given["by"]
            .as_str()
            .is_some_and(|by| by.ends_with("(--yes)")),
        "{given}"
    );
    assert_eq!(run.finished("restart")["exit_code"], 0);
    assert_eq!(
        host.read_fixture_file("actions.log"),
        "systemctl restart kubelet.service\n"
    );
    let mut concluded = run.concluded_steps();
    concluded.sort();
    assert_eq!(concluded, ["down", "restarted"]);
    assert_eq!(
        run.only("concluded", Some("restarted"))["finding"],
        "restarted the kubelet: restarted node-1"
    );
}
