//! `runbook validate` reports every problem it can find in one run, not
//! just the first: across a file, across phases, and across files.

use std::collections::BTreeSet;

use crate::support::Test;

fn codes(output: &crate::support::Output) -> Vec<String> {
    output.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn five_distinct_errors_in_one_file_are_five_diagnostics() {
    let output = Test::new()
        .file(
            "five.yaml",
            "\
runbook: five
summary: five unrelated mistakes
params:
  node:
    required: true
steps:
  - id: mem
    probe: memroy
    timeout: forever
    next: verdict
  - id: verdict
    on: bastion
    run: \"echo {{ params.nod }}\"
    next: helthy
  - id: healthy
    conclude: { severity: ok, finding: fine }
",
        )
        .args(["validate", "--format", "json", "five.yaml"])
        .status(1)
        .run();
    assert_eq!(output.json()["errors"], 5);
    assert_eq!(
        codes(&output),
        [
            "unknown-probe",
            "bad-duration",
            "unknown-target",
            "undefined-param",
            "unknown-step",
        ],
        "in source order"
    );
}

#[test]
fn every_structural_problem_is_reported_at_once() {
    let output = Test::new()
        .file(
            "shape.yaml",
            "\
runbook: shape
summary: several structural mistakes
bogus: 1
steps:
  - id: a
    run: \"true\"
    retries: many
    next: b
  - run: \"true\"
  - id: c
    args: [x]
    description: one
    description: two
",
        )
        .args(["validate", "--format", "json", "shape.yaml"])
        .status(1)
        .run();
    assert_eq!(
        codes(&output),
        [
            "unknown-key",
            "wrong-type",
            "missing-key",
            "wrong-shape",
            "duplicate-key"
        ]
    );
}

#[test]
fn every_file_is_checked_even_after_a_broken_one() {
    let output = Test::new()
        .file("a.yaml", "runbook: [\n")
        .file(
            "b.yaml",
            "runbook: b\nsummary: x\nsteps:\n  - id: a\n    next: nowhere\n",
        )
        .file(
            "c.yaml",
            "runbook: c\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n",
        )
        .args(["validate", "--format", "json", "a.yaml", "b.yaml", "c.yaml"])
        .status(1)
        .run();
    let doc = output.json();
    assert_eq!(doc["files_checked"], 3);
    let files: BTreeSet<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, BTreeSet::from(["a.yaml", "b.yaml", "c.yaml"]));
}

#[test]
fn a_typo_in_a_step_id_is_one_error_without_follow_on_warnings() {
    let output = Test::new()
        .file(
            "typo.yaml",
            "\
runbook: typo
summary: one typo
steps:
  - id: check
    run: \"true\"
    next: helthy
  - id: healthy
    conclude: { severity: ok, finding: fine }
",
        )
        .args(["validate", "--format", "json", "typo.yaml"])
        .status(1)
        .run();
    // Not also `healthy` unreachable and `check` ending without a conclusion.
    assert_eq!(codes(&output), ["unknown-step"]);
}
