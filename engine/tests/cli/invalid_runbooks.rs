//! Every deliberately broken runbook in `tests/invalid/` (one per check,
//! named after it) is reported with the exact message, line, column and
//! hint pinned in a snapshot; and every check the engine has is covered
//! by one of them.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{fixtures, Test};

/// `runbook validate ENTRY` from inside `tests/invalid/`, so paths in the
/// output are short and stable.
fn validate(entry: &Path) -> crate::support::Output {
    let name = entry.file_name().expect("a fixture name");
    Test::new()
        .current_dir(fixtures().join("invalid"))
        .arg("validate")
        .arg(name)
        .run()
}

#[test]
fn invalid_runbooks_report_their_problem_with_position_and_hint() {
    insta::glob!("../../../tests/invalid", "?*", |entry| {
        let output = validate(entry);
        insta::with_settings!({
            prepend_module_to_snapshot => false,
            description => leading_comment(entry),
            omit_expression => true,
        }, {
            insta::assert_snapshot!("invalid", output.transcript());
        });
    });
}

/// The `# …` lines a fixture opens with (for a folder: each file's, in
/// order).
fn leading_comment(entry: &Path) -> String {
    let files = if entry.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(entry)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    } else {
        vec![entry.to_path_buf()]
    };
    let mut comments = Vec::new();
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        comments.extend(
            text.lines()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim().to_string()),
        );
    }
    comments.join(" ")
}

#[test]
fn invalid_runbooks_each_find_at_least_one_problem() {
    for entry in entries() {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        Test::new()
            .current_dir(fixtures().join("invalid"))
            .args(["validate", "--deny-warnings", &name])
            .status(1)
            .run();
    }
}

#[test]
fn invalid_runbooks_each_open_with_a_comment_saying_what_is_wrong() {
    for entry in entries() {
        let files = if entry.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&entry)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files
        } else {
            vec![entry.clone()]
        };
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                bytes.starts_with(b"# ") && bytes.len() > 10,
                "{} must start with a `# ` comment saying what is wrong",
                file.display()
            );
            // `empty.yaml` is nothing but that comment.
        }
    }
}

#[test]
fn every_check_in_the_engine_has_a_broken_runbook() {
    let output = Test::new()
        .current_dir(fixtures())
        .args(["validate", "--format", "json", "invalid"])
        .status(1)
        .run();
    let reported: BTreeSet<String> = output.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    // Checks no small fixture can trigger, and the test that covers each.
    let elsewhere = [
        (
            "too-large",
            "validate_limits::a_file_over_the_size_limit_is_refused",
        ),
        (
            "too-many-steps",
            "validate_limits::more_steps_than_the_limit_are_refused",
        ),
        (
            "unreadable",
            "a file the user cannot read; not portable to root",
        ),
    ];
    let missing: Vec<String> = codes_in_engine_source()
        .into_iter()
        .filter(|code| !reported.contains(code))
        .filter(|code| !elsewhere.iter().any(|(c, _)| c == code))
        .collect();
    assert!(
        missing.is_empty(),
        "no runbook in tests/invalid/ triggers {missing:?}; add one named after the check"
    );
}

/// Diagnostic codes written in the source of what `validate` runs:
/// `parse/`, `validate/` and `library.rs` (`Diagnostic::error("code", …)`,
/// `Diagnostic::warning(…)`, and the template checker's `err("code", …)`).
fn codes_in_engine_source() -> BTreeSet<String> {
    let pattern = r#"(?:Diagnostic::(?:error|warning)|\berr)\(\s*"([a-z0-9-]+)""#;
    let pattern = regex::Regex::new(pattern).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut codes = BTreeSet::new();
    let mut stack = vec![
        src.join("parse"),
        src.join("validate"),
        src.join("library.rs"),
    ];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            codes.extend(pattern.captures_iter(&text).map(|c| c[1].to_string()));
        }
    }
    assert!(
        codes.len() > 30,
        "found only {codes:?}: has the code style changed?"
    );
    codes
}

fn entries() -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(fixtures().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(!entries.is_empty());
    entries
}
