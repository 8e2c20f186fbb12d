//! The end of a run: the diagnosis for people (one host in detail, or a
//! host × conclusion table for many) and the `--output json` document.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::exec::display::{sanitize, sanitize_line};
use crate::exec::{HostOutcome, HostStatus};
use crate::model::{FindingSeverity, Runbook};
use crate::redact::Redactor;

/// Version of the `--output json` document.
pub const RUN_SCHEMA_VERSION: u32 = 1;

fn paint(text: &str, severity: FindingSeverity, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match severity {
        FindingSeverity::Ok => "32",
        FindingSeverity::Info => "34",
        FindingSeverity::Warning => "33",
        FindingSeverity::Critical => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Text for people.
pub(crate) fn human(
    runbook: &Runbook,
    outcomes: &[HostOutcome],
    run_id: &str,
    audit: &Path,
    color: bool,
) -> String {
    let mut out = String::new();
    if outcomes.len() == 1 {
        detail(&mut out, &outcomes[0], color);
    } else {
        table(&mut out, outcomes, color);
    }
    let _ = writeln!(
        out,
        "\nrunbook {} · run {run_id}\naudit trail: {}",
        runbook.name,
        audit.display()
    );
    out
}

fn detail(out: &mut String, o: &HostOutcome, color: bool) {
    let _ = writeln!(out, "\n== {} ==", sanitize_line(&o.host));
    for c in &o.conclusions {
        let sev = paint(&c.severity.name().to_uppercase(), c.severity, color);
        let _ = writeln!(out, "{sev}  {}", sanitize(&c.finding));
        if let Some(r) = &c.remedy {
            let _ = writeln!(out, "  remedy: {}", sanitize(r.trim()));
        }
        for e in &c.evidence {
            let cmd = e
                .command
                .as_deref()
                .map(|c| format!("  $ {}", sanitize(c)))
                .unwrap_or_default();
            let _ = writeln!(out, "  evidence from `{}`{cmd}", e.step);
            for line in &e.lines {
                let _ = writeln!(out, "    | {}", sanitize(line));
            }
        }
    }
    if o.status != HostStatus::Concluded {
        let _ = writeln!(
            out,
            "NO CONCLUSION ({}): {}",
            o.status.name().replace('_', " "),
            sanitize(o.error.as_deref().unwrap_or("unknown"))
        );
    }
    for n in &o.not_run {
        let why = if n.reason == "dry_run" {
            "dry run: would run"
        } else {
            "refused: did not run"
        };
        let _ = writeln!(out, "  {why} `{}`: {}", n.step, sanitize(&n.command));
    }
    if !o.path.is_empty() {
        let _ = writeln!(out, "  path: {}", o.path.join(" → "));
    }
    let _ = writeln!(out, "  took {:.1} s", o.duration_ms as f64 / 1000.0);
}

fn table(out: &mut String, outcomes: &[HostOutcome], color: bool) {
    let width = outcomes
        .iter()
        .map(|o| sanitize_line(&o.host).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    let _ = writeln!(out, "\n{:width$}  {:9}  finding", "host", "severity");
    let mut by_conclusion: BTreeMap<(FindingSeverity, String), usize> = BTreeMap::new();
    let mut unconcluded = 0;
    for o in outcomes {
        if o.conclusions.is_empty() || o.status != HostStatus::Concluded {
            unconcluded += 1;
            // One row per host: a cell never breaks the line (a newline in
            // a host name or a finding could otherwise forge a row).
            let _ = writeln!(
                out,
                "{:width$}  {:9}  {}",
                sanitize_line(&o.host),
                "-",
                sanitize_line(&format!(
                    "no conclusion ({}): {}",
                    o.status.name().replace('_', " "),
                    o.error.as_deref().unwrap_or("")
                )),
            );
        }
        for c in &o.conclusions {
            *by_conclusion
                .entry((c.severity, c.step.clone()))
                .or_default() += 1;
            let sev = format!("{:9}", c.severity.name());
            let _ = writeln!(
                out,
                "{:width$}  {}  {}",
                sanitize_line(&o.host),
                paint(&sev, c.severity, color),
                sanitize_line(&c.finding)
            );
        }
    }
    let _ = writeln!(out, "\nby conclusion:");
    for ((sev, step), n) in by_conclusion.iter().rev() {
        let _ = writeln!(
            out,
            "  {n:>5}  {}  {step}",
            paint(&format!("{:9}", sev.name()), *sev, color)
        );
    }
    if unconcluded > 0 {
        let _ = writeln!(out, "  {unconcluded:>5}  {:9}  (no conclusion)", "-");
    }
}

/// The `--output json` document (`type: runbook.run`), every string in
/// it masked by `redactor`.
pub(crate) fn json(
    runbook: &Runbook,
    outcomes: &[HostOutcome],
    run_id: &str,
    audit: &Path,
    exit_code: u8,
    redactor: &Redactor,
) -> String {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_conclusion: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        *by_status.entry(o.status.name()).or_default() += 1;
        for c in &o.conclusions {
            *by_conclusion.entry(c.step.clone()).or_default() += 1;
        }
    }
    let mut doc = json!({
        "type": "runbook.run",
        "schema_version": RUN_SCHEMA_VERSION,
        "run_id": run_id,
        "runbook": runbook.name,
        "runbook_sha256": runbook.source_sha256,
        "audit_file": audit.display().to_string(),
        "exit_code": exit_code,
        "summary": { "hosts": outcomes.len(), "by_status": by_status, "by_conclusion": by_conclusion },
        "hosts": outcomes,
    });
    redactor.redact_json(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
