//! What each subcommand does, as thin glue over the library modules. Also
//! the exit-code table (documented in ARCHITECTURE.md).

/// `print!` that stops quietly when stdout is closed (`runbook … | head`).
macro_rules! out {
    ($($arg:tt)*) => { $crate::commands::write_stdout(&format!($($arg)*)) };
}

/// `println!` that stops quietly when stdout is closed.
macro_rules! outln {
    () => { $crate::commands::write_stdout("\n") };
    ($($arg:tt)*) => { $crate::commands::write_stdout(&(format!($($arg)*) + "\n")) };
}

mod audit;
mod connections;
mod describe;
mod graph;
mod new;
mod plan;
mod progress;
mod report;
mod run;
mod summary;
mod test;
mod validate;

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{Cli, Color, Command};
use crate::diagnostic::{render, DiagnosticFormat, FileDiagnostics};
use crate::library::{Library, LoadError, Loaded};

/// Exit codes of the `runbook` binary.
pub mod exit {
    /// Every host reached a conclusion; validation found nothing.
    pub const OK: u8 = 0;
    /// A host ended without a conclusion; validation found problems; a
    /// scenario test failed.
    pub const FAILED: u8 = 1;
    /// Invalid runbook or usage error.
    pub const USAGE: u8 = 2;
    /// `--fail-on` severity reached.
    pub const FINDING: u8 = 3;
    /// A bug in runbook itself.
    pub const INTERNAL: u8 = 70;
    /// Interrupted (SIGINT/SIGTERM).
    pub const INTERRUPTED: u8 = 130;
}

/// Runs the command line; returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    init_logging(cli.verbose);
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let code = match cli.command {
        Command::Validate(args) => validate::run(&args, color),
        Command::List(args) => describe::list(&args),
        Command::Show(args) => describe::show(&args, color),
        Command::Graph(args) => graph::run(&args, color),
        Command::Schema(args) => describe::schema(&args),
        Command::Plan(args) => plan::run(&args, color),
        Command::Run(args) => {
            raise_fd_limit();
            run::run(args, color)
        }
        Command::Test(args) => test::run(&args),
        Command::New(args) => new::run(&args),
        Command::Audit(cmd) => audit::run(&cmd),
        Command::Report(args) => report::report(&args),
        Command::Replay(args) => report::replay(&args),
        Command::Connections(args) => connections::run(&args),
        Command::Connect(args) => connections::connect(&args),
    };
    ExitCode::from(code)
}

/// Writes to stdout; a closed pipe ends the process quietly (exit 0, like
/// other Unix tools), any other error is reported once.
pub(crate) fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(exit::FAILED.into());
    }
}

/// A fleet run holds a connection (and its control socket) per host in
/// flight: lift the soft open-file limit to the hard one so `--forks`, not
/// the default 1024, is what bounds it.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::debug!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .try_init();
}

/// Loads a runbook for a command, printing problems the way `validate`
/// does; `Err` carries the exit code.
pub(crate) fn load_runbook(library: &Library, name: &str, color: bool) -> Result<Loaded, u8> {
    match library.load(name) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!(
                    "{}",
                    render(&loaded.warnings, DiagnosticFormat::Human, color)
                );
            }
            Ok(loaded)
        }
        Err(LoadError::Invalid(files)) => {
            eprint!("{}", render(&files, DiagnosticFormat::Human, color));
            eprintln!("error: runbook `{name}` is invalid; see above");
            Err(exit::USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::USAGE)
        }
    }
}

/// The files a command works on: `paths` as given (folders expanded with
/// `expand`), or the existing directories of the search path when none is
/// given. A path that does not exist is a usage error.
pub(crate) fn collect_files(
    paths: &[std::path::PathBuf],
    library: &Library,
    expand: fn(&std::path::Path) -> Vec<std::path::PathBuf>,
) -> Result<Vec<std::path::PathBuf>, u8> {
    let roots: Vec<std::path::PathBuf> = if paths.is_empty() {
        library
            .dirs()
            .iter()
            .filter(|d| d.is_dir())
            .cloned()
            .collect()
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            files.extend(expand(root));
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            eprintln!("error: {} does not exist", root.display());
            return Err(exit::USAGE);
        }
    }
    Ok(files)
}

/// A tokio runtime for the commands that run the executor.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::INTERNAL
        })
}

/// Writes `text` to `path`, or to stdout without one.
pub(crate) fn write_output(path: Option<&std::path::Path>, text: &str) -> u8 {
    match path {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                exit::FAILED
            }
        },
        None => {
            write_stdout(text);
            exit::OK
        }
    }
}

/// Counts errors and warnings.
pub(crate) fn count(files: &[FileDiagnostics]) -> (usize, usize) {
    let mut errors = 0;
    let mut warnings = 0;
    for d in files.iter().flat_map(|f| &f.diagnostics) {
        if d.is_error() {
            errors += 1;
        } else {
            warnings += 1;
        }
    }
    (errors, warnings)
}
