//! A step's outcome, its parsed forms (`json`, `lines`, `kv`), and the
//! template value templates see as `result` / `steps.<id>`.

use std::collections::BTreeMap;
use std::time::Duration;

use minijinja::Value;
use serde::Serialize;

use crate::model::ParseMode;
use crate::transport::{Captured, ExecOutput};

/// Outcome of running a step.
#[derive(Debug, Clone, Default)]
pub struct StepResult {
    /// Exit code (none for a failure, timeout, or a step without a command).
    pub exit_code: Option<i32>,
    /// Stdout.
    pub stdout: Captured,
    /// Stderr.
    pub stderr: Captured,
    /// Wall time of the last attempt.
    pub duration: Duration,
    /// The last attempt hit its time limit.
    pub timed_out: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Failure (transport, timeout, parse), if the step failed.
    pub error: Option<String>,
    /// Parsed JSON (`parse: json`, probes).
    pub json: Option<serde_json::Value>,
    /// Conclusions reached by a called runbook.
    pub conclusions: Vec<serde_json::Value>,
}

impl StepResult {
    /// From a finished command.
    pub fn from_output(out: ExecOutput, attempts: u32) -> Self {
        StepResult {
            exit_code: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
            duration: out.duration,
            timed_out: out.timed_out,
            attempts,
            error: None,
            json: None,
            conclusions: Vec::new(),
        }
    }

    /// Whether the step failed (as opposed to a command exiting non-zero,
    /// which is an answer).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The value templates see.
    pub fn to_value(&self, parse: ParseMode) -> Value {
        let stdout = self.stdout.text();
        let mut map: BTreeMap<&str, Value> = BTreeMap::new();
        map.insert(
            "exit_code",
            self.exit_code.map_or(Value::from(()), Value::from),
        );
        map.insert(
            "ok",
            Value::from(self.exit_code == Some(0) && self.error.is_none()),
        );
        map.insert("stderr", Value::from(self.stderr.text()));
        map.insert("stdout_bytes", Value::from(self.stdout.bytes));
        map.insert("duration_ms", Value::from(self.duration.as_millis() as u64));
        map.insert("timed_out", Value::from(self.timed_out));
        map.insert("attempts", Value::from(self.attempts));
        map.insert(
            "error",
            self.error.clone().map_or(Value::from(()), Value::from),
        );
        if let Some(json) = &self.json {
            map.insert("json", Value::from_serialize(json));
        }
        if !self.conclusions.is_empty() {
            map.insert("conclusions", Value::from_serialize(&self.conclusions));
        }
        match parse {
            ParseMode::Lines => {
                map.insert("lines", Value::from(lines(&stdout)));
            }
            ParseMode::Kv => {
                map.insert("kv", Value::from(kv(&stdout)));
            }
            _ => {}
        }
        map.insert("stdout", Value::from(stdout));
        Value::from(map)
    }
}

/// Non-empty lines without their line endings.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// `key=value` and `key: value` lines (first separator wins, both sides
/// trimmed, surrounding quotes removed); other lines are ignored.
pub fn kv(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let eq = line.find('=');
        let colon = line.find(':');
        let at = match (eq, colon) {
            (Some(e), Some(c)) => e.min(c),
            (Some(e), None) => e,
            (None, Some(c)) => c,
            (None, None) => continue,
        };
        let key = line[..at].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        let value = line[at + 1..].trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.insert(key.to_string(), value.to_string());
    }
    out
}

/// A conclusion as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ConclusionRecord {
    /// Step id.
    pub step: String,
    /// Severity.
    pub severity: crate::model::FindingSeverity,
    /// Finding.
    pub finding: String,
    /// Remedy.
    pub remedy: Option<String>,
    /// Evidence excerpts.
    pub evidence: Vec<Evidence>,
    /// Runbook that reached it (differs from the run's for `call`).
    pub runbook: String,
}

/// Key output of a step supporting a conclusion.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// Step id.
    pub step: String,
    /// What ran.
    pub command: Option<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Key lines (bounded).
    pub lines: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_reads_both_separators() {
        let m = kv("ActiveState=active\nNRestarts=3\nName: kubelet\nnoise line\n");
        assert_eq!(m.get("ActiveState").map(String::as_str), Some("active"));
        assert_eq!(m.get("NRestarts").map(String::as_str), Some("3"));
        assert_eq!(m.get("Name").map(String::as_str), Some("kubelet"));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn lines_drop_blank_lines() {
        assert_eq!(
            lines("a\r\n\n b\n"),
            vec!["a".to_string(), " b".to_string()]
        );
    }
}
