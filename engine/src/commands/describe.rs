//! `runbook list`, `runbook show` and `runbook schema`: what runbooks exist
//! and what one does, in plain words.

use std::fmt::Write as _;

use super::{exit, load_runbook};
use crate::cli::{LibraryArgs, NamedArgs, SchemaArgs};
use crate::library::Library;
use crate::model::{Action, Next, Runbook, Step, TargetRef};
use crate::parse;

pub(crate) fn list(args: &LibraryArgs) -> u8 {
    let library = Library::new(&args.runbooks);
    let entries = library.list();
    if entries.is_empty() {
        eprintln!(
            "no runbooks found in {}",
            library
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit::FAILED;
    }
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for entry in entries {
        let summary = match library.load_path(&entry.path) {
            Ok(loaded) => loaded.runbook.summary.clone(),
            Err(_) => "(invalid: run `runbook validate` on it)".to_string(),
        };
        outln!("{:width$}  {summary}", entry.name);
    }
    exit::OK
}

pub(crate) fn show(args: &NamedArgs, color: bool) -> u8 {
    let library = Library::new(&args.library.runbooks);
    match load_runbook(&library, &args.name, color) {
        Ok(loaded) => {
            out!("{}", describe(&loaded.runbook));
            exit::OK
        }
        Err(code) => code,
    }
}

pub(crate) fn schema(args: &SchemaArgs) -> u8 {
    let text = match serde_json::to_string_pretty(parse::runbook_schema()) {
        Ok(t) => t + "\n",
        Err(e) => {
            eprintln!("internal error: cannot serialise the schema: {e}");
            return exit::INTERNAL;
        }
    };
    super::write_output(args.output.as_deref(), &text)
}

/// Where a step runs, in words.
pub(crate) fn target_name(runbook: &Runbook, on: TargetRef) -> &str {
    match on {
        TargetRef::Host => "host",
        TargetRef::Local => "local",
        TargetRef::Named(i) => &runbook.targets[i].name,
    }
}

/// A plain-words description of `runbook`.
pub fn describe(runbook: &Runbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", runbook.name, runbook.summary);
    if let Some(d) = &runbook.description {
        let _ = writeln!(out, "\n{}", d.trim_end());
    }
    let _ = writeln!(out, "\nparams:");
    if runbook.params.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for p in &runbook.params {
        let mut flags = vec![if p.required { "required" } else { "optional" }];
        if p.secret {
            flags.push("secret");
        }
        let default = p
            .default
            .as_ref()
            .map(|d| {
                if d.is_empty() {
                    ", default \"\"".to_string()
                } else {
                    format!(", default {d}")
                }
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} ({}{default}){}",
            p.name,
            flags.join(", "),
            p.description
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\ntargets:\n  host: the machine the run is for (--host, --inventory or --local)\n  local: this machine");
    for t in &runbook.targets {
        let _ = writeln!(
            out,
            "  {}: {}{}",
            t.name,
            t.host,
            t.user
                .as_ref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\nsteps (the first is the entry):");
    for (i, step) in runbook.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", i + 1, step_line(runbook, step));
        if let Some(d) = &step.description {
            let _ = writeln!(out, "     {d}");
        }
        if let Some(w) = &step.when {
            let _ = writeln!(out, "     only when {w}");
        }
        if !step.capture.is_empty() {
            let names: Vec<&str> = step.capture.iter().map(|(k, _)| k.as_str()).collect();
            let _ = writeln!(out, "     keeps {}", names.join(", "));
        }
        match &step.next {
            Next::End => {}
            Next::All(t) => {
                let _ = writeln!(out, "     then {}", ids(runbook, t));
            }
            Next::Rules(rules) => {
                for r in rules {
                    match &r.when {
                        Some(w) => {
                            let _ = writeln!(out, "     if {w} → {}", ids(runbook, &r.goto));
                        }
                        None => {
                            let _ = writeln!(out, "     otherwise → {}", ids(runbook, &r.goto));
                        }
                    }
                }
            }
        }
        if let Some(f) = step.on_failure {
            let _ = writeln!(out, "     on failure → {}", runbook.steps[f].id);
        }
    }
    let _ = writeln!(out, "\nconclusions:");
    for (step, c) in runbook.conclusions() {
        let _ = writeln!(
            out,
            "  [{}] {}: {}",
            c.severity.name(),
            step.id,
            c.finding.trim()
        );
        if let Some(r) = &c.remedy {
            let _ = writeln!(out, "      remedy: {}", r.trim());
        }
    }
    out
}

fn ids(runbook: &Runbook, t: &[usize]) -> String {
    let names: Vec<&str> = t.iter().map(|&i| runbook.steps[i].id.as_str()).collect();
    if names.len() > 1 {
        format!("{} (at the same time)", names.join(", "))
    } else {
        names.join(", ")
    }
}

fn step_line(runbook: &Runbook, step: &Step) -> String {
    let on = target_name(runbook, step.on);
    match &step.action {
        Action::Run(cmd) => format!(
            "{} — on {on}, run: {}{}",
            step.id,
            cmd.trim(),
            if step.mutates {
                "   [changes the host: needs approval]"
            } else {
                ""
            }
        ),
        Action::Probe { name, .. } => format!("{} — on {on}, probe {name}", step.id),
        Action::Call { runbook: r, .. } => format!("{} — on {on}, run runbook {r}", step.id),
        Action::Conclude(c) => format!("{} — conclude ({})", step.id, c.severity.name()),
        Action::Route => format!("{} — decide", step.id),
    }
}
