//! `runbook audit verify|list|show`: check a run's record, list runs
//! (across several directories, e.g. one per shard), and read a run as a
//! timeline.

use super::exit;
use crate::audit::read::{all_files, dirs, locate, timeline_line, RecordedRun};
use crate::audit::verify::Verdict;
use crate::cli::AuditCommand;
use crate::exec::display::sanitize;

pub(crate) fn run(cmd: &AuditCommand) -> u8 {
    match cmd {
        AuditCommand::Verify { run, dirs: d } => verify(run, &dirs(&d.dirs)),
        AuditCommand::List {
            host,
            runbook,
            since,
            dirs: d,
        } => list(&dirs(&d.dirs), host.as_deref(), runbook.as_deref(), *since),
        AuditCommand::Show { run, dirs: d } => show(run, &dirs(&d.dirs)),
    }
}

fn open(what: &str, dirs: &[std::path::PathBuf]) -> Result<RecordedRun, u8> {
    let path = locate(what, dirs).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    RecordedRun::read(&path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        exit::FAILED
    })
}

fn verify(what: &str, dirs: &[std::path::PathBuf]) -> u8 {
    let run = match open(what, dirs) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let file = run.path.display();
    match &run.verdict {
        Verdict::Intact { events } => {
            outln!(
                "{file}: OK — {events} events, hash chain intact, sealed ({})",
                run.status()
            );
            exit::OK
        }
        Verdict::Unsealed {
            events,
            partial_tail,
        } => {
            let tail = if *partial_tail {
                "; the last line was cut off mid-write and is ignored"
            } else {
                ""
            };
            outln!(
                "{file}: NOT SEALED — the {events} complete events chain correctly, but the run never sealed: it crashed or was killed, is still running, or lines after line {events} were removed{tail}"
            );
            exit::FAILED
        }
        Verdict::Broken { line, reason } => {
            outln!("{file}:{line}: TAMPERED — {reason}");
            exit::FAILED
        }
    }
}

fn list(
    dirs: &[std::path::PathBuf],
    host: Option<&str>,
    runbook: Option<&str>,
    since: Option<std::time::Duration>,
) -> u8 {
    let cutoff = since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| chrono::Utc::now() - d);
    let mut rows = Vec::new();
    for path in all_files(dirs).into_iter().rev() {
        let Ok(run) = RecordedRun::read(&path) else {
            continue;
        };
        if runbook.is_some_and(|r| r != run.runbook()) {
            continue;
        }
        if host.is_some_and(|h| !run.hosts().iter().any(|x| x == h)) {
            continue;
        }
        if let Some(cutoff) = cutoff {
            let started = chrono::DateTime::parse_from_rfc3339(run.started_at())
                .map(|t| t.with_timezone(&chrono::Utc));
            if started.map_or(true, |t| t < cutoff) {
                continue;
            }
        }
        let conclusions: usize = run.conclusions().values().map(Vec::len).sum();
        let integrity = match run.verdict {
            Verdict::Intact { .. } => "ok",
            Verdict::Unsealed { .. } => "unsealed",
            Verdict::Broken { .. } => "TAMPERED",
        };
        rows.push(format!(
            "{:<27} {:<26} {:<22} {:>5} {:>11}  {:<11} {:<8} {}",
            run.started_at().get(..23).unwrap_or(run.started_at()),
            run.run_id(),
            sanitize(run.runbook()),
            run.hosts().len(),
            conclusions,
            run.status(),
            integrity,
            sanitize(run.started()["operator"].as_str().unwrap_or("?")),
        ));
    }
    if rows.is_empty() {
        eprintln!(
            "no runs found in {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit::OK;
    }
    outln!(
        "{:<27} {:<26} {:<22} {:>5} {:>11}  {:<11} {:<8} {}",
        "started (UTC)",
        "run id",
        "runbook",
        "hosts",
        "conclusions",
        "status",
        "audit",
        "operator"
    );
    for r in rows {
        outln!("{r}");
    }
    exit::OK
}

fn show(what: &str, dirs: &[std::path::PathBuf]) -> u8 {
    let run = match open(what, dirs) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let started = run.started();
    outln!(
        "run {} · runbook {} · operator {}",
        run.run_id(),
        sanitize(run.runbook()),
        sanitize(started["operator"].as_str().unwrap_or("?"))
    );
    outln!("file {}", run.path.display());
    outln!(
        "status: {}{}\n",
        run.status(),
        match &run.verdict {
            Verdict::Intact { .. } => " (verified)".to_string(),
            Verdict::Unsealed { .. } =>
                " — INCOMPLETE: the run never sealed its record".to_string(),
            Verdict::Broken { line, reason } => format!(" — TAMPERED at line {line}: {reason}"),
        }
    );
    for e in &run.events {
        if let Some(line) = timeline_line(e) {
            let ts = e["ts"].as_str().and_then(|t| t.get(11..23)).unwrap_or("");
            outln!("{ts}  {}", sanitize(&line));
        }
    }
    if run.finished().is_none() {
        outln!("\n(incomplete: no run_finished event; the engine was killed or crashed, or the run is still going)");
    }
    exit::OK
}
