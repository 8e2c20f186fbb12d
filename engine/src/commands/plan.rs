//! `runbook plan`: the steps in the order they can run, where each runs,
//! and every command rendered as far as known values allow — touching no
//! host.

use std::collections::BTreeMap;

use minijinja::Value;
use petgraph::algo::toposort;

use super::describe::target_name;
use super::exit;
use super::run::resolve;
use crate::cli::RunArgs;
use crate::exec::scope::{resolve_params, Scope};
use crate::model::{Action, Runbook};
use crate::plan::Plan;
use crate::validate::templates_names as names;

pub(crate) fn run(args: &RunArgs, color: bool) -> u8 {
    let resolved = match resolve(args, color, false) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rb = &resolved.runbook;
    let host = resolved.hosts.first();
    let host_value = Value::from_serialize(serde_json::json!({
        "name": host.map_or("HOST", |h| h.name.as_str()),
        "address": host.map_or("HOST", |h| h.destination.address.as_str()),
        "user": host.and_then(|h| h.destination.user.clone()),
        "vars": host.map(|h| h.vars.clone()).unwrap_or_default(),
    }));
    let run_value = Value::from_serialize(serde_json::json!({
        "id": "RUN-ID", "runbook": rb.name, "operator": resolved.operator, "dry_run": args.dry_run,
    }));
    let params = match resolve_params(rb, &resolved.params, &host_value, &run_value) {
        Ok((p, _)) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let scope = Scope {
        params,
        host: host_value,
        run: run_value,
        ..Default::default()
    };
    out!("{}", render_plan(rb, &scope, resolved.hosts.len()));
    exit::OK
}

fn render_plan(rb: &Runbook, scope: &Scope, hosts: usize) -> String {
    let plan = Plan::new(rb);
    let order: Vec<usize> = toposort(&plan.graph, None)
        .map(|o| o.into_iter().map(|n| n.index()).collect())
        .unwrap_or_else(|_| (0..rb.steps.len()).collect());
    let ctx = scope.context(None);
    let mut out = format!(
        "plan for runbook {} on {} host{} (nothing is run)\n\n",
        rb.name,
        hosts,
        if hosts == 1 { "" } else { "s" }
    );
    let preds = plan.predecessors();
    for i in order {
        let step = &rb.steps[i];
        let after: Vec<&str> = preds[i].iter().map(|&p| rb.steps[p].id.as_str()).collect();
        let after = if after.is_empty() {
            "start".to_string()
        } else {
            format!("after {}", after.join(", "))
        };
        out.push_str(&format!(
            "{:<24} [{}] on {} ({after})\n",
            step.id,
            step.action.kind(),
            target_name(rb, step.on)
        ));
        let render = |name: String, raw: &str| match rb.templates.render(&name, &ctx) {
            Ok(s) => s,
            Err(_) => format!("{raw}   # filled in at run time"),
        };
        match &step.action {
            Action::Run(cmd) => {
                let mark = if step.mutates {
                    "  ! changes the host (approval needed; not run in --dry-run)\n"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "    $ {}\n{mark}",
                    render(names::run(&step.id), cmd).trim()
                ));
            }
            Action::Probe { name, args } => {
                let args: BTreeMap<&str, String> = args
                    .iter()
                    .map(|(k, v)| (k.as_str(), render(names::probe_arg(&step.id, k), v)))
                    .collect();
                out.push_str(&format!("    probe {name} {args:?}\n"));
            }
            Action::Call { runbook, .. } => out.push_str(&format!("    runs runbook {runbook}\n")),
            Action::Conclude(c) => out.push_str(&format!(
                "    [{}] {}\n",
                c.severity.name(),
                c.finding.trim()
            )),
            Action::Route => {}
        }
        if let Some(w) = &step.when {
            out.push_str(&format!("    only when {w}\n"));
        }
    }
    out
}
