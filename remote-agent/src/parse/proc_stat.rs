//! `/proc/stat`: cumulative CPU time per state (in clock ticks), the CPU
//! count and the boot time. Two reads a window apart give CPU shares.

/// Cumulative ticks of the aggregate `cpu` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// `user` (includes guest time).
    pub user: u64,
    /// `nice`.
    pub nice: u64,
    /// `system`.
    pub system: u64,
    /// `idle`.
    pub idle: u64,
    /// `iowait`.
    pub iowait: u64,
    /// `irq`.
    pub irq: u64,
    /// `softirq`.
    pub softirq: u64,
    /// `steal`.
    pub steal: u64,
}

impl CpuTimes {
    /// Sum of all states: the ticks that elapsed across all CPUs.
    pub fn total(&self) -> u64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Per-state ticks elapsed since `earlier` (saturating: counters that
    /// went backwards count as zero).
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            nice: self.nice.saturating_sub(earlier.nice),
            system: self.system.saturating_sub(earlier.system),
            idle: self.idle.saturating_sub(earlier.idle),
            iowait: self.iowait.saturating_sub(earlier.iowait),
            irq: self.irq.saturating_sub(earlier.irq),
            softirq: self.softirq.saturating_sub(earlier.softirq),
            steal: self.steal.saturating_sub(earlier.steal),
        }
    }
}

/// The parts of `/proc/stat` we use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemStat {
    /// The aggregate `cpu` line.
    pub cpu: CpuTimes,
    /// Number of `cpuN` lines (online CPUs).
    pub cpu_count: u32,
    /// `btime`: boot time, seconds since the epoch.
    pub boot_time: Option<u64>,
}

/// Parses `/proc/stat`; `None` without an aggregate `cpu` line.
pub fn parse(text: &str) -> Option<SystemStat> {
    let mut stat = SystemStat::default();
    let mut seen_cpu = false;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(key) = parts.next() else { continue };
        if key == "cpu" {
            let mut v = [0u64; 8];
            for slot in v.iter_mut() {
                *slot = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            }
            let [user, nice, system, idle, iowait, irq, softirq, steal] = v;
            stat.cpu = CpuTimes {
                user,
                nice,
                system,
                idle,
                iowait,
                irq,
                softirq,
                steal,
            };
            seen_cpu = true;
        } else if key
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            stat.cpu_count = stat.cpu_count.saturating_add(1);
        } else if key == "btime" {
            stat.boot_time = parts.next().and_then(|x| x.parse().ok());
        }
    }
    seen_cpu.then_some(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_totals_count_and_boot_time() {
        let s = parse("cpu  10 0 20 30 1 0 2 0 0 0\ncpu0 5 0 10 15 0 0 1 0 0 0\ncpu1 5 0 10 15 1 0 1 0 0 0\nintr 1 2 3\nbtime 1664346987\n");
        let s = s.unwrap_or_default();
        assert_eq!(s.cpu.total(), 63);
        assert_eq!(s.cpu_count, 2);
        assert_eq!(s.boot_time, Some(1664346987));
        assert!(parse("intr 1\n").is_none());
    }
}
