//! The checked runbook model: ids resolved to indices, durations parsed,
//! templates compiled once by the validator. Only plan and exec see it, and
//! they never need to handle a missing or dangling value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use crate::render::Templates;
use crate::source::SourceFile;

/// Index of a step in [`Runbook::steps`].
pub type StepIdx = usize;

/// A validated runbook.
#[derive(Debug)]
pub struct Runbook {
    /// `runbook:` name.
    pub name: String,
    /// One-line summary.
    pub summary: String,
    /// Longer description.
    pub description: Option<String>,
    /// The file it came from.
    pub source: Arc<SourceFile>,
    /// SHA-256 of the source text, hex.
    pub source_sha256: String,
    /// Inputs.
    pub params: Vec<Param>,
    /// Named targets besides `host` and `local`.
    pub targets: Vec<Target>,
    /// Patterns masked in every record.
    pub redact: Vec<Regex>,
    /// Steps; index 0 is the entry.
    pub steps: Vec<Step>,
    /// Runbooks this one `call`s, by name.
    pub calls: BTreeMap<String, Arc<Runbook>>,
    /// Its templates, compiled once by the validator.
    pub templates: Templates,
}

impl Runbook {
    /// The step with `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// All conclusion steps.
    pub fn conclusions(&self) -> impl Iterator<Item = (&Step, &Conclusion)> {
        self.steps.iter().filter_map(|s| match &s.action {
            Action::Conclude(c) => Some((s, c)),
            _ => None,
        })
    }

    /// Names of secret params.
    pub fn secret_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.secret)
    }
}

/// A runbook input.
#[derive(Debug, Clone)]
pub struct Param {
    /// Name, used as `params.<name>`.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
    /// Must be given (it has no default).
    pub required: bool,
    /// Template for the default value.
    pub default: Option<String>,
    /// Masked by value everywhere.
    pub secret: bool,
    /// The whole value must match.
    pub pattern: Option<Regex>,
}

/// An extra machine.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name used in `on:`.
    pub name: String,
    /// Destination template.
    pub host: String,
    /// User template.
    pub user: Option<String>,
    /// Port.
    pub port: Option<u16>,
}

/// Where a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetRef {
    /// The host this run is for (`--host`, inventory, or `--local`).
    Host,
    /// The operator's machine.
    Local,
    /// `targets[i]`.
    Named(usize),
}

/// How stdout is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParseMode {
    /// `result.stdout` only.
    Text,
    /// `result.json`.
    Json,
    /// `result.lines`: non-empty lines, trimmed of the line ending.
    Lines,
    /// `result.kv`: `key=value` or `key: value` lines.
    Kv,
}

impl ParseMode {
    /// All modes by name.
    pub const NAMES: [&'static str; 4] = ["text", "json", "lines", "kv"];

    /// The mode named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "text" => ParseMode::Text,
            "json" => ParseMode::Json,
            "lines" => ParseMode::Lines,
            "kv" => ParseMode::Kv,
            _ => return None,
        })
    }
}

/// A node of the DAG.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique id.
    pub id: String,
    /// Plain-words description.
    pub description: Option<String>,
    /// Target.
    pub on: TargetRef,
    /// Guard expression; `None` = always.
    pub when: Option<String>,
    /// What the step does.
    pub action: Action,
    /// How stdout is read.
    pub parse: ParseMode,
    /// `vars` to set: name → template.
    pub capture: Vec<(String, String)>,
    /// Where to go next.
    pub next: Next,
    /// Where to go when the step fails.
    pub on_failure: Option<StepIdx>,
    /// Time limit per attempt.
    pub timeout: Duration,
    /// Retries after failure.
    pub retries: u32,
    /// First retry delay (doubles).
    pub retry_delay: Duration,
    /// Needs approval; never runs in a dry run.
    pub mutates: bool,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// A shell command template.
    Run(String),
    /// A remote-agent probe with argument templates.
    Probe {
        /// Probe name.
        name: String,
        /// Arguments.
        args: Vec<(String, String)>,
    },
    /// A sub-runbook with param templates.
    Call {
        /// Runbook name (a key of [`Runbook::calls`]).
        runbook: String,
        /// Params.
        with: Vec<(String, String)>,
    },
    /// A diagnosis.
    Conclude(Conclusion),
    /// No action: a junction that only routes.
    Route,
}

impl Action {
    /// A short name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Run(_) => "run",
            Action::Probe { .. } => "probe",
            Action::Call { .. } => "call",
            Action::Conclude(_) => "conclude",
            Action::Route => "route",
        }
    }
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    /// All good.
    Ok,
    /// Worth knowing.
    Info,
    /// Degraded.
    Warning,
    /// Broken.
    Critical,
}

impl FindingSeverity {
    /// All severities by name.
    pub const NAMES: [&'static str; 4] = ["ok", "info", "warning", "critical"];

    /// The severity named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ok" => FindingSeverity::Ok,
            "info" => FindingSeverity::Info,
            "warning" => FindingSeverity::Warning,
            "critical" => FindingSeverity::Critical,
            _ => return None,
        })
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A conclusion step's content.
#[derive(Debug, Clone)]
pub struct Conclusion {
    /// How bad.
    pub severity: FindingSeverity,
    /// Finding template.
    pub finding: String,
    /// Remedy template.
    pub remedy: Option<String>,
    /// Steps whose output is evidence.
    pub evidence: Vec<StepIdx>,
}

/// Outgoing edges.
#[derive(Debug, Clone)]
pub enum Next {
    /// A leaf.
    End,
    /// Go to all of these (fan-out).
    All(Vec<StepIdx>),
    /// First matching rule wins.
    Rules(Vec<Rule>),
}

impl Next {
    /// Every step this one may go to, rule order kept, duplicates possible.
    pub fn targets(&self) -> Vec<StepIdx> {
        match self {
            Next::End => Vec::new(),
            Next::All(v) => v.clone(),
            Next::Rules(rules) => rules.iter().flat_map(|r| r.goto.iter().copied()).collect(),
        }
    }
}

/// A `next` rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Condition; `None` = always.
    pub when: Option<String>,
    /// Steps to go to.
    pub goto: Vec<StepIdx>,
}
