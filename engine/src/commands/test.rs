//! `runbook test`: run scenario files like a test runner (`N passed, N
//! failed`), print branch coverage, or record a scenario from an audit file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::exit;
use crate::cli::{TestArgs, TestFormat};
use crate::library::Library;
use crate::model::Runbook;
use crate::scenario::coverage::{coverage, Coverage};
use crate::scenario::record::scenario_from_audit;
use crate::scenario::{run_file, FileReport};

pub(crate) fn run(args: &TestArgs) -> u8 {
    if let Some(what) = &args.record {
        return record(what, args.audit_dir.as_deref());
    }
    let library = Library::new(&args.library.runbooks);
    let files = match super::collect_files(&args.paths, &library, test_files) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if files.is_empty() {
        eprintln!("error: no scenario files (*.test.yaml) found");
        return exit::USAGE;
    }
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let reports: Vec<FileReport> = runtime.block_on(async {
        let mut out = Vec::new();
        for f in &files {
            out.push(run_file(f, &library).await);
        }
        out
    });

    // Coverage per runbook, over every file that tests it.
    let mut by_runbook: BTreeMap<String, (Arc<Runbook>, Vec<Arc<serde_json::Value>>)> =
        BTreeMap::new();
    for r in &reports {
        if let Some(rb) = &r.runbook {
            let entry = by_runbook
                .entry(rb.name.clone())
                .or_insert_with(|| (rb.clone(), Vec::new()));
            entry.1.extend(r.events.iter().cloned());
        }
    }
    let mut covs: Vec<Coverage> = Vec::new();
    for (rb, events) in by_runbook.values() {
        for c in coverage(rb, events) {
            if !covs.iter().any(|x| x.runbook == c.runbook) {
                covs.push(c);
            }
        }
    }

    let passed = reports
        .iter()
        .flat_map(|r| &r.scenarios)
        .filter(|s| s.passed)
        .count();
    let failed = reports
        .iter()
        .flat_map(|r| &r.scenarios)
        .filter(|s| !s.passed)
        .count()
        + reports.iter().filter(|r| r.error.is_some()).count();
    let unreached: usize = covs
        .iter()
        .map(|c| c.conclusions - c.conclusions_reached)
        .sum();
    match args.format {
        TestFormat::Json => print_json(&reports, &covs, passed, failed),
        TestFormat::Human => print_human(&reports, &covs, passed, failed),
        TestFormat::Github => {
            print_github(&reports, &covs, args.require_conclusions);
            print_human(&reports, &covs, passed, failed);
        }
    }
    if failed > 0 || (args.require_conclusions && unreached > 0) {
        if args.require_conclusions && unreached > 0 && args.format != TestFormat::Json {
            eprintln!("error: {unreached} conclusion(s) are reached by no scenario (--require-conclusions)");
        }
        exit::FAILED
    } else {
        exit::OK
    }
}

/// `*.test.yaml` files under `dir`.
fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 8 {
                stack.push((p, depth + 1));
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn print_human(reports: &[FileReport], covs: &[Coverage], passed: usize, failed: usize) {
    for r in reports {
        let name = r
            .runbook
            .as_ref()
            .map(|rb| format!(" ({})", rb.name))
            .unwrap_or_default();
        outln!("{}{name}", r.file.display());
        if let Some(e) = &r.error {
            outln!("  ERROR {e}");
        }
        for s in &r.scenarios {
            let mark = if s.passed { "ok   " } else { "FAIL " };
            outln!("  {mark} {}  ({} ms)", s.name, s.duration_ms);
            for f in &s.failures {
                outln!("        {f}");
            }
        }
    }
    if !covs.is_empty() {
        outln!("\ncoverage:");
        for c in covs {
            outln!(
                "  {}: branches {}/{}, conclusions {}/{}",
                c.runbook,
                c.branches_taken,
                c.branches,
                c.conclusions_reached,
                c.conclusions
            );
            for m in &c.missed {
                outln!("    not reached: {m}");
            }
        }
    }
    outln!("\n{passed} passed, {failed} failed");
}

fn print_github(reports: &[FileReport], covs: &[Coverage], conclusions_required: bool) {
    let esc = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| esc(s).replace(':', "%3A").replace(',', "%2C");
    for r in reports {
        let file = prop(&r.file.display().to_string());
        if let Some(e) = &r.error {
            outln!("::error file={file},title=runbook test::{}", esc(e));
        }
        for s in r.scenarios.iter().filter(|s| !s.passed) {
            outln!(
                "::error file={file},title={}::{}",
                prop(&format!("scenario {}", s.name)),
                esc(&s.failures.join("\n"))
            );
        }
    }
    let level = if conclusions_required {
        "error"
    } else {
        "warning"
    };
    for c in covs {
        for m in c.missed.iter().filter(|m| m.starts_with("conclusion")) {
            outln!(
                "::{level} title={}::{}",
                prop(&format!("coverage {}", c.runbook)),
                esc(&format!("{m} is reached by no scenario"))
            );
        }
    }
}

fn print_json(reports: &[FileReport], covs: &[Coverage], passed: usize, failed: usize) {
    let doc = json!({
        "type": "runbook.test",
        "schema_version": 1,
        "passed": passed,
        "failed": failed,
        "files": reports.iter().map(|r| json!({
            "file": r.file.display().to_string(),
            "runbook": r.runbook.as_ref().map(|rb| rb.name.clone()),
            "error": r.error,
            "scenarios": r.scenarios,
        })).collect::<Vec<_>>(),
        "coverage": covs,
    });
    outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn record(what: &str, audit_dir: Option<&Path>) -> u8 {
    let path = match crate::audit::find(what, audit_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    match scenario_from_audit(&path) {
        Ok(file) => match serde_yaml::to_string(&file) {
            Ok(text) => {
                out!("# recorded from {}\n{text}", path.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("internal error: {e}");
                exit::INTERNAL
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
