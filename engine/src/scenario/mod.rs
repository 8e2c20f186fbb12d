//! Scenario tests for runbooks (`runbook test`): each scenario gives
//! params, the recorded outcome of every step it touches and the expected
//! conclusions; the real executor runs the runbook against those
//! recordings. Also branch coverage across scenarios, and turning a run
//! from the audit trail into a scenario (`--record`).

pub mod coverage;
pub mod format;
pub mod record;
pub mod runner;

pub use format::{Expect, RecordedAttempt, Scenario, StepRecording, TestFile};
pub use runner::{run_file, run_scenarios, FileReport, ScenarioReport};
