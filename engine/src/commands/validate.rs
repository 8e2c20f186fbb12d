//! `runbook validate`: check files and folders, print every diagnostic.

use std::path::PathBuf;

use super::{count, exit};
use crate::cli::ValidateArgs;
use crate::diagnostic::{render, DiagnosticFormat};
use crate::library::{runbook_files, Library};

pub(crate) fn run(args: &ValidateArgs, color: bool) -> u8 {
    let library = Library::new(&args.library.runbooks);
    let files = match super::collect_files(&args.paths, &library, runbook_files) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if files.is_empty() {
        eprintln!(
            "error: no runbook files (*.yaml, *.yml) found in {}",
            describe(&args.paths)
        );
        return exit::USAGE;
    }
    let results: Vec<_> = files.iter().map(|f| library.check_path(f)).collect();
    let (errors, warnings) = count(&results);
    let with_problems: Vec<_> = results
        .iter()
        .filter(|f| !f.diagnostics.is_empty())
        .cloned()
        .collect();
    match args.format {
        DiagnosticFormat::Human => {
            out!("{}", render(&with_problems, args.format, color));
            outln!(
                "checked {} runbook{}: {errors} error{}, {warnings} warning{}",
                files.len(),
                plural(files.len()),
                plural(errors),
                plural(warnings)
            );
        }
        DiagnosticFormat::Json | DiagnosticFormat::Sarif => {
            out!("{}", render(&results, args.format, false))
        }
        DiagnosticFormat::Github => out!("{}", render(&with_problems, args.format, false)),
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn describe(roots: &[PathBuf]) -> String {
    if roots.is_empty() {
        "the search path (use --runbooks DIR or give paths)".to_string()
    } else {
        roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
