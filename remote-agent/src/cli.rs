//! The command line: parsing what the user (the engine, usually) typed into
//! a [`Command`], and the exit-code contract.
//!
//! | exit | meaning |
//! |------|---------|
//! | 0 | the document (or listing, or version) was printed — even if some probes failed |
//! | 1 | the document could not be written to stdout |
//! | 2 | bad usage; a message is on stderr |
//!
//! Hand-written rather than clap: the agent is copied to every node, so it
//! stays small, and its grammar is tiny.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::args::{RawArg, TIMEOUT_ARG};
use crate::probes::{self, CATALOGUE};
use crate::run::{self, Request, DEFAULT_TIMEOUT};

/// Exit code: output printed.
pub const EXIT_OK: i32 = 0;
/// Exit code: stdout could not be written.
pub const EXIT_IO: i32 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: i32 = 2;

/// Environment variable naming the root when `--root` is not given.
pub const ROOT_ENV: &str = "RUNBOOK_AGENT_ROOT";

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// `--version`.
    Version,
    /// `--help`.
    Help,
    /// `probes [--json]`.
    ListProbes {
        /// Machine-readable listing.
        json: bool,
    },
    /// `probe NAME... [--arg k=v]... [--root DIR] [--timeout-ms N]`.
    Probe(Request),
}

/// A usage error, printed on stderr with exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

const USAGE: &str = "\
usage: runbook-agent probe NAME [NAME...] [--arg KEY=VALUE]... [--root DIR] [--timeout-ms N]
       runbook-agent probes [--json]
       runbook-agent --version

Answers structured probes about this node as one JSON document on stdout.

options (probe):
  --arg KEY=VALUE        argument for every probe that takes KEY
  --arg PROBE.KEY=VALUE  argument for that probe only
  --root DIR             read /proc, /dev/kmsg, /var/log ... under DIR
                         (default: $RUNBOOK_AGENT_ROOT, else /)
  --timeout-ms N         time limit per probe (default 5000); a probe's own
                         `timeout_ms` argument overrides it

Run `runbook-agent probes` for the probes, their arguments and fields.
";

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut args = args.into_iter().map(|a| {
        a.into_string().map_err(|a| {
            UsageError(format!(
                "argument `{}` is not valid UTF-8",
                a.to_string_lossy()
            ))
        })
    });
    let first = match args.next() {
        None => return Err(UsageError("missing command".into())),
        Some(a) => a?,
    };
    match first.as_str() {
        "--version" | "-V" | "version" => Ok(Command::Version),
        "--help" | "-h" | "help" => Ok(Command::Help),
        "probes" => {
            let mut json = false;
            for a in args {
                match a?.as_str() {
                    "--json" => json = true,
                    other => {
                        return Err(UsageError(format!(
                            "unexpected argument `{other}` to `probes`"
                        )))
                    }
                }
            }
            Ok(Command::ListProbes { json })
        }
        "probe" => parse_probe(args),
        other => Err(UsageError(format!("unknown command `{other}`"))),
    }
}

fn parse_probe(
    mut args: impl Iterator<Item = Result<String, UsageError>>,
) -> Result<Command, UsageError> {
    let mut names: Vec<String> = Vec::new();
    let mut raw_args = Vec::new();
    let mut root: Option<PathBuf> = None;
    let mut timeout = DEFAULT_TIMEOUT;
    while let Some(a) = args.next() {
        let a = a?;
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .transpose()?
                    .ok_or_else(|| UsageError(format!("`{flag}` needs {what}"))),
            }
        };
        match flag.as_str() {
            "--arg" => {
                let raw = RawArg::parse(&value("KEY=VALUE")?).map_err(UsageError)?;
                if raw.probe.is_none() && !probes::any_takes(&raw.key) {
                    return Err(UsageError(format!(
                        "no probe takes an argument `{}`; run `runbook-agent probes`",
                        raw.key
                    )));
                }
                raw_args.push(raw);
            }
            "--root" => root = Some(PathBuf::from(value("a directory")?)),
            "--timeout-ms" => {
                let v = value("a number of milliseconds")?;
                let ms: u64 = v
                    .parse()
                    .ok()
                    .filter(|ms| (1..=600_000).contains(ms))
                    .ok_or_else(|| {
                        UsageError(format!(
                            "`--timeout-ms` must be from 1 to 600000, got `{v}`"
                        ))
                    })?;
                timeout = Duration::from_millis(ms);
            }
            f if f.starts_with('-') => return Err(UsageError(format!("unknown option `{f}`"))),
            _ => {
                if !names.contains(&a) {
                    names.push(a);
                }
            }
        }
    }
    if names.is_empty() {
        return Err(UsageError("`probe` needs at least one probe name".into()));
    }
    let root = root
        .or_else(|| {
            std::env::var_os(ROOT_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/"));
    if !root.is_dir() {
        return Err(UsageError(format!(
            "root `{}` is not a directory",
            root.display()
        )));
    }
    Ok(Command::Probe(Request {
        names,
        args: raw_args,
        root,
        timeout,
    }))
}

/// The human listing of `runbook-agent probes`.
pub fn probes_text() -> String {
    let mut s = String::new();
    for p in CATALOGUE {
        s.push_str(&format!("{}\n  {}\n  args:\n", p.name, p.summary));
        for a in p.args.iter().chain([&TIMEOUT_ARG]) {
            let default = if a.default.is_empty() {
                "required".to_owned()
            } else {
                format!("default {}", a.default)
            };
            s.push_str(&format!("    {:<16} {} ({default})\n", a.name, a.help));
        }
        s.push_str("  fields:\n");
        for f in p.fields {
            s.push_str(&format!("    {:<24} {}\n", f.name, f.help));
        }
        s.push('\n');
    }
    s
}

/// The JSON listing of `runbook-agent probes --json`:
/// `{"type": "runbook-agent.probes", "schema_version": 1, "probes": [{"name",
/// "summary", "args": [{"name", "default", "help"}], "fields": [{"name",
/// "help"}]}]}`.
pub fn probes_json() -> serde_json::Value {
    let list: Vec<serde_json::Value> = CATALOGUE
        .iter()
        .map(|p| {
            let args: Vec<serde_json::Value> = p
                .args
                .iter()
                .chain([&TIMEOUT_ARG])
                .map(|a| serde_json::json!({"name": a.name, "default": a.default, "help": a.help}))
                .collect();
            let fields: Vec<serde_json::Value> = p
                .fields
                .iter()
                .map(|f| serde_json::json!({"name": f.name, "help": f.help}))
                .collect();
            serde_json::json!({"name": p.name, "summary": p.summary, "args": args, "fields": fields})
        })
        .collect();
    serde_json::json!({
        "type": "runbook-agent.probes",
        "schema_version": crate::report::SCHEMA_VERSION,
        "probes": list,
    })
}

/// Runs the program with `argv` (program name first); returns the exit code.
pub fn main(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let command = match parse(argv.into_iter().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("runbook-agent: {e}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match command {
        Command::Version => writeln!(out, "runbook-agent {}", env!("CARGO_PKG_VERSION")),
        Command::Help => out.write_all(USAGE.as_bytes()),
        Command::ListProbes { json: false } => out.write_all(probes_text().as_bytes()),
        Command::ListProbes { json: true } => {
            serde_json::to_writer_pretty(&mut out, &probes_json())
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Command::Probe(req) => {
            let report = run::run(&req);
            serde_json::to_writer(&mut out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("runbook-agent: could not write to stdout: {e}");
            EXIT_IO
        }
    }
}
