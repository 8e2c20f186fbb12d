//! The scenario test file format (`*.test.yaml`, documented in
//! docs/testing.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A test file: scenarios for one runbook.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The runbook under test: a name on the search path, or a path
    /// relative to this file.
    pub runbook: String,
    /// Params every scenario starts from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What situation this is.
    pub name: String,
    /// Params (over the file's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Host name the run is for (default `test-host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Inventory variables of the host.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_vars: BTreeMap<String, serde_json::Value>,
    /// Approve mutating steps (default true); false refuses them.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub approve: bool,
    /// Run as `--dry-run`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Recorded outcomes by step id.
    #[serde(default)]
    pub steps: BTreeMap<String, StepRecording>,
    /// What must come out.
    pub expect: Expect,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A step's recording: one outcome, or one per attempt (for retries).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StepRecording {
    /// Every attempt gives this.
    One(RecordedAttempt),
    /// Attempt by attempt; the last repeats.
    Attempts(Vec<RecordedAttempt>),
}

impl StepRecording {
    /// The attempts in order.
    pub fn attempts(&self) -> &[RecordedAttempt] {
        match self {
            StepRecording::One(a) => std::slice::from_ref(a),
            StepRecording::Attempts(v) => v,
        }
    }
}

/// What one attempt of a step produced.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAttempt {
    /// Stdout text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Stdout from a file (relative to the test file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_file: Option<String>,
    /// Stderr text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Exit code (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// For a probe step: the probe's data (as the agent reports it under
    /// `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// For a probe step: the probe failed with this error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
    /// The attempt hit its time limit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub timeout: bool,
    /// The attempt failed in transport (connection refused, lost, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the attempt took (what `result.duration_ms` reads; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Expected outcome.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Conclusion step ids reached (as a set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Vec<String>>,
    /// Host status: concluded, no_conclusion, failed, deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Steps that must have run (in any order: parallel branches finish in
    /// no fixed order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    /// Steps that must not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<Vec<String>>,
    /// Text each expected finding contains (one per entry, any conclusion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<String>>,
}
