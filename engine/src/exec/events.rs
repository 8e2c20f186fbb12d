//! What happens during a run, as events. The executor emits them at every
//! step and decision; the audit trail, the live progress view and the final
//! report all consume the same stream. Secrets are masked once, here, on
//! the way in.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::FindingSeverity;
use crate::redact::Redactor;
use crate::transport::Captured;

/// One thing that happened. Serialised with a `type` tag into the audit
/// trail (`docs/audit.md` documents each type).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began.
    RunStarted {
        /// Run id (ULID: sorts by time).
        run_id: String,
        /// Runbook name.
        runbook: String,
        /// SHA-256 of the runbook source.
        runbook_sha256: String,
        /// Params (secrets masked).
        params: BTreeMap<String, String>,
        /// Who ran it.
        operator: String,
        /// Engine version.
        engine_version: String,
        /// Hosts, in order.
        hosts: Vec<String>,
        /// The command line.
        command_line: Vec<String>,
        /// Dry run.
        dry_run: bool,
    },
    /// Work on a host began.
    HostStarted {
        /// Host.
        host: String,
    },
    /// A connection was established.
    Connected {
        /// Host the run is for.
        host: String,
        /// Machine connected to (the host, `local`, or a named target).
        target: String,
        /// Milliseconds it took.
        duration_ms: u64,
    },
    /// A connection could not be established.
    ConnectionFailed {
        /// Host the run is for.
        host: String,
        /// Machine.
        target: String,
        /// Error kind.
        kind: String,
        /// Message.
        error: String,
    },
    /// The remote agent was installed on a machine.
    AgentInstalled {
        /// Host the run is for.
        host: String,
        /// Machine.
        target: String,
        /// Path there.
        path: String,
        /// SHA-256 of the binary.
        sha256: String,
        /// A file with the wrong hash was there and was replaced.
        replaced_altered: bool,
    },
    /// A step began (one event per attempt).
    StepStarted {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// Step kind (`run`, `probe`, …).
        kind: String,
        /// Machine it runs on.
        target: String,
        /// Rendered command, if any.
        command: Option<String>,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// A step attempt failed and will be retried.
    StepRetried {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Delay before the next attempt.
        delay_ms: u64,
    },
    /// A step finished (successfully or not).
    StepFinished {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// `ok` (ran; any exit code), `failed` (transport/parse failure),
        /// `timed_out`, `cancelled`.
        status: String,
        /// Exit code.
        exit_code: Option<i32>,
        /// Milliseconds.
        duration_ms: u64,
        /// Attempts made.
        attempts: u32,
        /// Stdout (bounded, head and tail).
        stdout: Option<OutputRecord>,
        /// Stderr (bounded).
        stderr: Option<OutputRecord>,
        /// Failure message.
        error: Option<String>,
        /// Captured vars.
        captures: BTreeMap<String, serde_json::Value>,
    },
    /// A step did not run.
    StepSkipped {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// `when_false`, `pruned`, `dry_run`, `approval_refused`, `host_failed`.
        reason: String,
        /// More words (the `when`, the command not run).
        detail: Option<String>,
    },
    /// A branch decision.
    Decision {
        /// Host.
        host: String,
        /// Step whose `next` was evaluated.
        step: String,
        /// Index of the matching rule (`None`: fan-out list, on_failure, or no match).
        rule: Option<usize>,
        /// The rule's condition.
        when: Option<String>,
        /// The values the condition read.
        values: BTreeMap<String, serde_json::Value>,
        /// Steps chosen.
        goto: Vec<String>,
        /// `next`, `on_failure`, `no_match`.
        via: String,
    },
    /// Approval for a mutating step was asked.
    ApprovalAsked {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// The command.
        command: String,
    },
    /// Approval was given.
    ApprovalGiven {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// By whom (`--yes` or the person at the terminal).
        by: String,
    },
    /// Approval was refused.
    ApprovalRefused {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// By whom or why.
        by: String,
    },
    /// A conclusion was reached.
    Concluded {
        /// Host.
        host: String,
        /// Step.
        step: String,
        /// Severity.
        severity: FindingSeverity,
        /// Finding.
        finding: String,
        /// Remedy.
        remedy: Option<String>,
        /// Evidence step ids.
        evidence: Vec<String>,
    },
    /// A host finished.
    HostFinished {
        /// Host.
        host: String,
        /// `concluded`, `no_conclusion`, `failed`, `interrupted`, `deadline`.
        status: String,
        /// Why, when not concluded.
        error: Option<String>,
        /// Milliseconds.
        duration_ms: u64,
    },
    /// The run was interrupted (SIGINT/SIGTERM).
    Interrupted {
        /// Signal name.
        signal: String,
    },
    /// The run ended; this event seals the audit file.
    RunFinished {
        /// `completed` or `interrupted`.
        status: String,
        /// Hosts per outcome.
        hosts: BTreeMap<String, usize>,
        /// Exit code the engine returns.
        exit_code: u8,
    },
}

/// Bounded output as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct OutputRecord {
    /// Kept text (head, and tail after a marker when truncated).
    pub text: String,
    /// Full length.
    pub bytes: u64,
    /// SHA-256 of the full stream.
    pub sha256: String,
    /// Whether the middle was dropped.
    pub truncated: bool,
}

impl OutputRecord {
    /// Records `c`, keeping at most `limit` bytes of text.
    pub fn from_captured(c: &Captured, limit: usize) -> Option<OutputRecord> {
        if c.bytes == 0 {
            return None;
        }
        let kept = Captured::from_bytes(&c.head, limit);
        let mut text = if c.truncated || kept.truncated {
            let tail_len = (limit / 2).min(c.tail.len());
            let tail = &c.tail[c.tail.len() - tail_len..];
            let head = &c.head[..(limit / 2).min(c.head.len())];
            format!(
                "{}\n[… {} bytes not kept …]\n{}",
                String::from_utf8_lossy(head),
                c.bytes - (head.len() + tail.len()) as u64,
                String::from_utf8_lossy(tail)
            )
        } else {
            String::from_utf8_lossy(&c.head).into_owned()
        };
        text.shrink_to_fit();
        Some(OutputRecord {
            text,
            bytes: c.bytes,
            sha256: c.sha256.clone(),
            truncated: c.truncated || kept.truncated,
        })
    }
}

/// Where events go: every subscriber gets every event, already redacted.
#[derive(Clone)]
pub struct EventSink {
    redactor: Arc<Redactor>,
    subscribers: Arc<Vec<mpsc::UnboundedSender<Arc<serde_json::Value>>>>,
}

impl EventSink {
    /// A sink feeding `subscribers`, masking with `redactor`.
    pub fn new(
        redactor: Arc<Redactor>,
        subscribers: Vec<mpsc::UnboundedSender<Arc<serde_json::Value>>>,
    ) -> Self {
        EventSink {
            redactor,
            subscribers: Arc::new(subscribers),
        }
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        EventSink::new(Arc::new(Redactor::default()), Vec::new())
    }

    /// The redactor in use.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Emits an event.
    pub fn emit(&self, event: Event) {
        if self.subscribers.is_empty()
            && !tracing::enabled!(target: "runbook::event", tracing::Level::DEBUG)
        {
            return;
        }
        let mut value = match serde_json::to_value(&event) {
            Ok(v) => v,
            Err(e) => serde_json::json!({"type": "internal_error", "error": e.to_string()}),
        };
        self.redactor.redact_json(&mut value);
        // `-v`/`RUST_LOG` logs see the same, already redacted, stream.
        tracing::debug!(target: "runbook::event", "{value}");
        let value = Arc::new(value);
        for s in self.subscribers.iter() {
            let _ = s.send(value.clone());
        }
    }
}
