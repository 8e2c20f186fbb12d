//! The `processes` probe: who is eating the CPU and the memory, which
//! processes are zombies (and which parent fails to reap them), which are
//! stuck in uninterruptible sleep, and how close the node is to running
//! out of pids.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::args::ArgSpec;
use crate::error::ProbeError;
use crate::parse::pid::{cmdline, state_name, status_uid, PidStat};
use crate::parse::single_u64;
use crate::source::{Snapshot, SMALL_FILE_BYTES};

use super::sample::{self, Window};
use super::{percent, to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "processes",
    summary: "top processes by CPU and RSS, zombies with their parents, D-state processes, pid and thread limits",
    args: &[
        ArgSpec { name: "top", default: "10", help: "how many processes in top_cpu and top_rss (1-100)" },
        ArgSpec { name: "sample_ms", default: "200", help: "window over which process CPU is sampled" },
        ArgSpec { name: "max_list", default: "50", help: "cap on the zombies and d_state lists (counts are exact)" },
    ],
    fields: &[
        FieldSpec { name: "processes_total", help: "processes in /proc" },
        FieldSpec { name: "threads_total", help: "threads, summed over processes" },
        FieldSpec { name: "pid_max", help: "/proc/sys/kernel/pid_max" },
        FieldSpec { name: "threads_max", help: "/proc/sys/kernel/threads-max" },
        FieldSpec { name: "pids_used_percent", help: "threads_total / pid_max × 100 (every thread takes a pid)" },
        FieldSpec { name: "threads_used_percent", help: "threads_total / threads_max × 100" },
        FieldSpec { name: "states", help: "process count per state: running, sleeping, disk_sleep, zombie, stopped, idle, ..." },
        FieldSpec { name: "zombie_count", help: "processes in state Z" },
        FieldSpec { name: "d_state_count", help: "processes in state D (uninterruptible sleep)" },
        FieldSpec { name: "top_cpu", help: "processes with the most CPU over the window (see process fields)" },
        FieldSpec { name: "top_rss", help: "processes with the largest resident set" },
        FieldSpec { name: "zombies", help: "zombie processes, with ppid and parent_name (the process not reaping them)" },
        FieldSpec { name: "d_state", help: "processes in uninterruptible sleep" },
        FieldSpec { name: "sample_ms", help: "the sampling window used" },
        FieldSpec { name: "unavailable", help: "sources that were missing, one line each" },
    ],
    run,
};

/// Longest command line reported.
const CMDLINE_CHARS: usize = 256;

/// The `data` of the `processes` probe.
#[derive(Debug, Serialize)]
pub struct ProcessesData {
    /// Processes seen.
    pub processes_total: u64,
    /// Threads, summed.
    pub threads_total: u64,
    /// `kernel.pid_max`.
    pub pid_max: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// Threads against `pid_max`.
    pub pids_used_percent: Option<f64>,
    /// Threads against `threads-max`.
    pub threads_used_percent: Option<f64>,
    /// Count per state name.
    pub states: BTreeMap<&'static str, u64>,
    /// Zombies.
    pub zombie_count: u64,
    /// D state.
    pub d_state_count: u64,
    /// Top by CPU.
    pub top_cpu: Vec<Process>,
    /// Top by RSS.
    pub top_rss: Vec<Process>,
    /// Zombies (capped by `max_list`).
    pub zombies: Vec<Process>,
    /// D-state processes (capped by `max_list`).
    pub d_state: Vec<Process>,
    /// The window used.
    pub sample_ms: u64,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// One process as reported in the lists.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// `comm` name.
    pub name: String,
    /// State letter (`R`, `S`, `D`, `Z`, ...).
    pub state: String,
    /// Parent pid.
    pub ppid: u32,
    /// Parent's `comm` name, if the parent is still there.
    pub parent_name: Option<String>,
    /// % of one CPU over the window; `null` if no tick elapsed or the
    /// process appeared during the window.
    pub cpu_percent: Option<f64>,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Real uid (`/proc/<pid>/status`).
    pub uid: Option<u32>,
    /// Command line, cut at 256 characters; `null` for kernel threads,
    /// zombies and D-state processes (reading it could block).
    pub cmdline: Option<String>,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `processes` data.
pub fn collect(ctx: &Ctx) -> Result<ProcessesData, ProbeError> {
    let top = usize::try_from(ctx.args.u64("top", 10, 1, 100)?).unwrap_or(10);
    let max_list = usize::try_from(ctx.args.u64("max_list", 50, 1, 1000)?).unwrap_or(50);
    let window = sample::window_arg(&ctx.args)?;
    let root = &ctx.root;
    let mut unavailable = Vec::new();

    let first_sys = sample::system(root, Snapshot::First)?;
    let mut before: Vec<(u32, u64)> = Vec::new();
    sample::each_process(root, Snapshot::First, &ctx.deadline, |s| {
        before.push((s.pid, s.cpu_ticks));
    })?;
    ctx.deadline.sleep(window);
    ctx.deadline.check()?;
    let second_sys = sample::system(root, Snapshot::Second)?;
    let mut procs: Vec<PidStat> = Vec::with_capacity(before.len() + 16);
    sample::each_process(root, Snapshot::Second, &ctx.deadline, |s| procs.push(s))?;
    let w = Window::between(&first_sys, &second_sys);
    unavailable.extend(w.empty_note());

    let cpu: Vec<Option<f64>> = procs
        .iter()
        .map(|p| {
            before
                .binary_search_by_key(&p.pid, |&(pid, _)| pid)
                .ok()
                .and_then(|i| before.get(i))
                .and_then(|&(_, t)| w.share_of_one_cpu(p.cpu_ticks.saturating_sub(t)))
        })
        .collect();
    drop(before);

    let mut states: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut threads_total = 0u64;
    for p in &procs {
        *states.entry(state_name(p.state)).or_default() += 1;
        threads_total = threads_total.saturating_add(p.threads.max(1));
    }

    let read_limit = |abs: &str, unavailable: &mut Vec<String>| match root
        .read_string(abs, SMALL_FILE_BYTES)
        .map(|t| single_u64(&t))
    {
        Ok(v) => v,
        Err(e) => {
            unavailable.push(e.to_string());
            None
        }
    };
    let pid_max = read_limit("/proc/sys/kernel/pid_max", &mut unavailable);
    let threads_max = read_limit("/proc/sys/kernel/threads-max", &mut unavailable);

    let page = rustix::param::page_size() as u64;
    let describe = |i: usize| -> Option<Process> {
        let p = procs.get(i)?;
        let parent_name = procs
            .binary_search_by_key(&p.ppid, |q| q.pid)
            .ok()
            .and_then(|j| procs.get(j))
            .map(|q| q.name.clone());
        let uid = root
            .read_string(&format!("/proc/{}/status", p.pid), SMALL_FILE_BYTES)
            .ok()
            .and_then(|t| status_uid(&t));
        // A D-state process may be stuck holding its memory map lock, and
        // reading its cmdline takes that lock: skip it rather than hang.
        let mut buf = Vec::new();
        let cmd = (p.state != 'D')
            .then(|| {
                root.read_into(
                    &format!("/proc/{}/cmdline", p.pid),
                    Snapshot::First,
                    4096,
                    &mut buf,
                )
                .ok()
            })
            .flatten()
            .and_then(|()| cmdline(&buf))
            .map(|c| c.chars().take(CMDLINE_CHARS).collect());
        Some(Process {
            pid: p.pid,
            name: p.name.clone(),
            state: p.state.to_string(),
            ppid: p.ppid,
            parent_name,
            cpu_percent: cpu.get(i).copied().flatten(),
            rss_bytes: p.rss_pages.saturating_mul(page),
            threads: p.threads,
            uid,
            cmdline: cmd,
        })
    };

    let mut order: Vec<usize> = (0..procs.len()).collect();
    order.sort_by(|&a, &b| {
        let ca = cpu.get(a).copied().flatten().unwrap_or(0.0);
        let cb = cpu.get(b).copied().flatten().unwrap_or(0.0);
        cb.total_cmp(&ca)
    });
    let top_cpu: Vec<Process> = order
        .iter()
        .take(top)
        .filter_map(|&i| describe(i))
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(procs.get(i).map_or(0, |p| p.rss_pages)));
    let top_rss: Vec<Process> = order
        .iter()
        .take(top)
        .filter_map(|&i| describe(i))
        .collect();

    let procs_ref = &procs;
    let in_state = |c: char| {
        (0..procs_ref.len()).filter(move |&i| procs_ref.get(i).is_some_and(|p| p.state == c))
    };
    let zombie_count = in_state('Z').count() as u64;
    let d_state_count = in_state('D').count() as u64;
    let zombies: Vec<Process> = in_state('Z').take(max_list).filter_map(describe).collect();
    let d_state: Vec<Process> = in_state('D').take(max_list).filter_map(describe).collect();

    Ok(ProcessesData {
        processes_total: procs.len() as u64,
        threads_total,
        pid_max,
        threads_max,
        pids_used_percent: pid_max.and_then(|m| percent(threads_total as f64, m as f64)),
        threads_used_percent: threads_max.and_then(|m| percent(threads_total as f64, m as f64)),
        states,
        zombie_count,
        d_state_count,
        top_cpu,
        top_rss,
        zombies,
        d_state,
        sample_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        unavailable,
    })
}
