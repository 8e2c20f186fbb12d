//! `runbook validate --format human|json|github|sarif`: the same problems,
//! in the shape each consumer reads.

use crate::support::Test;

/// A runbook with one error (line 7) and one warning (line 9).
const ONE_ERROR_ONE_WARNING: &str = "\
runbook: formats
summary: one error and one warning
steps:
  - id: check
    run: \"true\"
    next:
      - goto: helthy
  - id: orphan
    run: \"true\"
    next: healthy
  - id: healthy
    conclude: { severity: ok, finding: fine }
";

fn validate(format: &str) -> crate::support::Output {
    Test::new()
        .file("formats.yaml", ONE_ERROR_ONE_WARNING)
        .args(["validate", "--format", format, "formats.yaml"])
        .status(1)
        .run()
}

#[test]
fn human_format_quotes_the_line_and_points_at_the_token() {
    let output = validate("human");
    assert_eq!(
        output.stdout,
        "\
error[unknown-step]: no step has id `helthy`
  ┌─ formats.yaml:7:15
  │
7 │       - goto: helthy
  │               ^^^^^^ no such step
  │
  = help: did you mean `healthy`?

checked 1 runbook: 1 error, 0 warnings
"
    );
    assert_eq!(output.stderr, "");
}

#[test]
fn human_format_has_no_colour_when_not_on_a_terminal() {
    let output = validate("human");
    assert!(!output.stdout.contains('\u{1b}'), "{:?}", output.stdout);
}

#[test]
fn human_format_has_colour_when_asked() {
    let output = Test::new()
        .file("formats.yaml", ONE_ERROR_ONE_WARNING)
        .args(["--color", "always", "validate", "formats.yaml"])
        .status(1)
        .run();
    assert!(output.stdout.contains('\u{1b}'));
}

#[test]
fn json_format_is_one_typed_document_with_every_field() {
    let doc = validate("json").json();
    assert_eq!(doc["type"], "runbook.diagnostics");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["files_checked"], 1);
    assert_eq!(doc["errors"], 1);
    assert_eq!(doc["warnings"], 0);
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        diagnostics[0],
        serde_json::json!({
            "file": "formats.yaml",
            "line": 7,
            "column": 15,
            "end_line": 7,
            "end_column": 21,
            "severity": "error",
            "code": "unknown-step",
            "message": "no step has id `helthy`",
            "path": "steps[0].next[0].goto",
            "help": "did you mean `healthy`?",
            "related": [],
        })
    );
}

#[test]
fn json_format_lists_related_places() {
    let output = Test::new()
        .file(
            "dup.yaml",
            "runbook: dup\nsummary: x\nsteps:\n  - id: a\n    run: \"true\"\n    run: \"false\"\n",
        )
        .args(["validate", "--format", "json", "dup.yaml"])
        .status(1)
        .run();
    let d = &output.json()["diagnostics"][0];
    assert_eq!(d["code"], "duplicate-key");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(6), Some(5))
    );
    assert_eq!(
        d["related"],
        serde_json::json!([{"line": 5, "column": 5, "message": "first defined here"}])
    );
}

#[test]
fn json_format_reports_clean_files_too() {
    let output = Test::new()
        .file(
            "clean.yaml",
            "runbook: clean\nsummary: x\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n",
        )
        .args(["validate", "--format", "json", "clean.yaml"])
        .status(0)
        .run();
    let doc = output.json();
    assert_eq!(doc["files_checked"], 1);
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
}

#[test]
fn github_format_prints_one_workflow_command_per_problem() {
    let output = Test::new()
        .file("formats.yaml", ONE_ERROR_ONE_WARNING)
        .file(
            "warn.yaml",
            "runbook: warn\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n",
        )
        .args([
            "validate",
            "--format",
            "github",
            "formats.yaml",
            "warn.yaml",
        ])
        .status(1)
        .run();
    assert_eq!(
        output.stdout,
        "\
::error file=formats.yaml,line=7,col=15,endLine=7,endColumn=21,title=runbook unknown-step::no step has id `helthy`%0Ahelp: did you mean `healthy`?
::warning file=warn.yaml,line=1,col=1,endLine=1,endColumn=8,title=runbook no-summary::runbook has no `summary`%0Ahelp: one line saying which symptom this runbook diagnoses; `runbook list` shows it
"
    );
}

#[test]
fn github_format_escapes_what_would_end_a_property() {
    let output = Test::new()
        .file("a,b:c.yaml", ONE_ERROR_ONE_WARNING)
        .args(["validate", "--format", "github", "a,b:c.yaml"])
        .status(1)
        .run();
    assert!(
        output
            .stdout
            .starts_with("::error file=a%2Cb%3Ac.yaml,line=7,"),
        "{}",
        output.stdout
    );
}

#[test]
fn sarif_format_is_sarif_2_1_0_with_rules_and_regions() {
    let doc = validate("sarif").json();
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "runbook");
    assert_eq!(
        run["tool"]["driver"]["rules"][0]["id"], "unknown-step",
        "every reported code is a rule"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["ruleId"], "unknown-step");
    assert_eq!(result["level"], "error");
    assert!(result["message"]["text"]
        .as_str()
        .unwrap()
        .starts_with("no step has id `helthy`"));
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "formats.yaml");
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 7, "startColumn": 15, "endLine": 7, "endColumn": 21})
    );
}

#[test]
fn sarif_format_marks_warnings_as_warnings() {
    let output = Test::new()
        .file(
            "warn.yaml",
            "runbook: warn\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n",
        )
        .args(["validate", "--format", "sarif", "warn.yaml"])
        .status(0)
        .run();
    let result = &output.json()["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "no-summary");
    assert_eq!(result["level"], "warning");
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    Test::new()
        .file("formats.yaml", ONE_ERROR_ONE_WARNING)
        .args(["validate", "--format", "xml", "formats.yaml"])
        .status(2)
        .stderr_contains("invalid value 'xml'")
        .run();
}
