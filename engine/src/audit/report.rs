//! Incident reports from an audit file: Markdown (with a Mermaid diagram)
//! and one self-contained HTML file (inline SVG, no network), each with the
//! summary and conclusions per host, the DAG with the path taken
//! highlighted, evidence excerpts and the timeline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::algo::toposort;

use super::read::{timeline_line, RecordedRun};
use crate::graph::{edges, mermaid, severity_color};
use crate::model::{Action, Runbook};
use crate::plan::Plan;

/// Steps taken on any host, by index in `runbook`.
fn taken(run: &RecordedRun, runbook: &Runbook) -> Vec<usize> {
    let ran: BTreeSet<String> = run.hosts().iter().flat_map(|h| run.path_of(h)).collect();
    runbook
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| ran.contains(&s.id))
        .map(|(i, _)| i)
        .collect()
}

/// Up to `max` lines of a step's recorded stdout on `host`.
fn excerpt(run: &RecordedRun, host: &str, step: &str, max: usize) -> Vec<String> {
    let Some(e) = run
        .events
        .iter()
        .rev()
        .find(|e| e["type"] == "step_finished" && e["host"] == host && e["step"] == step)
    else {
        return Vec::new();
    };
    let text = e["stdout"]["text"]
        .as_str()
        .or_else(|| e["stderr"]["text"].as_str())
        .unwrap_or("");
    let mut lines: Vec<String> = text.lines().take(max).map(str::to_string).collect();
    if text.lines().count() > max {
        lines.push(format!(
            "… ({} more lines in the audit file)",
            text.lines().count() - max
        ));
    }
    lines
}

fn runbook_note(run: &RecordedRun, runbook: Option<&Runbook>) -> Option<String> {
    match runbook {
        None => Some(format!(
            "The runbook `{}` was not found on the search path, so the diagram is missing.",
            run.runbook()
        )),
        Some(rb) if Some(rb.source_sha256.as_str()) != run.started()["runbook_sha256"].as_str() => {
            Some(format!(
                "The runbook `{}` has changed since this run; the diagram shows today's version.",
                rb.name
            ))
        }
        Some(_) => None,
    }
}

/// The Markdown report.
pub fn markdown(run: &RecordedRun, runbook: Option<&Runbook>) -> String {
    let started = run.started();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Incident report: `{}` run {}\n",
        run.runbook(),
        run.run_id()
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| started | {} |", run.started_at());
    let _ = writeln!(
        out,
        "| operator | {} |",
        md(started["operator"].as_str().unwrap_or("?"))
    );
    let _ = writeln!(out, "| hosts | {} |", run.hosts().len());
    let _ = writeln!(out, "| status | {} |", run.status());
    let _ = writeln!(out, "| audit file | `{}` |", run.path.display());
    let _ = writeln!(
        out,
        "| runbook sha256 | `{}` |\n",
        started["runbook_sha256"].as_str().unwrap_or("?")
    );
    let _ = writeln!(out, "## Conclusions\n");
    let conclusions = run.conclusions();
    let statuses = run.host_status();
    for host in run.hosts() {
        let _ = writeln!(out, "### {}\n", md(&host));
        match conclusions.get(&host) {
            Some(list) => {
                for c in list {
                    let _ = writeln!(
                        out,
                        "- **{}** — {}",
                        c["severity"].as_str().unwrap_or("?").to_uppercase(),
                        md(c["finding"].as_str().unwrap_or(""))
                    );
                    if let Some(r) = c["remedy"].as_str() {
                        let _ = writeln!(out, "  - remedy: {}", md(r));
                    }
                    for ev in c["evidence"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e.as_str())
                    {
                        let lines = excerpt(run, &host, ev, 12);
                        if !lines.is_empty() {
                            let _ = writeln!(
                                out,
                                "  - evidence from `{ev}`:\n\n    ```\n{}\n    ```",
                                lines
                                    .iter()
                                    .map(|l| format!("    {l}"))
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            );
                        }
                    }
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "- no conclusion ({})",
                    statuses.get(&host).map_or("incomplete", String::as_str)
                );
            }
        }
        let _ = writeln!(out);
    }
    if let Some(note) = runbook_note(run, runbook) {
        let _ = writeln!(out, "> {note}\n");
    }
    if let Some(rb) = runbook {
        let _ = writeln!(
            out,
            "## Path taken\n\nHighlighted: the steps that ran.\n\n```mermaid\n{}```\n",
            mermaid(rb, &taken(run, rb))
        );
    }
    let _ = writeln!(out, "## Timeline\n\n| time (UTC) | event |\n|---|---|");
    for e in &run.events {
        if let Some(line) = timeline_line(e) {
            let _ = writeln!(
                out,
                "| {} | {} |",
                e["ts"].as_str().and_then(|t| t.get(11..23)).unwrap_or(""),
                md(&line)
            );
        }
    }
    out
}

fn md(s: &str) -> String {
    crate::exec::display::sanitize(s)
        .replace('|', "\\|")
        .replace('\n', " ")
}

fn esc(s: &str) -> String {
    crate::exec::display::sanitize(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The self-contained HTML report.
pub fn html(run: &RecordedRun, runbook: Option<&Runbook>) -> String {
    let started = run.started();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Incident report: <code>{}</code></h1>",
        esc(run.runbook())
    );
    let _ = write!(
        body,
        "<table class=\"meta\"><tr><th>run</th><td>{}</td></tr><tr><th>started</th><td>{}</td></tr><tr><th>operator</th><td>{}</td></tr><tr><th>hosts</th><td>{}</td></tr><tr><th>status</th><td>{}</td></tr><tr><th>audit file</th><td><code>{}</code></td></tr></table>",
        esc(run.run_id()),
        esc(run.started_at()),
        esc(started["operator"].as_str().unwrap_or("?")),
        run.hosts().len(),
        esc(&run.status()),
        esc(&run.path.display().to_string())
    );
    body.push_str("<h2>Conclusions</h2>");
    let conclusions = run.conclusions();
    let statuses = run.host_status();
    for host in run.hosts() {
        let _ = write!(body, "<section class=\"host\"><h3>{}</h3>", esc(&host));
        match conclusions.get(&host) {
            Some(list) => {
                for c in list {
                    let sev = c["severity"].as_str().unwrap_or("critical");
                    let _ = write!(
                        body,
                        "<div class=\"conclusion {}\"><b>{}</b> {}",
                        esc(sev),
                        esc(&sev.to_uppercase()),
                        esc(c["finding"].as_str().unwrap_or(""))
                    );
                    if let Some(r) = c["remedy"].as_str() {
                        let _ = write!(body, "<p class=\"remedy\">Remedy: {}</p>", esc(r));
                    }
                    for ev in c["evidence"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e.as_str())
                    {
                        let lines = excerpt(run, &host, ev, 15);
                        if !lines.is_empty() {
                            let _ = write!(
                                body,
                                "<details><summary>evidence: {}</summary><pre>{}</pre></details>",
                                esc(ev),
                                esc(&lines.join("\n"))
                            );
                        }
                    }
                    body.push_str("</div>");
                }
            }
            None => {
                let _ = write!(
                    body,
                    "<p class=\"none\">No conclusion ({}).</p>",
                    esc(statuses.get(&host).map_or("incomplete", String::as_str))
                );
            }
        }
        body.push_str("</section>");
    }
    if let Some(note) = runbook_note(run, runbook) {
        let _ = write!(body, "<p class=\"note\">{}</p>", esc(&note));
    }
    if let Some(rb) = runbook {
        body.push_str("<h2>Path taken</h2><p>Steps that ran are outlined in blue.</p>");
        body.push_str(&svg(rb, &taken(run, rb)));
    }
    body.push_str(
        "<h2>Timeline</h2><table class=\"timeline\"><tr><th>time (UTC)</th><th>event</th></tr>",
    );
    for e in &run.events {
        if let Some(line) = timeline_line(e) {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(e["ts"].as_str().and_then(|t| t.get(11..23)).unwrap_or("")),
                esc(&line)
            );
        }
    }
    body.push_str("</table>");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>runbook report {}</title><style>{CSS}</style></head><body>{body}<script>{CHECK}</script></body></html>\n",
        esc(run.run_id())
    )
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}code,pre{font-family:monospace}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}table.meta th{text-align:left;padding-right:1em}.conclusion{border-left:6px solid #999;padding:.3em .8em;margin:.5em 0}.conclusion.critical{border-color:#c62828;background:#ffebee}.conclusion.warning{border-color:#ef6c00;background:#fff3e0}.conclusion.info{border-color:#1565c0;background:#e3f2fd}.conclusion.ok{border-color:#2e7d32;background:#e8f5e9}.remedy{margin:.3em 0}table.timeline{border-collapse:collapse;font-size:90%}table.timeline td{border-top:1px solid #eee;padding:2px 8px;vertical-align:top}svg .step rect{fill:#fff;stroke:#888;stroke-width:1}svg .step.taken rect{stroke:#1565c0;stroke-width:4}svg .edge{stroke:#bbb;stroke-width:1.5;fill:none}svg .edge.taken{stroke:#1565c0;stroke-width:3}svg .edge.failure{stroke-dasharray:5 4}svg text{font-size:12px}";

/// Marks in the document how many highlighted steps the browser laid out
/// visibly (a headless browser test reads `data-taken-visible`).
const CHECK: &str = "document.documentElement.dataset.takenVisible=[...document.querySelectorAll('svg .step.taken')].filter(function(e){var r=e.getBoundingClientRect();return r.width>0&&r.height>0}).length;";

/// A layered drawing of the DAG: rows by depth from the entry.
fn svg(rb: &Runbook, taken: &[usize]) -> String {
    let plan = Plan::new(rb);
    let order: Vec<usize> = toposort(&plan.graph, None)
        .map(|o| o.into_iter().map(|n| n.index()).collect())
        .unwrap_or_else(|_| (0..rb.steps.len()).collect());
    let mut depth = vec![0usize; rb.steps.len()];
    for &v in &order {
        for s in plan.successors(v) {
            depth[s] = depth[s].max(depth[v] + 1);
        }
    }
    let mut rows: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &v in &order {
        rows.entry(depth[v]).or_default().push(v);
    }
    let (w, h, gx, gy) = (180.0, 44.0, 24.0, 46.0);
    let mut pos = vec![(0.0f64, 0.0f64); rb.steps.len()];
    let widest = rows.values().map(Vec::len).max().unwrap_or(1) as f64;
    let width = widest * (w + gx) + gx;
    for (d, row) in &rows {
        let offset = (width - row.len() as f64 * (w + gx) + gx) / 2.0;
        for (k, &v) in row.iter().enumerate() {
            pos[v] = (
                offset + k as f64 * (w + gx),
                gy / 2.0 + *d as f64 * (h + gy),
            );
        }
    }
    let height = rows.len() as f64 * (h + gy) + gy / 2.0;
    let mut out = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\"><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#888\"/></marker></defs>");
    for e in edges(rb) {
        let (x1, y1) = (pos[e.from].0 + w / 2.0, pos[e.from].1 + h);
        let (x2, y2) = (pos[e.to].0 + w / 2.0, pos[e.to].1);
        let mut class = String::from("edge");
        if taken.contains(&e.from) && taken.contains(&e.to) {
            class.push_str(" taken");
        }
        if e.failure {
            class.push_str(" failure");
        }
        let _ = write!(
            out,
            "<path class=\"{class}\" d=\"M{x1:.0},{y1:.0} C{x1:.0},{:.0} {x2:.0},{:.0} {x2:.0},{y2:.0}\" marker-end=\"url(#arrow)\"><title>{}</title></path>",
            y1 + gy / 2.0,
            y2 - gy / 2.0,
            esc(&e.label)
        );
    }
    for (i, step) in rb.steps.iter().enumerate() {
        let (x, y) = pos[i];
        let fill = match &step.action {
            Action::Conclude(c) => format!(" style=\"fill:{}\"", severity_color(c.severity)),
            _ => String::new(),
        };
        let class = if taken.contains(&i) {
            "step taken"
        } else {
            "step"
        };
        let label: String = step.id.chars().take(24).collect();
        let _ = write!(
            out,
            "<g class=\"{class}\"><rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" rx=\"8\"{fill}/><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#777\">{}</text><title>{}</title></g>",
            x + w / 2.0,
            y + 18.0,
            esc(&label),
            x + w / 2.0,
            y + 34.0,
            step.action.kind(),
            esc(step.description.as_deref().unwrap_or(&step.id))
        );
    }
    out.push_str("</svg>");
    out
}
