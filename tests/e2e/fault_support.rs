//! What the `fault_*` and `abuse_*` tests share beyond `run_support`:
//! reading and verifying an audit file, running the engine inside a
//! network or mount namespace of its own (for faults loopback cannot
//! make), a TCP proxy that delays every chunk, inventories, and finding
//! the SSH master processes a run opened.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::{NamedTempFile, TempDir};

use crate::harness::{processes_mentioning, run_bounded};
use crate::run_support::{hermetic, runbooks_dir, RunOutput};

/// The `runbook` binary under test.
pub fn engine() -> &'static str {
    env!("CARGO_BIN_EXE_runbook")
}

/// `runbook audit verify FILE`: exit code and everything it printed.
pub fn verify(path: &Path) -> (Option<i32>, String) {
    let output = run_bounded(
        Command::new(engine())
            .args(["audit", "verify", "--color", "never"])
            .arg(path),
        Duration::from_secs(30),
    );
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Asserts that the audit file verifies (intact chain, sealed).
pub fn assert_verified(path: &Path) {
    let (code, out) = verify(path);
    assert_eq!(code, Some(0), "audit verify {}:\n{out}", path.display());
}

/// An inventory file with `hosts:` given as YAML lines
/// (`name: { address: …, port: … }`).
pub fn inventory(hosts: &[String]) -> NamedTempFile {
    let file = tempfile::Builder::new()
        .prefix("runbook-e2e-inventory-")
        .suffix(".yaml")
        .tempfile()
        .expect("temp inventory");
    let mut text = String::from("hosts:\n");
    for h in hosts {
        text.push_str("  ");
        text.push_str(h);
        text.push('\n');
    }
    fs::write(file.path(), text).expect("write inventory");
    file
}

/// JSON string literal (YAML accepts it), for hostile names and values.
pub fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Pids of the SSH masters (`ssh … -M …`) whose command line names `marker`
/// (a fleet's engine `TMPDIR`).
pub fn ssh_masters(marker: &Path) -> Vec<u32> {
    ssh_master_lines(marker)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The SSH masters naming `marker`, with their command lines.
pub fn ssh_master_lines(marker: &Path) -> Vec<(u32, String)> {
    processes_mentioning(&marker.display().to_string())
        .into_iter()
        .filter(|(_, line)| {
            let mut args = line.split(' ');
            args.next().is_some_and(|a| a.ends_with("ssh")) && args.any(|a| a == "-M")
        })
        .collect()
}

/// Sends `signal` to `pid` (ignoring a process that is already gone).
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits"));
    let _ = nix::sys::signal::kill(pid, signal);
}

/// Waits (polling) until `done` holds; panics with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that `text` carries no raw terminal control character (ESC,
/// BEL, CSI U+009B, any other C0/C1 control) besides newline, tab and
/// carriage return.
pub fn assert_no_control_bytes(what: &str, text: &str) {
    let bad: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        .collect();
    if let Some(&(at, c)) = bad.first() {
        let line = text[..at].lines().count();
        panic!("{what} has a raw control character {c:?} on line {line}:\n{text:?}");
    }
}

/// A run of the engine inside namespaces of its own (`unshare`), where a
/// shell `setup` prepares the namespace and then runs the engine as
/// `"$@"`: for faults that need a network or a mount no other process on
/// this machine sees. The audit dir is a temp dir outside the namespace
/// unless the setup says otherwise (it gets it as `$RUNBOOK_E2E_AUDIT`).
pub struct NsRun {
    unshare: Vec<&'static str>,
    setup: String,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    audit_dir: TempDir,
    timeout: Duration,
}

impl NsRun {
    /// `unshare UNSHARE… -- sh -c SETUP runbook run RUNBOOK --runbooks … --audit-dir …`.
    pub fn new(unshare: &[&'static str], setup: &str, runbook: &str) -> NsRun {
        let audit_dir = tempfile::Builder::new()
            .prefix("runbook-e2e-audit-")
            .tempdir()
            .expect("temp audit dir");
        let mut args: Vec<OsString> = ["run", runbook, "--color", "never", "--runbooks"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(runbooks_dir().into());
        NsRun {
            unshare: unshare.to_vec(),
            setup: setup.to_string(),
            args,
            env: Vec::new(),
            audit_dir,
            timeout: Duration::from_secs(60),
        }
    }

    /// More engine arguments.
    pub fn args<I, S>(mut self, args: I) -> NsRun
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the setup script and the engine.
    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> NsRun {
        self.env.push((name.to_string(), value.into()));
        self
    }

    /// The audit dir outside the namespace.
    pub fn audit_dir(&self) -> &Path {
        self.audit_dir.path()
    }

    /// Bound on the whole run.
    pub fn timeout(mut self, timeout: Duration) -> NsRun {
        self.timeout = timeout;
        self
    }

    /// Runs it to the end. `--audit-dir` is the caller's to pass (the setup
    /// may mount something there first).
    pub fn output(self) -> RunOutput {
        let mut command = Command::new("unshare");
        command
            .args(&self.unshare)
            .args(["--", "sh", "-c", &self.setup, "runbook", engine()])
            .args(&self.args)
            .env("RUNBOOK_E2E_AUDIT", self.audit_dir.path());
        hermetic(&mut command);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        RunOutput::run(&mut command, self.timeout, self.audit_dir, None)
    }
}

/// A TCP proxy on loopback that forwards to `upstream` and sleeps `delay`
/// before passing on each chunk it reads, in both directions: a host
/// that answers, but very slowly. Stops (closing every connection) when
/// dropped.
pub struct DelayProxy {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on `listen` (port 0: any).
    pub fn start(listen: SocketAddr, upstream: SocketAddr, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind(listen)
            .unwrap_or_else(|e| panic!("cannot listen on {listen} for the proxy: {e}"));
        let address = listener.local_addr().expect("proxy address");
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let acceptor = {
            let stop = stop.clone();
            let streams = streams.clone();
            thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                    else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        continue;
                    };
                    if let Ok(mut all) = streams.lock() {
                        for s in [&client, &server] {
                            if let Ok(s) = s.try_clone() {
                                all.push(s);
                            }
                        }
                    }
                    thread::spawn(move || pump(client, s2, delay));
                    thread::spawn(move || pump(server, c2, delay));
                }
            })
        };
        DelayProxy {
            address,
            stop,
            streams,
            acceptor: Some(acceptor),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                thread::sleep(delay);
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Ok(all) = self.streams.lock() {
            for s in all.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}
