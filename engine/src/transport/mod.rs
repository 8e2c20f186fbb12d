//! Transports run one command on one machine and bring back its bounded
//! output. The executor only sees these traits, so SSH, the local machine
//! and recorded outputs (scenario tests) plug in alike.

pub mod capture;
pub mod kept;
pub mod local;
pub mod nodelay;
pub mod replay;
pub mod ssh;
mod syslog;
mod wrap;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use capture::Captured;
pub use wrap::wrap_command;

/// A machine to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Name shown to people (`node-15`).
    pub name: String,
    /// SSH destination (address or ssh_config alias); ignored when local.
    pub address: String,
    /// Login user.
    pub user: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Run on this machine instead.
    pub local: bool,
}

impl Destination {
    /// This machine.
    pub fn local() -> Destination {
        Destination {
            name: "local".into(),
            address: "localhost".into(),
            user: None,
            port: None,
            local: true,
        }
    }
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The step it belongs to (transports that replay recordings key on it).
    pub step_id: String,
    /// The shell command, already rendered and quoted.
    pub command: String,
    /// Environment to set for it (run id, step).
    pub env: Vec<(String, String)>,
    /// Time limit; at the limit the whole process tree is killed.
    pub timeout: Duration,
    /// Bytes kept per stream.
    pub output_limit: usize,
    /// Cancelled on interruption: kill the command and return.
    pub cancel: CancellationToken,
    /// Bytes fed to the command's stdin (closed after them); `None`: no stdin.
    pub stdin: Option<Arc<[u8]>>,
}

impl ExecRequest {
    /// A request for `command` with the usual limits and no stdin.
    pub fn new(
        step_id: &str,
        command: String,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Self {
        ExecRequest {
            step_id: step_id.to_string(),
            command,
            env: Vec::new(),
            timeout,
            output_limit: 1 << 20,
            cancel,
            stdin: None,
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit code (`None` when killed by a signal or on timeout).
    pub exit_code: Option<i32>,
    /// Stdout.
    pub stdout: Captured,
    /// Stderr.
    pub stderr: Captured,
    /// Wall time.
    pub duration: Duration,
    /// Killed at its time limit.
    pub timed_out: bool,
    /// Killed because the run was interrupted.
    pub cancelled: bool,
}

/// Failures of the world, not of the runbook.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// TCP/SSH connection failed (refused, unreachable, timed out).
    #[error("cannot connect to {host}: {reason}")]
    Connect {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The host's key is not the one in known_hosts (or unknown under strict checking).
    #[error("host key of {host} cannot be verified: {reason}")]
    HostKey {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
    /// Authentication failed.
    #[error("cannot log in to {host}: {reason}")]
    Auth {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The connection dropped while a command ran.
    #[error("connection to {host} was lost: {reason}")]
    Disconnected {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The command could not be started.
    #[error("cannot run the command on {host}: {reason}")]
    Spawn {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
    /// A recorded-output transport has no recording for this step.
    #[error("{0}")]
    NotRecorded(String),
    /// The address or user cannot be handed to ssh: it would be read as
    /// an option (`-oProxyCommand=…` runs a command on this machine) or
    /// carries characters no host name or user name has. Addresses can
    /// come from params and remote output (`targets:`), so this is a
    /// refusal, not a retryable failure.
    #[error("cannot connect to {host}: {reason}")]
    BadDestination {
        /// Host.
        host: String,
        /// Why.
        reason: String,
    },
}

impl TransportError {
    /// A short stable name for records.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Connect { .. } => "connect",
            TransportError::HostKey { .. } => "host_key",
            TransportError::Auth { .. } => "auth",
            TransportError::Disconnected { .. } => "disconnected",
            TransportError::Spawn { .. } => "spawn",
            TransportError::NotRecorded(_) => "not_recorded",
            TransportError::BadDestination { .. } => "bad_destination",
        }
    }

    /// Whether trying again could help (a changed host key never does).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            TransportError::HostKey { .. }
                | TransportError::Auth { .. }
                | TransportError::NotRecorded(_)
                | TransportError::BadDestination { .. }
        )
    }
}

/// A live connection to one machine.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Runs one command.
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, TransportError>;
    /// Closes the connection (best effort).
    async fn close(&self);
    /// Writes `line` to the machine's own system log, tagged `runbook`, so
    /// that the host's logs can be joined with the audit trail. Best
    /// effort: it never fails or noticeably delays a step, and transports
    /// with no remote log of their own (local, recorded outputs) ignore it.
    async fn syslog(&self, line: &str) {
        let _ = line;
    }
    /// Whether this connection is one an earlier run kept open
    /// (`--keep-connections`) rather than a new login.
    fn reused(&self) -> bool {
        false
    }
    /// Whether the connection can still start a command. The executor
    /// asks before reusing a connection, so that one that died between
    /// two steps (an SSH master killed or OOM-killed) is replaced by a new
    /// one, recorded as such, instead of failing a step that never started.
    async fn is_alive(&self) -> bool {
        true
    }
}

/// Opens transports.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects to `destination`.
    async fn connect(
        &self,
        destination: &Destination,
    ) -> Result<Arc<dyn Transport>, TransportError>;
}

/// Connects `local` destinations to this machine and the rest over SSH.
pub struct DefaultConnector {
    /// SSH settings.
    pub ssh: ssh::SshOptions,
}

#[async_trait]
impl Connector for DefaultConnector {
    async fn connect(
        &self,
        destination: &Destination,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        if destination.local {
            Ok(Arc::new(local::LocalTransport::new()))
        } else {
            Ok(Arc::new(
                ssh::SshTransport::connect(destination, &self.ssh).await?,
            ))
        }
    }
}

/// Writes `data` to a child's stdin and closes it (errors ignored: a
/// command that exits early simply did not want the rest).
pub(crate) async fn feed_stdin<W: tokio::io::AsyncWrite + Unpin>(
    stdin: Option<W>,
    data: Option<Arc<[u8]>>,
) {
    use tokio::io::AsyncWriteExt;
    if let (Some(mut w), Some(data)) = (stdin, data) {
        let _ = w.write_all(&data).await;
        let _ = w.shutdown().await;
    }
}
