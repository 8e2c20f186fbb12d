//! What the user typed is wrong: exit 2 with a message that says what and
//! how to fix it — before any host is touched or any audit file written.

use crate::run_support::{Run, RunOutput};

fn assert_usage_error(run: &RunOutput, message: &str) {
    run.assert_code(2);
    assert!(
        run.stderr.contains(message),
        "stderr does not say `{message}`:\n{}",
        run.context()
    );
    assert!(
        run.audit_path.is_none(),
        "a run that never started wrote an audit file"
    );
}

#[test]
fn a_param_without_equals_sign_is_a_usage_error() {
    let run = Run::offline("run", "rules")
        .args(["--host", "node-1", "-p", "mode"])
        .output();
    assert_usage_error(&run, "error: `-p mode` is not NAME=VALUE");
}

#[test]
fn a_missing_required_param_is_a_usage_error_naming_it() {
    let run = Run::offline("run", "rules")
        .args(["--host", "node-1"])
        .output();
    assert_usage_error(
        &run,
        "error: runbook `rules` needs param `mode` (fast, slow or anything else): pass `-p mode=VALUE`",
    );
}

#[test]
fn an_unknown_param_is_a_usage_error_with_a_suggestion() {
    let run = Run::offline("run", "rules")
        .args(["--host", "node-1", "-p", "mode=fast", "-p", "levle=3"])
        .output();
    assert_usage_error(&run, "runbook `rules` has no param `levle`");
    assert!(run.stderr.contains("`level`"), "{}", run.context());
}

#[test]
fn an_unknown_runbook_is_a_usage_error_with_a_suggestion() {
    let run = Run::offline("run", "fan-uot")
        .args(["--host", "node-1"])
        .output();
    assert_usage_error(&run, "no runbook named `fan-uot`");
    assert!(run.stderr.contains("`fan-out`"), "{}", run.context());
}
