//! The probe catalogue: one module per probe, each exporting a [`ProbeSpec`]
//! (name, arguments, output fields, run function). `runbook-agent probes`
//! prints this table; `runbook-agent probe` runs entries of it.

use std::sync::Arc;

use serde::Serialize;

use crate::args::{ArgSpec, ProbeArgs};
use crate::deadline::Deadline;
use crate::error::ProbeError;
use crate::source::Root;

pub mod containers;
pub mod cpu;
pub mod disk;
pub mod kubelet;
pub mod memory;
pub mod oom;
pub mod processes;
pub mod sample;
pub mod unit;

/// What a probe gets to work with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Where to read files from.
    pub root: Arc<Root>,
    /// This probe's resolved arguments.
    pub args: ProbeArgs,
    /// When the probe must be done.
    pub deadline: Deadline,
}

/// A probe's entry point.
pub type RunFn = fn(&Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError>;

/// A top-level field of a probe's `data` object.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The JSON key.
    pub name: &'static str,
    /// What it holds.
    pub help: &'static str,
}

/// A catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSpec {
    /// The name used on the command line and as the key in the report.
    pub name: &'static str,
    /// One line saying what it answers.
    pub summary: &'static str,
    /// Arguments it takes besides `timeout_ms`.
    pub args: &'static [ArgSpec],
    /// The top-level fields of its `data`, in output order.
    pub fields: &'static [FieldSpec],
    /// Runs it.
    pub run: RunFn,
}

/// Every probe, in the order `runbook-agent probes` lists them.
pub const CATALOGUE: &[ProbeSpec] = &[
    memory::SPEC,
    cpu::SPEC,
    processes::SPEC,
    oom::SPEC,
    unit::SPEC,
    containers::SPEC,
    disk::SPEC,
    kubelet::SPEC,
];

/// Looks a probe up by name.
pub fn find(name: &str) -> Option<&'static ProbeSpec> {
    CATALOGUE.iter().find(|p| p.name == name)
}

/// Whether any probe takes the argument `key` (`timeout_ms` included).
pub fn any_takes(key: &str) -> bool {
    key == crate::args::TIMEOUT_ARG.name
        || CATALOGUE
            .iter()
            .any(|p| p.args.iter().any(|a| a.name == key))
}

/// Serialises a probe's typed result into the report's `data`.
///
/// The data is kept as raw JSON so fields stay in the order the types
/// declare them.
pub(crate) fn to_data<T: Serialize>(
    data: &T,
) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    serde_json::value::to_raw_value(data)
        .map_err(|e| ProbeError::failed(format!("internal error: could not encode data: {e}")))
}

/// Rounds a percentage or ratio to two decimals for a tidy report.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `part / whole * 100`, rounded; `None` when `whole` is zero.
pub(crate) fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| round2(part / whole * 100.0))
}
