//! The expression context of one walk: `params`, `vars`, `steps`, `host`,
//! `run`, and `result` while a step's captures and `next` are evaluated.
//! Documented in docs/runbook-language.md ("The expression context").

use std::collections::BTreeMap;

use minijinja::Value;

use crate::model::Runbook;
use crate::validate::templates_names as names;

/// What templates of one walk can read.
#[derive(Clone, Default)]
pub(crate) struct Scope {
    pub params: BTreeMap<String, Value>,
    pub vars: BTreeMap<String, Value>,
    pub steps: BTreeMap<String, Value>,
    pub host: Value,
    pub run: Value,
}

impl Scope {
    /// The context value, with `result` when given.
    pub fn context(&self, result: Option<&Value>) -> Value {
        let mut map: BTreeMap<&str, Value> = BTreeMap::new();
        map.insert("params", Value::from(self.params.clone()));
        map.insert("vars", Value::from(self.vars.clone()));
        map.insert("steps", Value::from(self.steps.clone()));
        map.insert("host", self.host.clone());
        map.insert("run", self.run.clone());
        if let Some(r) = result {
            map.insert("result", r.clone());
        }
        Value::from(map)
    }

    /// Records a step's result under its id and its `_` alias.
    pub fn set_step(&mut self, id: &str, value: Value) {
        let alias = id.replace('-', "_");
        if alias != id {
            self.steps.insert(alias, value.clone());
        }
        self.steps.insert(id.to_string(), value);
    }
}

/// Resolves params for one walk: given values (checked against their
/// pattern), then defaults rendered in order, then `none` for optional
/// params; a missing required param is an error. Returns the values and
/// the secret ones.
pub(crate) fn resolve_params(
    runbook: &Runbook,
    given: &BTreeMap<String, String>,
    host: &Value,
    run: &Value,
) -> Result<(BTreeMap<String, Value>, Vec<String>), String> {
    let mut params: BTreeMap<String, Value> = BTreeMap::new();
    let mut secrets = Vec::new();
    for p in &runbook.params {
        let value = if let Some(v) = given.get(&p.name) {
            if let Some(re) = &p.pattern {
                if !re.is_match(v) {
                    return Err(format!(
                        "param `{}` = `{}` does not match its pattern `{}`",
                        p.name,
                        if p.secret { "[REDACTED]" } else { v },
                        re.as_str()
                            .trim_start_matches("^(?:")
                            .trim_end_matches(")$")
                    ));
                }
            }
            Value::from(v.clone())
        } else if p.default.is_some() {
            let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
            ctx.insert("params", Value::from(params.clone()));
            ctx.insert("host", host.clone());
            ctx.insert("run", run.clone());
            let rendered = runbook
                .templates
                .render(&names::param_default(&p.name), &Value::from(ctx))
                .map_err(|e| format!("default of param `{}`: {e}", p.name))?;
            Value::from(rendered)
        } else if p.required {
            return Err(format!(
                "param `{}` is required{}; pass `-p {}=VALUE`",
                p.name,
                p.description
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                p.name
            ));
        } else {
            Value::from(())
        };
        if p.secret {
            if let Some(s) = value.as_str() {
                secrets.push(s.to_string());
            }
        }
        params.insert(p.name.clone(), value);
    }
    Ok((params, secrets))
}
