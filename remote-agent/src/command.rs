//! Running external programs (`systemctl`, `journalctl`, `crictl`, `dmesg`)
//! on a sick node: looked up on `PATH` (so fixtures can put stand-ins
//! there), killed with their whole process group at the deadline, and with
//! stdout and stderr capped so a chatty program cannot balloon our memory.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::error::ProbeError;
use crate::source::{read_lines, LineStats};

/// How much of a program's stderr we keep for error messages.
const STDERR_CAP: usize = 4 * 1024;

/// Stack size of the helper threads (watchdog, stderr reader).
const HELPER_STACK: usize = 64 * 1024;

/// What a finished program left behind, besides its stdout.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The exit code, `None` if killed by a signal.
    pub code: Option<i32>,
    /// Up to 4 KiB of stderr, lossy UTF-8, trimmed.
    pub stderr: String,
    /// What was read from stdout.
    pub stdout: LineStats,
    /// Whether we stopped reading before the program was done (cap reached
    /// or the caller had enough) and killed it.
    pub stopped_early: bool,
}

impl Finished {
    /// Whether the program exited with status 0, or was cut short by us
    /// after giving us what we asked for.
    pub fn success(&self) -> bool {
        self.code == Some(0) || self.stopped_early
    }

    /// Whether the run gave an answer worth reporting: it succeeded, and
    /// either produced `useful_lines` or said nothing on stderr. (journalctl
    /// exits 0 with "No journal files were found." on stderr when there is
    /// no journal: that is an unavailable source, not an empty one.)
    pub fn answered(&self, useful_lines: u64) -> bool {
        self.success() && (useful_lines > 0 || self.stderr.is_empty())
    }

    /// The first line of stderr, or the exit status if stderr was empty.
    pub fn complaint(&self) -> String {
        match self.stderr.lines().find(|l| !l.trim().is_empty()) {
            Some(l) => l.trim().to_owned(),
            None => match self.code {
                Some(c) => format!("exited with status {c}"),
                None => "killed by a signal".to_owned(),
            },
        }
    }
}

/// Why a program produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The program is not on `PATH`.
    #[error("{program}: not found on PATH")]
    NotFound {
        /// The program name.
        program: String,
    },
    /// The program could not be started.
    #[error("{program}: could not start: {message}")]
    Spawn {
        /// The program name.
        program: String,
        /// The OS error.
        message: String,
    },
    /// The program was killed at the deadline.
    #[error("{program}: timed out after {after_ms} ms and was killed")]
    Timeout {
        /// The program name.
        program: String,
        /// The budget it had.
        after_ms: u128,
    },
    /// Reading its output failed.
    #[error("{program}: reading its output failed: {message}")]
    Io {
        /// The program name.
        program: String,
        /// The OS error.
        message: String,
    },
}

impl CommandError {
    /// The probe error this becomes when the program was the probe's only
    /// source: missing means unavailable, killed means timeout.
    pub fn into_probe_error(self) -> ProbeError {
        match self {
            CommandError::NotFound { .. } => ProbeError::unavailable(self.to_string()),
            CommandError::Timeout { .. } => ProbeError::timeout(self.to_string()),
            _ => ProbeError::failed(self.to_string()),
        }
    }
}

/// Runs `program args`, handing stdout to `f` line by line (at most
/// `max_bytes`). If `f` breaks or the cap is hit, the program is killed:
/// we have what we wanted.
pub fn run_lines(
    program: &str,
    args: &[&str],
    deadline: &Deadline,
    max_bytes: u64,
    f: impl FnMut(&str) -> ControlFlow<()>,
) -> Result<Finished, CommandError> {
    let mut running = Running::start(program, args, deadline)?;
    let result = match running.stdout.take() {
        Some(stdout) => read_lines(stdout, max_bytes, deadline, false, f),
        None => Ok(LineStats::default()),
    };
    let early = matches!(&result, Ok(s) if s.truncated || s.stopped);
    running.finish(result, early)
}

/// Runs `program args` and returns stdout whole, capped at `max_bytes`;
/// the flag says whether it was cut.
pub fn run_capture(
    program: &str,
    args: &[&str],
    deadline: &Deadline,
    max_bytes: usize,
) -> Result<(Vec<u8>, bool, Finished), CommandError> {
    let mut running = Running::start(program, args, deadline)?;
    let Some(mut stdout) = running.stdout.take() else {
        let finished = running.finish(Ok(LineStats::default()), false)?;
        return Ok((Vec::new(), false, finished));
    };
    let mut out = Vec::with_capacity(8 * 1024);
    let mut truncated = false;
    let mut chunk = [0u8; 8 * 1024];
    let result = loop {
        match stdout.read(&mut chunk) {
            Ok(0) => break Ok(LineStats::default()),
            Ok(n) => {
                let room = max_bytes.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..n.min(room)]);
                if n > room {
                    truncated = true;
                    break Ok(LineStats::default());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    drop(stdout);
    let mut finished = running.finish(result, truncated)?;
    finished.stdout.bytes = out.len() as u64;
    finished.stdout.truncated = truncated;
    Ok((out, truncated, finished))
}

/// A started program with its watchdog and stderr reader.
struct Running {
    program: String,
    child: Child,
    stdout: Option<ChildStdout>,
    deadline: Deadline,
    watchdog: Option<(mpsc::Sender<()>, thread::JoinHandle<()>)>,
    timed_out: Arc<AtomicBool>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Running {
    fn start(program: &str, args: &[&str], deadline: &Deadline) -> Result<Self, CommandError> {
        if deadline.expired() {
            return Err(CommandError::Timeout {
                program: program.to_owned(),
                after_ms: deadline.budget().as_millis(),
            });
        }
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C")
            .env("SYSTEMD_PAGER", "")
            .env("PAGER", "cat")
            .env("SYSTEMD_COLORS", "0")
            .process_group(0)
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => CommandError::NotFound {
                    program: program.to_owned(),
                },
                _ => CommandError::Spawn {
                    program: program.to_owned(),
                    message: e.to_string(),
                },
            })?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let timed_out = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<()>();
        let flag = Arc::clone(&timed_out);
        let until = *deadline;
        // The watchdog kills the group if the program outlives the deadline
        // while we are blocked reading its stdout.
        let watchdog = thread::Builder::new()
            .name("watchdog".into())
            .stack_size(HELPER_STACK)
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(until.remaining()) {
                    flag.store(true, Ordering::SeqCst);
                    kill_group(pid);
                }
            })
            .ok()
            .map(|h| (tx, h));
        let stderr = child.stderr.take().and_then(|pipe| {
            thread::Builder::new()
                .name("stderr".into())
                .stack_size(HELPER_STACK)
                .spawn(move || read_capped(pipe, STDERR_CAP))
                .ok()
        });
        Ok(Self {
            program: program.to_owned(),
            child,
            stdout,
            deadline: *deadline,
            watchdog,
            timed_out,
            stderr,
        })
    }

    fn finish(
        mut self,
        read: io::Result<LineStats>,
        stopped_early: bool,
    ) -> Result<Finished, CommandError> {
        self.stdout = None;
        if stopped_early {
            // We have what we wanted; the rest of its output is not worth
            // the node's time.
            kill_group(self.child.id());
            let _ = self.child.kill();
        }
        // Waiting is bounded by the deadline.
        let status = self.wait_bounded();
        if let Some((tx, handle)) = self.watchdog.take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !stopped_early && (self.timed_out.load(Ordering::SeqCst) || status.is_none()) {
            return Err(CommandError::Timeout {
                program: self.program.clone(),
                after_ms: self.deadline.budget().as_millis(),
            });
        }
        let stdout = read.map_err(|e| CommandError::Io {
            program: self.program.clone(),
            message: e.to_string(),
        })?;
        Ok(Finished {
            code: status.and_then(|s| s.code()),
            stderr: stderr.trim().to_owned(),
            stdout,
            stopped_early,
        })
    }

    /// Polls for exit until the deadline, then kills. The child is not
    /// reaped before the kill, so its pid (the group id) cannot be reused.
    fn wait_bounded(&mut self) -> Option<ExitStatus> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => return None,
            }
            if self.deadline.expired() {
                self.timed_out.store(true, Ordering::SeqCst);
                kill_group(self.child.id());
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn read_capped(mut pipe: impl Read, cap: usize) -> String {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}
