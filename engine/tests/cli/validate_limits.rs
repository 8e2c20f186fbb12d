//! Inputs no runbook needs are refused with a diagnostic, quickly, and
//! never crash the binary.

use std::time::{Duration, Instant};

use crate::support::Test;

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let mut text = String::from("runbook: huge\nsummary: too big\nsteps:\n");
    while text.len() <= runbook_engine::parse::MAX_FILE_BYTES {
        text.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    Test::new()
        .file("huge.yaml", text)
        .args(["validate", "huge.yaml"])
        .status(1)
        .stdout_contains("error[too-large]: runbook file is")
        .run();
}

#[test]
fn bytes_that_are_not_utf8_point_at_the_first_bad_byte() {
    Test::new()
        .file("latin1.yaml", b"runbook: caf\xe9\nsteps: []\n")
        .args(["validate", "latin1.yaml"])
        .status(1)
        .stdout_contains("error[not-utf8]: file is not UTF-8 text (bad byte at offset 12)")
        .stdout_contains("┌─ latin1.yaml:1:13")
        .run();
}

#[test]
fn ten_thousand_open_brackets_are_refused_not_overflowed() {
    let started = Instant::now();
    Test::new()
        .file("deep.yaml", format!("runbook: {}", "[".repeat(10_000)))
        .args(["validate", "deep.yaml"])
        .status(1)
        .stdout_contains("error[")
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text.push_str("runbook: bomb\nsummary: x\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n");
    let started = Instant::now();
    Test::new()
        .file("bomb.yaml", text)
        .args(["validate", "bomb.yaml"])
        .status(1)
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_hundred_thousand_nested_block_lists_on_one_line_do_not_overflow_the_stack() {
    // `- - - - … x`: the YAML parser's own loader recursed once per level.
    Test::new()
        .file("dashes.yaml", format!("{}x\n", "- ".repeat(100_000)))
        .args(["validate", "dashes.yaml"])
        .status(1)
        .stdout_contains("error[too-deep]: nesting deeper than 48 levels is not supported")
        .run();
}

#[test]
fn a_syntax_error_on_a_long_line_points_at_one_character() {
    let output = Test::new()
        .file("long.yaml", "{a: ".repeat(2_000))
        .args(["validate", "long.yaml"])
        .status(1)
        .run();
    let caret_line = output
        .stdout
        .lines()
        .find(|l| l.contains('^'))
        .expect("a caret line");
    assert_eq!(caret_line.matches('^').count(), 1, "{caret_line}");
}

#[test]
fn more_steps_than_the_limit_are_refused() {
    let limit = runbook_engine::validate::MAX_STEPS;
    let mut text = String::from("runbook: long\nsummary: too long\nsteps:\n");
    for i in 0..=limit {
        text.push_str(&format!(
            "  - id: s{i}\n    run: \"true\"\n    next: s{}\n",
            i + 1
        ));
    }
    text.push_str(&format!(
        "  - id: s{}\n    conclude: {{ severity: ok, finding: fine }}\n",
        limit + 1
    ));
    let started = Instant::now();
    Test::new()
        .file("long.yaml", text)
        .args(["validate", "long.yaml"])
        .status(1)
        .stdout(&format!(
            "\
error[too-many-steps]: runbook has {} steps; the limit is {limit}
  ┌─ long.yaml:3:1
  │
3 │ steps:
  │ ^^^^^ too many
  │
  = help: split it into runbooks joined by `call`

checked 1 runbook: 1 error, 0 warnings
",
            limit + 2
        ))
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
}
