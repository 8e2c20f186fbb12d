//! Reading an audit file back: its events, whether it verifies, and the
//! facts the listing, timeline, report and replay need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::verify::{verify_bytes, Verdict};

/// A run as recorded.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// The file.
    pub path: PathBuf,
    /// Every complete event, in order.
    pub events: Vec<Value>,
    /// What verification says.
    pub verdict: Verdict,
}

impl RecordedRun {
    /// Reads the audit file at `path`.
    pub fn read(path: &Path) -> std::io::Result<RecordedRun> {
        let bytes = std::fs::read(path)?;
        let verdict = verify_bytes(&bytes);
        let events = bytes
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .collect();
        Ok(RecordedRun {
            path: path.to_path_buf(),
            events,
            verdict,
        })
    }

    /// The `run_started` event (or null).
    pub fn started(&self) -> &Value {
        self.events
            .iter()
            .find(|e| e["type"] == "run_started")
            .unwrap_or(&Value::Null)
    }

    /// The `run_finished` event, when the run sealed.
    pub fn finished(&self) -> Option<&Value> {
        self.events
            .iter()
            .rev()
            .find(|e| e["type"] == "run_finished")
    }

    /// Run id.
    pub fn run_id(&self) -> &str {
        self.started()["run_id"].as_str().unwrap_or("?")
    }

    /// Runbook name.
    pub fn runbook(&self) -> &str {
        self.started()["runbook"].as_str().unwrap_or("?")
    }

    /// Start time (RFC 3339).
    pub fn started_at(&self) -> &str {
        self.events
            .first()
            .and_then(|e| e["ts"].as_str())
            .unwrap_or("?")
    }

    /// Hosts of the run.
    pub fn hosts(&self) -> Vec<String> {
        self.started()["hosts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `completed`, `interrupted`, or `incomplete` (never sealed: crashed,
    /// killed, or still running).
    pub fn status(&self) -> String {
        match self.finished() {
            Some(f) => f["status"].as_str().unwrap_or("completed").to_string(),
            None => "incomplete".to_string(),
        }
    }

    /// Conclusion events per host.
    pub fn conclusions(&self) -> BTreeMap<String, Vec<&Value>> {
        let mut out: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for e in self.events.iter().filter(|e| e["type"] == "concluded") {
            out.entry(e["host"].as_str().unwrap_or("?").to_string())
                .or_default()
                .push(e);
        }
        out
    }

    /// How each host finished.
    pub fn host_status(&self) -> BTreeMap<String, String> {
        self.events
            .iter()
            .filter(|e| e["type"] == "host_finished")
            .map(|e| {
                (
                    e["host"].as_str().unwrap_or("?").to_string(),
                    e["status"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    }

    /// Steps that finished on `host`, in order.
    pub fn path_of(&self, host: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| {
                e["host"] == host && (e["type"] == "step_finished" || e["type"] == "concluded")
            })
            .filter_map(|e| e["step"].as_str().map(str::to_string))
            .collect()
    }
}

/// Audit directories from `--audit-dir` (repeatable), else
/// `$RUNBOOK_AUDIT_DIR`, else the default.
pub fn dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    match std::env::var_os("RUNBOOK_AUDIT_DIR").filter(|v| !v.is_empty()) {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![super::default_dir()],
    }
}

/// Finds the audit file for a path or run id in any of `dirs`.
pub fn locate(what: &str, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let mut errors = Vec::new();
    for d in dirs {
        match super::find(what, Some(d)) {
            Ok(p) => return Ok(p),
            Err(e) => errors.push(e),
        }
    }
    Err(errors.join("; "))
}

/// Every audit file in `dirs`, oldest first.
pub fn all_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        .collect();
    out.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    out
}

/// One timeline line for an event.
pub fn timeline_line(e: &serde_json::Value) -> Option<String> {
    let s = |k: &str| e[k].as_str().unwrap_or("");
    let host = s("host");
    let step = s("step");
    Some(match s("type") {
        "run_started" => format!(
            "run started on {} host(s){}",
            e["hosts"].as_array().map_or(0, Vec::len),
            if e["dry_run"] == true {
                " (dry run)"
            } else {
                ""
            }
        ),
        "connected" => format!(
            "{host:<16} connected to {} ({} ms{})",
            s("target"),
            e["duration_ms"],
            if e["reused"] == true {
                ", kept by an earlier run"
            } else {
                ""
            }
        ),
        "connection_failed" => format!(
            "{host:<16} CONNECTION FAILED to {}: {}",
            s("target"),
            s("error")
        ),
        "agent_installed" => format!(
            "{host:<16} agent installed at {}{}",
            s("path"),
            if e["replaced_altered"] == true {
                " (replaced an ALTERED file)"
            } else {
                ""
            }
        ),
        "step_started" => format!("{host:<16} {step}: $ {}", s("command")),
        "step_retried" => format!(
            "{host:<16} {step}: attempt {} failed ({}), retrying",
            e["attempt"],
            s("error")
        ),
        "step_finished" => format!(
            "{host:<16} {step}: {} exit {} in {} ms{}",
            s("status"),
            e["exit_code"],
            e["duration_ms"],
            e["error"]
                .as_str()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default()
        ),
        "step_skipped" => format!(
            "{host:<16} {step}: skipped ({}){}",
            s("reason"),
            e["detail"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        "decision" => format!(
            "{host:<16} {step}: {} → {} {}",
            e["when"].as_str().unwrap_or(s("via")),
            e["goto"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            if e["values"].as_object().is_some_and(|m| !m.is_empty()) {
                format!("(saw {})", e["values"])
            } else {
                String::new()
            }
        ),
        "approval_asked" => format!("{host:<16} {step}: approval asked for: {}", s("command")),
        "approval_given" => format!("{host:<16} {step}: approved by {}", s("by")),
        "approval_refused" => format!("{host:<16} {step}: REFUSED by {}", s("by")),
        "concluded" => format!("{host:<16} CONCLUSION [{}] {}", s("severity"), s("finding")),
        "host_finished" => format!(
            "{host:<16} finished: {}{}",
            s("status"),
            e["error"]
                .as_str()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default()
        ),
        "interrupted" => format!("INTERRUPTED by {}", s("signal")),
        "run_finished" => format!("run finished: {} (exit {})", s("status"), e["exit_code"]),
        _ => return None,
    })
}
