//! Template and expression checks: every template compiles (and is kept
//! compiled in the runbook), every `when` can be a boolean, and every
//! variable a template reads exists where it is read — a capture or a
//! step result is only readable after a step that can produce it.

use std::collections::{BTreeMap, HashSet};

use fixedbitset::FixedBitSet;

use super::steps::when_text;
use super::Context;
use crate::diagnostic::{did_you_mean, Diagnostic, Span};
use crate::model::{Action, ParseMode, Runbook, StepIdx};
use crate::parse::raw::{RawNext, RawNextEntry, RawRunbook};
use crate::plan::Plan;
use crate::render::{self, Templates, SHELL_PREFIX};

/// Top-level names of the expression context.
pub const CONTEXT_ROOTS: [&str; 6] = ["params", "vars", "steps", "result", "host", "run"];
const HOST_FIELDS: [&str; 4] = ["name", "address", "user", "vars"];
const RUN_FIELDS: [&str; 4] = ["id", "runbook", "operator", "dry_run"];
const RESULT_FIELDS: [&str; 13] = [
    "stdout",
    "stderr",
    "exit_code",
    "ok",
    "duration_ms",
    "timed_out",
    "attempts",
    "json",
    "lines",
    "kv",
    "stdout_bytes",
    "conclusions",
    "error",
];

/// Template names, shared with the executor.
pub mod names {
    use super::SHELL_PREFIX;

    /// Param default.
    pub fn param_default(param: &str) -> String {
        format!("param:{param}:default")
    }
    /// Target field (`host` or `user`).
    pub fn target(target: &str, field: &str) -> String {
        format!("target:{target}:{field}")
    }
    /// A step's command.
    pub fn run(step: &str) -> String {
        format!("{SHELL_PREFIX}{step}:run")
    }
    /// A probe argument.
    pub fn probe_arg(step: &str, arg: &str) -> String {
        format!("{step}:args:{arg}")
    }
    /// A call param.
    pub fn call_with(step: &str, param: &str) -> String {
        format!("{step}:with:{param}")
    }
    /// A capture.
    pub fn capture(step: &str, var: &str) -> String {
        format!("{step}:capture:{var}")
    }
    /// A conclusion's finding.
    pub fn finding(step: &str) -> String {
        format!("{step}:finding")
    }
    /// A conclusion's remedy.
    pub fn remedy(step: &str) -> String {
        format!("{step}:remedy")
    }
}

/// Where a template is read, which decides what it may see.
struct Place<'a> {
    /// The step it belongs to, if any.
    step: Option<StepIdx>,
    /// It may read `result` (captures and `next` rules).
    result: bool,
    /// It may read this step's own captures (`next` rules).
    own_captures: bool,
    span: Option<Span>,
    path: String,
    what: &'a str,
}

pub(crate) fn check_templates(
    cx: &mut Context<'_>,
    runbook: &Runbook,
    plan: &Plan,
    raw: &RawRunbook,
) {
    let ancestors = plan.ancestors();
    // Which steps capture each variable; looked up per read, so a long
    // runbook is not quadratic.
    let mut capturers: BTreeMap<&str, Vec<StepIdx>> = BTreeMap::new();
    for (i, step) in runbook.steps.iter().enumerate() {
        for (name, _) in &step.capture {
            capturers.entry(name.as_str()).or_default().push(i);
        }
    }
    let checker = Checker {
        runbook,
        ancestors: &ancestors,
        capturers: &capturers,
    };

    for (idx, p) in runbook.params.iter().enumerate() {
        if let Some(default) = &p.default {
            let place = Place {
                step: None,
                result: false,
                own_captures: false,
                span: cx.locate.param(&p.name, Some("default")),
                path: format!("params.{}.default", p.name),
                what: "param default",
            };
            if let Some(vars) = add(cx, names::param_default(&p.name), default, &place) {
                // Defaults may read `host` and params declared before.
                for v in &vars {
                    if let Some(other) = v.strip_prefix("params.") {
                        let other = other.split('.').next().unwrap_or(other);
                        if !runbook.params[..idx].iter().any(|q| q.name == other) {
                            cx.push(
                                Diagnostic::error("undefined-param", format!("default of `{}` reads `params.{other}`, which is not declared before it", p.name))
                                    .at(place.span.clone(), "here")
                                    .path(place.path.clone())
                                    .help("a default can read params declared above it"),
                            );
                        }
                    } else {
                        checker.check_vars(cx, std::iter::once(v.clone()).collect(), &place);
                    }
                }
            }
        }
    }
    for t in &runbook.targets {
        for (field, value) in [("host", Some(&t.host)), ("user", t.user.as_ref())] {
            let Some(value) = value else { continue };
            let place = Place {
                step: None,
                result: false,
                own_captures: false,
                span: cx.locate.target(&t.name, Some(field)),
                path: format!("targets.{}.{field}", t.name),
                what: "target",
            };
            if let Some(vars) = add(cx, names::target(&t.name, field), value, &place) {
                checker.check_vars(cx, vars, &place);
            }
        }
    }

    for (i, step) in runbook.steps.iter().enumerate() {
        let base =
            |result: bool, own: bool, span: Option<Span>, path: String, what: &'static str| Place {
                step: Some(i),
                result,
                own_captures: own,
                span,
                path,
                what,
            };
        // The guard.
        let raw_step = &raw.steps[i];
        if let Some(when) = &raw_step.when {
            let place = base(
                false,
                false,
                cx.locate.step_span(i, "when"),
                format!("steps[{i}].when"),
                "`when`",
            );
            check_when(cx, &checker, when, &place);
        }
        match &step.action {
            Action::Run(cmd) => {
                let place = base(
                    false,
                    false,
                    cx.locate.step_span(i, "run"),
                    format!("steps[{i}].run"),
                    "command",
                );
                if let Some(vars) = add(cx, names::run(&step.id), cmd, &place) {
                    checker.check_vars(cx, vars, &place);
                }
            }
            Action::Probe { args, .. } => {
                for (k, v) in args {
                    let place = base(
                        false,
                        false,
                        cx.locate.step_map_value(i, "args", k),
                        format!("steps[{i}].args.{k}"),
                        "probe argument",
                    );
                    if let Some(vars) = add(cx, names::probe_arg(&step.id, k), v, &place) {
                        checker.check_vars(cx, vars, &place);
                    }
                }
            }
            Action::Call { with, .. } => {
                for (k, v) in with {
                    let place = base(
                        false,
                        false,
                        cx.locate.step_map_value(i, "with", k),
                        format!("steps[{i}].with.{k}"),
                        "call param",
                    );
                    if let Some(vars) = add(cx, names::call_with(&step.id, k), v, &place) {
                        checker.check_vars(cx, vars, &place);
                    }
                }
            }
            Action::Conclude(c) => {
                let place = base(
                    false,
                    false,
                    cx.locate.conclusion(i, "finding"),
                    format!("steps[{i}].conclude.finding"),
                    "finding",
                );
                if let Some(vars) = add(cx, names::finding(&step.id), &c.finding, &place) {
                    checker.check_vars(cx, vars, &place);
                }
                if let Some(remedy) = &c.remedy {
                    let place = base(
                        false,
                        false,
                        cx.locate.conclusion(i, "remedy"),
                        format!("steps[{i}].conclude.remedy"),
                        "remedy",
                    );
                    if let Some(vars) = add(cx, names::remedy(&step.id), remedy, &place) {
                        checker.check_vars(cx, vars, &place);
                    }
                }
                for (j, &e) in c.evidence.iter().enumerate() {
                    if e != i && !ancestors[i].contains(e) {
                        cx.push(
                            Diagnostic::warning(
                                "evidence-never-run",
                                format!(
                                    "evidence step `{}` never runs before `{}`",
                                    runbook.steps[e].id, step.id
                                ),
                            )
                            .at(
                                cx.locate.evidence(i, j),
                                "not on any path to this conclusion",
                            )
                            .path(format!("steps[{i}].conclude.evidence[{j}]")),
                        );
                    }
                }
            }
            Action::Route => {}
        }
        for (var, template) in &step.capture {
            let place = base(
                true,
                false,
                cx.locate.step_map_value(i, "capture", var),
                format!("steps[{i}].capture.{var}"),
                "capture",
            );
            if let Some(vars) = add(cx, names::capture(&step.id, var), template, &place) {
                checker.check_vars(cx, vars, &place);
            }
        }
        if let Some(RawNext::List(entries)) = &raw_step.next {
            for (r, entry) in entries.iter().enumerate() {
                if let RawNextEntry::Rule(rule) = entry {
                    if let Some(when) = &rule.when {
                        let place = base(
                            true,
                            true,
                            cx.locate.rule(i, r, "when"),
                            format!("steps[{i}].next[{r}].when"),
                            "`when`",
                        );
                        check_when(cx, &checker, when, &place);
                    }
                }
            }
        }
    }
}

/// Compiles and registers a template; returns the variables it reads.
fn add(
    cx: &mut Context<'_>,
    name: String,
    source: &str,
    place: &Place<'_>,
) -> Option<HashSet<String>> {
    if let Some(tag) = file_tag(source) {
        cx.push(
            Diagnostic::error("template-include", format!("{} uses `{{% {tag} %}}`, but templates cannot read other files", place.what))
                .at(place.span.clone(), "in this template")
                .path(place.path.clone())
                .help("put what you need in the runbook itself: a param, a capture, or a `call` of another runbook"),
        );
        return None;
    }
    if name.starts_with(crate::render::SHELL_PREFIX) {
        if let Some(expr) = quoted_interpolation(source) {
            cx.push(
                Diagnostic::error(
                    "quoted-interpolation",
                    format!("`{{{{ {expr} }}}}` is inside shell quotes, where its automatic quoting cannot protect it"),
                )
                .at(place.span.clone(), "in this command")
                .path(place.path.clone())
                .help("take the quotes away from around the `{{ }}`: every interpolated value is already one shell word, e.g. `echo \"node: \"{{ params.node }}` or `echo node: {{ params.node }}`"),
            );
        }
    }
    match cx.templates.add(name.clone(), source.to_string()) {
        Ok(()) => Some(cx.templates.template_variables(&name)),
        Err(e) => {
            cx.push(
                Diagnostic::error(
                    "bad-template",
                    format!("{} does not compile: {}", place.what, e.message),
                )
                .at(place.span.clone(), "in this template")
                .path(place.path.clone())
                .help("templates use minijinja (Jinja2) syntax: `{{ expression }}`, `{% if … %}`"),
            );
            None
        }
    }
}

fn check_when(
    cx: &mut Context<'_>,
    checker: &Checker<'_>,
    value: &serde_yaml::Value,
    place: &Place<'_>,
) {
    let expr = match value {
        serde_yaml::Value::Bool(_) => return,
        serde_yaml::Value::String(s) => s,
        other => {
            cx.push(
                Diagnostic::error(
                    "when-not-bool",
                    format!(
                        "`when` is `{}`, which can never be true or false",
                        when_text(other)
                    ),
                )
                .at(place.span.clone(), "not a condition")
                .path(place.path.clone())
                .help("write a condition, e.g. `result.exit_code == 0`"),
            );
            return;
        }
    };
    if expr.contains("{{") || expr.contains("{%") {
        cx.push(
            Diagnostic::error(
                "when-is-template",
                "`when` is an expression, not a template",
            )
            .at(place.span.clone(), "remove the `{{ }}`")
            .path(place.path.clone())
            .help(format!(
                "write `{}`",
                expr.replace("{{", "").replace("}}", "").trim()
            )),
        );
        return;
    }
    match cx.templates.check_expression(expr) {
        Err(e) => cx.push(
            Diagnostic::error(
                "bad-expression",
                format!("`when` does not compile: {}", e.message),
            )
            .at(place.span.clone(), "in this expression")
            .path(place.path.clone()),
        ),
        Ok(vars) if vars.is_empty() => {
            // A constant: it can be judged now.
            let value = Templates::new().eval(expr, &minijinja::Value::from(()));
            match value {
                Ok(v) if v.kind() == minijinja::value::ValueKind::Bool => {}
                Ok(v) => cx.push(
                    Diagnostic::error(
                        "when-not-bool",
                        format!(
                            "`when` is always {} `{v}`, never true or false",
                            render::kind_name(&v)
                        ),
                    )
                    .at(place.span.clone(), "not a condition")
                    .path(place.path.clone())
                    .help("compare something, e.g. `vars.ready == \"True\"`"),
                ),
                Err(e) => cx.push(
                    Diagnostic::error("bad-expression", format!("`when` fails: {}", e.message))
                        .at(place.span.clone(), "in this expression")
                        .path(place.path.clone()),
                ),
            }
        }
        Ok(vars) => checker.check_vars(cx, vars, place),
    }
}

struct Checker<'a> {
    runbook: &'a Runbook,
    ancestors: &'a [FixedBitSet],
    capturers: &'a BTreeMap<&'a str, Vec<StepIdx>>,
}

impl Checker<'_> {
    fn check_vars(&self, cx: &mut Context<'_>, vars: HashSet<String>, place: &Place<'_>) {
        let mut vars: Vec<String> = vars.into_iter().collect();
        vars.sort();
        for var in vars {
            let mut parts = var.split('.');
            let root = parts.next().unwrap_or_default();
            let field = parts.next();
            let sub = parts.next();
            let span = place.span.clone().map(|span| {
                let short = field.map(|f| format!("{root}.{f}"));
                let found = [Some(var.as_str()), short.as_deref(), Some(root)]
                    .into_iter()
                    .flatten()
                    .find_map(|name| find_name(&cx.source.text, span.clone(), name));
                found.unwrap_or(span)
            });
            if let Some(d) = self.check_var(root, field, sub, place, span) {
                cx.push(d.path(place.path.clone()));
            }
        }
    }

    fn check_var(
        &self,
        root: &str,
        field: Option<&str>,
        sub: Option<&str>,
        place: &Place<'_>,
        span: Option<Span>,
    ) -> Option<Diagnostic> {
        let err = |code, msg: String| Diagnostic::error(code, msg).at(span.clone(), "read here");
        match root {
            "params" => {
                let name = field?;
                if self.runbook.params.iter().any(|p| p.name == name) {
                    return None;
                }
                Some(
                    err(
                        "undefined-param",
                        format!("`params.{name}` is not a declared param"),
                    )
                    .help(
                        did_you_mean(name, self.runbook.params.iter().map(|p| p.name.as_str()))
                            .unwrap_or_else(|| {
                                format!("declare it under `params:` ({name}: {{ description: … }})")
                            }),
                    ),
                )
            }
            "host" => field.filter(|f| !HOST_FIELDS.contains(f)).map(|f| {
                err("undefined-variable", format!("`host.{f}` does not exist")).help(
                    did_you_mean(f, HOST_FIELDS)
                        .unwrap_or_else(|| format!("`host` has {}", HOST_FIELDS.join(", "))),
                )
            }),
            "run" => field.filter(|f| !RUN_FIELDS.contains(f)).map(|f| {
                err("undefined-variable", format!("`run.{f}` does not exist")).help(
                    did_you_mean(f, RUN_FIELDS)
                        .unwrap_or_else(|| format!("`run` has {}", RUN_FIELDS.join(", "))),
                )
            }),
            "result" => {
                let Some(step) = place.step.filter(|_| place.result) else {
                    return Some(err("result-out-of-scope", format!("{} cannot read `result`", place.what))
                        .help("`result` is the current step's outcome, readable in `capture` and `next`; elsewhere use `steps.<id>`"));
                };
                self.check_result_field(step, field, "result", &span)
            }
            "vars" => {
                let name = field?;
                let step = place.step;
                let capturers = self.capturers.get(name).map_or(&[][..], Vec::as_slice);
                let produced_before = capturers.iter().any(|&s| {
                    step.is_some_and(|st| self.ancestors[st].contains(s))
                        || (place.own_captures && step == Some(s))
                });
                if produced_before {
                    return None;
                }
                let anywhere = !capturers.is_empty();
                let all = self.capturers.keys().copied();
                Some(if anywhere {
                    err("capture-before-set", format!("`vars.{name}` is read before any step that captures it can have run"))
                        .help("only steps on a path leading here can set it; read it further down the DAG")
                } else {
                    err("undefined-capture", format!("`vars.{name}` is never captured"))
                        .help(did_you_mean(name, all).unwrap_or_else(|| format!("set it with `capture: {{ {name}: \"{{{{ … }}}}\" }}` in an earlier step")))
                })
            }
            "steps" => {
                let name = field?;
                let target = self
                    .runbook
                    .steps
                    .iter()
                    .position(|s| s.id == name || s.id.replace('-', "_") == name);
                let Some(target) = target else {
                    return Some(
                        err("unknown-step", format!("`steps.{name}` names no step")).maybe_help(
                            did_you_mean(name, self.runbook.steps.iter().map(|s| s.id.as_str())),
                        ),
                    );
                };
                let before = place.step.is_some_and(|s| {
                    self.ancestors[s].contains(target) || (s == target && place.result)
                });
                if !before {
                    return Some(
                        err(
                            "step-before-run",
                            format!("`steps.{name}` is read before step `{name}` can have run"),
                        )
                        .help(
                            "a step's result is readable only by steps after it on the same path",
                        ),
                    );
                }
                self.check_result_field(target, sub, &format!("steps.{name}"), &span)
            }
            "loop" | "range" | "namespace" | "dict" | "lipsum" | "cycler" | "joiner" => None,
            other => Some(
                err("undefined-variable", format!("`{other}` is not defined")).help(
                    did_you_mean(other, CONTEXT_ROOTS).unwrap_or_else(|| {
                        format!("templates can read {}", CONTEXT_ROOTS.join(", "))
                    }),
                ),
            ),
        }
    }

    fn check_result_field(
        &self,
        step: StepIdx,
        field: Option<&str>,
        what: &str,
        span: &Option<Span>,
    ) -> Option<Diagnostic> {
        let field = field?;
        let s = &self.runbook.steps[step];
        let is_probe = matches!(s.action, Action::Probe { .. });
        let needs = match field {
            "json" if !is_probe && s.parse != ParseMode::Json => Some("json"),
            "lines" if s.parse != ParseMode::Lines => Some("lines"),
            "kv" if s.parse != ParseMode::Kv => Some("kv"),
            _ => None,
        };
        if let Some(mode) = needs {
            return Some(
                Diagnostic::error(
                    "parser-mismatch",
                    format!("`{what}.{field}` needs `parse: {mode}` on step `{}`", s.id),
                )
                .at(span.clone(), "read here")
                .help(format!("add `parse: {mode}` to step `{}`", s.id)),
            );
        }
        if !RESULT_FIELDS.contains(&field) {
            return Some(
                Diagnostic::error(
                    "undefined-variable",
                    format!("`{what}.{field}` does not exist"),
                )
                .at(span.clone(), "read here")
                .help(
                    did_you_mean(field, RESULT_FIELDS)
                        .unwrap_or_else(|| format!("a result has {}", RESULT_FIELDS.join(", "))),
                ),
            );
        }
        None
    }
}

/// Where `name` (a dotted variable) is written inside `within`, as a whole
/// word, so a diagnostic can point at the variable rather than at the
/// whole template.
fn find_name(text: &str, within: Span, name: &str) -> Option<Span> {
    let region = text.get(within.clone())?;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    region.match_indices(name).find_map(|(at, _)| {
        let before = region[..at].chars().next_back();
        let after = region[at + name.len()..].chars().next();
        let whole = !before.is_some_and(|c| is_word(c) || c == '.') && !after.is_some_and(is_word);
        whole.then(|| within.start + at..within.start + at + name.len())
    })
}

/// The first `include`/`import`/`from`/`extends` tag of a template: there
/// is no loader, so they can only fail at run time; say so now.
fn file_tag(source: &str) -> Option<&'static str> {
    let mut rest = source;
    while let Some(i) = rest.find("{%") {
        let tag = rest[i + 2..].trim_start_matches(['-', '+']).trim_start();
        // (`{%` is ASCII, so `i + 2` is a character boundary.)
        for word in ["include", "import", "from", "extends"] {
            if tag
                .strip_prefix(word)
                .is_some_and(|after| after.starts_with(char::is_whitespace))
            {
                return Some(word);
            }
        }
        rest = &rest[i + 2..];
    }
    None
}

/// The first interpolation of a shell command that sits inside single or
/// double quotes of the command text. The formatter quotes every value as
/// one shell word; inside `"…"` that quoting becomes literal text and
/// `$(…)` in the value would run. `| unquoted` interpolations are the
/// author's own responsibility and are not reported.
fn quoted_interpolation(source: &str) -> Option<String> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut state = Quote::None;
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Byte comparisons: `i` may stop inside a multi-byte character.
        if bytes[i..].starts_with(b"{{") {
            let end = source[i..].find("}}").map_or(source.len(), |e| i + e + 2);
            let inner = source
                .get(i + 2..end.saturating_sub(2).max(i + 2))
                .unwrap_or("");
            let expr = inner.trim().trim_matches('-').trim();
            if state != Quote::None && !expr.replace(' ', "").contains("|unquoted") {
                return Some(expr.to_string());
            }
            i = end;
            continue;
        }
        if bytes[i..].starts_with(b"{%") || bytes[i..].starts_with(b"{#") {
            let close = if bytes[i..].starts_with(b"{%") {
                "%}"
            } else {
                "#}"
            };
            i = source[i..].find(close).map_or(source.len(), |e| i + e + 2);
            continue;
        }
        match (bytes[i], &state) {
            (b'\\', Quote::None | Quote::Double) => i += 1,
            (b'\'', Quote::None) => state = Quote::Single,
            (b'\'', Quote::Single) => state = Quote::None,
            (b'"', Quote::None) => state = Quote::Double,
            (b'"', Quote::Double) => state = Quote::None,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolations_inside_quotes_are_found() {
        assert_eq!(
            quoted_interpolation(r#"echo "x {{ v }}""#).as_deref(),
            Some("v")
        );
        assert_eq!(
            quoted_interpolation("echo 'x {{ v }}'").as_deref(),
            Some("v")
        );
        assert_eq!(quoted_interpolation(r#"echo "x" {{ v }} 'y'"#), None);
        assert_eq!(quoted_interpolation(r#"echo "it's" {{ v }}"#), None);
        assert_eq!(quoted_interpolation(r#"echo \" {{ v }}"#), None);
        assert_eq!(quoted_interpolation(r#"echo "{{ v | unquoted }}""#), None);
        assert_eq!(
            quoted_interpolation(r#"{% if a == "b" %}echo {{ v }}{% endif %}"#),
            None
        );
        assert_eq!(quoted_interpolation("é\\é \"ü {{ v }}\""), Some("v".into()));
    }

    #[test]
    fn file_tags_are_found() {
        assert_eq!(file_tag("{% include '/etc/passwd' %}"), Some("include"));
        assert_eq!(file_tag("{%- from 'x' import y %}"), Some("from"));
        assert_eq!(file_tag("{% for i in x %}{{ i }}{% endfor %}"), None);
    }
}
