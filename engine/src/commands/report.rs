//! `runbook report` and `runbook replay`: the incident report for a
//! recorded run, and today's runbook re-deciding a recorded run from its
//! recorded outputs (no host contact).

use std::path::Path;
use std::sync::Arc;

use super::exit;
use crate::audit::read::{dirs, locate, RecordedRun};
use crate::audit::report::{html, markdown};
use crate::cli::{ReplayArgs, ReportArgs, ReportFormat};
use crate::library::Library;
use crate::scenario::record::scenario_from_audit;
use crate::scenario::run_scenarios;

pub(crate) fn report(args: &ReportArgs) -> u8 {
    let run = match locate(&args.run, &dirs(&args.dirs.dirs))
        .and_then(|p| RecordedRun::read(&p).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let library = Library::new(&args.library.runbooks);
    let runbook = library.load(run.runbook()).ok().map(|l| l.runbook);
    let text = match args.format {
        ReportFormat::Md => markdown(&run, runbook.as_deref()),
        ReportFormat::Html => html(&run, runbook.as_deref()),
    };
    super::write_output(args.output.as_deref(), &text)
}

pub(crate) fn replay(args: &ReplayArgs) -> u8 {
    let path = match locate(&args.run, &dirs(&args.dirs.dirs)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let file = match scenario_from_audit(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let library = Library::new(&args.library.runbooks);
    let name = args.runbook.clone().unwrap_or_else(|| file.runbook.clone());
    let runbook = match library.load(&name) {
        Ok(l) => l.runbook,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let recorded_sha = RecordedRun::read(&path)
        .ok()
        .and_then(|r| r.started()["runbook_sha256"].as_str().map(str::to_string));
    let changed = recorded_sha.as_deref() != Some(runbook.source_sha256.as_str());
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let (reports, _) =
        runtime.block_on(run_scenarios(&Arc::clone(&runbook), &file, Path::new(".")));
    outln!(
        "replaying run {} with {} runbook `{}`",
        path.display(),
        if changed {
            "today's (changed)"
        } else {
            "the same"
        },
        runbook.name
    );
    let mut differ = 0;
    for r in &reports {
        let host = r
            .name
            .trim_start_matches("recorded on ")
            .split(" (")
            .next()
            .unwrap_or(&r.name);
        if r.passed {
            outln!("  same       {host}: [{}]", r.conclusions.join(", "));
        } else {
            differ += 1;
            outln!("  DIFFERENT  {host}:");
            for f in &r.failures {
                outln!("             {f}");
            }
        }
    }
    outln!(
        "\n{} host(s) reach the recorded conclusions, {differ} differ",
        reports.len() - differ
    );
    if differ > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}
