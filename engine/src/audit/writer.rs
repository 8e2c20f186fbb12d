//! Writing the audit file. The first event is written synchronously before
//! the run starts (so an unwritable directory refuses the run); after that
//! a task appends each event with its sequence number and the SHA-256 of
//! the previous line, fsync'ing after every batch it drains. A write
//! failure stops the run instead of letting it go on unaudited.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{GENESIS, SCHEMA_VERSION};
use crate::exec::events::Durability;

/// Why the audit trail cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The directory or file could not be created or written.
    #[error("cannot write the audit trail in {}: {source}", dir.display())]
    Io {
        /// Directory.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// An open audit file.
pub struct AuditWriter {
    file: File,
    path: PathBuf,
    seq: u64,
    prev: String,
    run_id: String,
}

impl AuditWriter {
    /// Creates the run's file in `dir` (created if missing) and writes
    /// `first` (the `run_started` event) durably.
    pub fn create(
        dir: &Path,
        run_id: &str,
        runbook: &str,
        first: &serde_json::Value,
    ) -> Result<AuditWriter, AuditError> {
        let io = |source| AuditError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let safe: String = runbook
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{stamp}_{run_id}_{safe}.jsonl"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut w = AuditWriter {
            file,
            path,
            seq: 0,
            prev: GENESIS.to_string(),
            run_id: run_id.to_string(),
        };
        w.append(first).map_err(io)?;
        w.file.sync_all().map_err(io)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(w)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (not yet fsync'd). Its `ts` is the time the
    /// event carries (stamped when it was emitted), else now.
    pub fn append(&mut self, event: &serde_json::Value) -> std::io::Result<()> {
        let mut line = serde_json::Map::new();
        line.insert("seq".into(), self.seq.into());
        let ts = match event.get("ts") {
            Some(ts @ serde_json::Value::String(_)) => ts.clone(),
            _ => chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        };
        line.insert("ts".into(), ts);
        line.insert("run_id".into(), self.run_id.clone().into());
        line.insert("schema_version".into(), SCHEMA_VERSION.into());
        line.insert("prev".into(), self.prev.clone().into());
        if let serde_json::Value::Object(fields) = event {
            for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != "ts") {
                line.insert(k.clone(), v.clone());
            }
        }
        let mut text = serde_json::to_string(&serde_json::Value::Object(line))
            .map_err(std::io::Error::other)?;
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.prev = hex::encode(Sha256::digest(&text.as_bytes()[..text.len() - 1]));
        self.seq += 1;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Runs the writer: appends every event from `events`, fsyncs after
    /// each drained batch and reports through `durability` how many events
    /// are on disk (what [`EventSink::emit_durable`] waits for). On a write
    /// error it reports the failure, cancels `stop_run` and returns the
    /// error. Ends when the channel closes.
    ///
    /// [`EventSink::emit_durable`]: crate::exec::events::EventSink::emit_durable
    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Arc<serde_json::Value>>,
        stop_run: CancellationToken,
        durability: watch::Sender<Durability>,
    ) -> Result<PathBuf, String> {
        let mut failed: Option<String> = None;
        let mut received: u64 = 0;
        while let Some(first) = events.recv().await {
            if failed.is_some() {
                continue;
            }
            let mut batch = vec![first];
            while let Ok(more) = events.try_recv() {
                batch.push(more);
            }
            received += batch.len() as u64;
            let result = tokio::task::block_in_place(|| {
                for e in &batch {
                    self.append(e)?;
                }
                self.sync()
            });
            match result {
                Ok(()) => {
                    durability.send_replace(Durability {
                        synced: received,
                        failed: None,
                    });
                }
                Err(e) => {
                    let message = format!(
                        "cannot write the audit trail {}: {e}; the run was stopped",
                        self.path.display()
                    );
                    // Waiters learn it before the run is cancelled, so what
                    // stops says why.
                    durability.send_modify(|d| d.failed = Some(message.clone()));
                    failed = Some(message);
                    stop_run.cancel();
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.path),
        }
    }
}
