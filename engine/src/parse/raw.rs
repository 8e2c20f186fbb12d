//! The raw runbook model: exactly what serde reads from YAML, before any id
//! is resolved or any template compiled. Its JSON Schema (`runbook schema`)
//! is generated from these types, and the structural pass of `validate`
//! walks that schema, so field names are written down once, here.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A runbook file: a named troubleshooting DAG.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, title = "runbook")]
pub struct RawRunbook {
    /// The runbook's name, as used by `runbook run NAME`; lowercase words
    /// joined by `-`.
    pub runbook: String,
    /// One line saying what symptom this runbook diagnoses.
    #[serde(default)]
    pub summary: Option<String>,
    /// Longer notes for the people who maintain it.
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs, set with `-p name=value`.
    #[serde(default)]
    pub params: IndexMap<String, RawParam>,
    /// Machines other than the run's own `host` (and the operator's `local`).
    #[serde(default)]
    pub targets: IndexMap<String, RawTarget>,
    /// Values every step inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Option<RawDefaults>,
    /// Regular expressions whose matches are masked in every record.
    #[serde(default)]
    pub redact: Vec<String>,
    /// The steps; the first one is the entry point.
    pub steps: Vec<RawStep>,
}

/// A runbook input.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawParam {
    /// Shown by `runbook show` and in errors.
    #[serde(default)]
    pub description: Option<String>,
    /// The run refuses to start without it (and without a default).
    #[serde(default)]
    pub required: Option<bool>,
    /// Used when the operator gives none; may be a template over `host`
    /// and earlier params.
    #[serde(default)]
    #[schemars(with = "Option<ScalarSchema>")]
    pub default: Option<serde_yaml::Value>,
    /// Masked by value everywhere: output, logs, audit, reports.
    #[serde(default)]
    pub secret: bool,
    /// A regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
}

/// Another machine a step can run on.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawTarget {
    /// SSH destination (an address or a `~/.ssh/config` alias); a template.
    pub host: String,
    /// Login user; a template.
    #[serde(default)]
    pub user: Option<String>,
    /// SSH port.
    #[serde(default)]
    pub port: Option<u16>,
}

/// Step defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawDefaults {
    /// Target of steps without `on` (default `host`).
    #[serde(default)]
    pub on: Option<String>,
    /// Step time limit, e.g. `30s`, `2m` (default 30s).
    #[serde(default)]
    pub timeout: Option<RawDuration>,
    /// Retries after a transport failure or timeout (default 0).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Delay before the first retry; doubles each time (default 1s).
    #[serde(default)]
    pub retry_delay: Option<RawDuration>,
}

/// One node of the DAG.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawStep {
    /// Unique name; other steps refer to it in `next`, `on_failure`,
    /// `evidence` and as `steps.<id>`.
    pub id: String,
    /// What the step finds out, in plain words.
    #[serde(default)]
    pub description: Option<String>,
    /// Target: `host` (default), `local`, or a name from `targets`.
    #[serde(default)]
    pub on: Option<String>,
    /// Guard: an expression; when false the step is skipped.
    #[serde(default)]
    #[schemars(with = "Option<WhenSchema>")]
    pub when: Option<serde_yaml::Value>,
    /// A shell command (template; interpolations are shell-quoted).
    #[serde(default)]
    pub run: Option<String>,
    /// A remote-agent probe: memory, cpu, processes, oom, unit,
    /// containers, disk, kubelet.
    #[serde(default)]
    pub probe: Option<String>,
    /// Probe arguments (templates).
    #[serde(default)]
    pub args: IndexMap<String, String>,
    /// Another runbook to run on the same host.
    #[serde(default)]
    pub call: Option<String>,
    /// Params of the called runbook (templates).
    #[serde(default)]
    pub with: IndexMap<String, String>,
    /// Ends a path with a diagnosis.
    #[serde(default)]
    pub conclude: Option<RawConclusion>,
    /// How to read stdout: `text` (default), `json`, `lines`, `kv`.
    #[serde(default)]
    pub parse: Option<String>,
    /// Values to keep in `vars` (templates over `result`).
    #[serde(default)]
    pub capture: IndexMap<String, String>,
    /// Where to go next.
    #[serde(default)]
    pub next: Option<RawNext>,
    /// Step to go to when this one fails (transport failure or timeout,
    /// after retries) instead of failing the host.
    #[serde(default)]
    pub on_failure: Option<String>,
    /// Time limit, e.g. `10s`.
    #[serde(default)]
    pub timeout: Option<RawDuration>,
    /// Retries after a transport failure or timeout.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Delay before the first retry; doubles each time.
    #[serde(default)]
    pub retry_delay: Option<RawDuration>,
    /// The step changes the host: it needs approval and never runs in a
    /// dry run.
    #[serde(default)]
    pub mutates: bool,
}

/// A diagnosis.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawConclusion {
    /// `ok`, `info`, `warning` or `critical`.
    pub severity: String,
    /// What is wrong (template).
    pub finding: String,
    /// What to do about it (template).
    #[serde(default)]
    pub remedy: Option<String>,
    /// Steps whose output supports the finding.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// `next:` — a step id, a list of step ids (fan-out), or a list of rules
/// (first match wins).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawNext {
    /// `next: triage`
    One(StepName),
    /// `next: [a, b]` or `next: [{when: …, goto: …}, …]`
    List(Vec<RawNextEntry>),
}

/// An entry of a `next` list.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawNextEntry {
    /// A step id: part of a fan-out list.
    Step(StepName),
    /// A rule.
    Rule(RawRule),
}

/// A `next` rule: go to `goto` when `when` holds (or always, without `when`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawRule {
    /// The condition: an expression over the step's `result`, `vars`, …
    #[serde(default)]
    #[schemars(with = "Option<WhenSchema>")]
    pub when: Option<serde_yaml::Value>,
    /// One step id, or a list that fans out.
    pub goto: OneOrMany,
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `goto: x`
    One(StepName),
    /// `goto: [x, y]`
    Many(Vec<StepName>),
}

impl OneOrMany {
    /// The ids, in order.
    pub fn as_slice(&self) -> &[StepName] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// A step id where a step is referred to (`next`, `goto`). YAML reads
/// `next: 3` as a number, and inside an untagged enum serde would then
/// fail with an opaque "did not match any variant"; any scalar is taken as
/// its text instead, as it is for `id: 3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct StepName(pub String);

impl std::ops::Deref for StepName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StepName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText("a step id")).map(StepName)
    }
}

/// Reads any scalar as text; refuses collections.
struct ScalarText(&'static str);

impl serde::de::Visitor<'_> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A duration such as `30s`, `2m`, `1h 30m` (or a number of seconds).
/// Any other scalar (`-5`, `1.5`) is kept as text for the validator to
/// refuse with its position, rather than failing the whole document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawDuration {
    /// `30s`
    Text(String),
    /// `30` (seconds)
    Seconds(u64),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = RawDuration;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as `30s`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(u64::try_from(v)
                    .map_or_else(|_| RawDuration::Text(v.to_string()), RawDuration::Seconds))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl std::fmt::Display for RawDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawDuration::Text(t) => f.write_str(t),
            RawDuration::Seconds(s) => write!(f, "{s}"),
        }
    }
}

/// Schema of a `when`: an expression string or a boolean literal.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum WhenSchema {
    Expression(String),
    Literal(bool),
}

/// Schema of a param default: any scalar.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ScalarSchema {
    Text(String),
    Number(f64),
    Flag(bool),
}
