//! `runbook audit verify`: checks an audit file's hash chain and seal, and
//! names the first line that breaks it.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::GENESIS;

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every line chains and the run is sealed.
    Intact {
        /// Number of events.
        events: u64,
    },
    /// The chain holds but the run never sealed (it crashed, was killed, or
    /// the end of the file was cut off).
    Unsealed {
        /// Number of complete events.
        events: u64,
        /// The last line was cut off mid-write (and was ignored).
        partial_tail: bool,
    },
    /// Line `line` (1-based) breaks the chain.
    Broken {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Verifies the audit file at `path`.
pub fn verify_file(path: &Path) -> std::io::Result<Verdict> {
    let bytes = std::fs::read(path)?;
    Ok(verify_bytes(&bytes))
}

/// Verifies audit text.
pub fn verify_bytes(bytes: &[u8]) -> Verdict {
    let mut prev = GENESIS.to_string();
    let mut sealed = false;
    let mut count = 0u64;
    let mut run_id: Option<String> = None;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Verdict::Broken {
            line: 1,
            reason: "the file is empty".into(),
        };
    }
    // A line cut off mid-write (crash, kill -9) is ignored: everything
    // before it must still verify.
    let partial_tail = !bytes.ends_with(b"\n");
    let body = if partial_tail {
        match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => &body[..i],
            None => {
                return Verdict::Unsealed {
                    events: 0,
                    partial_tail,
                }
            }
        }
    } else {
        body
    };
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        if sealed {
            return Verdict::Broken {
                line,
                reason: "a line was appended after the run was sealed".into(),
            };
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw) else {
            return Verdict::Broken {
                line,
                reason: "not a JSON object (edited or corrupted)".into(),
            };
        };
        let seq = value["seq"].as_u64();
        if seq != Some(count) {
            return Verdict::Broken {
                line,
                reason: format!(
                    "sequence number is {} where {count} was expected (a line was removed, inserted or reordered)",
                    seq.map_or("missing".to_string(), |s| s.to_string())
                ),
            };
        }
        if value["prev"].as_str() != Some(prev.as_str()) {
            return Verdict::Broken {
                line,
                reason: if line == 1 {
                    "the first line does not start the chain".into()
                } else {
                    format!(
                        "line {} was changed (its hash does not match what line {line} recorded)",
                        line - 1
                    )
                },
            };
        }
        let id = value["run_id"].as_str().map(str::to_string);
        match (&run_id, &id) {
            (None, _) => run_id = id,
            (Some(a), Some(b)) if a == b => {}
            _ => {
                return Verdict::Broken {
                    line,
                    reason: "the line belongs to another run".into(),
                }
            }
        }
        sealed = value["type"].as_str() == Some("run_finished");
        prev = hex::encode(Sha256::digest(raw));
        count += 1;
    }
    if sealed {
        Verdict::Intact { events: count }
    } else {
        Verdict::Unsealed {
            events: count,
            partial_tail,
        }
    }
}
