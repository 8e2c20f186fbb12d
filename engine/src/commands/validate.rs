//! `runbook validate`: check files and folders, print every diagnostic.

use std::path::PathBuf;

use super::{count, exit};
use crate::cli::ValidateArgs;
use crate::diagnostic::{render, DiagnosticFormat};
use crate::library::{runbook_files, Library};

pub(crate) fn run(args: &ValidateArgs, color: bool) -> u8 {
    let library = Library::new(&args.library.runbooks);
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        library
            .dirs()
            .iter()
            .filter(|d| d.is_dir())
            .cloned()
            .collect()
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            files.extend(runbook_files(root));
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            eprintln!("error: {} does not exist", root.display());
            return exit::USAGE;
        }
    }
    if files.is_empty() {
        eprintln!(
            "error: no runbook files (*.yaml, *.yml) found in {}",
            describe(&roots)
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
