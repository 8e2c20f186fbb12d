//! The `memory` probe: is the node out of memory? `MemFree` alone does not
//! say; `MemAvailable`, pressure stall information, the OOM-kill counter and
//! the CPU kswapd burns reclaiming are the real signals.

use serde::Serialize;

use crate::args::ArgSpec;
use crate::error::ProbeError;
use crate::parse::{key_value_u64, meminfo, psi};
use crate::source::{Snapshot, SMALL_FILE_BYTES};

use super::sample::{self, Window};
use super::{percent, to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "memory",
    summary: "memory use, memory pressure (PSI), the OOM-kill counter and kswapd CPU",
    args: &[ArgSpec {
        name: "sample_ms",
        default: "200",
        help: "window over which kswapd CPU is sampled",
    }],
    fields: &[
        FieldSpec {
            name: "mem_total_bytes",
            help: "MemTotal",
        },
        FieldSpec {
            name: "mem_free_bytes",
            help: "MemFree",
        },
        FieldSpec {
            name: "mem_available_bytes",
            help: "MemAvailable (null on kernels before 3.14)",
        },
        FieldSpec {
            name: "available_percent",
            help: "MemAvailable / MemTotal × 100",
        },
        FieldSpec {
            name: "buffers_bytes",
            help: "Buffers",
        },
        FieldSpec {
            name: "cached_bytes",
            help: "Cached",
        },
        FieldSpec {
            name: "sreclaimable_bytes",
            help: "SReclaimable (reclaimable slab)",
        },
        FieldSpec {
            name: "shmem_bytes",
            help: "Shmem (tmpfs and shared memory; not reclaimable)",
        },
        FieldSpec {
            name: "swap_total_bytes",
            help: "SwapTotal",
        },
        FieldSpec {
            name: "swap_free_bytes",
            help: "SwapFree",
        },
        FieldSpec {
            name: "psi",
            help:
                "/proc/pressure/memory: {some, full} each {avg10, avg60, avg300, total_us}, or null",
        },
        FieldSpec {
            name: "oom_kills",
            help: "oom_kill counter from /proc/vmstat (kills since boot), or null",
        },
        FieldSpec {
            name: "kswapd_cpu_percent",
            help: "CPU used by all kswapd threads over the window, % of one CPU, or null",
        },
        FieldSpec {
            name: "kswapd",
            help: "per kswapd thread: {pid, name, cpu_percent}",
        },
        FieldSpec {
            name: "sample_ms",
            help: "the sampling window used",
        },
        FieldSpec {
            name: "unavailable",
            help: "sources that were missing, one line each",
        },
    ],
    run,
};

/// The `data` of the `memory` probe.
#[derive(Debug, Serialize)]
pub struct MemoryData {
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// `MemFree`.
    pub mem_free_bytes: Option<u64>,
    /// `MemAvailable`.
    pub mem_available_bytes: Option<u64>,
    /// `MemAvailable / MemTotal × 100`.
    pub available_percent: Option<f64>,
    /// `Buffers`.
    pub buffers_bytes: Option<u64>,
    /// `Cached`.
    pub cached_bytes: Option<u64>,
    /// `SReclaimable`.
    pub sreclaimable_bytes: Option<u64>,
    /// `Shmem`.
    pub shmem_bytes: Option<u64>,
    /// `SwapTotal`.
    pub swap_total_bytes: Option<u64>,
    /// `SwapFree`.
    pub swap_free_bytes: Option<u64>,
    /// Memory pressure, when the kernel has PSI.
    pub psi: Option<psi::Psi>,
    /// `oom_kill` from `/proc/vmstat`.
    pub oom_kills: Option<u64>,
    /// Sum over kswapd threads, % of one CPU.
    pub kswapd_cpu_percent: Option<f64>,
    /// Each kswapd thread.
    pub kswapd: Vec<Kswapd>,
    /// The window used.
    pub sample_ms: u64,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// One kswapd thread's CPU over the window.
#[derive(Debug, Serialize)]
pub struct Kswapd {
    /// Thread id.
    pub pid: u32,
    /// `kswapd0`, `kswapd1`, ...
    pub name: String,
    /// % of one CPU; `null` if no tick elapsed in the window.
    pub cpu_percent: Option<f64>,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `memory` data.
pub fn collect(ctx: &Ctx) -> Result<MemoryData, ProbeError> {
    let window = sample::window_arg(&ctx.args)?;
    let root = &ctx.root;
    let text = root
        .read_string("/proc/meminfo", SMALL_FILE_BYTES)
        .map_err(|e| ProbeError::unavailable(e.to_string()))?;
    let m = meminfo::parse(&text);
    let total = m
        .total
        .ok_or_else(|| ProbeError::failed("/proc/meminfo has no MemTotal line"))?;
    let mut unavailable = Vec::new();

    let psi = match root.read_string("/proc/pressure/memory", SMALL_FILE_BYTES) {
        Ok(t) => psi::parse(&t),
        Err(e) => {
            unavailable.push(format!("psi: {e}"));
            None
        }
    };
    let oom_kills = match root.read_string("/proc/vmstat", SMALL_FILE_BYTES) {
        Ok(t) => {
            let v = key_value_u64(&t, "oom_kill");
            if v.is_none() {
                unavailable.push("oom_kills: /proc/vmstat has no oom_kill counter".to_owned());
            }
            v
        }
        Err(e) => {
            unavailable.push(format!("oom_kills: {e}"));
            None
        }
    };

    let (kswapd, kswapd_cpu_percent) = match sample_kswapd(ctx, window) {
        Ok((threads, total, note)) => {
            unavailable.extend(note);
            (threads, total)
        }
        Err(e) if e.kind == crate::error::ErrorKind::Timeout => return Err(e),
        Err(e) => {
            unavailable.push(format!("kswapd: {}", e.message));
            (Vec::new(), None)
        }
    };
    if kswapd.is_empty() && unavailable.iter().all(|u| !u.starts_with("kswapd")) {
        unavailable.push("kswapd: no kswapd thread found in /proc".to_owned());
    }

    Ok(MemoryData {
        mem_total_bytes: total,
        mem_free_bytes: m.free,
        mem_available_bytes: m.available,
        available_percent: m.available.and_then(|a| percent(a as f64, total as f64)),
        buffers_bytes: m.buffers,
        cached_bytes: m.cached,
        sreclaimable_bytes: m.sreclaimable,
        shmem_bytes: m.shmem,
        swap_total_bytes: m.swap_total,
        swap_free_bytes: m.swap_free,
        psi,
        oom_kills,
        kswapd_cpu_percent,
        kswapd,
        sample_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        unavailable,
    })
}

/// The kswapd threads, their summed share, and a note if no tick elapsed.
type KswapdSample = (Vec<Kswapd>, Option<f64>, Option<String>);

/// Finds kswapd threads, samples their ticks across the window.
fn sample_kswapd(ctx: &Ctx, window: std::time::Duration) -> Result<KswapdSample, ProbeError> {
    let root = &ctx.root;
    let first_sys = sample::system(root, Snapshot::First)?;
    let mut first: Vec<(u32, String, u64)> = Vec::new();
    sample::each_process(root, Snapshot::First, &ctx.deadline, |s| {
        if s.name.starts_with("kswapd") {
            first.push((s.pid, s.name, s.cpu_ticks));
        }
    })?;
    ctx.deadline.sleep(window);
    ctx.deadline.check()?;
    let second_sys = sample::system(root, Snapshot::Second)?;
    let w = Window::between(&first_sys, &second_sys);
    let mut buf = Vec::new();
    let mut total_ticks = 0u64;
    let threads: Vec<Kswapd> = first
        .into_iter()
        .map(|(pid, name, before)| {
            let after = sample::pid_stat(root, pid, Snapshot::Second, &mut buf)
                .map_or(before, |s| s.cpu_ticks);
            let delta = after.saturating_sub(before);
            total_ticks = total_ticks.saturating_add(delta);
            Kswapd {
                pid,
                name,
                cpu_percent: w.share_of_one_cpu(delta),
            }
        })
        .collect();
    let total = (!threads.is_empty())
        .then(|| w.share_of_one_cpu(total_ticks))
        .flatten();
    Ok((threads, total, w.empty_note()))
}
