//! Command-line types (clap) and nothing else: what the user typed. The
//! commands in [`crate::commands`] turn these into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diagnostic::DiagnosticFormat;

/// runbook: diagnose a sick host fast, safely, and with a record of
/// everything that was done.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbook files or folders; report every problem with file:line:col.
    Validate(ValidateArgs),
    /// List the runbooks on the search path.
    List(LibraryArgs),
    /// Describe a runbook in plain words: params, targets, steps, conclusions.
    Show(NamedArgs),
    /// Print a runbook's DAG as Graphviz dot or Mermaid.
    Graph(GraphArgs),
    /// Print the JSON Schema of the runbook format.
    Schema(SchemaArgs),
    /// Print the plan and every command a run would execute, touching no host.
    Plan(RunArgs),
    /// Run a runbook on one host, several, or the local machine.
    Run(RunArgs),
    /// Run runbook scenario tests (`*.test.yaml`) against recorded outputs.
    Test(TestArgs),
    /// Create a new runbook and its scenario test file.
    New(NewArgs),
    /// Read, check and list audit trails.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write an incident report (Markdown or self-contained HTML) for a run.
    Report(ReportArgs),
    /// Re-run a recorded run's decisions with today's runbook, touching no host.
    Replay(ReplayArgs),
    /// List the SSH connections kept by `run --keep-connections`, or close them.
    Connections(ConnectionsArgs),
    /// ssh's `ProxyCommand` for connections with TCP_NODELAY (internal).
    #[command(name = "__connect", hide = true)]
    Connect(ConnectArgs),
}

/// `runbook __connect`: connect, set TCP_NODELAY, pass the socket to ssh.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Seconds to wait for each address.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Directory to write a failure to, for the engine to show.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The destination as given to ssh (`%n`), naming the failure file.
    #[arg(long)]
    pub name: Option<String>,
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// `run --tcp-nodelay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TcpNodelay {
    /// On for runs that open few connections at once for this machine's CPUs.
    Auto,
    /// Always.
    On,
    /// Never: ssh connects by itself.
    Off,
}

/// `runbook connections`.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// Close every kept connection now.
    #[arg(long)]
    pub close: bool,
}

/// Where audit files are.
#[derive(Debug, Clone, Args)]
pub struct AuditDirArgs {
    /// Audit directory (repeat to read several, e.g. one per shard); default
    /// $RUNBOOK_AUDIT_DIR, else $XDG_STATE_HOME/runbook/audit.
    #[arg(long = "audit-dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

/// `runbook audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an audit file's hash chain and seal; name the first bad line.
    Verify {
        /// Audit file or run id.
        run: String,
        #[command(flatten)]
        dirs: AuditDirArgs,
    },
    /// List recorded runs, newest first.
    List {
        /// Only runs on this host.
        #[arg(long)]
        host: Option<String>,
        /// Only runs of this runbook.
        #[arg(long)]
        runbook: Option<String>,
        /// Only runs started within this long, e.g. `1d`, `2h`.
        #[arg(long, value_parser = parse_duration)]
        since: Option<std::time::Duration>,
        #[command(flatten)]
        dirs: AuditDirArgs,
    },
    /// Show a run as a readable timeline.
    Show {
        /// Audit file or run id.
        run: String,
        #[command(flatten)]
        dirs: AuditDirArgs,
    },
}

/// `runbook report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Audit file or run id.
    pub run: String,
    /// Format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub dirs: AuditDirArgs,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown with a Mermaid diagram.
    Md,
    /// One self-contained HTML file with an inline SVG diagram.
    Html,
}

/// `runbook replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Audit file or run id.
    pub run: String,
    /// The runbook to replay with (default: the recorded runbook's name on the search path).
    #[arg(long, value_name = "NAME|FILE")]
    pub runbook: Option<String>,
    #[command(flatten)]
    pub dirs: AuditDirArgs,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// `runbook new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Name of the runbook (lowercase words joined by `-`).
    pub name: String,
    /// Directory to create it in.
    #[arg(long, default_value = "runbooks")]
    pub dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// `runbook test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files or folders (default: the search path).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
    /// Fail when some conclusion of a tested runbook is reached by no scenario.
    #[arg(long)]
    pub require_conclusions: bool,
    /// Instead of testing: turn a recorded run (audit file or run id) into a scenario file on stdout.
    #[arg(long, value_name = "AUDIT_FILE|RUN_ID")]
    pub record: Option<String>,
    /// Audit directory to look up a run id in.
    #[arg(long, env = "RUNBOOK_AUDIT_DIR", value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// Output formats of `runbook test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// Test-runner text.
    Human,
    /// One JSON document (`type: runbook.test`).
    Json,
    /// GitHub Actions annotations plus the text.
    Github,
}

/// Where runbooks are found.
#[derive(Debug, Clone, Args)]
pub struct LibraryArgs {
    /// A directory of runbooks, searched before `RUNBOOK_PATH` and `./runbooks`.
    #[arg(long = "runbooks", value_name = "DIR")]
    pub runbooks: Vec<PathBuf>,
}

/// `runbook validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders (default: the search path).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// Commands that take one runbook.
#[derive(Debug, Args)]
pub struct NamedArgs {
    /// Runbook name (on the search path) or file.
    pub name: String,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// `runbook graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Runbook name or file.
    pub name: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// Graph output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `runbook schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `runbook run` and `runbook plan`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Runbook name (on the search path) or file.
    pub name: String,
    /// A host to run on (SSH destination or `~/.ssh/config` alias); repeat for a fleet.
    #[arg(long = "host", short = 'H', value_name = "HOST")]
    pub hosts: Vec<String>,
    /// An inventory file (our YAML format or Ansible's YAML inventory).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Only hosts of this inventory group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Run on this machine instead of over SSH.
    #[arg(long)]
    pub local: bool,
    /// A param: `-p name=value`.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Run read-only steps and branch for real; print mutating steps instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Approve every mutating step without asking.
    #[arg(long)]
    pub yes: bool,
    /// Hosts worked on at once.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub forks: u32,
    /// Output: human text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Time limit for the whole run, e.g. `5m`.
    #[arg(long, value_parser = parse_duration)]
    pub deadline: Option<std::time::Duration>,
    /// Exit 3 when a finding of this severity or worse is reached.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// An ssh_config file to use instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Identity (private key) file.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Login user (default: from ssh config, else the local user).
    #[arg(long)]
    pub user: Option<String>,
    /// Accept and remember keys of hosts never seen before (never a changed key).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// SSH connect timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// Commands run at once on one host; more wait for a free channel.
    /// The default keeps within sshd's default `MaxSessions` (10), with a
    /// channel spare for the syslog line and one for killing a timed-out command.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub channels_per_host: u16,
    /// Open SSH connections with Nagle's algorithm off (the engine connects
    /// for ssh): ~40 ms less per connection while connecting is waiting on
    /// the network, ~3 ms more CPU per connection. `auto`: on while at most
    /// 14 connections per CPU are opened at once (`--forks`, hosts), where
    /// the saved latency outweighs the CPU.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = TcpNodelay::Auto)]
    pub tcp_nodelay: TcpNodelay,
    /// Leave each host's SSH master running for IDLE after the run, and use
    /// one an earlier run left (same host and SSH settings), so that running
    /// again during an incident skips the login. See `runbook connections`.
    #[arg(long, value_name = "IDLE", value_parser = parse_keep_duration)]
    pub keep_connections: Option<std::time::Duration>,
    /// Who is running this (recorded in the audit trail); default: the OS user.
    #[arg(long)]
    pub operator: Option<String>,
    /// Directory of audit files (default: $XDG_STATE_HOME/runbook/audit).
    #[arg(long, env = "RUNBOOK_AUDIT_DIR", value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Path of a pre-installed remote agent on the hosts.
    #[arg(long, value_name = "PATH")]
    pub agent_path: Option<String>,
    /// Directory on hosts where the agent is installed (default ~/.cache/runbook).
    #[arg(long, value_name = "DIR")]
    pub agent_dir: Option<String>,
    /// Do not write the syslog line per step on remote hosts (one `logger`
    /// per connection reads them).
    #[arg(long)]
    pub no_remote_log: bool,
    /// Run only shard I of N of the hosts (`I/N`, 1-based).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub library: LibraryArgs,
}

/// Output of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    Human,
    /// One JSON document (`type: runbook.run`).
    Json,
}

/// `--fail-on` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Warning or critical.
    Warning,
    /// Critical only.
    Critical,
}

fn parse_keep_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("`{s}` is less than a second; try `10m`"));
    }
    Ok(d)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try `30s` or `5m`"))
}
