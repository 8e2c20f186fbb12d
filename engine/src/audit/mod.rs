//! The audit trail: one append-only JSON Lines file per run, every event
//! hash-chained to the one before and fsync'd as it is written; the final
//! `run_finished` event seals it. `verify` finds the first line that was
//! changed, removed, reordered or appended after the seal.

pub mod verify;
pub mod writer;

use std::path::PathBuf;

/// Version of the audit line format (`schema_version` of each line).
pub const SCHEMA_VERSION: u32 = 1;

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The default audit directory: `$XDG_STATE_HOME/runbook/audit`, else
/// `~/.local/state/runbook/audit`.
pub fn default_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("runbook/audit");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/runbook/audit")
}
