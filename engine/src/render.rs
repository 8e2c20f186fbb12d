//! The only place a minijinja environment is built. Commands, findings and
//! captures are templates; `when` is an expression. Values interpolated
//! into a shell command are shell-quoted by the formatter unless a
//! template opts out with `| unquoted`. Undefined values are errors, and a
//! `when` must yield a real boolean.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use regex::Regex;

/// Prefix of template names whose output is a shell command.
pub const SHELL_PREFIX: &str = "shell:";

/// Upper bound on template work (loops, calls) per evaluation, so a
/// hostile or careless template cannot spin forever.
const FUEL: u64 = 2_000_000;

/// A template or expression that failed to compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    /// What went wrong, in minijinja's words plus ours.
    pub message: String,
}

impl From<Error> for RenderError {
    fn from(err: Error) -> Self {
        let mut message = err.to_string();
        // minijinja appends "(in name:line)"; our callers name the place.
        if let Some(i) = message.rfind(" (in ") {
            message.truncate(i);
        }
        RenderError { message }
    }
}

/// Compiled templates of one or more runbooks, plus expression evaluation.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An environment with our filters, strict undefined values, bounded
    /// fuel, no loader (templates cannot read engine-side files) and no
    /// access to the engine's environment variables.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.set_keep_trailing_newline(false);
        env.set_auto_escape_callback(|name| {
            if name.starts_with(SHELL_PREFIX) {
                AutoEscape::Custom("shell")
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom("shell") && !value.is_safe() {
                let text = display(value);
                let quoted = shlex::try_quote(&text).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "a value with a NUL byte cannot be put in a shell command",
                    )
                })?;
                out.write_str(&quoted).map_err(Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        // Python string and dict methods (`s.split()`, `d.items()`), as
        // Jinja2 users from Ansible expect.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("unquoted", |v: Value| Value::from_safe_string(display(&v)));
        env.add_filter("regex_search", regex_search);
        env.add_filter("regex_findall", regex_findall);
        env.add_filter("from_json", from_json);
        env.add_filter("bytes", human_bytes);
        env.add_filter("duration", human_duration);
        Templates { env }
    }

    /// Compiles and keeps template `source` as `name`; names starting with
    /// [`SHELL_PREFIX`] are shell commands.
    pub fn add(&mut self, name: String, source: String) -> Result<(), RenderError> {
        self.env.add_template_owned(name, source)?;
        Ok(())
    }

    /// Whether a template called `name` was added.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// The variables a template reads, dotted (`params.node`).
    pub fn template_variables(&self, name: &str) -> HashSet<String> {
        self.env
            .get_template(name)
            .map(|t| t.undeclared_variables(true))
            .unwrap_or_default()
    }

    /// Renders template `name` in `ctx`.
    pub fn render(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        Ok(self.env.get_template(name)?.render(ctx)?)
    }

    /// Compiles an expression and lists the variables it reads.
    pub fn check_expression(&self, expr: &str) -> Result<HashSet<String>, RenderError> {
        Ok(self
            .env
            .compile_expression(expr)?
            .undeclared_variables(true))
    }

    /// Evaluates an expression.
    pub fn eval(&self, expr: &str, ctx: &Value) -> Result<Value, RenderError> {
        Ok(self.env.compile_expression(expr)?.eval(ctx)?)
    }

    /// Evaluates a condition, which must yield a boolean.
    pub fn eval_bool(&self, expr: &str, ctx: &Value) -> Result<bool, RenderError> {
        let value = self.eval(expr, ctx)?;
        if value.kind() == ValueKind::Bool {
            Ok(value.is_true())
        } else {
            Err(RenderError {
                message: format!(
                    "condition `{expr}` must be true or false, but it is {} `{}`",
                    kind_name(&value),
                    truncate(&display(&value), 80)
                ),
            })
        }
    }
}

/// If a capture template is exactly one `{{ expression }}`, that
/// expression, so the captured value keeps its type (a number stays a
/// number).
pub fn single_expression(template: &str) -> Option<&str> {
    let inner = template.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.trim_start_matches('-').trim_end_matches('-');
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        None
    } else {
        Some(inner.trim())
    }
}

/// "a string", "a number", … for messages.
pub fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "undefined",
        ValueKind::None => "none",
        ValueKind::Bool => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::String => "a string",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "a list",
        ValueKind::Map => "a mapping",
        _ => "a value",
    }
}

fn display(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Compiled regexes shared by all evaluations (bounded).
fn regex(pattern: &str) -> Result<Regex, Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(map) = cache.lock() {
        if let Some(re) = map.get(pattern) {
            return Ok(re.clone());
        }
    }
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regex: {e}")))?;
    if let Ok(mut map) = cache.lock() {
        if map.len() > 512 {
            map.clear();
        }
        map.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}

/// `text | regex_search('pat')`: the first match (or its first group), or
/// none.
fn regex_search(text: String, pattern: String) -> Result<Value, Error> {
    let re = regex(&pattern)?;
    Ok(match re.captures(&text) {
        Some(c) => {
            let m = c.get(1).or_else(|| c.get(0));
            m.map_or(Value::from(()), |m| Value::from(m.as_str()))
        }
        None => Value::from(()),
    })
}

/// `text | regex_findall('pat')`: every match (or its first group).
fn regex_findall(text: String, pattern: String) -> Result<Value, Error> {
    let re = regex(&pattern)?;
    let found: Vec<Value> = re
        .captures_iter(&text)
        .filter_map(|c| c.get(1).or_else(|| c.get(0)))
        .map(|m| Value::from(m.as_str()))
        .collect();
    Ok(Value::from(found))
}

/// `text | from_json`.
fn from_json(text: String) -> Result<Value, Error> {
    let parsed: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("not JSON: {e}")))?;
    Ok(Value::from_serialize(parsed))
}

/// `n | bytes`: `3.8 GiB`.
fn human_bytes(value: Value) -> Result<String, Error> {
    let n = f64::try_from(value.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{value}` is not a number of bytes"),
        )
    })?;
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut size = n;
    let mut unit = 0;
    while size.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    Ok(if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    })
}

/// `seconds | duration`: `1h 2m 3s`.
fn human_duration(value: Value) -> Result<String, Error> {
    let secs = f64::try_from(value.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{value}` is not a number of seconds"),
        )
    })?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "duration must be a positive number",
        ));
    }
    let d = std::time::Duration::from_secs(secs.round() as u64);
    Ok(humantime::format_duration(d).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn templates_with(name: &str, source: &str) -> Templates {
        let mut t = Templates::new();
        t.add(name.to_string(), source.to_string())
            .expect("compiles");
        t
    }

    #[test]
    fn shell_commands_quote_interpolated_values() {
        let t = templates_with("shell:x", "echo {{ v }}");
        let out = t
            .render("shell:x", &context! { v => "$(rm -rf /); `id`" })
            .expect("renders");
        assert_eq!(out, "echo '$(rm -rf /); `id`'");
    }

    #[test]
    fn unquoted_filter_opts_out() {
        let t = templates_with("shell:x", "echo {{ v | unquoted }}");
        let out = t
            .render("shell:x", &context! { v => "a b" })
            .expect("renders");
        assert_eq!(out, "echo a b");
    }

    #[test]
    fn findings_are_not_quoted() {
        let t = templates_with("finding", "node {{ v }} is down");
        let out = t
            .render("finding", &context! { v => "a b" })
            .expect("renders");
        assert_eq!(out, "node a b is down");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = templates_with("shell:x", "echo {{ nope }}");
        assert!(t.render("shell:x", &context! {}).is_err());
    }

    #[test]
    fn conditions_must_be_booleans() {
        let t = Templates::new();
        assert_eq!(t.eval_bool("x == 1", &context! { x => 1 }), Ok(true));
        let err = t
            .eval_bool("x", &context! { x => "yes" })
            .expect_err("not a bool");
        assert!(err.message.contains("must be true or false"), "{err}");
    }

    #[test]
    fn filters_do_what_their_names_say() {
        let t = Templates::new();
        let ctx = context! { s => "Killed process 101788 (python3)", n => 4_112_000_000u64 };
        assert_eq!(
            t.eval("s | regex_search('process (\\\\d+)')", &ctx)
                .expect("ok")
                .to_string(),
            "101788"
        );
        assert_eq!(
            t.eval("n | bytes", &ctx).expect("ok").to_string(),
            "3.8 GiB"
        );
        assert_eq!(
            t.eval("'{\"a\": 2}' | from_json", &ctx)
                .expect("ok")
                .get_attr("a")
                .expect("a")
                .to_string(),
            "2"
        );
        assert_eq!(
            t.eval("90 | duration", &ctx).expect("ok").to_string(),
            "1m 30s"
        );
    }

    #[test]
    fn single_expression_templates_are_recognised() {
        assert_eq!(
            single_expression("{{ result.exit_code }}"),
            Some("result.exit_code")
        );
        assert_eq!(single_expression("x {{ a }}"), None);
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
    }
}
