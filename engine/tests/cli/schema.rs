//! The committed JSON Schema (`runbooks/runbook.schema.json`) is what
//! `runbook schema` prints, and every shipped runbook and example passes it.

use std::path::Path;

use super::support::{fixtures, RUNBOOK};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

#[test]
fn the_committed_schema_is_current() {
    let out = std::process::Command::new(RUNBOOK)
        .arg("schema")
        .output()
        .expect("runs");
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let committed = std::fs::read_to_string(workspace().join("runbooks/runbook.schema.json"))
        .expect("committed schema");
    assert_eq!(
        printed, committed,
        "run `runbook schema -o runbooks/runbook.schema.json`"
    );
}

#[test]
fn shipped_runbooks_and_valid_examples_pass_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("runbooks/runbook.schema.json")).expect("schema"),
    )
    .expect("json");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut checked = 0;
    for dir in [workspace().join("runbooks"), fixtures().join("valid")] {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
                continue;
            }
            let doc: serde_json::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&path).expect("read")).expect("yaml");
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 2, "no runbooks checked");
}
