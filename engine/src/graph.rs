//! Drawing a runbook's DAG: Graphviz dot, Mermaid (optionally with the
//! path a run took highlighted), and the edge list both use.

use crate::model::{Action, FindingSeverity, Next, Runbook, StepIdx};

/// An edge for drawing: from, to, label, whether it is an on_failure edge.
pub struct DrawEdge {
    /// Source step.
    pub from: StepIdx,
    /// Target step.
    pub to: StepIdx,
    /// Condition or `on failure`.
    pub label: String,
    /// An `on_failure` edge.
    pub failure: bool,
}

/// Every edge with its label.
pub fn edges(runbook: &Runbook) -> Vec<DrawEdge> {
    let mut out = Vec::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        match &step.next {
            Next::End => {}
            Next::All(t) => out.extend(t.iter().map(|&to| DrawEdge {
                from: i,
                to,
                label: String::new(),
                failure: false,
            })),
            Next::Rules(rules) => {
                for r in rules {
                    let label = r.when.clone().unwrap_or_else(|| "otherwise".to_string());
                    out.extend(r.goto.iter().map(|&to| DrawEdge {
                        from: i,
                        to,
                        label: label.clone(),
                        failure: false,
                    }));
                }
            }
        }
        if let Some(to) = step.on_failure {
            out.push(DrawEdge {
                from: i,
                to,
                label: "on failure".to_string(),
                failure: true,
            });
        }
    }
    out
}

pub fn severity_color(s: FindingSeverity) -> &'static str {
    match s {
        FindingSeverity::Ok => "#c8e6c9",
        FindingSeverity::Info => "#bbdefb",
        FindingSeverity::Warning => "#ffe0b2",
        FindingSeverity::Critical => "#ffcdd2",
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Graphviz dot.
pub fn dot(runbook: &Runbook) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"sans-serif\"];\n", dot_escape(&runbook.name));
    for (i, step) in runbook.steps.iter().enumerate() {
        let (label, extra) = match &step.action {
            Action::Conclude(c) => (
                format!("{}\\n[{}]", dot_escape(&step.id), c.severity.name()),
                format!(", shape=note, fillcolor=\"{}\"", severity_color(c.severity)),
            ),
            Action::Route => (dot_escape(&step.id), ", shape=diamond".to_string()),
            a => (
                format!("{}\\n({})", dot_escape(&step.id), a.kind()),
                String::new(),
            ),
        };
        let extra = if i == 0 {
            format!("{extra}, penwidth=2")
        } else {
            extra
        };
        out.push_str(&format!("  s{i} [label=\"{label}\"{extra}];\n"));
    }
    for e in edges(runbook) {
        let style = if e.failure {
            ", style=dashed, color=\"#c62828\""
        } else {
            ""
        };
        out.push_str(&format!(
            "  s{} -> s{} [label=\"{}\"{style}];\n",
            e.from,
            e.to,
            dot_escape(&e.label)
        ));
    }
    out.push_str("}\n");
    out
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('|', "#124;")
        .replace('\n', " ")
}

/// A Mermaid flowchart; steps in `taken` (and edges between them) are
/// highlighted.
pub fn mermaid(runbook: &Runbook, taken: &[StepIdx]) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, step) in runbook.steps.iter().enumerate() {
        let text = mermaid_text(&step.id);
        let node = match &step.action {
            Action::Conclude(c) => format!("  s{i}[/\"{text} ({})\"/]", c.severity.name()),
            Action::Route => format!("  s{i}{{\"{text}\"}}"),
            a => format!("  s{i}[\"{text} ({})\"]", a.kind()),
        };
        out.push_str(&node);
        out.push('\n');
    }
    for (n, e) in edges(runbook).iter().enumerate() {
        let arrow = if e.failure { "-.->" } else { "-->" };
        if e.label.is_empty() {
            out.push_str(&format!("  s{} {arrow} s{}\n", e.from, e.to));
        } else {
            out.push_str(&format!(
                "  s{} {arrow}|\"{}\"| s{}\n",
                e.from,
                mermaid_text(&e.label),
                e.to
            ));
        }
        if taken.contains(&e.from) && taken.contains(&e.to) {
            out.push_str(&format!(
                "  linkStyle {n} stroke:#1565c0,stroke-width:3px\n"
            ));
        }
    }
    for sev in [
        FindingSeverity::Ok,
        FindingSeverity::Info,
        FindingSeverity::Warning,
        FindingSeverity::Critical,
    ] {
        out.push_str(&format!(
            "  classDef {} fill:{}\n",
            sev.name(),
            severity_color(sev)
        ));
    }
    out.push_str("  classDef taken stroke:#1565c0,stroke-width:3px\n");
    for (i, step) in runbook.steps.iter().enumerate() {
        if let Action::Conclude(c) = &step.action {
            out.push_str(&format!("  class s{i} {}\n", c.severity.name()));
        }
        if taken.contains(&i) {
            out.push_str(&format!("  class s{i} taken\n"));
        }
    }
    out
}
