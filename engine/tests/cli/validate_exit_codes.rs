//! `runbook validate` exit codes: 0 clean, 1 problems (warnings only
//! under `--deny-warnings`), 2 usage errors.

use crate::support::Test;

const CLEAN: &str = "\
runbook: clean
summary: nothing wrong
steps:
  - id: done
    conclude: { severity: ok, finding: fine }
";

const WARNING: &str = "\
runbook: warning
steps:
  - id: done
    conclude: { severity: ok, finding: fine }
";

const ERROR: &str = "\
runbook: error
summary: one error
steps:
  - id: done
    conclude: { severity: fine, finding: fine }
";

#[test]
fn a_clean_runbook_exits_0() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "clean.yaml"])
        .status(0)
        .stdout("checked 1 runbook: 0 errors, 0 warnings\n")
        .stderr("")
        .run();
}

#[test]
fn an_error_exits_1() {
    Test::new()
        .file("error.yaml", ERROR)
        .args(["validate", "error.yaml"])
        .status(1)
        .stdout_contains("error[unknown-severity]")
        .stdout_contains("checked 1 runbook: 1 error, 0 warnings\n")
        .run();
}

#[test]
fn warnings_alone_exit_0() {
    Test::new()
        .file("warning.yaml", WARNING)
        .args(["validate", "warning.yaml"])
        .status(0)
        .stdout_contains("warning[no-summary]")
        .stdout_contains("checked 1 runbook: 0 errors, 1 warning\n")
        .run();
}

#[test]
fn warnings_exit_1_with_deny_warnings() {
    Test::new()
        .file("warning.yaml", WARNING)
        .args(["validate", "--deny-warnings", "warning.yaml"])
        .status(1)
        .stdout_contains("warning[no-summary]")
        .run();
}

#[test]
fn deny_warnings_keeps_a_clean_runbook_at_0() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "--deny-warnings", "clean.yaml"])
        .status(0)
        .run();
}

#[test]
fn one_bad_file_among_good_ones_exits_1() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .file("error.yaml", ERROR)
        .args(["validate", "clean.yaml", "error.yaml"])
        .status(1)
        .stdout_contains("checked 2 runbooks: 1 error, 0 warnings\n")
        .run();
}

#[test]
fn a_missing_path_exits_2() {
    Test::new()
        .args(["validate", "nowhere.yaml"])
        .status(2)
        .stdout("")
        .stderr("error: nowhere.yaml does not exist\n")
        .run();
}

#[test]
fn a_folder_without_runbooks_exits_2() {
    Test::new()
        .file("docs/README.md", "not a runbook\n")
        .args(["validate", "docs"])
        .status(2)
        .stderr("error: no runbook files (*.yaml, *.yml) found in docs\n")
        .run();
}

#[test]
fn an_unknown_flag_exits_2() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "--no-such-flag", "clean.yaml"])
        .status(2)
        .stderr_contains("--no-such-flag")
        .run();
}

#[test]
fn without_paths_the_runbooks_folder_is_validated() {
    Test::new()
        .file("runbooks/clean.yaml", CLEAN)
        .file("runbooks/error.yaml", ERROR)
        .args(["validate"])
        .status(1)
        .stdout_contains("runbooks/error.yaml:5:27")
        .stdout_contains("checked 2 runbooks: 1 error, 0 warnings\n")
        .run();
}
