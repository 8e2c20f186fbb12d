//! The JSON document `runbook-agent probe` prints: the agent's wire format,
//! consumed by the engine. Changing a field name here is a breaking change
//! (bump [`SCHEMA_VERSION`] and update `docs/agent.md`).
//!
//! ```json
//! {
//!   "type": "runbook-agent.report",
//!   "schema_version": 1,
//!   "agent_version": "0.1.0",
//!   "hostname": "node-15-cp-gswpw",
//!   "root": "/",
//!   "probes": {
//!     "memory": {"ok": true, "duration_ms": 212, "data": {"mem_total_bytes": 4112338944}},
//!     "oom": {"ok": false, "duration_ms": 0,
//!             "error": {"kind": "timeout", "message": "..."}}
//!   }
//! }
//! ```

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::error::ProbeError;

/// Value of the `type` field.
pub const REPORT_TYPE: &str = "runbook-agent.report";

/// Value of the `schema_version` field; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole document, printed once per invocation.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always [`REPORT_TYPE`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The agent's crate version.
    pub agent_version: &'static str,
    /// `/proc/sys/kernel/hostname` under the root; `null` if unreadable.
    pub hostname: Option<String>,
    /// The root directory probes read under (`/` on a real node).
    pub root: String,
    /// One entry per requested probe, in the order requested, keyed by the
    /// probe name.
    pub probes: ProbeResults,
}

/// Probe outcomes keyed by name, serialised as a JSON object that keeps
/// the order the probes were requested in.
#[derive(Debug, Default)]
pub struct ProbeResults(pub Vec<(String, ProbeOutcome)>);

impl Serialize for ProbeResults {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, outcome) in &self.0 {
            map.serialize_entry(name, outcome)?;
        }
        map.end()
    }
}

/// The outcome of one probe: `{"ok": true, "duration_ms": N, "data": {...}}`
/// or `{"ok": false, "duration_ms": N, "error": {"kind": "...", "message":
/// "..."}}`. Exactly one of `data` and `error` is present.
#[derive(Debug, Serialize)]
pub struct ProbeOutcome {
    /// Whether `data` is present.
    pub ok: bool,
    /// Wall time the probe took, in milliseconds (sampling windows included).
    pub duration_ms: u64,
    /// The probe's result; each probe documents its fields (`runbook-agent
    /// probes`). Sources that are missing on the node appear as `null`
    /// fields plus a line in the `unavailable` array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<serde_json::value::RawValue>>,
    /// Why there is no data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ProbeError>,
}

impl ProbeOutcome {
    /// Wraps a probe's result.
    pub fn from_result(
        result: Result<Box<serde_json::value::RawValue>, ProbeError>,
        duration_ms: u64,
    ) -> Self {
        match result {
            Ok(data) => Self {
                ok: true,
                duration_ms,
                data: Some(data),
                error: None,
            },
            Err(error) => Self::failed(error, duration_ms),
        }
    }

    /// A failed outcome.
    pub fn failed(error: ProbeError, duration_ms: u64) -> Self {
        Self {
            ok: false,
            duration_ms,
            data: None,
            error: Some(error),
        }
    }
}
