//! Step checks: ids, targets, actions, `next`/`on_failure`/`evidence`
//! references, durations, captures, probes and calls. Produces the checked
//! steps with every reference resolved to an index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{
    parse_duration, probe_names, suggest_step, CallResolver, Context, DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::model::{
    Action, Conclusion, FindingSeverity, Next, Param, ParseMode, Rule, Runbook, Step, StepIdx,
    Target, TargetRef,
};
use crate::parse::raw::{RawNext, RawNextEntry, RawRunbook, RawStep};

pub(crate) struct BuiltSteps {
    pub steps: Vec<Step>,
    pub calls: BTreeMap<String, Arc<Runbook>>,
}

fn is_step_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Builds checked steps from the raw ones.
pub(crate) fn build_steps(
    cx: &mut Context<'_>,
    raw: &RawRunbook,
    targets: &[Target],
    _params: &[Param],
    resolver: &dyn CallResolver,
) -> BuiltSteps {
    let mut ids: HashMap<String, StepIdx> = HashMap::new();
    let mut normalized: HashMap<String, StepIdx> = HashMap::new();
    for (i, step) in raw.steps.iter().enumerate() {
        if !is_step_id(&step.id) {
            cx.push(
                Diagnostic::error(
                    "bad-name",
                    format!("step id `{}` is not a valid id", step.id),
                )
                .at(cx.locate.step_id(i), "not a valid id")
                .path(format!("steps[{i}].id"))
                .help("use letters, digits, `-` and `_`"),
            );
        }
        if let Some(&first) = ids.get(&step.id) {
            let first_span = cx.locate.step_id(first);
            let line = first_span
                .clone()
                .map(|s| cx_line(cx, s.start))
                .unwrap_or(0);
            cx.push(
                Diagnostic::error("duplicate-step", format!("duplicate step id `{}`", step.id))
                    .at(cx.locate.step_id(i), "defined again here")
                    .also(first_span, format!("first defined at line {line}"))
                    .path(format!("steps[{i}].id"))
                    .help("step ids must be unique; rename one of them"),
            );
            continue;
        }
        let alias = step.id.replace('-', "_");
        if let Some(&other) = normalized.get(&alias) {
            if raw.steps[other].id != step.id {
                cx.push(
                    Diagnostic::error(
                        "ambiguous-step",
                        format!(
                            "step ids `{}` and `{}` are both reached as `steps.{alias}`",
                            raw.steps[other].id, step.id
                        ),
                    )
                    .at(cx.locate.step_id(i), "clashes")
                    .also(cx.locate.step_id(other), "with this one")
                    .path(format!("steps[{i}].id"))
                    .help("`-` in ids is read as `_` in expressions; rename one of them"),
                );
            }
        }
        normalized.insert(alias, i);
        ids.insert(step.id.clone(), i);
    }
    if raw.steps.is_empty() {
        cx.push(
            Diagnostic::error("no-steps", "runbook has no steps")
                .at(cx.locate.top_key("steps"), "empty")
                .path("steps"),
        );
    }

    let defaults = raw.defaults.clone().unwrap_or_default();
    let default_on = match &defaults.on {
        Some(on) => resolve_target(
            cx,
            on,
            targets,
            cx.locate.default("on"),
            "defaults.on".into(),
        ),
        None => Some(TargetRef::Host),
    }
    .unwrap_or(TargetRef::Host);
    let default_timeout = defaults
        .timeout
        .as_ref()
        .and_then(|d| {
            parse_duration(
                cx,
                d,
                cx.locate.default("timeout"),
                "defaults.timeout".into(),
            )
        })
        .unwrap_or(DEFAULT_TIMEOUT);
    let default_delay = defaults
        .retry_delay
        .as_ref()
        .and_then(|d| {
            parse_duration(
                cx,
                d,
                cx.locate.default("retry_delay"),
                "defaults.retry_delay".into(),
            )
        })
        .unwrap_or(DEFAULT_RETRY_DELAY);

    let mut calls = BTreeMap::new();
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (i, s) in raw.steps.iter().enumerate() {
        let on = match &s.on {
            Some(on) => resolve_target(
                cx,
                on,
                targets,
                cx.locate.step_span(i, "on"),
                format!("steps[{i}].on"),
            )
            .unwrap_or(default_on),
            None => default_on,
        };
        let action = build_action(cx, i, s, &ids, resolver, &mut calls);
        let parse = match &s.parse {
            None => ParseMode::Text,
            Some(name) => match ParseMode::from_name(name) {
                Some(mode) => mode,
                None => {
                    cx.push(
                        Diagnostic::error("unknown-parser", format!("unknown parser `{name}`"))
                            .at(cx.locate.step_span(i, "parse"), "not a parser")
                            .path(format!("steps[{i}].parse"))
                            .maybe_help(did_you_mean(name, ParseMode::NAMES).or_else(|| {
                                Some(format!("parsers: {}", ParseMode::NAMES.join(", ")))
                            })),
                    );
                    ParseMode::Text
                }
            },
        };
        if s.parse.is_some() && !matches!(action, Action::Run(_)) {
            cx.push(
                Diagnostic::error("misplaced-key", "`parse` applies only to `run` steps")
                    .at(cx.locate.step_span(i, "parse"), "remove this")
                    .path(format!("steps[{i}].parse"))
                    .help("probe results are always JSON (`result.json`)"),
            );
        }
        for name in s.capture.keys() {
            if !super::is_identifier(name) {
                cx.push(
                    Diagnostic::error(
                        "bad-name",
                        format!("capture name `{name}` is not an identifier"),
                    )
                    .at(
                        cx.locate.step_map_key(i, "capture", name),
                        "not usable as `vars.<name>`",
                    )
                    .path(format!("steps[{i}].capture.{name}")),
                );
            }
        }
        let mut next = build_next(cx, i, s, &ids);
        if matches!(action, Action::Conclude(_)) && !matches!(next, Next::End) {
            cx.push(
                Diagnostic::error(
                    "conclude-with-next",
                    "a `conclude` step ends its path and cannot have `next`",
                )
                .at(cx.locate.step_span(i, "next"), "remove this")
                .path(format!("steps[{i}].next")),
            );
            // Drop the edges, or they would also show up as a cycle or
            // as unreachable rules.
            next = Next::End;
        }
        if matches!(action, Action::Route) && matches!(next, Next::End) {
            cx.push(
                Diagnostic::error("empty-step", format!("step `{}` does nothing", s.id))
                    .at(cx.locate.step_id(i), "no action and no `next`")
                    .path(format!("steps[{i}]"))
                    .help("give it one of `run`, `probe`, `call`, `conclude`, or a `next`"),
            );
        }
        let on_failure = s.on_failure.as_ref().and_then(|t| {
            resolve_step(
                cx,
                t,
                &ids,
                cx.locate.step_span(i, "on_failure"),
                format!("steps[{i}].on_failure"),
            )
        });
        let acts = matches!(
            action,
            Action::Run(_) | Action::Probe { .. } | Action::Call { .. }
        );
        if !acts {
            for key in ["on_failure", "timeout", "retries", "retry_delay"] {
                let set = match key {
                    "on_failure" => s.on_failure.is_some(),
                    "timeout" => s.timeout.is_some(),
                    "retries" => s.retries.is_some(),
                    _ => s.retry_delay.is_some(),
                };
                if set {
                    cx.push(
                        Diagnostic::error(
                            "misplaced-key",
                            format!("`{key}` applies only to `run`, `probe` and `call` steps"),
                        )
                        .at(cx.locate.step_span(i, key), "remove this")
                        .path(format!("steps[{i}].{key}")),
                    );
                }
            }
        }
        if s.mutates && !matches!(action, Action::Run(_)) {
            cx.push(
                Diagnostic::error("misplaced-key", "`mutates` applies only to `run` steps")
                    .at(cx.locate.step_span(i, "mutates"), "remove this")
                    .path(format!("steps[{i}].mutates")),
            );
        }
        let timeout = s
            .timeout
            .as_ref()
            .and_then(|d| {
                parse_duration(
                    cx,
                    d,
                    cx.locate.step_span(i, "timeout"),
                    format!("steps[{i}].timeout"),
                )
            })
            .unwrap_or(default_timeout);
        let retry_delay = s
            .retry_delay
            .as_ref()
            .and_then(|d| {
                parse_duration(
                    cx,
                    d,
                    cx.locate.step_span(i, "retry_delay"),
                    format!("steps[{i}].retry_delay"),
                )
            })
            .unwrap_or(default_delay);
        let retries = s.retries.or(defaults.retries).unwrap_or(0);
        if retries > 20 {
            cx.push(
                Diagnostic::error(
                    "too-many-retries",
                    format!("{retries} retries is more than the limit of 20"),
                )
                .at(cx.locate.step_span(i, "retries"), "too many")
                .path(format!("steps[{i}].retries")),
            );
        }
        steps.push(Step {
            id: s.id.clone(),
            description: s.description.clone(),
            on,
            when: s.when.as_ref().map(when_text),
            action,
            parse,
            capture: s
                .capture
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            next,
            on_failure,
            timeout,
            retries: retries.min(20),
            retry_delay,
            mutates: s.mutates,
        });
    }
    BuiltSteps { steps, calls }
}

fn cx_line(cx: &Context<'_>, offset: usize) -> usize {
    cx.source.line_col(offset).0
}

fn resolve_target(
    cx: &mut Context<'_>,
    name: &str,
    targets: &[Target],
    span: Option<crate::diagnostic::Span>,
    path: String,
) -> Option<TargetRef> {
    match name {
        "host" => Some(TargetRef::Host),
        "local" => Some(TargetRef::Local),
        _ => match targets.iter().position(|t| t.name == name) {
            Some(i) => Some(TargetRef::Named(i)),
            None => {
                let names = ["host", "local"]
                    .into_iter()
                    .chain(targets.iter().map(|t| t.name.as_str()));
                let help = did_you_mean(name, names.clone()).unwrap_or_else(|| {
                    format!(
                        "targets are {}; declare others under `targets:`",
                        names
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                cx.push(
                    Diagnostic::error("unknown-target", format!("unknown target `{name}`"))
                        .at(span, "no such target")
                        .path(path)
                        .help(help),
                );
                None
            }
        },
    }
}

fn resolve_step(
    cx: &mut Context<'_>,
    name: &str,
    ids: &HashMap<String, StepIdx>,
    span: Option<crate::diagnostic::Span>,
    path: String,
) -> Option<StepIdx> {
    if let Some(&i) = ids.get(name) {
        return Some(i);
    }
    cx.push(
        Diagnostic::error("unknown-step", format!("no step has id `{name}`"))
            .at(span, "no such step")
            .path(path)
            .maybe_help(suggest_step(name, ids)),
    );
    None
}

fn build_action(
    cx: &mut Context<'_>,
    i: usize,
    s: &RawStep,
    ids: &HashMap<String, StepIdx>,
    resolver: &dyn CallResolver,
    calls: &mut BTreeMap<String, Arc<Runbook>>,
) -> Action {
    let kinds: Vec<&str> = [
        ("run", s.run.is_some()),
        ("probe", s.probe.is_some()),
        ("call", s.call.is_some()),
        ("conclude", s.conclude.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if kinds.len() > 1 {
        cx.push(
            Diagnostic::error(
                "several-actions",
                format!(
                    "step `{}` has {}: a step does one thing",
                    s.id,
                    kinds
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )
            .at(cx.locate.step_span(i, kinds[1]), "second action")
            .path(format!("steps[{i}]"))
            .help("split it into steps joined by `next`"),
        );
    }
    if !s.args.is_empty() && s.probe.is_none() {
        cx.push(
            Diagnostic::error("misplaced-key", "`args` applies only to `probe` steps")
                .at(cx.locate.step_span(i, "args"), "remove this")
                .path(format!("steps[{i}].args")),
        );
    }
    if !s.with.is_empty() && s.call.is_none() {
        cx.push(
            Diagnostic::error("misplaced-key", "`with` applies only to `call` steps")
                .at(cx.locate.step_span(i, "with"), "remove this")
                .path(format!("steps[{i}].with")),
        );
    }
    if let Some(cmd) = &s.run {
        if cmd.trim().is_empty() {
            cx.push(
                Diagnostic::error("empty-command", "`run` is empty")
                    .at(cx.locate.step_span(i, "run"), "no command")
                    .path(format!("steps[{i}].run")),
            );
        }
        return Action::Run(cmd.clone());
    }
    if let Some(name) = &s.probe {
        if !probe_names().any(|p| p == name) {
            cx.push(
                Diagnostic::error("unknown-probe", format!("unknown probe `{name}`"))
                    .at(cx.locate.step_span(i, "probe"), "no such probe")
                    .path(format!("steps[{i}].probe"))
                    .help(did_you_mean(name, probe_names()).unwrap_or_else(|| {
                        format!("probes: {}", probe_names().collect::<Vec<_>>().join(", "))
                    })),
            );
        }
        return Action::Probe {
            name: name.clone(),
            args: s.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
    }
    if let Some(name) = &s.call {
        match resolver.resolve(name) {
            Ok(called) => {
                for key in s.with.keys() {
                    if !called.params.iter().any(|p| &p.name == key) {
                        cx.push(
                            Diagnostic::error(
                                "unknown-param",
                                format!("runbook `{name}` has no param `{key}`"),
                            )
                            .at(
                                cx.locate.step_map_key(i, "with", key),
                                "not a param of the called runbook",
                            )
                            .path(format!("steps[{i}].with.{key}"))
                            .maybe_help(did_you_mean(
                                key,
                                called.params.iter().map(|p| p.name.as_str()),
                            )),
                        );
                    }
                }
                for p in called.params.iter().filter(|p| p.required) {
                    if !s.with.contains_key(&p.name) {
                        cx.push(
                            Diagnostic::error(
                                "missing-param",
                                format!("runbook `{name}` needs param `{}`", p.name),
                            )
                            .at(cx.locate.step_span(i, "call"), "called without it")
                            .path(format!("steps[{i}].with"))
                            .help(format!("add `with: {{ {}: ... }}`", p.name)),
                        );
                    }
                }
                calls.insert(name.clone(), called);
            }
            Err(why) => cx.push(
                Diagnostic::error(
                    "unknown-runbook",
                    format!("cannot call runbook `{name}`: {why}"),
                )
                .at(cx.locate.step_span(i, "call"), "cannot be called")
                .path(format!("steps[{i}].call")),
            ),
        }
        return Action::Call {
            runbook: name.clone(),
            with: s.with.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
    }
    if let Some(c) = &s.conclude {
        let severity = FindingSeverity::from_name(&c.severity).unwrap_or_else(|| {
            cx.push(
                Diagnostic::error(
                    "unknown-severity",
                    format!("unknown severity `{}`", c.severity),
                )
                .at(cx.locate.conclusion(i, "severity"), "not a severity")
                .path(format!("steps[{i}].conclude.severity"))
                .help(
                    did_you_mean(&c.severity, FindingSeverity::NAMES).unwrap_or_else(|| {
                        format!("severities: {}", FindingSeverity::NAMES.join(", "))
                    }),
                ),
            );
            FindingSeverity::Critical
        });
        let evidence = c
            .evidence
            .iter()
            .enumerate()
            .filter_map(|(j, id)| {
                resolve_step(
                    cx,
                    id,
                    ids,
                    cx.locate.evidence(i, j),
                    format!("steps[{i}].conclude.evidence[{j}]"),
                )
            })
            .collect();
        return Action::Conclude(Conclusion {
            severity,
            finding: c.finding.clone(),
            remedy: c.remedy.clone(),
            evidence,
        });
    }
    Action::Route
}

fn build_next(cx: &mut Context<'_>, i: usize, s: &RawStep, ids: &HashMap<String, StepIdx>) -> Next {
    let Some(next) = &s.next else {
        return Next::End;
    };
    match next {
        RawNext::One(id) => resolve_step(
            cx,
            id,
            ids,
            cx.locate.step_span(i, "next"),
            format!("steps[{i}].next"),
        )
        .map_or(Next::End, |t| Next::All(vec![t])),
        RawNext::List(entries) => {
            let all_steps = entries.iter().all(|e| matches!(e, RawNextEntry::Step(_)));
            let all_rules = entries.iter().all(|e| matches!(e, RawNextEntry::Rule(_)));
            if all_steps {
                let targets = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(j, e)| match e {
                        RawNextEntry::Step(id) => resolve_step(
                            cx,
                            id,
                            ids,
                            cx.locate.next_target(i, None, j),
                            format!("steps[{i}].next[{j}]"),
                        ),
                        RawNextEntry::Rule(_) => None,
                    })
                    .collect();
                return Next::All(targets);
            }
            if !all_rules {
                let first_of = |rule: bool| {
                    entries
                        .iter()
                        .position(|e| matches!(e, RawNextEntry::Rule(_)) == rule)
                        .and_then(|j| cx.locate.next_target(i, None, j))
                        .map(|sp| {
                            let first_line_end = cx.source.line_end(sp.start).min(sp.end);
                            sp.start..first_line_end.max(sp.start + 1)
                        })
                };
                cx.push(
                    Diagnostic::error("mixed-next", "`next` mixes step ids and rules")
                        .at(first_of(false), "a step id")
                        .also(first_of(true), "a rule")
                        .path(format!("steps[{i}].next"))
                        .help(
                            "a list of ids fans out to all of them, a list of rules picks the \
                             first match; write the ids as a rule: `- goto: [a, b]`",
                        ),
                );
            }
            let mut rules = Vec::new();
            for (r, e) in entries.iter().enumerate() {
                let RawNextEntry::Rule(rule) = e else {
                    continue;
                };
                let goto = rule
                    .goto
                    .as_slice()
                    .iter()
                    .enumerate()
                    .filter_map(|(j, id)| {
                        resolve_step(
                            cx,
                            id,
                            ids,
                            cx.locate.next_target(i, Some(r), j),
                            format!("steps[{i}].next[{r}].goto"),
                        )
                    })
                    .collect();
                rules.push(Rule {
                    when: rule.when.as_ref().map(when_text),
                    goto,
                });
            }
            Next::Rules(rules)
        }
    }
}

/// The source text of a `when` value; the template pass checks its type.
pub(crate) fn when_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}
