//! The SSH transport over the system OpenSSH client (the `openssh` crate,
//! native multiplexing): one master connection per host, every step a new
//! channel on it, `~/.ssh/config` honoured, host keys checked strictly by
//! default. A lost master is re-established on the next command.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::sync::{Mutex, Semaphore};

use super::capture::{read_optional, read_stderr_with_pid};
use super::kept::{self, KeptMasters};
use super::nodelay::{NodelayConfig, NO_CONNECTION_PASSED};
use super::syslog::RemoteSyslog;
use super::wrap::{kill_command, wrap_command};
use super::{Destination, ExecOutput, ExecRequest, Transport, TransportError};

/// How long a stopped command may take to report its process group.
const PGID_GRACE: Duration = Duration::from_secs(5);

/// sshd's default `MaxSessions` (channels open at once on one connection).
const SSHD_DEFAULT_MAX_SESSIONS: usize = 10;

/// SSH settings from the command line.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// `-F FILE`.
    pub config_file: Option<PathBuf>,
    /// `-i KEY`.
    pub identity: Option<PathBuf>,
    /// Default login user.
    pub user: Option<String>,
    /// Accept unknown host keys (never changed ones).
    pub accept_new_host_keys: bool,
    /// TCP + handshake time limit.
    pub connect_timeout: Duration,
    /// Where control sockets live.
    pub control_dir: PathBuf,
    /// Commands run at once on one connection; more wait for a free
    /// channel. Two more channels stay free: the syslog line's and one to
    /// kill a timed-out command, so the sum stays within the host's
    /// `MaxSessions` (10 by default, so 8 here).
    pub channels_per_host: usize,
    /// Keep masters for later runs and use ones earlier runs kept.
    pub keep: Option<KeepConnections>,
    /// Connect through the engine's TCP_NODELAY proxy (this configuration
    /// includes `config_file`, or ssh's default files).
    pub nodelay: Option<Arc<NodelayConfig>>,
}

/// `--keep-connections IDLE`: masters outlive the run by IDLE without use.
#[derive(Debug, Clone)]
pub struct KeepConnections {
    /// Where kept masters live.
    pub masters: KeptMasters,
    /// How long a kept master waits unused before it exits.
    pub idle: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            config_file: None,
            identity: None,
            user: None,
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            control_dir: std::env::temp_dir(),
            channels_per_host: SSHD_DEFAULT_MAX_SESSIONS - 2,
            keep: None,
            nodelay: None,
        }
    }
}

/// A multiplexed SSH connection to one host.
pub struct SshTransport {
    destination: Destination,
    options: SshOptions,
    session: Mutex<Option<Arc<Session>>>,
    /// Free channels for commands.
    channels: Semaphore,
    /// The one channel kept for killing timed-out commands.
    kill_channel: Semaphore,
    syslog: RemoteSyslog,
    /// The first session was a master kept by an earlier run.
    reused: AtomicBool,
}

impl SshTransport {
    /// Opens the master connection.
    pub async fn connect(
        destination: &Destination,
        options: &SshOptions,
    ) -> Result<SshTransport, TransportError> {
        check_destination(destination, options)?;
        let transport = SshTransport {
            destination: destination.clone(),
            options: options.clone(),
            session: Mutex::new(None),
            channels: Semaphore::new(options.channels_per_host.max(1)),
            kill_channel: Semaphore::new(1),
            syslog: RemoteSyslog::new(),
            reused: AtomicBool::new(false),
        };
        transport.session().await?;
        Ok(transport)
    }

    /// Whether this host connects through the engine's TCP_NODELAY proxy.
    async fn uses_nodelay(&self) -> bool {
        match &self.options.nodelay {
            Some(proxy) => {
                proxy
                    .applies_to(
                        self.login_user(),
                        self.destination.port,
                        &self.destination.address,
                    )
                    .await
            }
            None => false,
        }
    }

    fn builder(&self, nodelay: bool) -> SessionBuilder {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if self.options.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        });
        b.connect_timeout(self.options.connect_timeout);
        b.server_alive_interval(Duration::from_secs(15));
        b.control_directory(&self.options.control_dir);
        // Masters outlive a crashed engine by a minute at most.
        if let Some(idle) = std::num::NonZeroUsize::new(60) {
            b.control_persist(ControlPersist::IdleFor(idle));
        }
        match (&self.options.nodelay, &self.options.config_file) {
            (Some(proxy), _) if nodelay => {
                b.config_file(proxy.path());
            }
            (_, Some(f)) => {
                b.config_file(f);
            }
            (_, None) => {}
        }
        if let Some(k) = &self.options.identity {
            b.keyfile(k);
        }
        if let Some(u) = self.login_user() {
            b.user(u.to_string());
        }
        if let Some(p) = self.destination.port {
            b.port(p);
        }
        b
    }

    /// The live session, connecting (again) when there is none.
    async fn session(&self) -> Result<Arc<Session>, TransportError> {
        let mut current = self.session.lock().await;
        if let Some(s) = current.as_ref() {
            return Ok(s.clone());
        }
        let host = self.destination.name.clone();
        let mut kept_dir = None;
        if let Some(keep) = &self.options.keep {
            let dir = keep
                .masters
                .slot(&self.settings(), &self.describe())
                .map_err(|e| TransportError::Connect {
                    host: host.clone(),
                    reason: format!("--keep-connections: {e}"),
                })?;
            if let Some(session) = kept::resume_live(&dir).await {
                let session = Arc::new(session);
                self.reused.store(true, Ordering::Relaxed);
                *current = Some(session.clone());
                return Ok(session);
            }
            kept_dir = Some((dir, keep.idle));
        }
        let mut builder = self.builder(self.uses_nodelay().await);
        if let Some((dir, idle)) = kept_dir {
            builder.control_directory(&dir);
            let idle = usize::try_from(idle.as_secs()).unwrap_or(usize::MAX);
            if let Some(idle) = std::num::NonZeroUsize::new(idle) {
                builder.control_persist(ControlPersist::IdleFor(idle));
            }
        }
        let backstop = self.options.connect_timeout + Duration::from_secs(5);
        let connected =
            tokio::time::timeout(backstop, builder.connect_mux(&self.destination.address)).await;
        let session = match connected {
            Err(_) => {
                return Err(TransportError::Connect {
                    host,
                    reason: format!("no answer within {}s", backstop.as_secs()),
                })
            }
            Ok(Err(e)) => return Err(self.connect_error(&e)),
            Ok(Ok(s)) => Arc::new(s),
        };
        // Kept masters are meant to outlive this process; the rest are
        // closed even on a forced exit.
        if self.options.keep.is_none() {
            masters().insert(session.control_socket().to_path_buf());
        }
        *current = Some(session.clone());
        Ok(session)
    }

    /// What went wrong connecting, with the proxy's own reason when ssh
    /// only says that the proxy passed no connection back.
    fn connect_error(&self, e: &openssh::Error) -> TransportError {
        let error = classify_connect_error(&self.destination.name, e);
        let proxy_failure = self
            .options
            .nodelay
            .as_ref()
            .filter(|_| error_text(e).contains(NO_CONNECTION_PASSED))
            .and_then(|n| n.failure(&self.destination.address));
        match (error, proxy_failure) {
            (TransportError::Connect { host, .. }, Some(reason)) => TransportError::Connect {
                host,
                reason: format!("failed to connect: {reason}"),
            },
            (error, _) => error,
        }
    }

    /// Everything that decides which host a master reaches and how: two
    /// runs share a kept master only when they would make the same
    /// connection.
    fn settings(&self) -> Vec<String> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        vec![
            self.destination.address.clone(),
            self.login_user().unwrap_or_default().to_string(),
            self.destination
                .port
                .map(|p| p.to_string())
                .unwrap_or_default(),
            path(&self.options.config_file),
            path(&self.options.identity),
            self.options.accept_new_host_keys.to_string(),
        ]
    }

    /// `user@address:port` for `runbook connections`.
    fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(user) = self.login_user() {
            text.push_str(user);
            text.push('@');
        }
        text.push_str(&self.destination.address);
        if let Some(port) = self.destination.port {
            text.push_str(&format!(":{port}"));
        }
        if let Some(config) = &self.options.config_file {
            text.push_str(&format!(" (-F {})", config.display()));
        }
        text
    }

    fn login_user(&self) -> Option<&str> {
        self.destination
            .user
            .as_deref()
            .or(self.options.user.as_deref())
    }

    /// Forgets a broken session so the next command reconnects.
    async fn forget(&self, broken: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, broken)) {
            masters().remove(broken.control_socket());
            *slot = None;
        }
    }

    async fn kill_remote(&self, session: &Session, pgid: i32) {
        let _channel = self.kill_channel.acquire().await;
        let cmd = kill_command(pgid);
        let mut kill = session.raw_command(cmd);
        kill.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = tokio::time::timeout(Duration::from_secs(5), kill.status()).await;
    }
}

fn error_text(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    // ssh's own log lines come with `\r\n` between them; the message ends
    // up on one line of a table, a progress line and the audit.
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn classify_connect_error(host: &str, e: &openssh::Error) -> TransportError {
    let text = error_text(e);
    let host = host.to_string();
    let lower = text.to_lowercase();
    if lower.contains("host identification has changed")
        || lower.contains("host key verification failed")
        || lower.contains("host key for")
    {
        let reason = if lower.contains("changed") {
            "the key it offered does not match known_hosts: the host was reinstalled, or someone is intercepting the connection. Check it, then update known_hosts (`ssh-keygen -R HOST`)".to_string()
        } else {
            "its key is not in known_hosts (strict host-key checking). Add it after checking the fingerprint, or pass --accept-new-host-keys to trust keys of new hosts on first use".to_string()
        };
        TransportError::HostKey { host, reason }
    } else if lower.contains("permission denied") || lower.contains("authentication") {
        TransportError::Auth { host, reason: text }
    } else {
        TransportError::Connect { host, reason: text }
    }
}

#[async_trait]
impl Transport for SshTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        // Waiting for a channel is part of the command's time, so a
        // fan-out wider than the host allows still ends at its timeout.
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + req.timeout);
        let _channel = tokio::select! {
            permit = self.channels.acquire() => permit,
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(ExecOutput { timed_out: true, duration: started.elapsed(), ..Default::default() })
            }
            _ = req.cancel.cancelled() => {
                return Ok(ExecOutput { cancelled: true, duration: started.elapsed(), ..Default::default() })
            }
        };
        let session = self.session().await?;
        let host = self.destination.name.clone();
        let wrapped = wrap_command(&req.command, &req.env);
        let mut command = session.raw_command(&wrapped);
        command
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut spawned = command.spawn().await;
        // A host that allows very few channels per connection (a hardened
        // `MaxSessions 1`) has none left beside the syslog's: give that one
        // up for the command.
        if spawned.is_err() && self.syslog.give_up(&self.destination.name).await {
            spawned = command.spawn().await;
        }
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let alive = session.check().await.is_ok();
                if !alive {
                    self.forget(&session).await;
                }
                let reason = error_text(&e);
                return Err(if alive {
                    TransportError::Spawn { host, reason }
                } else {
                    TransportError::Disconnected { host, reason }
                });
            }
        };
        let stdout = child.stdout().take();
        let stderr = child.stderr().take();
        let feed = super::feed_stdin(child.stdin().take(), req.stdin.clone());
        let limit = req.output_limit;
        let pgid: Arc<OnceLock<i32>> = Arc::new(OnceLock::new());
        let pgid_writer = pgid.clone();
        let work = async {
            let out = read_optional(stdout, limit);
            let err = async {
                match stderr {
                    Some(s) => {
                        read_stderr_with_pid(s, limit, |p| {
                            let _ = pgid_writer.set(p);
                        })
                        .await
                    }
                    None => Ok(Default::default()),
                }
            };
            let (out, err, _) = tokio::join!(out, err, feed);
            let status = match child.wait().await {
                // openssh reports exit status 127 as an error ("remote
                // command not found"); it is an exit code like any other
                // (a tool missing on the host is an answer), not a lost
                // connection.
                Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(std::os::unix::process::ExitStatusExt::from_raw(127 << 8))
                }
                other => other,
            };
            (out, err, status)
        };
        tokio::pin!(work);
        let mut timed_out = false;
        let mut cancelled = false;
        let stop = tokio::select! {
            r = &mut work => Ok(r),
            _ = tokio::time::sleep_until(deadline) => { timed_out = true; Err(()) }
            _ = req.cancel.cancelled() => { cancelled = true; Err(()) }
        };
        let (out, err, status) = match stop {
            Ok(r) => r,
            Err(()) => {
                // Past the limit before the host reported the process group
                // (a limit shorter than a round trip, or a host too sick to
                // start a shell in time): wait for the report, so that the
                // command is killed rather than left to run once it starts.
                let grace = Instant::now() + PGID_GRACE;
                let mut ended = None;
                while pgid.get().is_none() && Instant::now() < grace {
                    tokio::select! {
                        r = &mut work => { ended = Some(r); break; }
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    }
                }
                if let Some(&p) = pgid.get() {
                    self.kill_remote(&session, p).await;
                }
                let ended = match ended {
                    Some(r) => Ok(r),
                    None => tokio::time::timeout(Duration::from_secs(5), &mut work).await,
                };
                match ended {
                    Ok(r) => r,
                    Err(_) => {
                        return Ok(ExecOutput {
                            exit_code: None,
                            duration: started.elapsed(),
                            timed_out,
                            cancelled,
                            ..Default::default()
                        })
                    }
                }
            }
        };
        let lost = |reason: String| TransportError::Disconnected {
            host: host.clone(),
            reason,
        };
        let status = match status {
            Ok(s) => Some(s),
            Err(e) if timed_out || cancelled => {
                let _ = e;
                None
            }
            Err(e) => {
                if session.check().await.is_err() {
                    self.forget(&session).await;
                }
                return Err(lost(error_text(&e)));
            }
        };
        let stdout = out.map_err(|e| lost(e.to_string()))?;
        let stderr = err.map_err(|e| lost(e.to_string()))?;
        if status.is_some() && pgid.get().is_none() && !timed_out && !cancelled {
            // The wrapper always reports first; silence means the channel died.
            if session.check().await.is_err() {
                self.forget(&session).await;
                return Err(lost(
                    "the command ended without output from the shell".into(),
                ));
            }
        }
        Ok(ExecOutput {
            exit_code: if timed_out || cancelled {
                None
            } else {
                status.and_then(|s| s.code())
            },
            stdout,
            stderr,
            duration: started.elapsed(),
            timed_out,
            cancelled,
        })
    }

    async fn close(&self) {
        self.syslog.close().await;
        let session = self.session.lock().await.take();
        if let Some(s) = session {
            masters().remove(s.control_socket());
            if let Ok(s) = Arc::try_unwrap(s) {
                if self.options.keep.is_some() {
                    // Left running for the next run; ControlPersist ends it.
                    let _ = s.detach();
                } else {
                    let _ = tokio::time::timeout(Duration::from_secs(5), s.close()).await;
                }
            }
        }
    }

    fn reused(&self) -> bool {
        self.reused.load(Ordering::Relaxed)
    }

    async fn syslog(&self, line: &str) {
        if let Ok(session) = self.session().await {
            self.syslog
                .write(&session, line, &self.destination.name)
                .await;
        }
    }

    async fn is_alive(&self) -> bool {
        let session = self.session.lock().await.clone();
        let Some(session) = session else {
            return false;
        };
        // The master answers this itself, over its local control socket.
        let alive = matches!(
            tokio::time::timeout(Duration::from_secs(5), session.check()).await,
            Ok(Ok(()))
        );
        if !alive {
            self.forget(&session).await;
        }
        alive
    }
}

/// Control sockets of the SSH masters this process has open.
fn masters() -> std::sync::MutexGuard<'static, HashSet<PathBuf>> {
    static MASTERS: OnceLock<StdMutex<HashSet<PathBuf>>> = OnceLock::new();
    MASTERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tells every SSH master this process opened to exit now (`ssh -O
/// exit`), waiting at most `within`. For a forced exit (a second Ctrl-C),
/// which skips the orderly close: the masters would otherwise outlive the
/// engine by their `ControlPersist` time, holding the hosts' sessions open.
pub fn terminate_masters(within: Duration) {
    let sockets: Vec<PathBuf> = masters().drain().collect();
    let deadline = Instant::now() + within;
    let mut children: Vec<std::process::Child> = sockets
        .iter()
        .filter_map(|socket| exit_request(socket).spawn().ok())
        .collect();
    while !children.is_empty() && Instant::now() < deadline {
        children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        std::thread::sleep(Duration::from_millis(5));
    }
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn exit_request(socket: &Path) -> std::process::Command {
    let mut command = std::process::Command::new("ssh");
    command
        .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-S"])
        .arg(socket)
        .args(["-O", "exit", "runbook-master"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Refuses an address or user that ssh would not take as one: one that
/// starts with `-` (ssh would read it as an option, and
/// `-oProxyCommand=…` runs a command here), or that has whitespace,
/// control characters or shell metacharacters (which ssh_config tokens
/// like `%h` and `%r` would carry into a `ProxyCommand` or `Match exec`).
/// OpenSSH 9.6 and later refuse the same on their command line; older
/// clients do not.
fn check_destination(
    destination: &Destination,
    options: &SshOptions,
) -> Result<(), TransportError> {
    let refuse = |what: &str, value: &str, why: &str| TransportError::BadDestination {
        host: destination.name.clone(),
        reason: format!(
            "{what} `{}` is not a valid SSH destination: {why}",
            value.escape_debug()
        ),
    };
    let address = destination.address.as_str();
    // The `ssh://user@host:port` form is taken apart before ssh sees it.
    let host = address.strip_prefix("ssh://").unwrap_or(address);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    for (what, value) in [("address", address), ("host", host)] {
        if value.is_empty() {
            return Err(refuse(what, value, "it is empty"));
        }
        if let Some(why) = unsafe_for_ssh(value) {
            return Err(refuse(what, value, why));
        }
    }
    if let Some(user) = destination.user.as_ref().or(options.user.as_ref()) {
        if let Some(why) = unsafe_for_ssh(user) {
            return Err(refuse("user", user, why));
        }
    }
    Ok(())
}

fn unsafe_for_ssh(value: &str) -> Option<&'static str> {
    if value.starts_with('-') {
        Some("it starts with `-` and would be read as an option")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains whitespace or control characters")
    } else if value.contains([
        '\'', '"', '`', '$', '\\', ';', '&', '<', '>', '|', '(', ')', '{', '}',
    ]) {
        Some("it contains shell metacharacters")
    } else {
        None
    }
}
