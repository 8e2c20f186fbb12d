//! Running scenario files: load the runbook, replay each scenario's
//! recordings through the real executor, compare with what it expects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::format::{RecordedAttempt, Scenario, TestFile};
use crate::diagnostic::did_you_mean;
use crate::exec::agent::AgentSource;
use crate::exec::approve::{ApproveAll, Approver, RefuseAll};
use crate::exec::events::EventSink;
use crate::exec::{ExecOptions, Executor, HostSpec, HostStatus};
use crate::library::{Library, LoadError};
use crate::model::{Action, Runbook};
use crate::redact::Redactor;
use crate::transport::replay::{Recorded, Recordings, ReplayConnector};
use crate::transport::Destination;

/// Outcome of one scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// What did not hold.
    pub failures: Vec<String>,
    /// Conclusions reached.
    pub conclusions: Vec<String>,
    /// Steps that ran.
    pub path: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Outcome of one test file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The test file.
    pub file: PathBuf,
    /// The runbook under test, once loaded.
    pub runbook: Option<Arc<Runbook>>,
    /// Scenario results.
    pub scenarios: Vec<ScenarioReport>,
    /// Why the file could not be run at all.
    pub error: Option<String>,
    /// Every event of every scenario (for coverage).
    pub events: Vec<Arc<serde_json::Value>>,
}

/// Runs every scenario in the test file at `path`.
pub async fn run_file(path: &Path, library: &Library) -> FileReport {
    let mut report = FileReport {
        file: path.to_path_buf(),
        runbook: None,
        scenarios: Vec::new(),
        error: None,
        events: Vec::new(),
    };
    let file = match load_test_file(path) {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let runbook = match load_runbook(&file.runbook, base, library) {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.runbook = Some(runbook.clone());
    let (scenarios, events) = run_scenarios(&runbook, &file, base).await;
    report.scenarios = scenarios;
    report.events = events;
    report
}

/// Runs every scenario of `file` against `runbook` (paths in recordings
/// are relative to `base`).
pub async fn run_scenarios(
    runbook: &Arc<Runbook>,
    file: &TestFile,
    base: &Path,
) -> (Vec<ScenarioReport>, Vec<Arc<serde_json::Value>>) {
    let mut reports = Vec::new();
    let mut all_events = Vec::new();
    for scenario in &file.scenarios {
        let (result, events) = run_scenario(runbook, file, scenario, base).await;
        reports.push(result);
        all_events.extend(events);
    }
    (reports, all_events)
}

fn load_test_file(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        format!(
            "{}{at}: {}",
            path.display(),
            e.to_string().split(" at line ").next().unwrap_or("")
        )
    })
}

fn load_runbook(name: &str, base: &Path, library: &Library) -> Result<Arc<Runbook>, String> {
    let loaded = if name.ends_with(".yaml") || name.ends_with(".yml") || name.contains('/') {
        library.load_path(&base.join(name))
    } else {
        let mut dirs = vec![base.to_path_buf()];
        if let Some(parent) = base.parent() {
            dirs.push(parent.to_path_buf());
        }
        dirs.extend(library.dirs().iter().cloned());
        Library::with_dirs(dirs).load(name)
    };
    match loaded {
        Ok(l) => Ok(l.runbook),
        Err(LoadError::Invalid(files)) => {
            let first = files
                .iter()
                .flat_map(|f| f.diagnostics.iter().map(move |d| (f, d)))
                .find(|(_, d)| d.is_error())
                .map(|(f, d)| format!("{}: {}", f.source.name(), d.message))
                .unwrap_or_default();
            Err(format!(
                "runbook `{name}` is invalid ({first}); run `runbook validate` on it"
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Finds a step by id in the runbook or the runbooks it calls.
fn find_step<'a>(runbook: &'a Runbook, id: &str) -> Option<&'a crate::model::Step> {
    runbook
        .step(id)
        .or_else(|| runbook.calls.values().find_map(|c| find_step(c, id)))
}

fn all_step_ids(runbook: &Runbook, out: &mut Vec<String>) {
    out.extend(runbook.steps.iter().map(|s| s.id.clone()));
    for c in runbook.calls.values() {
        all_step_ids(c, out);
    }
}

fn recordings(
    runbook: &Runbook,
    scenario: &Scenario,
    base: &Path,
) -> Result<Recordings, Vec<String>> {
    let mut out = Recordings::default();
    let mut problems = Vec::new();
    for (id, rec) in &scenario.steps {
        let Some(step) = find_step(runbook, id) else {
            let mut ids = Vec::new();
            all_step_ids(runbook, &mut ids);
            problems.push(format!(
                "recording for `{id}`, which is not a step of `{}`{}",
                runbook.name,
                did_you_mean(id, ids.iter().map(String::as_str))
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default()
            ));
            continue;
        };
        let mut attempts = Vec::new();
        for a in rec.attempts() {
            match recorded(step, a, base) {
                Ok(r) => attempts.push(r),
                Err(e) => problems.push(format!("recording for `{id}`: {e}")),
            }
        }
        out.steps.insert(id.clone(), attempts);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn recorded(
    step: &crate::model::Step,
    a: &RecordedAttempt,
    base: &Path,
) -> Result<Recorded, String> {
    let mut stdout = match (&a.stdout, &a.stdout_file) {
        (Some(_), Some(_)) => return Err("give `stdout` or `stdout_file`, not both".into()),
        (Some(s), None) => s.clone().into_bytes(),
        (None, Some(f)) => {
            std::fs::read(base.join(f)).map_err(|e| format!("cannot read {f}: {e}"))?
        }
        (None, None) => Vec::new(),
    };
    if let Action::Probe { name, .. } = &step.action {
        if a.json.is_some() || a.probe_error.is_some() {
            let entry = match (&a.json, &a.probe_error) {
                (_, Some(err)) => {
                    serde_json::json!({"ok": false, "error": {"kind": "failed", "message": err}})
                }
                (Some(data), None) => serde_json::json!({"ok": true, "data": data}),
                (None, None) => serde_json::Value::Null,
            };
            let doc = serde_json::json!({"type": "runbook-agent.report", "schema_version": 1, "probes": {name.as_str(): entry}});
            stdout = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
        }
    } else if let Some(json) = &a.json {
        stdout = serde_json::to_vec_pretty(json).map_err(|e| e.to_string())?;
    }
    Ok(Recorded {
        stdout,
        stderr: a.stderr.clone().unwrap_or_default().into_bytes(),
        exit_code: a.exit_code,
        timed_out: a.timeout,
        transport_error: a.error.clone(),
        duration: std::time::Duration::from_millis(a.duration_ms.unwrap_or(1)),
    })
}

async fn run_scenario(
    runbook: &Arc<Runbook>,
    file: &TestFile,
    scenario: &Scenario,
    base: &Path,
) -> (ScenarioReport, Vec<Arc<serde_json::Value>>) {
    let started = Instant::now();
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        passed: false,
        failures: Vec::new(),
        conclusions: Vec::new(),
        path: Vec::new(),
        duration_ms: 0,
    };
    let recordings = match recordings(runbook, scenario, base) {
        Ok(r) => r,
        Err(problems) => {
            report.failures = problems;
            return (report, Vec::new());
        }
    };
    let mut params = file.params.clone();
    params.extend(scenario.params.clone());
    for name in params.keys() {
        if !runbook.params.iter().any(|p| &p.name == name) {
            report.failures.push(format!(
                "param `{name}` is not a param of `{}`",
                runbook.name
            ));
        }
    }
    if !report.failures.is_empty() {
        return (report, Vec::new());
    }
    let host_name = scenario.host.clone().unwrap_or_else(|| "test-host".into());
    let host = HostSpec {
        name: host_name.clone(),
        destination: Destination {
            name: host_name.clone(),
            address: host_name,
            user: None,
            port: None,
            local: false,
        },
        vars: scenario.host_vars.clone(),
    };
    let connector = ReplayConnector::new(recordings);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events = EventSink::new(Arc::new(Redactor::default()), vec![tx]);
    let approver: Arc<dyn Approver> = if scenario.approve {
        Arc::new(ApproveAll {
            operator: "runbook test".into(),
        })
    } else {
        Arc::new(RefuseAll)
    };
    let options = ExecOptions {
        run_id: "scenario".into(),
        operator: "runbook test".into(),
        dry_run: scenario.dry_run,
        forks: 1,
        agent: AgentSource::Preinstalled("runbook-agent".into()),
        local_agent_command: "runbook-agent".into(),
        remote_log: false,
        no_retry_delay: true,
        batch_probes: false,
        ..ExecOptions::default()
    };
    let executor = Executor::new(
        runbook.clone(),
        Arc::new(connector.clone()),
        events,
        approver,
        options,
        CancellationToken::new(),
    );
    let outcome = executor.run(vec![host], params).await.into_iter().next();
    drop(executor);
    let mut collected = Vec::new();
    while let Some(e) = rx.recv().await {
        collected.push(e);
    }
    let Some(outcome) = outcome else {
        report.failures.push("internal error: no outcome".into());
        return (report, collected);
    };
    report.conclusions = outcome.conclusions.iter().map(|c| c.step.clone()).collect();
    report.path = outcome.path.clone();
    for u in connector.unrecorded() {
        report.failures.push(format!(
            "step `{}` was not recorded; it would have run: {}",
            u.step, u.command
        ));
    }
    let expect = &scenario.expect;
    if let Some(want) = &expect.conclusions {
        let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = report.conclusions.iter().map(String::as_str).collect();
        if want != got {
            report.failures.push(format!(
                "expected conclusions [{}], got [{}]{}",
                want.into_iter().collect::<Vec<_>>().join(", "),
                got.into_iter().collect::<Vec<_>>().join(", "),
                outcome
                    .error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    } else if outcome.status != HostStatus::Concluded && expect.status.is_none() {
        report.failures.push(format!(
            "the run did not conclude: {}",
            outcome.error.as_deref().unwrap_or(outcome.status.name())
        ));
    }
    if let Some(status) = &expect.status {
        if status != outcome.status.name() {
            report.failures.push(format!(
                "expected status `{status}`, got `{}`{}",
                outcome.status.name(),
                outcome
                    .error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(path) = &expect.path {
        let ran: BTreeSet<&str> = report.path.iter().map(String::as_str).collect();
        let missing: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .filter(|s| !ran.contains(s))
            .collect();
        if !missing.is_empty() {
            report.failures.push(format!(
                "expected these steps to run: {} (ran: {})",
                missing.join(", "),
                report.path.join(", ")
            ));
        }
    }
    if let Some(not_run) = &expect.not_run {
        let ran: Vec<&str> = not_run
            .iter()
            .map(String::as_str)
            .filter(|s| report.path.iter().any(|p| p == s))
            .collect();
        if !ran.is_empty() {
            report.failures.push(format!(
                "expected these steps not to run: {}",
                ran.join(", ")
            ));
        }
    }
    if let Some(findings) = &expect.findings {
        let all: Vec<&str> = outcome
            .conclusions
            .iter()
            .map(|c| c.finding.as_str())
            .collect();
        for want in findings {
            if !all.iter().any(|f| f.contains(want.as_str())) {
                report.failures.push(format!(
                    "no finding contains `{want}` (findings: {})",
                    all.join(" | ")
                ));
            }
        }
    }
    report.passed = report.failures.is_empty();
    report.duration_ms = started.elapsed().as_millis() as u64;
    (report, collected)
}
