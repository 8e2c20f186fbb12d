//! The runbooks in `tests/valid/` (one per group of language features),
//! and every shipped runbook and example, validate clean even with
//! `--deny-warnings`.

use crate::support::{fixtures, Test};

#[test]
fn valid_runbooks_validate_clean_with_deny_warnings() {
    let output = Test::new()
        .current_dir(fixtures())
        .args(["validate", "--deny-warnings", "valid"])
        .status(0)
        .run();
    assert_eq!(output.stdout, "checked 6 runbooks: 0 errors, 0 warnings\n");
}

#[test]
fn each_valid_runbook_validates_clean_on_its_own() {
    let mut files = runbook_engine::library::runbook_files(&fixtures().join("valid"));
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        Test::new()
            .args(["validate", "--deny-warnings"])
            .arg(&file)
            .status(0)
            .run();
    }
}

#[test]
fn shipped_runbooks_and_examples_validate_clean() {
    let workspace = fixtures().parent().unwrap().to_path_buf();
    for dir in ["runbooks", "examples/runbooks"] {
        let dir = workspace.join(dir);
        if runbook_engine::library::runbook_files(&dir).is_empty() {
            continue;
        }
        Test::new()
            .current_dir(&workspace)
            .args(["validate", "--deny-warnings"])
            .arg(&dir)
            .status(0)
            .run();
    }
}

#[test]
fn valid_runbooks_cover_every_language_feature() {
    let mut text = String::new();
    for file in runbook_engine::library::runbook_files(&fixtures().join("valid")) {
        text.push_str(&std::fs::read_to_string(file).unwrap());
    }
    for feature in [
        "next: [",      // fan-out
        "- when:",      // first-match rules
        "on_failure:",  // failure edge
        "capture:",     // captures
        "call:",        // calls
        "with:",        // call params
        "probe:",       // probes
        "args:",        // probe args
        "evidence:",    // evidence
        "targets:",     // named targets
        "on: local",    // built-in target
        "secret: true", // secret params
        "default: \"",  // templated defaults
        "pattern:",     // param patterns
        "redact:",      // redaction
        "defaults:",    // step defaults
        "parse: json",  // parsers
        "parse: lines",
        "parse: kv",
        "mutates: true", // mutating steps
        "retries:",
        "timeout:",
        "remedy:",
    ] {
        assert!(text.contains(feature), "no valid runbook uses `{feature}`");
    }
}
