//! The run's identity reaches the host: every remote command sees
//! `RUNBOOK_RUN_ID` (the id of the audit file) and `RUNBOOK_STEP`.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn the_run_id_of_the_audit_file_reaches_the_host() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "run-id").host("node-1").output();
    run.assert_code(0);
    let run_id = run.run_id();
    assert_eq!(run_id.len(), 26, "a ULID: {run_id}");
    let audit_name = run
        .audit_path
        .as_ref()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    assert!(audit_name.contains(&format!("_{run_id}_")), "{audit_name}");
    // From the environment and from the `run.id` template alike.
    assert_eq!(
        run.finished("whoami")["stdout"]["text"],
        format!("{run_id} whoami {run_id}\n")
    );
    assert!(run.events.iter().all(|e| e["run_id"] == run_id.as_str()));
}
