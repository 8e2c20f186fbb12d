//! The walker: follows one runbook's DAG on one host. A step starts when
//! every predecessor has finished or been pruned and at least one incoming
//! edge was taken; otherwise it is pruned, and pruning propagates. Steps
//! whose inputs are ready run concurrently.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use minijinja::Value;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::agent::{self, AgentSource, Installed};
use super::approve::Approval;
use super::display::sanitize_line;
use super::events::{Event, OutputRecord};
use super::result::{ConclusionRecord, Evidence, StepResult};
use super::scope::{resolve_params, Scope};
use super::{HostSpec, Prepared, Shared};
use crate::model::{Action, Conclusion, Next, ParseMode, Runbook, Step, TargetRef};
use crate::render::single_expression;
use crate::transport::{Destination, ExecRequest, Transport, TransportError};
use crate::validate::templates_names as names;

/// How a host's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// At least one conclusion was reached and nothing failed.
    Concluded,
    /// The walk ended without any conclusion.
    NoConclusion,
    /// A step failed with no `on_failure`, or the run could not start here.
    Failed,
    /// Interrupted by a signal.
    Interrupted,
    /// The `--deadline` passed.
    Deadline,
}

impl HostStatus {
    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            HostStatus::Concluded => "concluded",
            HostStatus::NoConclusion => "no_conclusion",
            HostStatus::Failed => "failed",
            HostStatus::Interrupted => "interrupted",
            HostStatus::Deadline => "deadline",
        }
    }
}

/// What happened on one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostOutcome {
    /// Host name.
    pub host: String,
    /// How it ended.
    pub status: HostStatus,
    /// Why it did not conclude, if so.
    pub error: Option<String>,
    /// Conclusions, in the order reached.
    pub conclusions: Vec<ConclusionRecord>,
    /// Steps that ran, in the order they finished.
    pub path: Vec<String>,
    /// Mutating steps not run (dry run or refused), with their commands.
    pub not_run: Vec<NotRun>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// A mutating step that was not run.
#[derive(Debug, Clone, Serialize)]
pub struct NotRun {
    /// Step id.
    pub step: String,
    /// The fully rendered command.
    pub command: String,
    /// `dry_run` or `approval_refused`.
    pub reason: String,
}

impl HostOutcome {
    pub(crate) fn failed(host: &str, error: String) -> Self {
        HostOutcome {
            host: host.to_string(),
            status: HostStatus::Failed,
            error: Some(error),
            conclusions: Vec::new(),
            path: Vec::new(),
            not_run: Vec::new(),
            duration_ms: 0,
        }
    }

    pub(crate) fn interrupted_before_start(host: &str) -> Self {
        HostOutcome {
            status: HostStatus::Interrupted,
            ..Self::failed(host, "interrupted before it started".into())
        }
    }
}

/// How a walk ended.
#[derive(Debug, Default)]
enum End {
    #[default]
    Completed,
    Failed(String),
    Interrupted,
    Deadline,
    /// The walk that called this one ended early (a `call` step stopped).
    Stopped,
}

#[derive(Default)]
struct Walk {
    conclusions: Vec<ConclusionRecord>,
    path: Vec<String>,
    not_run: Vec<NotRun>,
    end: End,
}

enum StepOutcome {
    Done {
        result: Box<StepResult>,
        command: Option<String>,
        called: Vec<ConclusionRecord>,
    },
    Skipped {
        reason: &'static str,
        detail: Option<String>,
    },
}

/// Runs the root runbook on one host.
pub(crate) async fn run_host(
    shared: Arc<Shared>,
    root: &str,
    host: HostSpec,
    given: &BTreeMap<String, String>,
) -> HostOutcome {
    let started = Instant::now();
    shared.events.emit(Event::HostStarted {
        host: host.name.clone(),
    });
    let walker = Walker {
        cancel: shared.cancel.child_token(),
        pool: Mutex::new(Pool::default()),
        agents: Mutex::new(HashMap::new()),
        host_value: Value::from_serialize(serde_json::json!({
            "name": host.name,
            "address": host.destination.address,
            "user": host.destination.user,
            "vars": host.vars,
        })),
        host,
        shared,
    };
    let outcome = walker.run_root(root, given).await;
    for (_, t) in walker.pool.lock().await.live.drain() {
        t.close().await;
    }
    let mut outcome = outcome;
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    walker.shared.events.emit(Event::HostFinished {
        host: outcome.host.clone(),
        status: outcome.status.name().to_string(),
        error: outcome.error.clone(),
        duration_ms: outcome.duration_ms,
    });
    outcome
}

struct Walker {
    shared: Arc<Shared>,
    host: HostSpec,
    host_value: Value,
    pool: Mutex<Pool>,
    agents: Mutex<HashMap<TargetRef, String>>,
    cancel: CancellationToken,
}

/// The connections of one host's walk.
#[derive(Default)]
struct Pool {
    live: HashMap<Destination, Arc<dyn Transport>>,
    /// The last failed connect per destination, and when it failed.
    failed: HashMap<Destination, (Instant, TransportError)>,
}

/// Join/prune bookkeeping of one walk.
struct Dag {
    remaining: Vec<usize>,
    taken: Vec<bool>,
    ready: Vec<usize>,
}

impl Dag {
    /// Step `i` is done and took the edges to `goto`: release successors,
    /// pruning those no taken edge reaches (transitively). Returns the
    /// pruned steps.
    fn complete(&mut self, prepared: &Prepared, i: usize, goto: &[usize]) -> Vec<usize> {
        let mut pruned = Vec::new();
        let mut work = vec![(i, goto.to_vec())];
        while let Some((from, goto)) = work.pop() {
            for &s in &prepared.successors[from] {
                self.remaining[s] = self.remaining[s].saturating_sub(1);
                if goto.contains(&s) {
                    self.taken[s] = true;
                }
                if self.remaining[s] == 0 {
                    if self.taken[s] {
                        self.ready.push(s);
                    } else {
                        pruned.push(s);
                        work.push((s, Vec::new()));
                    }
                }
            }
        }
        pruned
    }
}

impl Walker {
    fn run_value(&self, runbook: &str) -> Value {
        Value::from_serialize(serde_json::json!({
            "id": self.shared.options.run_id,
            "runbook": runbook,
            "operator": self.shared.options.operator,
            "dry_run": self.shared.options.dry_run,
        }))
    }

    async fn run_root(&self, root: &str, given: &BTreeMap<String, String>) -> HostOutcome {
        let name = self.host.name.clone();
        let Some(prepared) = self.shared.prepared.get(root).cloned() else {
            return HostOutcome::failed(
                &name,
                format!("internal error: runbook `{root}` was not prepared"),
            );
        };
        let run = self.run_value(root);
        let params = match resolve_params(&prepared.runbook, given, &self.host_value, &run) {
            Ok((p, _)) => p,
            Err(e) => return HostOutcome::failed(&name, e),
        };
        let walk = self.walk(prepared, params, 0, self.cancel.clone()).await;
        let (status, error) = match walk.end {
            End::Completed if walk.conclusions.is_empty() => (
                HostStatus::NoConclusion,
                Some(format!(
                    "the path ended at `{}` without a conclusion",
                    walk.path.last().map_or("(start)", String::as_str)
                )),
            ),
            End::Completed => (HostStatus::Concluded, None),
            End::Failed(e) => (HostStatus::Failed, Some(e)),
            End::Interrupted => (
                HostStatus::Interrupted,
                // The audit writer stops the run the same way a signal does;
                // say which it was.
                Some(
                    self.shared
                        .events
                        .audit_failure()
                        .map_or_else(|| "interrupted".into(), |e| format!("stopped: {e}")),
                ),
            ),
            End::Deadline => (
                HostStatus::Deadline,
                Some("the run's --deadline passed".into()),
            ),
            End::Stopped => (HostStatus::Failed, Some(self.stop_reason())),
        };
        HostOutcome {
            host: name,
            status,
            error,
            conclusions: walk.conclusions,
            path: walk.path,
            not_run: walk.not_run,
            duration_ms: 0,
        }
    }

    fn emit(&self, event: Event) {
        self.shared.events.emit(event);
    }

    /// Records a decision that no rule made: a fan-out (`next`), a jump to
    /// `on_failure`, or no rule matching (`no_match`).
    fn emit_unruled_decision(
        &self,
        step: &Step,
        via: &str,
        goto: Vec<String>,
        values: BTreeMap<String, serde_json::Value>,
    ) {
        self.emit(Event::Decision {
            host: self.host.name.clone(),
            step: step.id.clone(),
            rule: None,
            when: None,
            values,
            goto,
            via: via.into(),
        });
    }

    fn walk(
        &self,
        prepared: Arc<Prepared>,
        params: BTreeMap<String, Value>,
        depth: usize,
        parent: CancellationToken,
    ) -> BoxFuture<'_, Walk> {
        async move {
            let rb = prepared.runbook.clone();
            let mut out = Walk::default();
            if depth > 16 {
                out.end = End::Failed("calls nest deeper than 16 runbooks".into());
                return out;
            }
            let mut scope = Scope {
                params,
                host: self.host_value.clone(),
                run: self.run_value(&rb.name),
                ..Default::default()
            };
            let mut dag = Dag {
                remaining: prepared.preds.clone(),
                taken: vec![false; rb.steps.len()],
                ready: vec![0],
            };
            // A child of the caller's token: when the calling walk stops (a
            // sibling of the `call` step failed), this one stops too.
            let walk_cancel = parent.child_token();
            let mut commands: HashMap<usize, (Option<String>, StepResult)> = HashMap::new();
            // Each future answers for one step, or for a batch of probes.
            let mut running: FuturesUnordered<BoxFuture<'_, Vec<(usize, StepOutcome)>>> =
                FuturesUnordered::new();
            // Outcomes of a batch beyond the first, handled one per turn.
            let mut finished: std::collections::VecDeque<(usize, StepOutcome)> =
                std::collections::VecDeque::new();
            let mut probes_ready: Vec<usize> = Vec::new();
            let host = self.host.name.clone();
            'walk: loop {
                while let Some(i) = dag.ready.pop() {
                    let step = &rb.steps[i];
                    if let Some(when) = &step.when {
                        match rb.templates.eval_bool(when, &scope.context(None)) {
                            Ok(true) => {}
                            Ok(false) => {
                                self.emit(Event::StepSkipped {
                                    host: host.clone(),
                                    step: step.id.clone(),
                                    reason: "when_false".into(),
                                    detail: Some(when.clone()),
                                });
                                self.release(&prepared, &mut dag, i, &[]);
                                continue;
                            }
                            Err(e) => {
                                out.end = End::Failed(format!("step `{}`: `when` failed: {e}", step.id));
                                break 'walk;
                            }
                        }
                    }
                    match &step.action {
                        Action::Conclude(c) => {
                            let record = self.conclude(&rb, step, c, &scope, &commands);
                            out.path.push(step.id.clone());
                            out.conclusions.push(record);
                            self.release(&prepared, &mut dag, i, &[]);
                        }
                        Action::Route => {
                            out.path.push(step.id.clone());
                            match self.decide(&rb, i, &scope, None) {
                                Ok(goto) => self.release(&prepared, &mut dag, i, &goto),
                                Err(e) => {
                                    out.end = End::Failed(e);
                                    break 'walk;
                                }
                            }
                        }
                        Action::Probe { .. } if self.shared.options.batch_probes => {
                            probes_ready.push(i);
                        }
                        _ => {
                            let ctx = scope.context(None);
                            let fut = self.run_step(prepared.clone(), i, ctx, walk_cancel.clone(), depth);
                            running.push(fut.map(move |o| vec![(i, o)]).boxed());
                        }
                    }
                }
                // Probes that became ready together on one machine share
                // one agent call (one channel, one agent start-up): on a
                // dying node every process spawned counts.
                for group in batch_probes(&rb, std::mem::take(&mut probes_ready)) {
                    let ctx = scope.context(None);
                    if let [i] = group[..] {
                        let fut = self.run_step(prepared.clone(), i, ctx, walk_cancel.clone(), depth);
                        running.push(fut.map(move |o| vec![(i, o)]).boxed());
                    } else {
                        running.push(self.run_probe_batch(prepared.clone(), group, ctx, walk_cancel.clone()));
                    }
                }
                if running.is_empty() && finished.is_empty() {
                    break;
                }
                let deadline = async {
                    match self.shared.deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
                // Biased: once stopped, an outcome that is ready at the same
                // time (a step cut short by the stop) must not be taken as
                // an ordinary failure that could lead on to `on_failure`.
                let next = match finished.pop_front() {
                    Some(done) => Some(done),
                    None => tokio::select! {
                        biased;
                        _ = self.shared.cancel.cancelled() => { out.end = End::Interrupted; break 'walk; }
                        _ = walk_cancel.cancelled() => { out.end = End::Stopped; break 'walk; }
                        _ = deadline => { out.end = End::Deadline; break 'walk; }
                        r = running.next() => r.and_then(|batch| {
                            finished.extend(batch);
                            finished.pop_front()
                        }),
                    },
                };
                let Some((i, outcome)) = next else { break };
                let step = &rb.steps[i];
                match outcome {
                    StepOutcome::Skipped { reason, detail } => {
                        if let Some(cmd) = &detail {
                            out.not_run.push(super::host::NotRun {
                                step: step.id.clone(),
                                command: cmd.clone(),
                                reason: reason.to_string(),
                            });
                        }
                        self.emit(Event::StepSkipped {
                            host: host.clone(),
                            step: step.id.clone(),
                            reason: reason.into(),
                            detail,
                        });
                        self.release(&prepared, &mut dag, i, &[]);
                    }
                    StepOutcome::Done { mut result, command, called } => {
                        out.path.push(step.id.clone());
                        out.conclusions.extend(called);
                        let mut value = result.to_value(step.parse);
                        let mut captured = BTreeMap::new();
                        if !result.failed() {
                            let ctx = scope.context(Some(&value));
                            for (var, template) in &step.capture {
                                match self.capture(&rb, step, var, template, &ctx) {
                                    Ok(v) => {
                                        captured.insert(var.clone(), v);
                                    }
                                    Err(e) => {
                                        result.error = Some(format!("capture `{var}`: {e}"));
                                        value = result.to_value(step.parse);
                                        break;
                                    }
                                }
                            }
                        }
                        self.emit(Event::StepFinished {
                            host: host.clone(),
                            step: step.id.clone(),
                            status: if result.timed_out {
                                "timed_out".into()
                            } else if result.failed() {
                                "failed".into()
                            } else {
                                "ok".into()
                            },
                            exit_code: result.exit_code,
                            duration_ms: result.duration.as_millis() as u64,
                            attempts: result.attempts,
                            stdout: OutputRecord::from_captured(&result.stdout, self.shared.options.record_limit),
                            stderr: OutputRecord::from_captured(&result.stderr, self.shared.options.record_limit),
                            error: result.error.clone(),
                            captures: captured.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
                        });
                        scope.set_step(&step.id, value.clone());
                        let failed = result.error.clone();
                        commands.insert(i, (command, *result));
                        if let Some(err) = failed {
                            match step.on_failure {
                                Some(f) => {
                                    self.emit_unruled_decision(
                                        step,
                                        "on_failure",
                                        vec![rb.steps[f].id.clone()],
                                        BTreeMap::from([("error".to_string(), serde_json::Value::from(err))]),
                                    );
                                    self.release(&prepared, &mut dag, i, &[f]);
                                }
                                None => {
                                    out.end = End::Failed(format!("step `{}` failed: {err}", step.id));
                                    break 'walk;
                                }
                            }
                        } else {
                            scope.vars.extend(captured);
                            match self.decide(&rb, i, &scope, Some(&value)) {
                                Ok(goto) => self.release(&prepared, &mut dag, i, &goto),
                                Err(e) => {
                                    out.end = End::Failed(e);
                                    break 'walk;
                                }
                            }
                        }
                    }
                }
            }
            // Stop whatever still runs (the walk failed or was interrupted)
            // and record how it ended.
            walk_cancel.cancel();
            while let Some(batch) = running.next().await {
                finished.extend(batch);
            }
            for (i, outcome) in finished {
                let step = &rb.steps[i];
                let detail = match outcome {
                    StepOutcome::Done { result, .. } => result.error,
                    StepOutcome::Skipped { detail, .. } => detail,
                };
                self.emit(Event::StepSkipped {
                    host: host.clone(),
                    step: step.id.clone(),
                    reason: "stopped".into(),
                    detail,
                });
            }
            out
        }
        .boxed()
    }

    fn release(&self, prepared: &Prepared, dag: &mut Dag, i: usize, goto: &[usize]) {
        for p in dag.complete(prepared, i, goto) {
            self.emit(Event::StepSkipped {
                host: self.host.name.clone(),
                step: prepared.runbook.steps[p].id.clone(),
                reason: "pruned".into(),
                detail: None,
            });
        }
    }

    fn capture(
        &self,
        rb: &Runbook,
        step: &Step,
        var: &str,
        template: &str,
        ctx: &Value,
    ) -> Result<Value, String> {
        match single_expression(template) {
            Some(expr) => rb.templates.eval(expr, ctx).map_err(|e| e.message),
            None => rb
                .templates
                .render(&names::capture(&step.id, var), ctx)
                .map(Value::from)
                .map_err(|e| e.message),
        }
    }

    /// Evaluates `next`; returns the steps to go to.
    fn decide(
        &self,
        rb: &Runbook,
        i: usize,
        scope: &Scope,
        result: Option<&Value>,
    ) -> Result<Vec<usize>, String> {
        let step = &rb.steps[i];
        let ids = |v: &[usize]| {
            v.iter()
                .map(|&t| rb.steps[t].id.clone())
                .collect::<Vec<_>>()
        };
        match &step.next {
            Next::End => Ok(Vec::new()),
            Next::All(targets) => {
                self.emit_unruled_decision(step, "next", ids(targets), BTreeMap::new());
                Ok(targets.clone())
            }
            Next::Rules(rules) => {
                let ctx = scope.context(result);
                for (r, rule) in rules.iter().enumerate() {
                    let matched = match &rule.when {
                        None => true,
                        Some(w) => rb.templates.eval_bool(w, &ctx).map_err(|e| {
                            format!("step `{}`: rule {} `when`: {e}", step.id, r + 1)
                        })?,
                    };
                    if matched {
                        self.emit(Event::Decision {
                            host: self.host.name.clone(),
                            step: step.id.clone(),
                            rule: Some(r),
                            when: rule.when.clone(),
                            values: rule
                                .when
                                .as_deref()
                                .map(|w| seen_values(rb, w, &ctx))
                                .unwrap_or_default(),
                            goto: ids(&rule.goto),
                            via: "next".into(),
                        });
                        return Ok(rule.goto.clone());
                    }
                }
                self.emit_unruled_decision(step, "no_match", Vec::new(), BTreeMap::new());
                Ok(Vec::new())
            }
        }
    }

    fn conclude(
        &self,
        rb: &Runbook,
        step: &Step,
        c: &Conclusion,
        scope: &Scope,
        commands: &HashMap<usize, (Option<String>, StepResult)>,
    ) -> ConclusionRecord {
        let ctx = scope.context(None);
        let render = |name: String, raw: &str| {
            rb.templates
                .render(&name, &ctx)
                .unwrap_or_else(|e| format!("{raw} (could not be rendered: {e})"))
        };
        // Masked here, whole, not only on the way into records: the
        // summary and `--output json` are built from these, and a private
        // key quoted in a finding must be masked before it is cut into
        // lines or fields.
        let redactor = self.shared.events.redactor();
        let finding = redactor
            .redact(&render(names::finding(&step.id), &c.finding))
            .into_owned();
        let remedy = c.remedy.as_ref().map(|r| {
            redactor
                .redact(&render(names::remedy(&step.id), r))
                .into_owned()
        });
        let evidence: Vec<Evidence> = c
            .evidence
            .iter()
            .filter_map(|&e| {
                let (command, result) = commands.get(&e)?;
                Some(Evidence {
                    step: rb.steps[e].id.clone(),
                    command: command.as_deref().map(|c| redactor.redact(c).into_owned()),
                    exit_code: result.exit_code,
                    lines: key_lines(result, redactor),
                })
            })
            .collect();
        self.emit(Event::Concluded {
            host: self.host.name.clone(),
            step: step.id.clone(),
            severity: c.severity,
            finding: finding.clone(),
            remedy: remedy.clone(),
            evidence: evidence.iter().map(|e| e.step.clone()).collect(),
        });
        ConclusionRecord {
            step: step.id.clone(),
            severity: c.severity,
            finding,
            remedy,
            evidence,
            runbook: rb.name.clone(),
        }
    }

    fn run_step(
        &self,
        prepared: Arc<Prepared>,
        i: usize,
        ctx: Value,
        cancel: CancellationToken,
        depth: usize,
    ) -> BoxFuture<'_, StepOutcome> {
        async move {
            let rb = &prepared.runbook;
            let step = &rb.steps[i];
            let failed = |msg: String| StepOutcome::Done {
                result: Box::new(StepResult {
                    error: Some(msg),
                    attempts: 1,
                    ..Default::default()
                }),
                command: None,
                called: Vec::new(),
            };
            match &step.action {
                Action::Run(_) => {
                    let command = match rb.templates.render(&names::run(&step.id), &ctx) {
                        Ok(c) => c,
                        Err(e) => return failed(format!("cannot render the command: {e}")),
                    };
                    if step.mutates {
                        if self.shared.options.dry_run {
                            return StepOutcome::Skipped {
                                reason: "dry_run",
                                detail: Some(command),
                            };
                        }
                        self.emit(Event::ApprovalAsked {
                            host: self.host.name.clone(),
                            step: step.id.clone(),
                            command: command.clone(),
                        });
                        // A person may take their time; a Ctrl-C (or the
                        // deadline, or another step failing) must not wait
                        // for their answer.
                        let approval = tokio::select! {
                            a = self.shared.approver.approve(&self.host.name, &step.id, &command) => a,
                            _ = cancel.cancelled() => {
                                self.emit(Event::ApprovalRefused {
                                    host: self.host.name.clone(),
                                    step: step.id.clone(),
                                    by: format!("nobody: {}", self.stop_reason()),
                                });
                                return StepOutcome::Skipped {
                                    reason: "stopped",
                                    detail: None,
                                };
                            }
                        };
                        match approval {
                            Approval::Approved(by) => self.emit(Event::ApprovalGiven {
                                host: self.host.name.clone(),
                                step: step.id.clone(),
                                by,
                            }),
                            Approval::Refused(by) => {
                                self.emit(Event::ApprovalRefused {
                                    host: self.host.name.clone(),
                                    step: step.id.clone(),
                                    by,
                                });
                                return StepOutcome::Skipped {
                                    reason: "approval_refused",
                                    detail: Some(command),
                                };
                            }
                        }
                    }
                    let mut result = self.exec(rb, step, &ctx, &command, &cancel).await;
                    if !result.failed() && step.parse == ParseMode::Json {
                        parse_json(&mut result);
                    }
                    StepOutcome::Done {
                        result: Box::new(result),
                        command: Some(command),
                        called: Vec::new(),
                    }
                }
                Action::Probe { name, args } => {
                    let mut rendered = Vec::new();
                    for (k, _) in args {
                        match rb.templates.render(&names::probe_arg(&step.id, k), &ctx) {
                            Ok(v) => rendered.push(format!("{k}={v}")),
                            Err(e) => {
                                return failed(format!("cannot render probe argument `{k}`: {e}"))
                            }
                        }
                    }
                    let agent = match self.agent_for(rb, step.on, &ctx, &cancel).await {
                        Ok(a) => a,
                        Err(e) => return failed(e),
                    };
                    let mut command = format!("{agent} probe {}", quote(name));
                    for a in &rendered {
                        command.push_str(" --arg ");
                        command.push_str(&quote(a));
                    }
                    let mut result = self.exec(rb, step, &ctx, &command, &cancel).await;
                    if !result.failed() {
                        read_probe(&mut result, name);
                    }
                    StepOutcome::Done {
                        result: Box::new(result),
                        command: Some(command),
                        called: Vec::new(),
                    }
                }
                Action::Call { runbook, with } => {
                    let Some(sub) = self.shared.prepared.get(runbook).cloned() else {
                        return failed(format!(
                            "internal error: runbook `{runbook}` was not prepared"
                        ));
                    };
                    let mut given = BTreeMap::new();
                    for (k, _) in with {
                        match rb.templates.render(&names::call_with(&step.id, k), &ctx) {
                            Ok(v) => {
                                given.insert(k.clone(), v);
                            }
                            Err(e) => return failed(format!("cannot render param `{k}`: {e}")),
                        }
                    }
                    let run = self.run_value(runbook);
                    let params = match resolve_params(&sub.runbook, &given, &self.host_value, &run)
                    {
                        Ok((p, _)) => p,
                        Err(e) => return failed(format!("calling `{runbook}`: {e}")),
                    };
                    let started = Instant::now();
                    let walk = self.walk(sub, params, depth + 1, cancel.clone()).await;
                    let mut result = StepResult {
                        attempts: 1,
                        duration: started.elapsed(),
                        conclusions: walk
                            .conclusions
                            .iter()
                            .filter_map(|c| serde_json::to_value(c).ok())
                            .collect(),
                        ..Default::default()
                    };
                    match walk.end {
                        End::Completed => {}
                        End::Failed(e) => result.error = Some(format!("runbook `{runbook}`: {e}")),
                        End::Interrupted => result.error = Some("interrupted".into()),
                        End::Deadline => result.error = Some("the run's --deadline passed".into()),
                        End::Stopped => result.error = Some(self.stop_reason()),
                    }
                    StepOutcome::Done {
                        result: Box::new(result),
                        command: None,
                        called: walk.conclusions,
                    }
                }
                Action::Conclude(_) | Action::Route => {
                    failed("internal error: not an executable step".into())
                }
            }
        }
        .boxed()
    }

    /// The agent command on the machine a probe runs on, installing the
    /// agent there first when it is shipped.
    async fn agent_for(
        &self,
        rb: &Runbook,
        on: TargetRef,
        ctx: &Value,
        cancel: &CancellationToken,
    ) -> Result<String, String> {
        if self.destination_is_local(on) {
            return Ok(quote(&self.shared.options.local_agent_command));
        }
        let (binary, dir) = match &self.shared.options.agent {
            AgentSource::Preinstalled(p) => return Ok(quote(p)),
            AgentSource::Missing(why) => return Err(why.clone()),
            AgentSource::Ship { binary, dir } => (binary.clone(), dir.clone()),
        };
        let mut agents = self.agents.lock().await;
        if let Some(path) = agents.get(&on) {
            return Ok(quote(path));
        }
        let (transport, target) = self
            .transport(rb, on, ctx)
            .await
            .map_err(|e| e.to_string())?;
        let installed = agent::ensure(transport.as_ref(), &binary, dir.as_deref(), cancel).await?;
        if let Installed::Uploaded { path, replaced } = &installed {
            self.emit(Event::AgentInstalled {
                host: self.host.name.clone(),
                target,
                path: path.clone(),
                sha256: binary.sha256.clone(),
                replaced_altered: *replaced,
            });
        }
        let path = installed.path().to_string();
        agents.insert(on, path.clone());
        Ok(quote(&path))
    }

    /// One agent call for several probe steps on one machine; each step
    /// gets its own probe's part of the report.
    fn run_probe_batch(
        &self,
        prepared: Arc<Prepared>,
        members: Vec<usize>,
        ctx: Value,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Vec<(usize, StepOutcome)>> {
        async move {
            let rb = &prepared.runbook;
            let all_fail = |msg: String| {
                members
                    .iter()
                    .map(|&i| {
                        let result = StepResult {
                            error: Some(msg.clone()),
                            attempts: 1,
                            ..Default::default()
                        };
                        (
                            i,
                            StepOutcome::Done {
                                result: Box::new(result),
                                command: None,
                                called: Vec::new(),
                            },
                        )
                    })
                    .collect::<Vec<_>>()
            };
            let first = &rb.steps[members[0]];
            let mut names = Vec::new();
            let mut args = Vec::new();
            for &i in &members {
                let step = &rb.steps[i];
                let Action::Probe {
                    name,
                    args: probe_args,
                } = &step.action
                else {
                    return all_fail("internal error: not a probe step".into());
                };
                names.push(name.clone());
                for (k, _) in probe_args {
                    match rb.templates.render(&names::probe_arg(&step.id, k), &ctx) {
                        Ok(v) => args.push(format!("{name}.{k}={v}")),
                        Err(e) => {
                            return all_fail(format!(
                                "cannot render argument `{k}` of probe step `{}`: {e}",
                                step.id
                            ))
                        }
                    }
                }
            }
            let agent = match self.agent_for(rb, first.on, &ctx, &cancel).await {
                Ok(a) => a,
                Err(e) => return all_fail(e),
            };
            let mut command = format!("{agent} probe");
            for n in &names {
                command.push(' ');
                command.push_str(&quote(n));
            }
            for a in &args {
                command.push_str(" --arg ");
                command.push_str(&quote(a));
            }
            // The batch waits as long and retries as often as its most
            // patient member.
            let mut step = first.clone();
            for &i in &members {
                step.timeout = step.timeout.max(rb.steps[i].timeout);
                step.retries = step.retries.max(rb.steps[i].retries);
            }
            let ids: Vec<String> = members.iter().map(|&i| rb.steps[i].id.clone()).collect();
            let result = self
                .exec_for(rb, &step, &ids, &ctx, &command, &cancel)
                .await;
            let report: Option<serde_json::Value> = (!result.failed() && !result.stdout.truncated)
                .then(|| serde_json::from_slice(&result.stdout.head).ok())
                .flatten();
            members
                .iter()
                .zip(&names)
                .map(|(&i, name)| {
                    let mut own = result.clone();
                    if let Some(doc) = &report {
                        // Each step records and reads only its own probe.
                        let part = serde_json::json!({
                            "type": doc["type"], "schema_version": doc["schema_version"],
                            "agent_version": doc["agent_version"], "hostname": doc["hostname"],
                            "probes": { name.as_str(): doc["probes"][name.as_str()] },
                        });
                        let bytes = serde_json::to_vec(&part).unwrap_or_default();
                        own.stdout = crate::transport::Captured::from_bytes(
                            &bytes,
                            self.shared.options.output_limit,
                        );
                    }
                    if !own.failed() {
                        read_probe(&mut own, name);
                    }
                    (
                        i,
                        StepOutcome::Done {
                            result: Box::new(own),
                            command: Some(command.clone()),
                            called: Vec::new(),
                        },
                    )
                })
                .collect()
        }
        .boxed()
    }

    fn destination_is_local(&self, on: TargetRef) -> bool {
        match on {
            TargetRef::Local => true,
            TargetRef::Host => self.host.destination.local,
            TargetRef::Named(_) => false,
        }
    }

    /// Runs a command with retries and backoff.
    async fn exec(
        &self,
        rb: &Runbook,
        step: &Step,
        ctx: &Value,
        command: &str,
        cancel: &CancellationToken,
    ) -> StepResult {
        self.exec_for(
            rb,
            step,
            std::slice::from_ref(&step.id),
            ctx,
            command,
            cancel,
        )
        .await
    }

    /// Runs a command that answers for the steps `ids` (one step, or a
    /// batch of probes) with `step`'s target, limits and retries.
    async fn exec_for(
        &self,
        rb: &Runbook,
        step: &Step,
        ids: &[String],
        ctx: &Value,
        command: &str,
        cancel: &CancellationToken,
    ) -> StepResult {
        let attempts = step.retries + 1;
        let mut delay = step.retry_delay;
        let remote_log = self.shared.options.remote_log && !self.destination_is_local(step.on);
        let mut last = StepResult::default();
        for attempt in 1..=attempts {
            let (transport, target) = match self.transport(rb, step.on, ctx).await {
                Ok(t) => t,
                Err(e) => {
                    last = StepResult {
                        error: Some(e.to_string()),
                        attempts: attempt,
                        ..Default::default()
                    };
                    if attempt < attempts
                        && e.is_retryable()
                        && self
                            .backoff(ids, attempt, &e.to_string(), &mut delay, cancel)
                            .await
                    {
                        continue;
                    }
                    return last;
                }
            };
            // Write-ahead: the command only runs once its start is on disk.
            // When the audit trail cannot be written the run is being
            // stopped; this step must not run unrecorded in the meantime.
            let mut started = Ok(());
            for id in ids {
                started = self
                    .shared
                    .events
                    .emit_durable(Event::StepStarted {
                        host: self.host.name.clone(),
                        step: id.clone(),
                        kind: step.action.kind().into(),
                        target: target.clone(),
                        command: Some(command.to_string()),
                        attempt,
                    })
                    .await;
                if started.is_err() {
                    break;
                }
            }
            if let Err(e) = started {
                return StepResult {
                    error: Some(format!("not run: {e}")),
                    attempts: attempt,
                    ..Default::default()
                };
            }
            let request = ExecRequest {
                step_id: step.id.clone(),
                command: command.to_string(),
                env: vec![
                    ("RUNBOOK_RUN_ID".into(), self.shared.options.run_id.clone()),
                    ("RUNBOOK_STEP".into(), step.id.clone()),
                ],
                timeout: step.timeout,
                output_limit: self.shared.options.output_limit,
                cancel: cancel.clone(),
                stdin: None,
            };
            if remote_log {
                transport.syslog(&self.syslog_line(rb, ids, attempt)).await;
            }
            let attempt_started = Instant::now();
            let (error, retryable, output) = match transport.exec(request).await {
                Ok(o) if o.cancelled => (Some(self.stop_reason()), false, Some(o)),
                Ok(o) if o.timed_out => (
                    Some(format!(
                        "timed out after {}",
                        humantime::format_duration(step.timeout)
                    )),
                    true,
                    Some(o),
                ),
                Ok(o) => (None, false, Some(o)),
                Err(e) => (Some(e.to_string()), e.is_retryable(), None),
            };
            last = output.map_or_else(
                // The connection failed under the command: keep how long it
                // ran, not 0 ms.
                || StepResult {
                    duration: attempt_started.elapsed(),
                    ..Default::default()
                },
                |o| StepResult::from_output(o, attempt),
            );
            last.attempts = attempt;
            match error {
                None => return last,
                Some(e) => {
                    last.error = Some(e.clone());
                    if attempt < attempts
                        && retryable
                        && self.backoff(ids, attempt, &e, &mut delay, cancel).await
                    {
                        continue;
                    }
                    return last;
                }
            }
        }
        last
    }

    /// The line the host's own syslog gets before a command, to join the
    /// host's logs with the audit trail: `run=… operator=… runbook=…
    /// step=…` (and `attempt=N` on retries), on one line whatever the
    /// operator's name holds.
    fn syslog_line(&self, rb: &Runbook, ids: &[String], attempt: u32) -> String {
        let options = &self.shared.options;
        let mut line = format!(
            "run={} operator={} runbook={} step={}",
            options.run_id,
            options.operator,
            rb.name,
            ids.join(",")
        );
        if attempt > 1 {
            line.push_str(&format!(" attempt={attempt}"));
        }
        sanitize_line(&line)
    }

    /// Why a running step of this host was stopped: a step is only ever
    /// cancelled because the run was interrupted, its deadline passed, or
    /// its walk ended early (another step failed).
    fn stop_reason(&self) -> String {
        if let Some(e) = self.shared.events.audit_failure() {
            format!("stopped: {e}")
        } else if self.shared.cancel.is_cancelled() {
            "stopped: the run was interrupted".into()
        } else if self.shared.deadline.is_some_and(|d| Instant::now() >= d) {
            "stopped: the run's --deadline passed".into()
        } else {
            "stopped: another step of this host failed".into()
        }
    }

    /// Records a retry and waits; false when interrupted meanwhile.
    async fn backoff(
        &self,
        ids: &[String],
        attempt: u32,
        error: &str,
        delay: &mut Duration,
        cancel: &CancellationToken,
    ) -> bool {
        for id in ids {
            self.emit(Event::StepRetried {
                host: self.host.name.clone(),
                step: id.clone(),
                attempt,
                error: error.to_string(),
                delay_ms: delay.as_millis() as u64,
            });
        }
        let wait = if self.shared.options.no_retry_delay {
            Duration::ZERO
        } else {
            *delay
        };
        *delay = (*delay * 2).min(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = cancel.cancelled() => false,
        }
    }

    /// The connection for a target, connecting on first use.
    async fn transport(
        &self,
        rb: &Runbook,
        on: TargetRef,
        ctx: &Value,
    ) -> Result<(Arc<dyn Transport>, String), TransportError> {
        let destination = match on {
            TargetRef::Host => self.host.destination.clone(),
            TargetRef::Local => Destination::local(),
            TargetRef::Named(i) => {
                let t = &rb.targets[i];
                let render = |field: &str| {
                    rb.templates
                        .render(&names::target(&t.name, field), ctx)
                        .map_err(|e| TransportError::Connect {
                            host: t.name.clone(),
                            reason: format!("cannot render target `{}`: {e}", t.name),
                        })
                };
                let address = render("host")?;
                let user = match &t.user {
                    Some(_) => Some(render("user")?),
                    None => None,
                };
                Destination {
                    name: format!("{} ({address})", t.name),
                    address,
                    user,
                    port: t.port,
                    local: false,
                }
            }
        };
        let waiting_since = Instant::now();
        let mut pool = self.pool.lock().await;
        if let Some(t) = pool.live.get(&destination).cloned() {
            if t.is_alive().await {
                return Ok((t, destination.name.clone()));
            }
            // The connection died since its last command (its SSH master
            // was killed, or a command on it lost the connection): connect
            // anew below, so the new connection is recorded, rather than
            // failing a step that never started.
            pool.live.remove(&destination);
            t.close().await;
        }
        // Steps that queued behind a connect attempt share its failure:
        // each trying again in turn would make the branches of a fan-out
        // wait out one connect timeout after another on a host that does
        // not answer. A retry (which starts after the failure) connects anew.
        if let Some((failed_at, e)) = pool.failed.get(&destination) {
            if *failed_at >= waiting_since {
                return Err(e.clone());
            }
        }
        let started = Instant::now();
        match self.shared.connector.connect(&destination).await {
            Ok(t) => {
                self.emit(Event::Connected {
                    host: self.host.name.clone(),
                    target: destination.name.clone(),
                    duration_ms: started.elapsed().as_millis() as u64,
                    reused: t.reused(),
                });
                pool.failed.remove(&destination);
                pool.live.insert(destination.clone(), t.clone());
                Ok((t, destination.name))
            }
            Err(e) => {
                self.emit(Event::ConnectionFailed {
                    host: self.host.name.clone(),
                    target: destination.name.clone(),
                    kind: e.kind().into(),
                    error: e.to_string(),
                });
                pool.failed.insert(destination, (Instant::now(), e.clone()));
                Err(e)
            }
        }
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| "''".to_string(), |q| q.into_owned())
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The values an expression read, for the decision record.
fn seen_values(rb: &Runbook, expr: &str, ctx: &Value) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    if let Ok(vars) = rb.templates.check_expression(expr) {
        for var in vars {
            if let Ok(v) = rb.templates.eval(&var, ctx) {
                let mut json = to_json(&v);
                if let serde_json::Value::String(s) = &mut json {
                    if s.len() > 300 {
                        let mut cut = 300;
                        while !s.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        s.truncate(cut);
                        s.push('…');
                    }
                } else if json.to_string().len() > 2000 {
                    json = serde_json::Value::String("(large value)".into());
                }
                out.insert(var, json);
            }
        }
    }
    out
}

/// `parse: json`: fails the step when stdout is not JSON (empty is null).
fn parse_json(result: &mut StepResult) {
    if result.stdout.truncated {
        result.error = Some(format!(
            "stdout is {} bytes, more than the {} kept in memory; cannot parse it as JSON",
            result.stdout.bytes,
            result.stdout.head.len() + result.stdout.tail.len()
        ));
        return;
    }
    if result.stdout.head.iter().all(u8::is_ascii_whitespace) {
        result.json = Some(serde_json::Value::Null);
        return;
    }
    match serde_json::from_slice(&result.stdout.head) {
        Ok(v) => result.json = Some(v),
        Err(e) => result.error = Some(format!("stdout is not JSON: {e}")),
    }
}

/// Reads the agent's report into `result.json` (the probe's data).
fn read_probe(result: &mut StepResult, probe: &str) {
    parse_json(result);
    if result.failed() {
        if result.exit_code == Some(127) {
            result.error = Some("the remote agent is not installed on this host (exit 127)".into());
        }
        return;
    }
    let doc = result.json.take().unwrap_or_default();
    let entry = &doc["probes"][probe];
    if entry["ok"].as_bool() == Some(true) {
        result.json = Some(entry["data"].clone());
    } else if entry.is_null() {
        result.error = Some(format!("the agent's report has no `{probe}` result"));
    } else {
        let kind = entry["error"]["kind"].as_str().unwrap_or("failed");
        let message = entry["error"]["message"].as_str().unwrap_or("no message");
        result.error = Some(format!("probe `{probe}` {kind}: {message}"));
    }
}

/// Key lines of a step's output for evidence: the first and last few
/// non-empty lines (or a compact JSON summary).
fn key_lines(result: &StepResult, redactor: &crate::redact::Redactor) -> Vec<String> {
    const EACH: usize = 6;
    // Masked before the text is cut into lines: once cut, a private key's
    // body lines no longer look like part of one.
    let mut lines: Vec<String> = if let Some(json) = &result.json {
        super::result::lines(
            &redactor.redact(&serde_json::to_string_pretty(json).unwrap_or_default()),
        )
    } else {
        super::result::lines(&redactor.redact(&result.stdout.text()))
    };
    if lines.is_empty() {
        lines = super::result::lines(&redactor.redact(&result.stderr.text()));
    }
    if let Some(e) = &result.error {
        lines.push(format!("error: {e}"));
    }
    let lines: Vec<String> = if lines.len() > EACH * 2 {
        let n = lines.len();
        let mut v: Vec<String> = lines[..EACH].to_vec();
        v.push(format!("… {} more lines …", n - EACH * 2));
        v.extend_from_slice(&lines[n - EACH..]);
        v
    } else {
        lines
    };
    lines
        .into_iter()
        .map(|l| {
            if l.chars().count() > 240 {
                l.chars().take(240).collect::<String>() + "…"
            } else {
                l
            }
        })
        .collect()
}

/// Groups probe steps that became ready together by the machine they run
/// on; a probe name appears once per group (the agent reports by name), so
/// a second `unit` probe goes alone.
fn batch_probes(rb: &Runbook, ready: Vec<usize>) -> Vec<Vec<usize>> {
    let mut groups: Vec<(TargetRef, Vec<usize>)> = Vec::new();
    let mut singles = Vec::new();
    for i in ready {
        let step = &rb.steps[i];
        let Action::Probe { name, .. } = &step.action else {
            singles.push(vec![i]);
            continue;
        };
        let taken = |g: &Vec<usize>| {
            g.iter()
                .any(|&j| matches!(&rb.steps[j].action, Action::Probe { name: n, .. } if n == name))
        };
        match groups.iter_mut().find(|(on, _)| *on == step.on) {
            Some((_, g)) if !taken(g) => g.push(i),
            Some(_) => singles.push(vec![i]),
            None => groups.push((step.on, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).chain(singles).collect()
}
