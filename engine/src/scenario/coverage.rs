//! Branch coverage of scenario tests: which `next` rules, fan-outs,
//! `on_failure` edges and conclusions no scenario reached.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{Action, Next, Runbook};

/// Coverage of one runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Runbook name.
    pub runbook: String,
    /// Branches (rules, fan-outs, on_failure edges) in the runbook.
    pub branches: usize,
    /// Branches some scenario took.
    pub branches_taken: usize,
    /// Conclusions in the runbook.
    pub conclusions: usize,
    /// Conclusions some scenario reached.
    pub conclusions_reached: usize,
    /// What was never reached, in words.
    pub missed: Vec<String>,
}

impl Coverage {
    /// Whether everything was reached.
    pub fn complete(&self) -> bool {
        self.missed.is_empty()
    }
}

/// Coverage of `runbook` (and the runbooks it calls) from scenario events.
pub fn coverage(runbook: &Runbook, events: &[Arc<serde_json::Value>]) -> Vec<Coverage> {
    let mut taken: BTreeSet<(String, String)> = BTreeSet::new();
    let mut concluded: BTreeSet<String> = BTreeSet::new();
    for e in events {
        let step = e["step"].as_str().unwrap_or_default().to_string();
        match e["type"].as_str() {
            Some("decision") => {
                let key = match (e["via"].as_str(), e["rule"].as_u64()) {
                    (Some("on_failure"), _) => "on_failure".to_string(),
                    (Some("next"), Some(r)) => format!("rule {r}"),
                    (Some("next"), None) => "next".to_string(),
                    _ => continue,
                };
                taken.insert((step, key));
            }
            Some("concluded") => {
                concluded.insert(step);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![runbook];
    while let Some(rb) = stack.pop() {
        if !seen.insert(rb.name.clone()) {
            continue;
        }
        stack.extend(rb.calls.values().map(|c| c.as_ref()));
        let mut c = Coverage {
            runbook: rb.name.clone(),
            branches: 0,
            branches_taken: 0,
            conclusions: 0,
            conclusions_reached: 0,
            missed: Vec::new(),
        };
        for step in &rb.steps {
            let mut branch = |key: String, words: String| {
                c.branches += 1;
                if taken.contains(&(step.id.clone(), key)) {
                    c.branches_taken += 1;
                } else {
                    c.missed.push(words);
                }
            };
            match &step.next {
                Next::End => {}
                Next::All(_) => branch("next".into(), format!("`{}` → its `next`", step.id)),
                Next::Rules(rules) => {
                    for (r, rule) in rules.iter().enumerate() {
                        let goto: Vec<&str> =
                            rule.goto.iter().map(|&g| rb.steps[g].id.as_str()).collect();
                        let when = rule
                            .when
                            .as_deref()
                            .map_or("otherwise".to_string(), |w| format!("when {w}"));
                        branch(
                            format!("rule {r}"),
                            format!(
                                "`{}` rule {} ({when} → {})",
                                step.id,
                                r + 1,
                                goto.join(", ")
                            ),
                        );
                    }
                }
            }
            if let Some(f) = step.on_failure {
                branch(
                    "on_failure".into(),
                    format!("`{}` on_failure → {}", step.id, rb.steps[f].id),
                );
            }
            if matches!(step.action, Action::Conclude(_)) {
                c.conclusions += 1;
                if concluded.contains(&step.id) {
                    c.conclusions_reached += 1;
                } else {
                    c.missed.push(format!("conclusion `{}`", step.id));
                }
            }
        }
        out.push(c);
    }
    out
}
