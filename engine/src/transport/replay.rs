//! A transport that answers from recordings instead of a machine: scenario
//! tests (`runbook test`) and `runbook replay` run the real executor
//! against recorded outputs. A step with no recording fails loudly and is
//! remembered, so the caller can fail the test naming the step and the
//! command it would have run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Captured, Connector, Destination, ExecOutput, ExecRequest, Transport, TransportError};

/// One recorded attempt of a step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Stdout bytes.
    pub stdout: Vec<u8>,
    /// Stderr bytes.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// The attempt timed out.
    pub timed_out: bool,
    /// The attempt failed in transport with this message.
    pub transport_error: Option<String>,
    /// Wall time to report.
    pub duration: Duration,
}

/// Recordings by step id; each step's attempts in order (the last one
/// repeats when the step runs more often).
#[derive(Debug, Clone, Default)]
pub struct Recordings {
    /// Step id → attempts.
    pub steps: BTreeMap<String, Vec<Recorded>>,
}

/// A command the executor ran that had no recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    /// Step id.
    pub step: String,
    /// The command it would have run.
    pub command: String,
}

/// Replays [`Recordings`] for every destination.
#[derive(Clone)]
pub struct ReplayConnector {
    inner: Arc<ReplayTransport>,
}

impl ReplayConnector {
    /// Replays `recordings`.
    pub fn new(recordings: Recordings) -> Self {
        ReplayConnector {
            inner: Arc::new(ReplayTransport {
                recordings,
                used: Mutex::new(HashMap::new()),
                unrecorded: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Steps that ran without a recording.
    pub fn unrecorded(&self) -> Vec<Unrecorded> {
        self.inner
            .unrecorded
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Connector for ReplayConnector {
    async fn connect(&self, _: &Destination) -> Result<Arc<dyn Transport>, TransportError> {
        Ok(self.inner.clone())
    }
}

struct ReplayTransport {
    recordings: Recordings,
    used: Mutex<HashMap<String, usize>>,
    unrecorded: Mutex<Vec<Unrecorded>>,
}

#[async_trait]
impl Transport for ReplayTransport {
    async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let Some(attempts) = self
            .recordings
            .steps
            .get(&req.step_id)
            .filter(|a| !a.is_empty())
        else {
            if let Ok(mut u) = self.unrecorded.lock() {
                u.push(Unrecorded {
                    step: req.step_id.clone(),
                    command: req.command.clone(),
                });
            }
            return Err(TransportError::NotRecorded(format!(
                "step `{}` has no recorded output; it would have run: {}",
                req.step_id, req.command
            )));
        };
        let n = {
            let mut used = self
                .used
                .lock()
                .map_err(|_| TransportError::NotRecorded("internal error: lock".into()))?;
            let n = used.entry(req.step_id.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let rec = &attempts[n.min(attempts.len() - 1)];
        if let Some(e) = &rec.transport_error {
            return Err(TransportError::Disconnected {
                host: "recorded host".into(),
                reason: e.clone(),
            });
        }
        Ok(ExecOutput {
            exit_code: if rec.timed_out {
                None
            } else {
                rec.exit_code.or(Some(0))
            },
            stdout: Captured::from_bytes(&rec.stdout, req.output_limit),
            stderr: Captured::from_bytes(&rec.stderr, req.output_limit),
            duration: if rec.timed_out {
                req.timeout
            } else {
                rec.duration
            },
            timed_out: rec.timed_out,
            cancelled: false,
        })
    }

    async fn close(&self) {}
}
