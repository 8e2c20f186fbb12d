//! CPU sampling shared by the `memory`, `cpu` and `processes` probes: read
//! the tick counters, wait a window, read them again. On a fixture root the
//! second read comes from `proc.2/` (see [`crate::source::Snapshot`]); a
//! window in which no tick elapsed yields `null` shares, not a division by
//! zero.

use std::time::Duration;

use crate::deadline::Deadline;
use crate::error::ProbeError;
use crate::parse::pid::{parse_stat, PidStat};
use crate::parse::proc_stat::{self, SystemStat};
use crate::source::{Root, Snapshot, SMALL_FILE_BYTES};

use super::round2;

/// Default sampling window.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(200);

/// Largest `/proc/<pid>/stat` we read (they are ~300 bytes).
const PID_STAT_BYTES: u64 = 4 * 1024;

/// Reads `/proc/stat` for one sample.
pub fn system(root: &Root, snapshot: Snapshot) -> Result<SystemStat, ProbeError> {
    let text = root
        .read_sample_string("/proc/stat", snapshot, SMALL_FILE_BYTES)
        .map_err(|e| ProbeError::unavailable(e.to_string()))?;
    proc_stat::parse(&text)
        .ok_or_else(|| ProbeError::failed("/proc/stat has no aggregate `cpu` line"))
}

/// Reads one process's `/proc/<pid>/stat` for one sample; `None` if it
/// vanished or is unreadable.
pub fn pid_stat(root: &Root, pid: u32, snapshot: Snapshot, buf: &mut Vec<u8>) -> Option<PidStat> {
    root.read_into(&format!("/proc/{pid}/stat"), snapshot, PID_STAT_BYTES, buf)
        .ok()?;
    parse_stat(buf)
}

/// Calls `f` with every process's stat for one sample, checking the
/// deadline as it goes. Returns how many were seen.
pub fn each_process(
    root: &Root,
    snapshot: Snapshot,
    deadline: &Deadline,
    mut f: impl FnMut(PidStat),
) -> Result<usize, ProbeError> {
    let pids = root
        .pids()
        .map_err(|e| ProbeError::unavailable(e.to_string()))?;
    let mut buf = Vec::with_capacity(512);
    let mut seen = 0;
    for (i, pid) in pids.into_iter().enumerate() {
        if i % 128 == 0 {
            deadline.check()?;
        }
        if let Some(stat) = pid_stat(root, pid, snapshot, &mut buf) {
            seen += 1;
            f(stat);
        }
    }
    Ok(seen)
}

/// The ticks that elapsed across all CPUs between two samples, and the
/// CPU count, for turning process tick deltas into shares.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Sum of all CPU states' ticks elapsed, across all CPUs.
    pub total_ticks: u64,
    /// Online CPUs (at least 1).
    pub cpus: u32,
}

impl Window {
    /// The window between two `/proc/stat` samples.
    pub fn between(first: &SystemStat, second: &SystemStat) -> Self {
        Self {
            total_ticks: second.cpu.total().saturating_sub(first.cpu.total()),
            cpus: second.cpu_count.max(1),
        }
    }

    /// A process's share of one CPU (like `top`'s `%CPU`, so up to
    /// `100 × threads`); `None` if no tick elapsed.
    pub fn share_of_one_cpu(&self, ticks: u64) -> Option<f64> {
        (self.total_ticks > 0).then(|| {
            let per_cpu = self.total_ticks as f64 / f64::from(self.cpus);
            round2(ticks as f64 / per_cpu * 100.0)
        })
    }

    /// The note to put in `unavailable` when no tick elapsed.
    pub fn empty_note(&self) -> Option<String> {
        (self.total_ticks == 0).then(|| {
            "cpu sample: no clock ticks elapsed between the two reads of /proc/stat".to_owned()
        })
    }
}

/// The sampling window from the `sample_ms` argument.
pub fn window_arg(args: &crate::args::ProbeArgs) -> Result<Duration, ProbeError> {
    args.millis("sample_ms", DEFAULT_WINDOW, 0, 10_000)
}
