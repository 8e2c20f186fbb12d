//! `runbook test --record`: turns a run recorded in the audit trail into a
//! scenario, so a real incident becomes a regression test.

use std::collections::BTreeMap;
use std::path::Path;

use super::format::{Expect, RecordedAttempt, Scenario, StepRecording, TestFile};

/// Builds a test file with one scenario per host of the audit file at
/// `path` (params as recorded, outputs as recorded, the conclusions
/// reached as the expectation). Secret params were masked in the audit
/// and come back as `[REDACTED]`.
/// What the audit says about one host: recorded attempts by step, the
/// conclusions reached, and how the host finished.
#[derive(Default)]
struct HostRecord {
    steps: BTreeMap<String, Vec<RecordedAttempt>>,
    conclusions: Vec<String>,
    status: Option<String>,
}

pub fn scenario_from_audit(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut runbook = String::new();
    let mut params = BTreeMap::new();
    let mut by_host: BTreeMap<String, HostRecord> = BTreeMap::new();
    let mut truncated = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            return Err(format!("{}:{}: not an audit event", path.display(), n + 1));
        };
        let host = e["host"].as_str().unwrap_or_default().to_string();
        match e["type"].as_str() {
            Some("run_started") => {
                runbook = e["runbook"].as_str().unwrap_or_default().to_string();
                if let Some(p) = e["params"].as_object() {
                    for (k, v) in p {
                        params.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                    }
                }
            }
            Some("step_finished") => {
                let step = e["step"].as_str().unwrap_or_default().to_string();
                let out = |k: &str| e[k]["text"].as_str().map(str::to_string);
                if e["stdout"]["truncated"].as_bool() == Some(true) {
                    truncated.push(format!("{host}/{step}"));
                }
                let attempt = RecordedAttempt {
                    stdout: out("stdout"),
                    stderr: out("stderr"),
                    exit_code: e["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()),
                    timeout: e["status"].as_str() == Some("timed_out"),
                    duration_ms: e["duration_ms"].as_u64(),
                    error: match e["status"].as_str() {
                        Some("failed") if e["exit_code"].is_null() => {
                            e["error"].as_str().map(str::to_string)
                        }
                        _ => None,
                    },
                    ..Default::default()
                };
                let entry = by_host.entry(host).or_default();
                entry.steps.entry(step).or_default().push(attempt);
            }
            Some("concluded") => {
                let step = e["step"].as_str().unwrap_or_default().to_string();
                by_host.entry(host).or_default().conclusions.push(step);
            }
            Some("host_finished") => {
                by_host.entry(host).or_default().status = e["status"].as_str().map(str::to_string);
            }
            _ => {}
        }
    }
    if runbook.is_empty() {
        return Err(format!("{} has no run_started event", path.display()));
    }
    if !truncated.is_empty() {
        eprintln!(
            "warning: the audit kept only part of the output of {}; the scenario replays what was kept",
            truncated.join(", ")
        );
    }
    let scenarios = by_host
        .into_iter()
        .filter(|(h, _)| !h.is_empty())
        .map(
            |(
                host,
                HostRecord {
                    steps,
                    conclusions,
                    status,
                },
            )| Scenario {
                name: format!(
                    "recorded on {host} ({})",
                    path.file_name().and_then(|f| f.to_str()).unwrap_or("audit")
                ),
                params: BTreeMap::new(),
                host: Some(host),
                host_vars: BTreeMap::new(),
                approve: true,
                dry_run: false,
                steps: steps
                    .into_iter()
                    .map(|(k, mut v)| {
                        let rec = if v.len() == 1 {
                            StepRecording::One(v.remove(0))
                        } else {
                            StepRecording::Attempts(v)
                        };
                        (k, rec)
                    })
                    .collect(),
                expect: Expect {
                    conclusions: Some(conclusions),
                    status: status.filter(|s| s != "concluded"),
                    ..Default::default()
                },
            },
        )
        .collect();
    Ok(TestFile {
        runbook,
        params,
        scenarios,
    })
}
