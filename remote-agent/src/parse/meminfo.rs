//! `/proc/meminfo`: the kernel's memory accounting, in kB, turned into bytes.

/// The `/proc/meminfo` fields the `memory` probe reports, in bytes.
/// A field is `None` when the kernel does not print it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: Option<u64>,
    /// `MemFree`.
    pub free: Option<u64>,
    /// `MemAvailable` (kernel 3.14+).
    pub available: Option<u64>,
    /// `Buffers`.
    pub buffers: Option<u64>,
    /// `Cached`.
    pub cached: Option<u64>,
    /// `SReclaimable`.
    pub sreclaimable: Option<u64>,
    /// `Shmem`.
    pub shmem: Option<u64>,
    /// `SwapTotal`.
    pub swap_total: Option<u64>,
    /// `SwapFree`.
    pub swap_free: Option<u64>,
}

/// Parses `/proc/meminfo`. Unknown and malformed lines are ignored.
pub fn parse(text: &str) -> MemInfo {
    let mut m = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let bytes = match parts.next() {
            Some(unit) if unit.eq_ignore_ascii_case("kb") => value.checked_mul(1024),
            Some(_) => None,
            None => Some(value),
        };
        let slot = match key.trim() {
            "MemTotal" => &mut m.total,
            "MemFree" => &mut m.free,
            "MemAvailable" => &mut m.available,
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "SReclaimable" => &mut m.sreclaimable,
            "Shmem" => &mut m.shmem,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            _ => continue,
        };
        *slot = bytes;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_kb_to_bytes() {
        let m =
            parse("MemTotal:        4015956 kB\nMemAvailable:      53652 kB\nSwapTotal: 0 kB\n");
        assert_eq!(m.total, Some(4015956 * 1024));
        assert_eq!(m.available, Some(53652 * 1024));
        assert_eq!(m.swap_total, Some(0));
        assert_eq!(m.free, None);
    }

    #[test]
    fn ignores_garbage() {
        let m = parse("MemTotal: lots kB\n:::\nMemFree 12 kB\nCached: 99999999999999999999 kB\n");
        assert_eq!(m, MemInfo::default());
    }
}
