//! What happens during a run, as events. The executor emits them at every
//! step and decision; the audit trail, the live progress view and the final
//! report all consume the same stream. Secrets are masked once, here, on
//! the way in.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

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
        /// An SSH master kept open by an earlier run (`--keep-connections`)
        /// was used: no new login.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        reused: bool,
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

/// How far the audit trail is on disk, as its writer reports it: how many
/// of the events sent through the sink are written and fsync'd, or why it
/// can no longer be written.
#[derive(Debug, Clone, Default)]
pub struct Durability {
    /// Events written and synced, counted from the first one sent.
    pub synced: u64,
    /// Why writing failed; nothing more will be synced.
    pub failed: Option<String>,
}

/// Where events go: every subscriber gets every event, already redacted.
#[derive(Clone)]
pub struct EventSink {
    redactor: Arc<Redactor>,
    subscribers: Arc<Vec<mpsc::UnboundedSender<Arc<serde_json::Value>>>>,
    /// Events sent so far. Counted and sent under this lock, so that the
    /// count is also each event's position in every subscriber's channel.
    sent: Arc<std::sync::Mutex<u64>>,
    durability: Option<watch::Receiver<Durability>>,
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
            sent: Arc::default(),
            durability: None,
        }
    }

    /// Lets [`EventSink::emit_durable`] wait for the audit writer, which
    /// reports through `durability` how many of this sink's events are on
    /// disk (the writer must be fed by this sink and nothing else).
    pub fn with_durability(mut self, durability: watch::Receiver<Durability>) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Why the audit trail can no longer be written, once it cannot.
    pub fn audit_failure(&self) -> Option<String> {
        self.durability
            .as_ref()
            .and_then(|d| d.borrow().failed.clone())
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
        self.send(event);
    }

    /// Emits an event and waits until the audit trail has it on disk: for
    /// what must be recorded before it happens (a command starting on a
    /// host). Fails once the trail can no longer be written. Without an
    /// audit writer (scenario tests, replays) it returns at once.
    pub async fn emit_durable(&self, event: Event) -> Result<(), String> {
        let position = self.send(event);
        let Some(mut durability) = self.durability.clone() else {
            return Ok(());
        };
        loop {
            {
                let now = durability.borrow_and_update();
                if let Some(e) = &now.failed {
                    return Err(e.clone());
                }
                if now.synced >= position {
                    return Ok(());
                }
            }
            if durability.changed().await.is_err() {
                return Err("the audit trail was closed".into());
            }
        }
    }

    /// Sends to every subscriber; returns how many events were sent, this
    /// one included.
    fn send(&self, event: Event) -> u64 {
        if self.subscribers.is_empty()
            && !tracing::enabled!(target: "runbook::event", tracing::Level::DEBUG)
        {
            return 0;
        }
        let mut value = match serde_json::to_value(&event) {
            Ok(v) => v,
            Err(e) => serde_json::json!({"type": "internal_error", "error": e.to_string()}),
        };
        self.redactor.redact_json(&mut value);
        // `-v`/`RUST_LOG` logs see the same, already redacted, stream.
        tracing::debug!(target: "runbook::event", "{value}");
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        // When it happened, not when the audit writer got to it (it writes
        // in batches); stamped under the lock, so times follow the order.
        if let serde_json::Value::Object(fields) = &mut value {
            fields.insert(
                "ts".into(),
                chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .into(),
            );
        }
        let value = Arc::new(value);
        for s in self.subscribers.iter() {
            let _ = s.send(value.clone());
        }
        *sent += 1;
        *sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time_of(event: &serde_json::Value) -> chrono::DateTime<chrono::FixedOffset> {
        let ts = event["ts"].as_str().unwrap_or_default();
        chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_default()
    }

    #[test]
    fn events_carry_the_time_they_were_emitted() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sink = EventSink::new(Arc::new(Redactor::default()), vec![tx]);
        let started = |host: &str| Event::HostStarted { host: host.into() };
        sink.emit(started("a"));
        std::thread::sleep(std::time::Duration::from_millis(30));
        sink.emit(started("b"));
        let (first, second) = match (rx.try_recv(), rx.try_recv()) {
            (Ok(a), Ok(b)) => (a, b),
            other => panic!("two events expected: {other:?}"),
        };
        // Read together, as the audit writer reads a batch, they keep the
        // times they happened at.
        let apart = time_of(&second) - time_of(&first);
        assert!(apart >= chrono::Duration::milliseconds(30), "{apart}");
    }
}
