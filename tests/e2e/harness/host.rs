//! One fake node: its sshd, its fixture directory, and the faults a test can
//! inflict on it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;

use super::command::{run_bounded, stdout_of};
use super::fixture;
use super::keys::{self, KeyPair};
use super::procfs;
use super::sshd::{self, SshdSettings, Startup};

/// How long one sshd may take to start listening.
pub const SSHD_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Host::ssh`] lets a command run.
pub const SSH_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// `MaxSessions` of every host unless a test sets another: high enough for
/// any fan-out a test runs.
const HIGH_MAX_SESSIONS: u32 = 1000;

/// Paths every host of a fleet shares.
pub(crate) struct FleetFiles {
    pub root: PathBuf,
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    pub authorized_keys: PathBuf,
}

/// A running (or starting) sshd of one host.
struct SshdProcess {
    /// The `setpriv`/`unshare` launcher; sshd is its only child.
    launcher: Child,
    /// sshd's pid, found once it listens; PID 1 of the host's namespace.
    sshd_pid: Option<u32>,
}

/// A fake node reachable over SSH as `name` through the fleet's ssh_config.
pub struct Host {
    name: String,
    listen: Mutex<SocketAddrV4>,
    fixture_dir: PathBuf,
    sshd_dir: PathBuf,
    files: Arc<FleetFiles>,
    host_key: Mutex<KeyPair>,
    sshd: Mutex<Option<SshdProcess>>,
    max_sessions: Mutex<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Host {
    pub(crate) fn new(
        name: String,
        listen: SocketAddrV4,
        files: Arc<FleetFiles>,
        host_key: KeyPair,
    ) -> Host {
        let fixture_dir = files.root.join("nodes").join(&name);
        let sshd_dir = files.root.join("sshd").join(&name);
        fs::create_dir_all(&sshd_dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", sshd_dir.display()));
        Host {
            name,
            listen: Mutex::new(listen),
            fixture_dir,
            sshd_dir,
            files,
            host_key: Mutex::new(host_key),
            sshd: Mutex::new(None),
            max_sessions: Mutex::new(HIGH_MAX_SESSIONS),
        }
    }

    /// The SSH name of this host, `node-K`, as used in the fleet's ssh_config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback address sshd listens on.
    pub fn addr(&self) -> Ipv4Addr {
        *lock(&self.listen).ip()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        lock(&self.listen).port()
    }

    /// Address and port together.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::V4(*lock(&self.listen))
    }

    /// This host's own copy of its node state (`bin/`, `data/`, `root/`);
    /// remote sessions see it as `$RUNBOOK_FIXTURE`.
    pub fn fixture_dir(&self) -> &Path {
        &self.fixture_dir
    }

    /// The fake filesystem root a probe agent reads (`$RUNBOOK_AGENT_ROOT`).
    pub fn agent_root(&self) -> PathBuf {
        self.fixture_dir.join("root")
    }

    /// The host's private key file that sshd currently serves.
    pub fn host_key(&self) -> KeyPair {
        lock(&self.host_key).clone()
    }

    /// Everything sshd logged for this host so far (`-e` output, all restarts).
    pub fn sshd_log(&self) -> String {
        sshd::log_since(&self.log_path(), 0)
    }

    /// Runs `command` on this host with plain `ssh -F <fleet ssh_config>`,
    /// under strict host key checking; bounded by [`SSH_COMMAND_TIMEOUT`].
    pub fn ssh(&self, command: &str) -> Output {
        run_bounded(&mut self.ssh_command(command), SSH_COMMAND_TIMEOUT)
    }

    /// Like [`Host::ssh`] but the command must succeed; returns its stdout.
    pub fn ssh_ok(&self, command: &str) -> String {
        stdout_of(
            &format!("`ssh {} {command}`", self.name),
            &self.ssh(command),
        )
    }

    /// The `ssh -F <config> node-K -- command` invocation, for tests that
    /// want to spawn it themselves (e.g. to keep a session open).
    pub fn ssh_command(&self, command: &str) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.arg("-F")
            .arg(&self.files.ssh_config)
            .arg(&self.name)
            .arg("--")
            .arg(command);
        ssh
    }

    /// Overwrites one file of this host's node state (`bin/…` becomes
    /// executable), e.g. `write_fixture_file("bin/systemctl", script)`.
    pub fn write_fixture_file(&self, relative: &str, contents: impl AsRef<[u8]>) {
        fixture::write_fixture_file(&self.fixture_dir, relative, contents.as_ref());
    }

    /// Reads one file of this host's node state.
    pub fn read_fixture_file(&self, relative: &str) -> String {
        let path = fixture::resolve_inside(&self.fixture_dir, relative);
        fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
    }

    /// Replaces this host's node state by a fresh copy of `state` (e.g.
    /// `"seed-oom"`); takes effect for the next remote command.
    pub fn set_state(&self, state: &str) {
        fixture::materialize_state(state, &self.fixture_dir);
    }

    /// The variables every SSH session on this host starts with.
    fn session_env(&self) -> Vec<(String, String)> {
        let fixture = self.fixture_dir.display().to_string();
        vec![
            (
                "PATH".into(),
                format!(
                    "{fixture}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ),
            ),
            ("RUNBOOK_AGENT_ROOT".into(), format!("{fixture}/root")),
            ("RUNBOOK_FIXTURE".into(), fixture),
            ("RUNBOOK_NODE_NAME".into(), self.name.clone()),
            // Debian's bash reads ~/.bashrc for `ssh host cmd` when SHLVL is
            // unset; a developer's ~/.bashrc that prepends to PATH would put
            // the real tools in front of the stand-ins. SHLVL=1 skips it.
            ("SHLVL".into(), "1".into()),
        ]
    }

    fn config_path(&self) -> PathBuf {
        self.sshd_dir.join("sshd_config")
    }

    fn log_path(&self) -> PathBuf {
        self.sshd_dir.join("sshd.log")
    }

    /// Writes this host's sshd_config for its current address and host key.
    pub(crate) fn write_sshd_config(&self) {
        let listen = *lock(&self.listen);
        let host_key = self.host_key();
        let env = self.session_env();
        let config = sshd::render_config(&SshdSettings {
            host_name: &self.name,
            listen,
            host_key: &host_key.private_key,
            authorized_keys: &self.files.authorized_keys,
            session_env: &env,
            max_sessions: *lock(&self.max_sessions),
        });
        fs::write(self.config_path(), config)
            .unwrap_or_else(|error| panic!("cannot write sshd_config for {}: {error}", self.name));
    }

    /// Lets one SSH connection have at most `channels` open at once
    /// (sshd's `MaxSessions`; its default is 10) and restarts sshd.
    pub fn limit_sessions(&self, channels: u32) {
        *lock(&self.max_sessions) = channels;
        self.write_sshd_config();
        self.stop_sshd();
        self.start_sshd();
    }

    /// Moves the host to a new address (before its first start only).
    pub(crate) fn set_listen_address(&self, listen: SocketAddrV4) {
        *lock(&self.listen) = listen;
        self.write_sshd_config();
    }

    /// Starts sshd without waiting; returns the log offset its output starts at.
    pub(crate) fn launch_sshd(&self) -> u64 {
        let mut sshd = lock(&self.sshd);
        assert!(sshd.is_none(), "sshd of {} is already running", self.name);
        let log_offset = sshd::log_len(&self.log_path());
        *sshd = Some(SshdProcess {
            launcher: sshd::launch(&self.config_path(), &self.log_path()),
            sshd_pid: None,
        });
        log_offset
    }

    /// How the start begun at `log_offset` is going. On `Listening` the sshd
    /// pid is recorded; on failure the dead launcher is forgotten.
    pub(crate) fn poll_startup(&self, log_offset: u64) -> Startup {
        let listen = *lock(&self.listen);
        let mut guard = lock(&self.sshd);
        let process = guard
            .as_mut()
            .unwrap_or_else(|| panic!("sshd of {} was not launched", self.name));
        let state =
            sshd::startup_state(&mut process.launcher, &self.log_path(), log_offset, listen);
        match state {
            Startup::Listening => {
                process.sshd_pid = procfs::children_of(process.launcher.id()).first().copied();
            }
            Startup::AddressInUse | Startup::Failed => *guard = None,
            Startup::Pending => {}
        }
        state
    }

    /// Panics with sshd's log: the start begun at `log_offset` failed.
    pub(crate) fn startup_failed(&self, log_offset: u64, why: &str) -> ! {
        panic!(
            "sshd for {} on {} {why}\nconfig: {}\n--- sshd stderr ---\n{}",
            self.name,
            self.socket_addr(),
            self.config_path().display(),
            sshd::log_since(&self.log_path(), log_offset)
        )
    }

    /// Starts sshd again on the same address and port and waits until it
    /// listens. Panics (with sshd's stderr) if it does not within 10 s.
    pub fn start_sshd(&self) {
        let log_offset = self.launch_sshd();
        let deadline = Instant::now() + SSHD_START_TIMEOUT;
        loop {
            match self.poll_startup(log_offset) {
                Startup::Listening => return,
                Startup::Pending if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5))
                }
                Startup::Pending => {
                    self.stop_sshd();
                    self.startup_failed(log_offset, "did not start listening within 10 s")
                }
                Startup::AddressInUse => self.startup_failed(
                    log_offset,
                    "could not restart: another process took its address",
                ),
                Startup::Failed => self.startup_failed(log_offset, "exited during start-up"),
            }
        }
    }

    /// True while this host's sshd runs.
    pub fn is_sshd_running(&self) -> bool {
        lock(&self.sshd).is_some()
    }

    /// Stops the host as seen over SSH: kills sshd, and with it every session
    /// and every process started through it (they share its PID namespace).
    /// New connections are refused until [`Host::start_sshd`].
    pub fn stop_sshd(&self) {
        let signalled = self.signal_stop();
        if let Some(pid) = signalled {
            procfs::send_signal("KILL", &[pid]);
        }
        if let Err(problem) = self.reap_stopped() {
            panic!("{problem}");
        }
    }

    /// First half of a stop: finds sshd's pid to signal (the caller sends
    /// SIGKILL, so a fleet can signal all hosts at once). If sshd never came
    /// up, kills the launcher instead.
    pub(crate) fn signal_stop(&self) -> Option<u32> {
        let mut guard = lock(&self.sshd);
        let process = guard.as_mut()?;
        let sshd_pid = process
            .sshd_pid
            .or_else(|| procfs::children_of(process.launcher.id()).first().copied());
        if sshd_pid.is_none() {
            let _ = process.launcher.kill();
        }
        sshd_pid
    }

    /// Second half of a stop: waits (at most 10 s) for the launcher to exit,
    /// which it does once sshd and the rest of the namespace are gone. Never
    /// panics, so that `Drop` can use it while a test is unwinding.
    pub(crate) fn reap_stopped(&self) -> Result<(), String> {
        let Some(mut process) = lock(&self.sshd).take() else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(process.launcher.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = process.launcher.kill();
                let _ = process.launcher.wait();
                return Err(format!(
                    "sshd of {} did not exit within 10 s of SIGKILL",
                    self.name
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// PID namespace of this host's sshd, if it runs.
    fn namespace(&self) -> Option<PathBuf> {
        let pid = lock(&self.sshd).as_ref()?.sshd_pid?;
        procfs::pid_namespace(pid)
    }

    fn sshd_pid(&self) -> Option<u32> {
        lock(&self.sshd).as_ref()?.sshd_pid
    }

    /// Kills every SSH connection of this host (the per-connection sshd
    /// processes and all their commands) but keeps the listener, so new
    /// connections succeed. Waits until they are gone (at most 10 s).
    pub fn kill_connections(&self) {
        let (Some(namespace), Some(listener)) = (self.namespace(), self.sshd_pid()) else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let victims: Vec<u32> = procfs::processes_in(&namespace)
                .into_iter()
                .filter(|&pid| pid != listener)
                .collect();
            if victims.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connections of {} survived SIGKILL for 10 s: pids {victims:?}",
                self.name
            );
            procfs::send_signal("KILL", &victims);
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pids (as seen from the test) of this host's processes whose command
    /// line matches the regex `pattern`, like `pgrep -f`. Covers everything
    /// started through this host's sshd, including sshd itself, detached
    /// and orphaned processes; empty while sshd is stopped.
    pub fn pgrep(&self, pattern: &str) -> Vec<u32> {
        let regex = Regex::new(pattern)
            .unwrap_or_else(|error| panic!("bad pgrep pattern `{pattern}`: {error}"));
        let Some(namespace) = self.namespace() else {
            return Vec::new();
        };
        procfs::processes_in(&namespace)
            .into_iter()
            .filter(|&pid| procfs::command_line(pid).is_some_and(|line| regex.is_match(&line)))
            .collect()
    }

    /// Gives sshd a brand-new host key and restarts it on the same address.
    /// The fleet's known_hosts still holds the old key, so a strict client
    /// now fails with "REMOTE HOST IDENTIFICATION HAS CHANGED".
    pub fn rotate_host_key(&self) {
        let generation = fs::read_dir(&self.sshd_dir).map_or(0, |entries| entries.count());
        let key_path = self
            .sshd_dir
            .join(format!("ssh_host_ed25519_key.{generation}"));
        let new_key = keys::generate(&key_path, &format!("rotated key of {}", self.name));
        *lock(&self.host_key) = new_key;
        self.write_sshd_config();
        self.stop_sshd();
        self.start_sshd();
    }
}
