//! The `oom` probe: what has the OOM killer killed? Kernel logs scroll fast
//! and one grep of one file can miss them, so this reads every source there
//! is — the kernel ring buffer, the journal, the syslog files (their tails
//! only) — and merges the kills by (pid, process name).

use std::cmp::Ordering;
use std::ops::ControlFlow;

use serde::Serialize;

use crate::args::ArgSpec;
use crate::command;
use crate::error::ProbeError;
use crate::parse::kernel_log::{self, KernelLine, OomHint, OomRecord};
use crate::parse::time::format_iso8601;
use crate::parse::{key_value_u64, proc_stat};
use crate::source::{LineStats, SMALL_FILE_BYTES};

use super::{to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "oom",
    summary: "OOM-killer kills from the kernel ring buffer, the journal and syslog files, merged",
    args: &[
        ArgSpec { name: "max_bytes", default: "4194304", help: "bytes read per source (log files: the last N bytes)" },
        ArgSpec { name: "max_events", default: "50", help: "events listed, newest first (count is exact)" },
        ArgSpec { name: "journal_lines", default: "10000", help: "kernel journal lines read (journalctl -k -n N)" },
    ],
    fields: &[
        FieldSpec { name: "count", help: "distinct kills found (by pid and process name)" },
        FieldSpec { name: "events", help: "kills, newest first: {pid, process, cgroup_constrained, memcg, anon_rss_bytes, total_vm_bytes, file_rss_bytes, shmem_rss_bytes, time, unix_time, uptime_seconds, sources, message}" },
        FieldSpec { name: "oom_kill_counter", help: "oom_kill counter from /proc/vmstat: kills since boot, even those whose log lines scrolled away" },
        FieldSpec { name: "sources", help: "each source tried: {name, location, read, bytes, lines, events, truncated, error}" },
        FieldSpec { name: "unavailable", help: "sources that were missing, one line each" },
    ],
    run,
};

/// Syslog files whose tails are read, when present.
pub const SYSLOG_FILES: &[&str] = &["/var/log/messages", "/var/log/syslog", "/var/log/kern.log"];

/// Distinct kills kept in memory; older ones are counted but dropped.
const MAX_TRACKED: usize = 1024;

/// Pending `oom-kill:` hints kept while waiting for their kill line.
const MAX_HINTS: usize = 32;

/// The `data` of the `oom` probe.
#[derive(Debug, Serialize)]
pub struct OomData {
    /// Distinct kills found.
    pub count: u64,
    /// Newest first, capped by `max_events`.
    pub events: Vec<OomEvent>,
    /// `/proc/vmstat` `oom_kill`.
    pub oom_kill_counter: Option<u64>,
    /// What each source gave.
    pub sources: Vec<SourceReport>,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// One process killed by the OOM killer.
#[derive(Debug, Clone, Serialize)]
pub struct OomEvent {
    /// The victim's pid.
    pub pid: u32,
    /// The victim's name.
    pub process: String,
    /// Killed because a memory cgroup hit its limit (not the whole node).
    pub cgroup_constrained: bool,
    /// The victim's memory cgroup, when the kernel named it.
    pub memcg: Option<String>,
    /// Anonymous resident memory at the kill.
    pub anon_rss_bytes: Option<u64>,
    /// Virtual size at the kill.
    pub total_vm_bytes: Option<u64>,
    /// File-backed resident memory.
    pub file_rss_bytes: Option<u64>,
    /// Shared-memory resident memory.
    pub shmem_rss_bytes: Option<u64>,
    /// Wall-clock time: as printed by the source, or computed from boot
    /// time for ring-buffer records (`2022-09-28T08:24:19.537Z`).
    pub time: Option<String>,
    /// Seconds since the epoch, when known.
    pub unix_time: Option<f64>,
    /// Seconds since boot (the kernel's stamp), when known.
    pub uptime_seconds: Option<f64>,
    /// The sources that reported it: `kmsg`, `dmesg`, `journal`, `syslog`.
    pub sources: Vec<&'static str>,
    /// The kernel message, as first seen.
    pub message: String,
    #[serde(skip)]
    seq: u64,
}

/// What one source gave.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// `kmsg`, `dmesg`, `journal` or `syslog`.
    pub name: &'static str,
    /// The path or command.
    pub location: String,
    /// Whether it could be read.
    pub read: bool,
    /// Bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Kill lines found in it.
    pub events: u64,
    /// Whether the byte cap cut it (log files: only the tail was read).
    pub truncated: bool,
    /// Why it could not be read.
    pub error: Option<String>,
}

impl SourceReport {
    fn read(name: &'static str, location: &str, stats: LineStats, events: u64) -> Self {
        Self {
            name,
            location: location.to_owned(),
            read: true,
            bytes: stats.bytes,
            lines: stats.lines,
            events,
            truncated: stats.truncated,
            error: None,
        }
    }

    fn failed(name: &'static str, location: &str, error: String) -> Self {
        Self {
            name,
            location: location.to_owned(),
            read: false,
            bytes: 0,
            lines: 0,
            events: 0,
            truncated: false,
            error: Some(error),
        }
    }
}

/// Merges kill lines from every source into distinct events.
#[derive(Debug, Default)]
pub struct Collector {
    events: Vec<OomEvent>,
    hints: Vec<OomHint>,
    boot_time: Option<u64>,
    seen: u64,
    seq: u64,
}

impl Collector {
    /// A collector that turns ring-buffer uptimes into wall time using
    /// `boot_time` (`btime` of `/proc/stat`).
    pub fn new(boot_time: Option<u64>) -> Self {
        Self {
            boot_time,
            ..Self::default()
        }
    }

    /// Feeds one kernel message; `current_boot` says its uptime stamp
    /// belongs to this boot (ring buffer), so wall time can be derived.
    /// Returns whether it was a kill.
    pub fn feed(
        &mut self,
        source: &'static str,
        line: &KernelLine<'_>,
        current_boot: bool,
    ) -> bool {
        match kernel_log::parse_oom(line.message) {
            Some(OomRecord::Hint(h)) => {
                if self.hints.len() >= MAX_HINTS {
                    self.hints.remove(0);
                }
                self.hints.push(h);
                false
            }
            Some(OomRecord::Killed(k)) => {
                let hint = self
                    .hints
                    .iter()
                    .rposition(|h| h.pid == k.pid)
                    .map(|i| self.hints.remove(i));
                let unix_time = line.unix_time.or_else(|| {
                    current_boot
                        .then(|| Some(self.boot_time? as f64 + line.uptime_seconds?))
                        .flatten()
                });
                let time = line
                    .time
                    .map(str::to_owned)
                    .or_else(|| unix_time.map(format_iso8601));
                let cgroup = k.cgroup || hint.as_ref().and_then(|h| h.cgroup).unwrap_or(false);
                let memcg = hint.and_then(|h| h.memcg);
                if let Some(e) = self
                    .events
                    .iter_mut()
                    .find(|e| e.pid == k.pid && e.process == k.process)
                {
                    if !e.sources.contains(&source) {
                        e.sources.push(source);
                    }
                    e.cgroup_constrained |= cgroup;
                    e.memcg = e.memcg.take().or(memcg);
                    e.unix_time = e.unix_time.or(unix_time);
                    e.time = e.time.take().or(time);
                    e.uptime_seconds = e.uptime_seconds.or(line.uptime_seconds);
                    e.anon_rss_bytes = e.anon_rss_bytes.or(k.anon_rss_bytes);
                    return true;
                }
                if self.events.len() >= MAX_TRACKED {
                    self.events.remove(0);
                }
                self.seen += 1;
                self.seq += 1;
                self.events.push(OomEvent {
                    pid: k.pid,
                    process: k.process,
                    cgroup_constrained: cgroup,
                    memcg,
                    anon_rss_bytes: k.anon_rss_bytes,
                    total_vm_bytes: k.total_vm_bytes,
                    file_rss_bytes: k.file_rss_bytes,
                    shmem_rss_bytes: k.shmem_rss_bytes,
                    time,
                    unix_time,
                    uptime_seconds: line.uptime_seconds,
                    sources: vec![source],
                    message: line.message.chars().take(512).collect(),
                    seq: self.seq,
                });
                true
            }
            None => false,
        }
    }

    /// Distinct kills seen (including any dropped past the memory cap).
    pub fn count(&self) -> u64 {
        self.seen
    }

    /// The events, newest first: by wall time where known, then by uptime,
    /// then latest seen first; at most `max`.
    pub fn newest_first(mut self, max: usize) -> Vec<OomEvent> {
        self.events.sort_by(|a, b| newer(b, a));
        self.events.truncate(max);
        self.events
    }
}

/// Orders `a` before `b` when `a` is older.
fn newer(a: &OomEvent, b: &OomEvent) -> Ordering {
    let opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    };
    opt(a.unix_time, b.unix_time)
        .then_with(|| opt(a.uptime_seconds, b.uptime_seconds))
        .then(a.seq.cmp(&b.seq))
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `oom` data.
pub fn collect(ctx: &Ctx) -> Result<OomData, ProbeError> {
    let max_bytes = ctx.args.u64("max_bytes", 4 << 20, 4096, 64 << 20)?;
    let max_events = usize::try_from(ctx.args.u64("max_events", 50, 1, 1000)?).unwrap_or(50);
    let journal_lines = ctx.args.u64("journal_lines", 10_000, 1, 1_000_000)?;
    let root = &ctx.root;
    let deadline = &ctx.deadline;
    let mut unavailable = Vec::new();
    let mut sources = Vec::new();

    let boot_time = root
        .read_string("/proc/stat", SMALL_FILE_BYTES)
        .ok()
        .and_then(|t| proc_stat::parse(&t))
        .and_then(|s| s.boot_time);
    let oom_kill_counter = match root.read_string("/proc/vmstat", SMALL_FILE_BYTES) {
        Ok(t) => key_value_u64(&t, "oom_kill"),
        Err(e) => {
            unavailable.push(format!("oom_kill_counter: {e}"));
            None
        }
    };
    let mut c = Collector::new(boot_time);

    // 1. The kernel ring buffer: /dev/kmsg, else dmesg.
    let mut found = 0u64;
    let kmsg = root.kmsg_lines("/dev/kmsg", max_bytes, deadline, |l| {
        if let Some(k) = kernel_log::split_kmsg(l) {
            found += u64::from(c.feed("kmsg", &k, true));
        }
        ControlFlow::Continue(())
    });
    match kmsg {
        Ok(stats) => sources.push(SourceReport::read("kmsg", "/dev/kmsg", stats, found)),
        Err(e) => {
            unavailable.push(format!("kmsg: {e}"));
            sources.push(SourceReport::failed("kmsg", "/dev/kmsg", e.to_string()));
            let mut found = 0u64;
            let r = command::run_lines("dmesg", &[], &deadline.share(0.4), max_bytes, |l| {
                found += u64::from(c.feed("dmesg", &kernel_log::split_dmesg(l), true));
                ControlFlow::Continue(())
            });
            match r {
                Ok(done) if done.success() => {
                    sources.push(SourceReport::read("dmesg", "dmesg", done.stdout, found));
                }
                Ok(done) => {
                    let why = format!("dmesg: {}", done.complaint());
                    unavailable.push(why.clone());
                    sources.push(SourceReport::failed("dmesg", "dmesg", why));
                }
                Err(e) => {
                    unavailable.push(e.to_string());
                    sources.push(SourceReport::failed("dmesg", "dmesg", e.to_string()));
                }
            }
        }
    }
    deadline.check()?;

    // 2. The kernel journal.
    let n = journal_lines.to_string();
    let args = ["-k", "--no-pager", "-o", "short-iso", "-n", n.as_str()];
    let location = format!("journalctl {}", args.join(" "));
    let (mut found, mut kernel_lines) = (0u64, 0u64);
    let r = command::run_lines("journalctl", &args, &deadline.share(0.5), max_bytes, |l| {
        if let Some(k) = kernel_log::split_syslog(l) {
            kernel_lines += 1;
            found += u64::from(c.feed("journal", &k, false));
        }
        ControlFlow::Continue(())
    });
    match r {
        Ok(done) if done.answered(kernel_lines) => {
            sources.push(SourceReport::read("journal", &location, done.stdout, found));
        }
        Ok(done) => {
            let why = format!("journal: journalctl: {}", done.complaint());
            unavailable.push(why.clone());
            sources.push(SourceReport::failed("journal", &location, why));
        }
        Err(e) => {
            unavailable.push(format!("journal: {e}"));
            sources.push(SourceReport::failed("journal", &location, e.to_string()));
        }
    }
    deadline.check()?;

    // 3. Syslog files, tails only.
    for path in SYSLOG_FILES {
        let mut found = 0u64;
        let r = root.tail_lines(path, max_bytes, deadline, |l| {
            if let Some(k) = kernel_log::split_syslog(l) {
                found += u64::from(c.feed("syslog", &k, false));
            }
            ControlFlow::Continue(())
        });
        match r {
            Ok(stats) => sources.push(SourceReport::read("syslog", path, stats, found)),
            Err(e) => {
                unavailable.push(format!("syslog: {e}"));
                sources.push(SourceReport::failed("syslog", path, e.to_string()));
            }
        }
        deadline.check()?;
    }

    if sources.iter().all(|s| !s.read) {
        return Err(ProbeError::unavailable(format!(
            "no kernel log source could be read: {}",
            unavailable.join("; ")
        )));
    }
    Ok(OomData {
        count: c.count(),
        events: c.newest_first(max_events),
        oom_kill_counter,
        sources,
        unavailable,
    })
}
