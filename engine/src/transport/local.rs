//! The local transport: runs steps on this machine with `sh -c`, each in
//! its own process group so a timeout kills the whole tree.

use std::process::Stdio;
use std::time::Instant;

use async_trait::async_trait;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

use super::capture::read_optional;
use super::{ExecOutput, ExecRequest, Transport, TransportError};

/// Runs commands on this machine.
#[derive(Debug, Default)]
pub struct LocalTransport;

impl LocalTransport {
    /// A local transport.
    pub fn new() -> Self {
        LocalTransport
    }
}

fn kill_group(pgid: u32) {
    if let Ok(pid) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let started = Instant::now();
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&req.command)
            .envs(req.env.iter().map(|(k, v)| (k, v)))
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Spawn {
                host: "local".into(),
                reason: e.to_string(),
            })?;
        let pgid = child.id().unwrap_or(0);
        let feed = super::feed_stdin(child.stdin.take(), req.stdin.clone());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let limit = req.output_limit;
        let work = async {
            let out = read_optional(stdout, limit);
            let err = read_optional(stderr, limit);
            let (out, err, _) = tokio::join!(out, err, feed);
            let status = child.wait().await;
            (out, err, status)
        };
        tokio::pin!(work);
        let mut timed_out = false;
        let mut cancelled = false;
        let (out, err, status) = tokio::select! {
            r = &mut work => r,
            _ = tokio::time::sleep(req.timeout) => {
                timed_out = true;
                kill_group(pgid);
                work.await
            }
            _ = req.cancel.cancelled() => {
                cancelled = true;
                kill_group(pgid);
                work.await
            }
        };
        let io = |e: std::io::Error| TransportError::Spawn {
            host: "local".into(),
            reason: e.to_string(),
        };
        let status = status.map_err(io)?;
        Ok(ExecOutput {
            exit_code: if timed_out || cancelled {
                None
            } else {
                status.code()
            },
            stdout: out.map_err(io)?,
            stderr: err.map_err(io)?,
            duration: started.elapsed(),
            timed_out,
            cancelled,
        })
    }

    async fn close(&self) {}
}
