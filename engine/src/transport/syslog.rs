//! The host's half of the audit trail over SSH: one `logger -t runbook`
//! per connection, reading lines from a long-lived channel. Each step's
//! syslog line is then a write into that channel, not a process started
//! on the host before every command (which cost 1–2 ms of host CPU per
//! step; see bench/README.md).

use std::sync::Arc;
use std::time::Duration;

use openssh::{Child, ChildStdin, Session, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// What runs on the host: `logger` logs every line of its stdin; on a
/// host without it the lines are read and dropped, so writes never block.
const REMOTE_LOGGER: &str =
    "command -v logger >/dev/null 2>&1 && exec logger -t runbook 2>/dev/null; exec cat >/dev/null";

/// A write that takes longer than this means the host stopped reading
/// (its `logger` hangs); the log is given up rather than delaying steps.
const WRITE_LIMIT: Duration = Duration::from_millis(500);

/// How long closing waits for `logger` to read its last lines and exit.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

enum State {
    /// No line written yet: the channel opens on the first one.
    Idle,
    /// `logger` runs.
    Open(Box<Channel>),
    /// The channel could not be opened or stopped taking lines.
    Off,
}

/// A running `logger` and the connection it runs on.
struct Channel {
    session: Arc<Session>,
    child: Child<Arc<Session>>,
    stdin: ChildStdin,
}

/// The `logger` channel of one SSH connection.
pub(super) struct RemoteSyslog {
    state: Mutex<State>,
}

impl RemoteSyslog {
    pub(super) fn new() -> Self {
        RemoteSyslog {
            state: Mutex::new(State::Idle),
        }
    }

    /// Sends `line` (one line, no newline) to the host's syslog through
    /// `session`, opening the channel on first use and again after the
    /// connection was replaced.
    pub(super) async fn write(&self, session: &Arc<Session>, line: &str, host: &str) {
        let mut state = self.state.lock().await;
        let stale = matches!(&*state, State::Open(c) if !Arc::ptr_eq(&c.session, session));
        if stale || matches!(*state, State::Idle) {
            *state = open(session, host).await;
        }
        let State::Open(channel) = &mut *state else {
            return;
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let written = tokio::time::timeout(WRITE_LIMIT, channel.stdin.write_all(&bytes)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!(
                host,
                "the host's syslog stopped taking lines; no more are sent"
            );
            *state = State::Off;
        }
    }

    /// Closes an open channel for good, to free it for commands; true when
    /// one was open.
    pub(super) async fn give_up(&self, host: &str) -> bool {
        let open = matches!(*self.state.lock().await, State::Open(_));
        if open {
            tracing::warn!(
                host,
                "no channel left for a command beside the syslog's (sshd MaxSessions); no more syslog lines are sent"
            );
            self.close().await;
        }
        open
    }

    /// Closes the channel and waits (briefly) for `logger` to log what it
    /// was sent, so no line is lost with the connection.
    pub(super) async fn close(&self) {
        let state = std::mem::replace(&mut *self.state.lock().await, State::Off);
        if let State::Open(channel) = state {
            let Channel {
                session,
                child,
                mut stdin,
            } = *channel;
            let _ = stdin.shutdown().await;
            drop(stdin);
            let _ = tokio::time::timeout(CLOSE_LIMIT, child.wait()).await;
            drop(session);
        }
    }
}

async fn open(session: &Arc<Session>, host: &str) -> State {
    let spawned = Session::to_raw_command(session.clone(), REMOTE_LOGGER)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .await;
    match spawned {
        Ok(mut child) => match child.stdin().take() {
            Some(stdin) => State::Open(Box::new(Channel {
                session: session.clone(),
                child,
                stdin,
            })),
            None => State::Off,
        },
        Err(e) => {
            tracing::warn!(host, error = %e, "cannot open a channel to the host's syslog");
            State::Off
        }
    }
}
