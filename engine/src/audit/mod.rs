//! The audit trail: one append-only JSON Lines file per run, every event
//! hash-chained to the one before and fsync'd as it is written; the final
//! `run_finished` event seals it. `verify` finds the first line that was
//! changed, removed, reordered or appended after the seal.

pub mod read;
pub mod report;
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

/// The audit file for `what`: a path, or a run id (or its unique prefix)
/// looked up in `dir` (default [`default_dir`]).
pub fn find(what: &str, dir: Option<&std::path::Path>) -> Result<PathBuf, String> {
    let as_path = std::path::Path::new(what);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let dir = dir
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(default_dir);
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("no file `{what}`, and cannot list {}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('_').nth(1))
                .is_some_and(|id| id.starts_with(what))
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Err(format!("no run `{what}` in {}", dir.display())),
        1 => Ok(found.remove(0)),
        n => Err(format!(
            "`{what}` matches {n} runs in {}; give more of the run id",
            dir.display()
        )),
    }
}
