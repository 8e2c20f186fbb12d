//! The one place diagnostics become text: human (compiler-style, colour on a
//! TTY), JSON, GitHub Actions annotations and SARIF for code scanning.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use serde_json::{json, Value};

use super::{Diagnostic, FileDiagnostics, Severity};
use crate::source::SourceFile;

/// Output formats of `runbook validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    /// Compiler-style text with source snippets.
    Human,
    /// One JSON document (`type: runbook.diagnostics`).
    Json,
    /// GitHub Actions workflow commands (`::error file=…`).
    Github,
    /// SARIF 2.1.0 for code-scanning upload.
    Sarif,
}

/// Renders all diagnostics of all files in `format`. `color` applies to
/// the human format only.
pub fn render(files: &[FileDiagnostics], format: DiagnosticFormat, color: bool) -> String {
    match format {
        DiagnosticFormat::Human => human(files, color),
        DiagnosticFormat::Json => {
            let mut out = serde_json::to_string_pretty(&json_document(files))
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            out.push('\n');
            out
        }
        DiagnosticFormat::Github => github(files),
        DiagnosticFormat::Sarif => {
            let mut out = serde_json::to_string_pretty(&sarif(files))
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            out.push('\n');
            out
        }
    }
}

fn human(files: &[FileDiagnostics], color: bool) -> String {
    let mut buffer = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    let config = term::Config::default();
    for file in files {
        let simple = SimpleFile::new(file.source.name(), file.source.text.as_str());
        for d in &file.diagnostics {
            let rendered = to_codespan(d, &file.source);
            if term::emit(&mut buffer, &config, &simple, &rendered).is_err() {
                // A span outside the file would be a bug; still say something useful.
                let (line, col) = position(d, &file.source);
                let text = format!("{}:{line}:{col}: {}\n", file.source.name(), d.message);
                let _ = std::io::Write::write_all(&mut buffer, text.as_bytes());
            }
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn to_codespan(d: &Diagnostic, source: &SourceFile) -> cs::Diagnostic<()> {
    let base = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut labels = Vec::new();
    if let Some(primary) = &d.primary {
        labels.push(
            cs::Label::primary((), source.clamp(primary.span.clone()))
                .with_message(primary.message.clone()),
        );
    }
    for l in &d.secondary {
        labels.push(
            cs::Label::secondary((), source.clamp(l.span.clone())).with_message(l.message.clone()),
        );
    }
    let mut notes = Vec::new();
    if d.primary.is_none() {
        notes.push(format!("in {} at `{}`", source.name(), d.path));
    }
    if let Some(help) = &d.help {
        notes.push(format!("help: {help}"));
    }
    base.with_code(d.code)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// 1-based line and column of the primary label, or 1:1.
fn position(d: &Diagnostic, source: &SourceFile) -> (usize, usize) {
    d.primary
        .as_ref()
        .map_or((1, 1), |l| source.line_col(l.span.start))
}

fn end_position(d: &Diagnostic, source: &SourceFile) -> (usize, usize) {
    d.primary
        .as_ref()
        .map_or((1, 1), |l| source.line_col(l.span.end.max(l.span.start)))
}

fn json_document(files: &[FileDiagnostics]) -> Value {
    let mut list = Vec::new();
    let (mut errors, mut warnings) = (0, 0);
    for file in files {
        for d in &file.diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            let (line, column) = position(d, &file.source);
            let (end_line, end_column) = end_position(d, &file.source);
            list.push(json!({
                "file": file.source.name(),
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "severity": d.severity,
                "code": d.code,
                "message": d.message,
                "path": d.path,
                "help": d.help,
                "related": d.secondary.iter().map(|l| {
                    let (line, column) = file.source.line_col(l.span.start);
                    json!({"line": line, "column": column, "message": l.message})
                }).collect::<Vec<_>>(),
            }));
        }
    }
    json!({
        "type": "runbook.diagnostics",
        "schema_version": 1,
        "files_checked": files.len(),
        "errors": errors,
        "warnings": warnings,
        "diagnostics": list,
    })
}

fn github(files: &[FileDiagnostics]) -> String {
    let mut out = String::new();
    for file in files {
        for d in &file.diagnostics {
            let (line, col) = position(d, &file.source);
            let (end_line, end_col) = end_position(d, &file.source);
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            out.push_str(&format!(
                "::{level} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}\n",
                gh_property(&file.source.name()),
                gh_property(&format!("runbook {}", d.code)),
                gh_data(&message),
            ));
        }
    }
    out
}

/// Escapes a workflow-command message.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn sarif(files: &[FileDiagnostics]) -> Value {
    let mut rules: Vec<&'static str> = files
        .iter()
        .flat_map(|f| f.diagnostics.iter().map(|d| d.code))
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<Value> = files
        .iter()
        .flat_map(|file| {
            file.diagnostics.iter().map(move |d| {
                let (line, col) = position(d, &file.source);
                let (end_line, end_col) = end_position(d, &file.source);
                let mut text = d.message.clone();
                if let Some(help) = &d.help {
                    text.push_str(&format!(" (help: {help})"));
                }
                json!({
                    "ruleId": d.code,
                    "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                    "message": { "text": text },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": file.source.name() },
                            "region": {
                                "startLine": line, "startColumn": col,
                                "endLine": end_line, "endColumn": end_col.max(col),
                            }
                        },
                        "logicalLocations": [{ "fullyQualifiedName": d.path }]
                    }]
                })
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "runbook",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|r| json!({"id": r, "shortDescription": {"text": r.replace('-', " ")}})).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}
