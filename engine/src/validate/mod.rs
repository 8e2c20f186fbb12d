//! Raw model → checked model. Every check is a function that appends
//! diagnostics; nothing stops at the first problem. A runbook comes out
//! only when no check found an error.

mod flow;
mod locate;
mod steps;
mod templates;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::diagnostic::{did_you_mean, Diagnostic, Span};
use crate::model::{Param, Runbook, Target};
use crate::parse::raw::{RawDuration, RawRunbook};
use crate::parse::Parsed;
use crate::render::Templates;

pub use locate::Locator;
pub use templates::names as templates_names;

/// Probes the remote agent answers: its own catalogue, so the validator
/// and the agent cannot disagree.
pub fn probe_names() -> impl Iterator<Item = &'static str> + Clone {
    runbook_agent::probes::CATALOGUE.iter().map(|p| p.name)
}

/// More steps than this are refused: no troubleshooting DAG needs them,
/// and the flow checks grow with the square of the step count.
pub const MAX_STEPS: usize = 10_000;

/// Step timeout when neither the step nor `defaults` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// First retry delay when none is set.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Finds runbooks named by `call:` steps.
pub trait CallResolver {
    /// The validated runbook called `name`, or why it cannot be had.
    fn resolve(&self, name: &str) -> Result<Arc<Runbook>, String>;
}

/// A resolver that knows no runbooks.
pub struct NoCalls;

impl CallResolver for NoCalls {
    fn resolve(&self, name: &str) -> Result<Arc<Runbook>, String> {
        Err(format!("no runbook named `{name}` is available here"))
    }
}

/// Result of validating one file.
#[derive(Debug)]
pub struct Validated {
    /// The checked runbook, when there was no error.
    pub runbook: Option<Arc<Runbook>>,
    /// Everything found (including the parser's).
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates a parsed runbook.
pub fn validate(parsed: Parsed, resolver: &dyn CallResolver) -> Validated {
    let Parsed {
        source,
        tree,
        raw,
        mut diagnostics,
    } = parsed;
    let Some(raw) = raw else {
        return Validated {
            runbook: None,
            diagnostics,
        };
    };
    let locate = Locator::new(tree.as_ref());
    let mut cx = Context {
        source: source.clone(),
        locate,
        diagnostics: &mut diagnostics,
        templates: Templates::new(),
    };
    check_name(&mut cx, &raw);
    let params = check_params(&mut cx, &raw);
    let targets = check_targets(&mut cx, &raw);
    let redact = check_redact(&mut cx, &raw);
    let steps = steps::build_steps(&mut cx, &raw, &targets, &params, resolver);
    let mut runbook = Runbook {
        name: raw.runbook.clone(),
        summary: raw.summary.clone().unwrap_or_default(),
        description: raw.description.clone(),
        source_sha256: hex::encode(Sha256::digest(source.text.as_bytes())),
        source: source.clone(),
        params,
        targets,
        redact,
        steps: steps.steps,
        calls: steps.calls,
        templates: Templates::new(),
    };
    if runbook.steps.len() > MAX_STEPS {
        cx.push(
            Diagnostic::error(
                "too-many-steps",
                format!(
                    "runbook has {} steps; the limit is {MAX_STEPS}",
                    runbook.steps.len()
                ),
            )
            .at(cx.locate.top_key("steps"), "too many")
            .path("steps")
            .help("split it into runbooks joined by `call`"),
        );
    } else if !runbook.steps.is_empty() {
        let plan = crate::plan::Plan::new(&runbook);
        let acyclic = flow::check_flow(&mut cx, &runbook, &plan);
        if acyclic {
            templates::check_templates(&mut cx, &runbook, &plan, &raw);
        }
    }
    runbook.templates = std::mem::take(&mut cx.templates);
    let ok = !cx.diagnostics.iter().any(Diagnostic::is_error);
    Validated {
        runbook: ok.then(|| Arc::new(runbook)),
        diagnostics,
    }
}

/// What every check needs.
pub(crate) struct Context<'a> {
    pub source: Arc<crate::source::SourceFile>,
    pub locate: Locator<'a>,
    pub diagnostics: &'a mut Vec<Diagnostic>,
    pub templates: Templates,
}

impl Context<'_> {
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_name(cx: &mut Context<'_>, raw: &RawRunbook) {
    if !is_name(&raw.runbook) {
        let span = cx.locate.top_value("runbook");
        cx.push(
            Diagnostic::error(
                "bad-name",
                format!("runbook name `{}` is not a valid name", raw.runbook),
            )
            .at(span, "not a valid name")
            .path("runbook")
            .help("use lowercase letters, digits, `-` and `_`, e.g. `node-not-ready`"),
        );
    }
    if raw
        .summary
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .is_empty()
    {
        let span = cx.locate.top_key("runbook");
        cx.push(
            Diagnostic::warning("no-summary", "runbook has no `summary`")
                .at(span, "add a `summary:` next to this")
                .path("summary")
                .help(
                    "one line saying which symptom this runbook diagnoses; `runbook list` shows it",
                ),
        );
    }
}

fn check_params(cx: &mut Context<'_>, raw: &RawRunbook) -> Vec<Param> {
    let mut params = Vec::new();
    for (name, p) in &raw.params {
        if !is_identifier(name) {
            let span = cx.locate.param(name, None);
            cx.push(
                Diagnostic::error(
                    "bad-name",
                    format!("param name `{name}` is not an identifier"),
                )
                .at(span, "not usable as `params.<name>`")
                .path(format!("params.{name}"))
                .help("use letters, digits and `_`, starting with a letter"),
            );
        }
        let default = match &p.default {
            None => None,
            Some(serde_yaml::Value::String(s)) => Some(s.clone()),
            Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
            Some(serde_yaml::Value::Bool(b)) => Some(b.to_string()),
            Some(serde_yaml::Value::Null) => None,
            Some(_) => {
                let span = cx.locate.param(name, Some("default"));
                cx.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("default of param `{name}` must be a single value"),
                    )
                    .at(span, "not a single value")
                    .path(format!("params.{name}.default")),
                );
                None
            }
        };
        let pattern =
            p.pattern
                .as_ref()
                .and_then(|pat| match Regex::new(&format!("^(?:{pat})$")) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        let span = cx.locate.param(name, Some("pattern"));
                        cx.push(
                            Diagnostic::error(
                                "bad-regex",
                                format!(
                                    "pattern of param `{name}` is not a valid regular expression"
                                ),
                            )
                            .at(span, regex_reason(&e.to_string()))
                            .path(format!("params.{name}.pattern")),
                        );
                        None
                    }
                });
        let required = p.required.unwrap_or(false);
        if required && default.is_some() {
            let span = cx.locate.param(name, Some("required"));
            cx.push(
                Diagnostic::warning(
                    "required-with-default",
                    format!("param `{name}` is required but has a default"),
                )
                .at(span, "the default is never used")
                .path(format!("params.{name}"))
                .help("drop `required: true` or the default"),
            );
        }
        params.push(Param {
            name: name.clone(),
            description: p.description.clone(),
            required: required && default.is_none(),
            default,
            secret: p.secret,
            pattern,
        });
    }
    params
}

fn check_targets(cx: &mut Context<'_>, raw: &RawRunbook) -> Vec<Target> {
    let mut targets = Vec::new();
    for (name, t) in &raw.targets {
        if name == "host" || name == "local" {
            let span = cx.locate.target(name, None);
            cx.push(
                Diagnostic::error("reserved-name", format!("target name `{name}` is built in"))
                    .at(span, "reserved")
                    .path(format!("targets.{name}"))
                    .help("`host` is the machine the run is for and `local` the operator's; name this target differently"),
            );
            continue;
        }
        targets.push(Target {
            name: name.clone(),
            host: t.host.clone(),
            user: t.user.clone(),
            port: t.port,
        });
    }
    targets
}

fn check_redact(cx: &mut Context<'_>, raw: &RawRunbook) -> Vec<Regex> {
    let mut out = Vec::new();
    let node = cx.locate.top("redact");
    for (i, pattern) in raw.redact.iter().enumerate() {
        match Regex::new(pattern) {
            Ok(re) => out.push(re),
            Err(e) => {
                let span = node.and_then(|n| n.items().get(i)).map(|n| n.span.clone());
                cx.push(
                    Diagnostic::error(
                        "bad-regex",
                        "`redact` pattern is not a valid regular expression",
                    )
                    .at(span, regex_reason(&e.to_string()))
                    .path(format!("redact[{i}]")),
                );
            }
        }
    }
    out
}

/// The reason in a `regex` error, which spells out the pattern over
/// several lines and ends with `error: …`.
fn regex_reason(s: &str) -> String {
    let last = s.lines().last().unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// Parses a duration, reporting a diagnostic at `span` when it is bad.
pub(crate) fn parse_duration(
    cx: &mut Context<'_>,
    raw: &RawDuration,
    span: Option<Span>,
    path: String,
) -> Option<Duration> {
    let parsed = match raw {
        RawDuration::Seconds(s) => Ok(Duration::from_secs(*s)),
        RawDuration::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(d) if d.is_zero() => {
            cx.push(
                Diagnostic::error("bad-duration", format!("duration `{raw}` is zero"))
                    .at(span, "must be longer than zero")
                    .path(path),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.push(
                Diagnostic::error("bad-duration", format!("`{raw}` is not a duration: {e}"))
                    .at(span, "not a duration")
                    .path(path)
                    .help("write a number and a unit, e.g. `30s`, `2m`, `1h 30m`"),
            );
            None
        }
    }
}

/// "did you mean" among step ids.
pub(crate) fn suggest_step(name: &str, ids: &HashMap<String, usize>) -> Option<String> {
    did_you_mean(name, ids.keys().map(String::as_str))
}
