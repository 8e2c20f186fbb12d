//! Whatever text it is given, parsing and validating return — a runbook
//! or diagnostics — without panicking and in bounded time, and every
//! diagnostic renders in every format. Properties over random text, random
//! runbook-shaped YAML and mutated valid runbooks, plus the classic hostile
//! inputs: deep nesting, an alias bomb, a file of several megabytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use runbook_engine::diagnostic::{render, DiagnosticFormat, FileDiagnostics};
use runbook_engine::parse;
use runbook_engine::source::SourceFile;
use runbook_engine::validate::{self, NoCalls};

/// How long one document may take, debug build included.
const BOUND: Duration = Duration::from_secs(10);

/// Parses, validates and renders `text`; returns whether a runbook came
/// out. Panics (failing the test) if anything panics or takes too long.
fn check(text: &str) -> bool {
    let started = Instant::now();
    let source = Arc::new(SourceFile::new("prop.yaml", text));
    let parsed = parse::parse(source.clone());
    let validated = validate::validate(parsed, &NoCalls);
    let ok = validated.runbook.is_some();
    assert!(
        ok || validated.diagnostics.iter().any(|d| d.is_error()),
        "no runbook, but no error says why"
    );
    let files = [FileDiagnostics {
        source,
        diagnostics: validated.diagnostics,
    }
    .sorted()];
    for format in [
        DiagnosticFormat::Human,
        DiagnosticFormat::Json,
        DiagnosticFormat::Github,
        DiagnosticFormat::Sarif,
    ] {
        let _ = render(&files, format, false);
    }
    let elapsed = started.elapsed();
    assert!(elapsed < BOUND, "took {elapsed:?} on {} bytes", text.len());
    ok
}

/// 256 cases per property; `PROPTEST_CASES=N` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The valid runbooks in `tests/valid/`, to mutate.
fn valid_texts() -> Vec<String> {
    let dir = crate::support::fixtures().join("valid");
    let mut texts: Vec<String> = runbook_engine::library::runbook_files(&dir)
        .into_iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    texts.sort();
    texts
}

/// A scalar a runbook might hold, good or bad.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("done".to_string()),
        Just("host".to_string()),
        Just("local".to_string()),
        Just("ok".to_string()),
        Just("critical".to_string()),
        Just("memory".to_string()),
        Just("json".to_string()),
        Just("30s".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("~".to_string()),
        Just("\"\"".to_string()),
        Just("true".to_string()),
        Just("'{{ params.x }}'".to_string()),
        Just("\"{{ result.json.a }}\"".to_string()),
        Just("\"{{ vars.v | int }}\"".to_string()),
        Just("\"{{ steps.a.stdout }}\"".to_string()),
        Just("\"{% for x in y %}\"".to_string()),
        Just("result.ok and vars.v > 1".to_string()),
        Just("\"é→𝄞\"".to_string()),
        "[a-z]{1,6}",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// A key a runbook might use (mostly real ones).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(vec![
            "runbook", "summary", "params", "targets", "defaults", "redact", "steps", "id",
            "run", "probe", "args", "call", "with", "conclude", "severity", "finding",
            "remedy", "evidence", "next", "when", "goto", "capture", "on", "on_failure",
            "timeout", "retries", "retry_delay", "parse", "mutates", "default", "required",
            "secret", "pattern", "host", "user", "port", "description",
        ])
        .prop_map(str::to_string),
        1 => "[a-z_]{1,8}",
    ]
}

/// YAML-ish documents shaped like runbooks: nested mappings and lists of
/// likely keys and scalars, written as block YAML.
fn yamlish() -> impl Strategy<Value = String> {
    #[derive(Debug, Clone)]
    enum Tree {
        Scalar(String),
        Map(Vec<(String, Tree)>),
        Seq(Vec<Tree>),
    }
    fn write(tree: &Tree, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match tree {
            Tree::Scalar(s) => {
                out.push(' ');
                out.push_str(s);
                out.push('\n');
            }
            Tree::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
            Tree::Seq(items) if items.is_empty() => out.push_str(" []\n"),
            Tree::Map(entries) => {
                out.push('\n');
                for (k, v) in entries {
                    out.push_str(&format!("{pad}{k}:"));
                    write(v, indent + 2, out);
                }
            }
            Tree::Seq(items) => {
                out.push('\n');
                for item in items {
                    out.push_str(&format!("{pad}-"));
                    write(item, indent + 2, out);
                }
            }
        }
    }
    let leaf = scalar().prop_map(Tree::Scalar);
    let tree = leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec((key(), inner.clone()), 0..6).prop_map(Tree::Map),
            proptest::collection::vec(inner, 0..5).prop_map(Tree::Seq),
        ]
    });
    proptest::collection::vec((key(), tree), 1..8).prop_map(|top| {
        let mut out = String::new();
        for (k, v) in &top {
            out.push_str(&format!("{k}:"));
            write(v, 2, &mut out);
        }
        out
    })
}

/// One edit to a text: delete, insert or replace a few bytes somewhere.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Swap(usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just("\n".to_string()),
                Just(":".to_string()),
                Just("- ".to_string()),
                Just("  ".to_string()),
                Just("[".to_string()),
                Just("{{".to_string()),
                Just("&a ".to_string()),
                Just("*a".to_string()),
                Just("\"".to_string()),
                Just("é".to_string()),
                "[ -~]{1,8}",
            ]
        )
            .prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ];
    proptest::collection::vec(edit, 1..6)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Swap(a, b) => {
                if !chars.is_empty() {
                    let (a, b) = (a % chars.len(), b % chars.len());
                    chars.swap(a, b);
                }
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_diagnosed_without_panicking(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn any_bytes_read_lossily_are_diagnosed_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_punctuation_soup_is_diagnosed_without_panicking(
        text in "[-a-z:\\[\\]{}#&*!|>'\"%@`, ?\n\t0-9é]{0,300}"
    ) {
        check(&text);
    }

    #[test]
    fn runbook_shaped_yaml_is_diagnosed_without_panicking(text in yamlish()) {
        check(&text);
    }

    #[test]
    fn mutated_valid_runbooks_are_diagnosed_without_panicking(
        which in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        let texts = valid_texts();
        let text = which.get(&texts);
        check(&apply(text, &edits));
    }
}

#[test]
fn valid_runbooks_pass_the_same_check() {
    for text in valid_texts() {
        if !text.contains("call:") {
            assert!(check(&text), "{text}");
        }
    }
}

#[test]
fn ten_thousand_nested_flow_collections_are_refused() {
    assert!(!check(&"[".repeat(10_000)));
    assert!(!check(&format!(
        "{}{}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    )));
    assert!(!check(&"{a: ".repeat(10_000)));
    assert!(!check(&format!("steps: {}", "[".repeat(10_000))));
}

#[test]
fn ten_thousand_nested_block_collections_are_refused() {
    let mut text = String::new();
    for depth in 0..10_000 {
        text.push_str(&" ".repeat(depth));
        text.push_str("k:\n");
    }
    assert!(!check(&text));
    let dashes: String = (0..2_000)
        .map(|d| format!("{}-\n", " ".repeat(d * 2)))
        .collect();
    assert!(!check(&dashes));
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("runbook: laughs\nsummary: x\nsteps:\n  - id: done\n    conclude: { severity: ok, finding: fine }\n");
    assert!(!check(&text));
    // The same bomb where a runbook expects a value.
    let in_place = text.replace("finding: fine", "finding: *a9");
    assert!(!check(&in_place));
}

#[test]
fn a_three_megabyte_runbook_is_checked_in_bounded_time() {
    // Few steps with long commands: within every limit.
    let mut text = String::from("runbook: big\nsummary: big\nsteps:\n");
    let command = format!("echo {}", "x".repeat(3_000));
    for i in 0..1_000 {
        text.push_str(&format!(
            "  - id: s{i}\n    run: \"{command} {{{{ steps.s0.stdout if {i} > 0 else '' }}}}\"\n    next: s{}\n",
            i + 1
        ));
    }
    text.push_str("  - id: s1000\n    conclude: { severity: ok, finding: fine }\n");
    assert!(text.len() > 3_000_000, "{}", text.len());
    check(&text);
    // Many tiny steps: refused by the step limit, still quickly.
    let mut text = String::from("runbook: many\nsummary: many\nsteps:\n");
    let mut i = 0;
    while text.len() < 3_000_000 {
        text.push_str(&format!(
            "  - id: s{i}\n    run: \"{{{{ vars.v{i} }}}}\"\n    capture: {{ v{}: x }}\n    next: s{}\n",
            i + 1,
            i + 1
        ));
        i += 1;
    }
    assert!(!check(&text));
}

#[test]
fn multibyte_text_everywhere_keeps_spans_on_char_boundaries() {
    let text = "runbook: é\nsummary: 𝄞\nsteps:\n  - id: é→\n    run: \"{{ params.ü }}\"\n    next: 𝄞𝄞\n    é: 1\n";
    assert!(!check(text));
    let text = "runbook: [é, 𝄞\nsteps: x\n";
    assert!(!check(text));
}
