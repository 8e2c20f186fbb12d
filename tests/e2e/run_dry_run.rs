//! `--dry-run` runs the read-only steps and branches for real, but runs no
//! step that changes the host; it shows the rendered command instead.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn a_dry_run_runs_read_only_steps_and_prints_the_change_it_would_make() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "kubelet-down")
        .start();
    let host = fleet.host("node-1");
    let command = "systemctl restart kubelet && echo restarted node-1";

    let run = Run::new(&fleet, "remedy")
        .host("node-1")
        .args(["--dry-run", "--yes"])
        .output();
    run.assert_code(0);
    assert_eq!(run.only("run_started", None)["dry_run"], true);
    // The read-only step ran and decided the path…
    assert_eq!(run.finished("kubelet")["exit_code"], 3);
    assert_eq!(run.concluded_steps(), ["down"]);
    // …the mutating one did not, not even with --yes.
    let skipped = run.only("step_skipped", Some("restart"));
    assert_eq!(skipped["reason"], "dry_run", "{skipped}");
    assert_eq!(skipped["detail"], command, "{skipped}");
    assert!(run.events_of("step_started", Some("restart")).is_empty());
    assert!(run.events_of("approval_asked", None).is_empty());
    assert!(
        !host.fixture_dir().join("actions.log").exists(),
        "the dry run changed the host: {}",
        host.read_fixture_file("actions.log")
    );
    assert!(
        run.stdout
            .contains(&format!("dry run: would run `restart`: {command}")),
        "{}",
        run.context()
    );

    let run = Run::new(&fleet, "remedy")
        .host("node-1")
        .args(["--dry-run", "--output", "json"])
        .output();
    run.assert_code(0);
    assert_eq!(
        run.json()["hosts"][0]["not_run"],
        serde_json::json!([{"step": "restart", "command": command, "reason": "dry_run"}])
    );
    assert!(!host.fixture_dir().join("actions.log").exists());
}
