//! The `cpu` probe: how loaded is the node, and with what? A load of 176 on
//! four CPUs with 99.8 % system time is a kernel busy reclaiming memory,
//! not a busy workload.

use serde::Serialize;

use crate::args::ArgSpec;
use crate::error::ProbeError;
use crate::parse::proc_stat::CpuTimes;
use crate::parse::{loadavg, psi};
use crate::source::{Snapshot, SMALL_FILE_BYTES};

use super::sample::{self, Window};
use super::{percent, round2, to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "cpu",
    summary: "load averages, CPU time split over a sampling window, CPU pressure (PSI)",
    args: &[ArgSpec {
        name: "sample_ms",
        default: "200",
        help: "window over which CPU time is sampled",
    }],
    fields: &[
        FieldSpec {
            name: "load1",
            help: "1-minute load average",
        },
        FieldSpec {
            name: "load5",
            help: "5-minute load average",
        },
        FieldSpec {
            name: "load15",
            help: "15-minute load average",
        },
        FieldSpec {
            name: "cpu_count",
            help: "online CPUs (cpuN lines of /proc/stat)",
        },
        FieldSpec {
            name: "load_per_cpu",
            help: "load1 / cpu_count",
        },
        FieldSpec {
            name: "running_tasks",
            help: "runnable tasks (/proc/loadavg)",
        },
        FieldSpec {
            name: "total_tasks",
            help: "all tasks, threads included (/proc/loadavg)",
        },
        FieldSpec {
            name: "user_percent",
            help: "user + nice time over the window, % of all CPUs",
        },
        FieldSpec {
            name: "system_percent",
            help: "system time",
        },
        FieldSpec {
            name: "iowait_percent",
            help: "iowait time",
        },
        FieldSpec {
            name: "irq_percent",
            help: "hard + soft interrupt time",
        },
        FieldSpec {
            name: "steal_percent",
            help: "time stolen by the hypervisor",
        },
        FieldSpec {
            name: "idle_percent",
            help: "idle time",
        },
        FieldSpec {
            name: "psi",
            help: "/proc/pressure/cpu: {some, full}, or null",
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

/// The `data` of the `cpu` probe. Percentages are `null` when no clock tick
/// elapsed in the window.
#[derive(Debug, Serialize)]
pub struct CpuData {
    /// 1-minute load average.
    pub load1: Option<f64>,
    /// 5-minute load average.
    pub load5: Option<f64>,
    /// 15-minute load average.
    pub load15: Option<f64>,
    /// Online CPUs.
    pub cpu_count: u32,
    /// `load1 / cpu_count`.
    pub load_per_cpu: Option<f64>,
    /// Runnable tasks.
    pub running_tasks: Option<u64>,
    /// All tasks.
    pub total_tasks: Option<u64>,
    /// User + nice.
    pub user_percent: Option<f64>,
    /// System.
    pub system_percent: Option<f64>,
    /// I/O wait.
    pub iowait_percent: Option<f64>,
    /// Interrupts.
    pub irq_percent: Option<f64>,
    /// Steal.
    pub steal_percent: Option<f64>,
    /// Idle.
    pub idle_percent: Option<f64>,
    /// CPU pressure.
    pub psi: Option<psi::Psi>,
    /// The window used.
    pub sample_ms: u64,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `cpu` data.
pub fn collect(ctx: &Ctx) -> Result<CpuData, ProbeError> {
    let window = sample::window_arg(&ctx.args)?;
    let root = &ctx.root;
    let mut unavailable = Vec::new();
    let first = sample::system(root, Snapshot::First)?;
    ctx.deadline.sleep(window);
    ctx.deadline.check()?;
    let second = sample::system(root, Snapshot::Second)?;
    let w = Window::between(&first, &second);
    unavailable.extend(w.empty_note());
    let d: CpuTimes = second.cpu.since(&first.cpu);
    let total = d.total() as f64;
    let pct = |ticks: u64| percent(ticks as f64, total);

    let load = match root.read_string("/proc/loadavg", SMALL_FILE_BYTES) {
        Ok(t) => {
            let l = loadavg::parse(&t);
            if l.is_none() {
                unavailable.push("load: /proc/loadavg is not understood".to_owned());
            }
            l
        }
        Err(e) => {
            unavailable.push(format!("load: {e}"));
            None
        }
    };
    let psi = match root.read_string("/proc/pressure/cpu", SMALL_FILE_BYTES) {
        Ok(t) => psi::parse(&t),
        Err(e) => {
            unavailable.push(format!("psi: {e}"));
            None
        }
    };

    Ok(CpuData {
        load1: load.map(|l| l.load1),
        load5: load.map(|l| l.load5),
        load15: load.map(|l| l.load15),
        cpu_count: w.cpus,
        load_per_cpu: load.map(|l| round2(l.load1 / f64::from(w.cpus))),
        running_tasks: load.and_then(|l| l.running),
        total_tasks: load.and_then(|l| l.total),
        user_percent: pct(d.user.saturating_add(d.nice)),
        system_percent: pct(d.system),
        iowait_percent: pct(d.iowait),
        irq_percent: pct(d.irq.saturating_add(d.softirq)),
        steal_percent: pct(d.steal),
        idle_percent: pct(d.idle),
        psi,
        sample_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        unavailable,
    })
}
