//! What the `run_*` and `agent_*` tests share: a builder that runs the real
//! `runbook` binary against a [`Fleet`] (its ssh_config and engine
//! `TMPDIR`, a temp audit dir,
//! a temp agent dir), and the run's output read back — exit code, stdout,
//! stderr, the `--output json` document and the audit events.
//!
//! ```ignore
//! let fleet = Fleet::start(1);
//! let run = Run::new(&fleet, "fan-out").host("node-1").output();
//! run.assert_code(0);
//! assert_eq!(run.finished("join")["stdout"]["text"], "L-R\n");
//! ```
//!
//! Every run is bounded in time, and afterwards no SSH master of the fleet
//! may be left running on this machine (the engine closes what it opens).
//! `RUNBOOK_E2E_SHOW=1` prints each run's stdout and stderr.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{processes_mentioning, run_bounded, Fleet, Host};

/// How long one engine run may take unless a test says otherwise.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The runbooks the e2e tests run (`tests/e2e/runbooks/`).
pub fn runbooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/runbooks")
}

/// The `runbook-agent` binary for probe steps, built once per test process.
///
/// `$RUNBOOK_AGENT_BINARY` wins when set. Otherwise `cargo build -p
/// runbook-agent` runs with the target dir and profile the `runbook` binary
/// under test came from, so the agent lands next to it, matches the current
/// sources, and the build is a no-op after `cargo build --workspace` (or
/// `cargo test --workspace`, `cargo nextest run --workspace`). Cargo's own
/// lock makes concurrent test processes wait for one build.
pub fn agent_binary() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        if let Some(path) = std::env::var_os("RUNBOOK_AGENT_BINARY").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "RUNBOOK_AGENT_BINARY={} is not a file",
                path.display()
            );
            return path;
        }
        let runbook = Path::new(env!("CARGO_BIN_EXE_runbook"));
        let profile_dir = runbook
            .parent()
            .expect("the runbook binary has a directory");
        let target_dir = profile_dir
            .parent()
            .expect("the profile directory has a parent");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(other) => other.to_string(),
        };
        let agent = profile_dir.join("runbook-agent");
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(OsString::from))
            .unwrap_or_else(|| "cargo".into());
        let output = run_bounded(
            Command::new(cargo)
                .args(["build", "--quiet", "-p", "runbook-agent", "--bin"])
                .arg("runbook-agent")
                .arg("--profile")
                .arg(&profile)
                .arg("--target-dir")
                .arg(target_dir)
                .arg("--manifest-path")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")),
            Duration::from_secs(900),
        );
        if !output.status.success() {
            // Offline or without cargo (a copied test binary): an agent
            // built earlier next to `runbook` still does.
            assert!(
                agent.is_file(),
                "cannot build runbook-agent ({}), and there is none at {}:\n{}",
                output.status,
                agent.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            eprintln!(
                "warning: `cargo build -p runbook-agent` failed; using the existing {}",
                agent.display()
            );
        }
        assert!(
            agent.is_file(),
            "cargo built runbook-agent but it is not at {}",
            agent.display()
        );
        agent
    })
}

/// A `runbook` command line being put together.
pub struct Run {
    command: Command,
    agent_dir: Option<PathBuf>,
    /// `--ssh-config` (the fleet's unless a test gives its own).
    ssh_config: Option<PathBuf>,
    /// The engine's `TMPDIR`, which every `ssh` it starts names.
    ssh_marker: Option<PathBuf>,
    audit_dir: TempDir,
    timeout: Duration,
    /// `--keep-connections`: SSH masters may outlive the run.
    keeps_masters: bool,
}

impl Run {
    /// `runbook run RUNBOOK` with the e2e runbooks, the fleet's ssh_config, a
    /// temp audit dir, the agent binary and an agent dir inside the fleet's
    /// temp dir (never the real `~/.cache`).
    pub fn new(fleet: &Fleet, runbook: &str) -> Run {
        let mut run = Run::command(fleet, "run", runbook);
        let audit = run.audit_dir.path().to_path_buf();
        run.command.arg("--audit-dir").arg(audit);
        run.agent_dir = Some(Run::default_agent_dir(fleet));
        run
    }

    /// `runbook SUBCOMMAND RUNBOOK` with only the runbook dir and ssh_config
    /// (for `plan`).
    pub fn command(fleet: &Fleet, subcommand: &str, runbook: &str) -> Run {
        let mut run = Run::offline(subcommand, runbook);
        let tmp = fleet.engine_tmp_dir();
        run.command.env("TMPDIR", &tmp);
        run.ssh_config = Some(fleet.ssh_config_path().to_path_buf());
        run.ssh_marker = Some(tmp);
        run
    }

    /// `runbook SUBCOMMAND RUNBOOK` with the e2e runbooks and a temp audit
    /// dir, for runs that must not get as far as a host.
    pub fn offline(subcommand: &str, runbook: &str) -> Run {
        let audit_dir = tempfile::Builder::new()
            .prefix("runbook-e2e-audit-")
            .tempdir()
            .expect("cannot create a temp audit dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        command
            .args([subcommand, runbook, "--color", "never", "--runbooks"])
            .arg(runbooks_dir());
        hermetic(&mut command);
        Run {
            command,
            agent_dir: None,
            ssh_config: None,
            ssh_marker: None,
            audit_dir,
            timeout: RUN_TIMEOUT,
            keeps_masters: false,
        }
    }

    /// The `--agent-dir` every run of `fleet` uses unless told otherwise.
    pub fn default_agent_dir(fleet: &Fleet) -> PathBuf {
        fleet.root_dir().join("agent-cache")
    }

    /// `--agent-dir DIR` instead of the default.
    pub fn agent_dir(mut self, dir: impl Into<PathBuf>) -> Run {
        self.agent_dir = Some(dir.into());
        self
    }

    /// `--ssh-config FILE` instead of the fleet's.
    pub fn ssh_config(mut self, file: impl Into<PathBuf>) -> Run {
        self.ssh_config = Some(file.into());
        self
    }

    /// The final command line.
    fn finish(&mut self) {
        if let Some(file) = self.ssh_config.take() {
            self.command.arg("--ssh-config").arg(file);
        }
        if let Some(dir) = self.agent_dir.take() {
            self.command.arg("--agent-dir").arg(dir);
        }
    }

    /// `--host NAME`.
    pub fn host(mut self, name: &str) -> Run {
        self.command.args(["--host", name]);
        self
    }

    /// `--host` for every host of the fleet.
    pub fn all_hosts(mut self, fleet: &Fleet) -> Run {
        for host in fleet.hosts() {
            self.command.args(["--host", host.name()]);
        }
        self
    }

    /// `-p NAME=VALUE`.
    pub fn param(mut self, name: &str, value: &str) -> Run {
        self.command.arg("-p").arg(format!("{name}={value}"));
        self
    }

    /// Any other arguments.
    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    /// `--keep-connections IDLE` with kept masters in `dir`
    /// (`RUNBOOK_SSH_DIR`); the masters may outlive the run.
    pub fn keep_connections(mut self, dir: &Path, idle: &str) -> Run {
        self.command
            .env("RUNBOOK_SSH_DIR", dir)
            .args(["--keep-connections", idle]);
        self.keeps_masters = true;
        self
    }

    /// Ships the agent: sets `RUNBOOK_AGENT_BINARY` (building it if needed).
    pub fn with_agent(mut self) -> Run {
        self.command.env("RUNBOOK_AGENT_BINARY", agent_binary());
        self
    }

    /// How long the run may take (default [`RUN_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Run {
        self.timeout = timeout;
        self
    }

    /// Runs it to the end (stdin closed: no terminal).
    pub fn output(mut self) -> RunOutput {
        self.finish();
        let marker = self.ssh_marker.as_deref().filter(|_| !self.keeps_masters);
        RunOutput::run(&mut self.command, self.timeout, self.audit_dir, marker)
    }

    /// Starts it and returns at once, for tests that act on the hosts
    /// while the engine works.
    pub fn spawn(mut self) -> Spawned {
        self.finish();
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start runbook: {error}"));
        let stdout = read_in_background(child.stdout.take().expect("piped"));
        let stderr = read_in_background(child.stderr.take().expect("piped"));
        Spawned {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            audit_dir: Some(self.audit_dir),
            ssh_marker: self.ssh_marker.filter(|_| !self.keeps_masters),
            timeout: self.timeout,
            started: Instant::now(),
        }
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = pipe.read_to_end(&mut buffer);
        buffer
    })
}

/// The `memory-probe` runbook on node-1 of `fleet`, shipping the agent;
/// asserts it concluded.
pub fn memory_probe(fleet: &Fleet) -> RunOutput {
    let run = Run::new(fleet, "memory-probe")
        .host("node-1")
        .with_agent()
        .output();
    run.assert_code(0);
    run
}

/// A running engine.
pub struct Spawned {
    child: Child,
    // Options only so that `wait` can take them from a type with `Drop`.
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
    audit_dir: Option<TempDir>,
    ssh_marker: Option<PathBuf>,
    timeout: Duration,
    started: Instant,
}

impl Spawned {
    /// The engine's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the engine runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the end, calling `poll(pid)` every few milliseconds while
    /// it runs. Kills it and panics with its output when it outlives its
    /// time limit.
    pub fn wait_polling(mut self, mut poll: impl FnMut(u32)) -> RunOutput {
        let deadline = self.started + self.timeout;
        let pid = self.child.id();
        let join = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
            reader.and_then(|r| r.join().ok()).unwrap_or_default()
        };
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    poll(pid);
                    thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "runbook did not finish within {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                        self.timeout,
                        String::from_utf8_lossy(&join(self.stdout.take())),
                        String::from_utf8_lossy(&join(self.stderr.take()))
                    );
                }
                Err(error) => panic!("cannot wait for runbook: {error}"),
            }
        };
        RunOutput::read(
            status.code(),
            join(self.stdout.take()),
            join(self.stderr.take()),
            self.started.elapsed(),
            self.audit_dir.take().expect("waited for once"),
            self.ssh_marker.as_deref(),
        )
    }

    /// Waits for the end.
    pub fn wait(self) -> RunOutput {
        self.wait_polling(|_| {})
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // A test that panicked before waiting must not leave the engine behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A finished run.
pub struct RunOutput {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
    /// Wall time of the whole engine process.
    pub elapsed: Duration,
    /// The audit file (`None` when the run refused to start).
    pub audit_path: Option<PathBuf>,
    /// Its events, in order.
    pub events: Vec<Value>,
    _audit_dir: TempDir,
}

/// Nothing from the developer's environment picks runbooks, audit dirs,
/// the agent or log levels for an engine run by the tests.
pub fn hermetic(command: &mut Command) {
    command
        .env_remove("RUNBOOK_PATH")
        .env_remove("RUNBOOK_AUDIT_DIR")
        .env_remove("RUNBOOK_AGENT_BINARY")
        .env_remove("RUST_LOG");
}

impl RunOutput {
    /// Runs `command` (an engine run writing to `audit_dir`) to the end,
    /// bounded by `timeout`, and reads what it left (see [`RunOutput::read`]).
    pub fn run(
        command: &mut Command,
        timeout: Duration,
        audit_dir: TempDir,
        ssh_marker: Option<&Path>,
    ) -> RunOutput {
        let started = Instant::now();
        let output = run_bounded(command, timeout);
        RunOutput::read(
            output.status.code(),
            output.stdout,
            output.stderr,
            started.elapsed(),
            audit_dir,
            ssh_marker,
        )
    }

    /// Reads what an engine process left: its output and the audit file
    /// in `audit_dir`; with `ssh_marker`, asserts that no SSH master of the
    /// run outlived it.
    pub fn read(
        code: Option<i32>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        elapsed: Duration,
        audit_dir: TempDir,
        ssh_marker: Option<&Path>,
    ) -> RunOutput {
        let audit_path = fs::read_dir(audit_dir.path())
            .expect("cannot list the audit dir")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| path.extension().is_some_and(|e| e == "jsonl"));
        let events = audit_path.as_deref().map(read_events).unwrap_or_default();
        let output = RunOutput {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
            audit_path,
            events,
            _audit_dir: audit_dir,
        };
        if std::env::var_os("RUNBOOK_E2E_SHOW").is_some() {
            eprintln!("=== runbook run ===\n{}", output.context());
        }
        if let Some(marker) = ssh_marker {
            assert_no_ssh_master_left(marker, &output.context());
        }
        output
    }

    /// Stdout and stderr, for assertion messages.
    pub fn context(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    pub fn assert_code(&self, code: i32) -> &RunOutput {
        assert_eq!(self.code, Some(code), "{}", self.context());
        self
    }

    /// The `--output json` document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "stdout is not one JSON document ({error})\n{}",
                self.context()
            )
        })
    }

    /// The run id (from the audit's `run_started`).
    pub fn run_id(&self) -> String {
        self.only("run_started", None)["run_id"]
            .as_str()
            .expect("run_started has a run_id")
            .to_string()
    }

    /// Events of `kind` (`"step_finished"`), optionally of one step.
    pub fn events_of(&self, kind: &str, step: Option<&str>) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == kind && step.iter().all(|s| e["step"] == *s))
            .collect()
    }

    /// Events of `kind` for `step` on `host`.
    pub fn host_events(&self, kind: &str, host: &str, step: Option<&str>) -> Vec<&Value> {
        self.events_of(kind, step)
            .into_iter()
            .filter(|e| e["host"] == host)
            .collect()
    }

    /// The one event of `kind` (for `step`); panics if there are none or several.
    pub fn only(&self, kind: &str, step: Option<&str>) -> &Value {
        let found = self.events_of(kind, step);
        assert!(
            found.len() == 1,
            "expected one `{kind}` event{}, found {}:\n{}\n{}",
            step.map(|s| format!(" for `{s}`")).unwrap_or_default(),
            found.len(),
            self.audit_text(),
            self.context()
        );
        found[0]
    }

    /// The `step_finished` event of `step` (one host runs).
    pub fn finished(&self, step: &str) -> &Value {
        self.only("step_finished", Some(step))
    }

    /// The `reason` of `step`'s `step_skipped` event.
    pub fn skipped_reason(&self, step: &str) -> String {
        self.only("step_skipped", Some(step))["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Steps that concluded, in order.
    pub fn concluded_steps(&self) -> Vec<String> {
        self.events_of("concluded", None)
            .iter()
            .filter_map(|e| e["step"].as_str().map(str::to_string))
            .collect()
    }

    /// The index of the first event matching `kind` and `step`.
    pub fn position(&self, kind: &str, step: &str) -> usize {
        self.events
            .iter()
            .position(|e| e["type"] == kind && e["step"] == step)
            .unwrap_or_else(|| panic!("no `{kind}` event for `{step}`\n{}", self.audit_text()))
    }

    /// The audit file as text, for assertion messages.
    pub fn audit_text(&self) -> String {
        self.events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The events of an audit file, in order; a last line cut off mid-write
/// (which `audit verify` ignores) is skipped.
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&text);
    let complete = if text.ends_with('\n') {
        &text[..]
    } else {
        &text[..text.rfind('\n').map_or(0, |i| i + 1)]
    };
    complete
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"))
        })
        .collect()
}

/// Within 10 s no process on this machine names `marker` (a fleet's
/// [`Fleet::engine_tmp_dir`]): every SSH master the engine opened is gone.
/// `context` goes into the failure message.
pub fn assert_no_ssh_master_left(marker: &Path, context: &str) {
    let needle = marker.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&needle);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "SSH processes of this fleet outlived the engine by 10 s: {left:?}\n{context}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// `ts` of an audit event as a time.
pub fn event_time(event: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let ts = event["ts"].as_str().expect("every audit line has a ts");
    chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("bad ts `{ts}`: {e}"))
}

/// Asserts that no process of `host` matches `pattern` (a `pgrep -f`
/// regex), allowing a few seconds for killed processes to be reaped.
pub fn assert_gone(host: &Host, pattern: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = host.pgrep(pattern);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes matching `{pattern}` still run on {}: {left:?}",
            host.name()
        );
        thread::sleep(Duration::from_millis(20));
    }
}
