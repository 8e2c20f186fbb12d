//! Flow checks on the DAG: cycles (printed as `a -> b -> a`), steps the
//! entry never reaches, paths that can end without a conclusion, and rules
//! that can never be reached.

use super::Context;
use crate::diagnostic::Diagnostic;
use crate::model::{Action, Next, Runbook};
use crate::plan::Plan;

/// Runs the flow checks; returns whether the graph is acyclic (later
/// checks need ancestors, which only a DAG has).
pub(crate) fn check_flow(cx: &mut Context<'_>, runbook: &Runbook, plan: &Plan) -> bool {
    if let Some(cycle) = plan.find_cycle() {
        let cycle = from_earliest(cycle);
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| runbook.steps[i].id.as_str())
            .collect();
        let closing = cycle[cycle.len().saturating_sub(2)];
        let back_to = cycle[cycle.len() - 1];
        let span = edge_span(cx, runbook, closing, back_to);
        cx.push(
            Diagnostic::error(
                "cycle",
                format!("steps form a cycle: {}", names.join(" -> ")),
            )
            .at(
                span,
                if closing == back_to {
                    format!("`{}` goes back to itself here", runbook.steps[closing].id)
                } else {
                    format!(
                        "`{}` goes back to `{}` here",
                        runbook.steps[closing].id, runbook.steps[back_to].id
                    )
                },
            )
            .path(format!("steps[{closing}].next"))
            .help("a runbook is a DAG; to try again use `retries`, not a loop"),
        );
        return false;
    }
    // A reference that did not resolve is an edge missing from the graph:
    // what it would have reached looks unreachable, and where it would
    // have led looks like a dead end. Those warnings would only repeat
    // the error.
    let edges_missing = cx.diagnostics.iter().any(|d| {
        d.is_error() && matches!(d.code, "unknown-step" | "duplicate-step" | "mixed-next")
    });
    if edges_missing {
        return true;
    }
    let reachable = plan.reachable();
    for (i, step) in runbook.steps.iter().enumerate() {
        if !reachable.contains(i) {
            cx.push(
                Diagnostic::warning("unreachable", format!("step `{}` can never run", step.id))
                    .at(
                        cx.locate.step_id(i),
                        "no path from the first step leads here",
                    )
                    .path(format!("steps[{i}]"))
                    .help(format!(
                        "add `{}` to some step's `next`, or remove it",
                        step.id
                    )),
            );
            continue;
        }
        // A step with no action and no `next` is already an `empty-step` error.
        let concludes = matches!(
            step.action,
            Action::Conclude(_) | Action::Call { .. } | Action::Route
        );
        match &step.next {
            Next::End if !concludes => cx.push(
                Diagnostic::warning(
                    "no-conclusion",
                    format!("a path can end at `{}` without a conclusion", step.id),
                )
                .at(cx.locate.step_id(i), "nothing follows this step")
                .path(format!("steps[{i}]"))
                .help("add a `next` that leads to a `conclude` step"),
            ),
            Next::Rules(rules) => {
                let fallback = rules
                    .iter()
                    .position(|r| r.when.is_none() || r.when.as_deref() == Some("true"));
                match fallback {
                    None => cx.push(
                        Diagnostic::warning(
                            "no-conclusion",
                            format!("when no `next` rule of `{}` matches, the path ends without a conclusion", step.id),
                        )
                        .at(cx.locate.step_key(i, "next"), "every rule here has a `when`")
                        .path(format!("steps[{i}].next"))
                        .help("add a last rule without `when`, e.g. `- goto: healthy`"),
                    ),
                    Some(f) if f + 1 < rules.len() => cx.push(
                        Diagnostic::warning("unreachable-rule", format!("rules after rule {} of `{}` are never used", f + 1, step.id))
                            .at(cx.locate.rule(i, f + 1, "goto"), "never reached")
                            .also(cx.locate.rule(i, f, "goto"), "this rule always matches")
                            .path(format!("steps[{i}].next[{}]", f + 1))
                            .help("the first matching rule wins; move the rule without `when` last"),
                    ),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    true
}

/// The cycle `[a, b, …, a]` rotated to start at the step written first,
/// so it reads from where a reader enters it.
fn from_earliest(mut cycle: Vec<usize>) -> Vec<usize> {
    cycle.pop();
    if let Some(first) = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, &s)| s)
        .map(|(i, _)| i)
    {
        cycle.rotate_left(first);
    }
    if let Some(&head) = cycle.first() {
        cycle.push(head);
    }
    cycle
}

/// Span of the reference in `from`'s `next` (or `on_failure`) to `to`.
fn edge_span(
    cx: &Context<'_>,
    runbook: &Runbook,
    from: usize,
    to: usize,
) -> Option<crate::diagnostic::Span> {
    let step = &runbook.steps[from];
    if step.on_failure == Some(to) {
        if let Some(span) = cx.locate.step_field(from, "on_failure") {
            return Some(span.span.clone());
        }
    }
    let target = &runbook.steps[to].id;
    let next = cx.locate.step_field(from, "next")?;
    find_scalar(next, target).or_else(|| Some(next.span.clone()))
}

fn find_scalar(node: &crate::parse::yaml::Node, text: &str) -> Option<crate::diagnostic::Span> {
    use crate::parse::yaml::NodeValue;
    match &node.value {
        NodeValue::Scalar { text: t, .. } if t == text => Some(node.span.clone()),
        NodeValue::Seq(items) => items.iter().find_map(|n| find_scalar(n, text)),
        NodeValue::Map(entries) => entries.iter().find_map(|(k, v)| {
            if k.as_str() == Some("when") {
                None
            } else {
                find_scalar(v, text)
            }
        }),
        _ => None,
    }
}
