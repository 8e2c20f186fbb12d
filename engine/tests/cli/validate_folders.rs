//! `runbook validate FOLDER` checks every runbook below it: recursing into
//! subfolders, in a stable order, skipping scenario tests (`*.test.yaml`),
//! hidden files and files that are not YAML.

use crate::support::Test;

fn runbook(name: &str) -> String {
    format!(
        "runbook: {name}\nsummary: fine\nsteps:\n  - id: done\n    conclude: {{ severity: ok, finding: fine }}\n"
    )
}

/// A runbook whose only problem is an unknown key on line 3.
fn broken(name: &str) -> String {
    format!("runbook: {name}\nsummary: broken\nbogus: 1\nsteps:\n  - id: done\n    conclude: {{ severity: ok, finding: fine }}\n")
}

#[test]
fn folders_are_searched_recursively() {
    Test::new()
        .file("lib/top.yaml", runbook("top"))
        .file("lib/node/memory.yaml", runbook("memory"))
        .file("lib/node/deep/er/disk.yml", runbook("disk"))
        .args(["validate", "lib"])
        .status(0)
        .stdout("checked 3 runbooks: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn problems_in_nested_files_name_the_nested_path() {
    Test::new()
        .file("lib/top.yaml", runbook("top"))
        .file("lib/node/memory.yaml", broken("memory"))
        .args(["validate", "lib"])
        .status(1)
        .stdout_contains("┌─ lib/node/memory.yaml:3:1")
        .run();
}

#[test]
fn scenario_tests_are_not_validated_as_runbooks() {
    Test::new()
        .file("lib/memory.yaml", runbook("memory"))
        .file("lib/memory.test.yaml", "this is: [not, a runbook\n")
        .file("lib/memory.test.yml", "neither: is this\n")
        .args(["validate", "lib"])
        .status(0)
        .stdout("checked 1 runbook: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn hidden_and_non_yaml_files_are_skipped() {
    Test::new()
        .file("lib/memory.yaml", runbook("memory"))
        .file("lib/.draft.yaml", "runbook: [\n")
        .file("lib/README.md", "# notes\n")
        .file("lib/memory.yaml.orig", "runbook: [\n")
        .args(["validate", "lib"])
        .status(0)
        .stdout("checked 1 runbook: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn files_are_reported_in_a_stable_path_order() {
    let output = Test::new()
        .file("lib/b.yaml", broken("b"))
        .file("lib/a/z.yaml", broken("z"))
        .file("lib/c.yaml", broken("c"))
        .file("lib/a.yaml", broken("a"))
        .args(["validate", "--format", "json", "lib"])
        .status(1)
        .run();
    let files: Vec<String> = output.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap().to_string())
        .collect();
    // Sorted by path component: folder `a` before file `a.yaml`.
    assert_eq!(
        files,
        ["lib/a/z.yaml", "lib/a.yaml", "lib/b.yaml", "lib/c.yaml"]
    );
}

#[test]
fn a_file_given_by_name_is_validated_even_when_named_like_a_test() {
    Test::new()
        .file("odd.test.yaml", broken("odd"))
        .args(["validate", "odd.test.yaml"])
        .status(1)
        .stdout_contains("unknown key `bogus`")
        .run();
}

#[test]
fn folders_and_files_can_be_mixed() {
    Test::new()
        .file("lib/a.yaml", runbook("a"))
        .file("one.yaml", runbook("one"))
        .args(["validate", "lib", "one.yaml"])
        .status(0)
        .stdout("checked 2 runbooks: 0 errors, 0 warnings\n")
        .run();
}
