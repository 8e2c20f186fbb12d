//! `/proc/pressure/{memory,cpu,io}`: pressure stall information, the share
//! of time tasks were stalled waiting for a resource.

use serde::Serialize;

/// One PSI line (`some` or `full`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PsiLine {
    /// Percent of the last 10 s with a stall.
    pub avg10: f64,
    /// Percent of the last 60 s.
    pub avg60: f64,
    /// Percent of the last 300 s.
    pub avg300: f64,
    /// Total stall time since boot, in microseconds.
    pub total_us: u64,
}

/// A PSI file: `some` (at least one task stalled) and `full` (all non-idle
/// tasks stalled; absent for CPU on older kernels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Psi {
    /// The `some` line.
    pub some: Option<PsiLine>,
    /// The `full` line.
    pub full: Option<PsiLine>,
}

/// Parses a PSI file; `None` if it has neither line.
pub fn parse(text: &str) -> Option<Psi> {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let slot = match parts.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        let mut l = PsiLine::default();
        let mut seen = 0;
        for part in parts {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let ok = match k {
                "avg10" => v.parse().map(|x| l.avg10 = x).is_ok(),
                "avg60" => v.parse().map(|x| l.avg60 = x).is_ok(),
                "avg300" => v.parse().map(|x| l.avg300 = x).is_ok(),
                "total" => v.parse().map(|x| l.total_us = x).is_ok(),
                _ => false,
            };
            seen += usize::from(ok);
        }
        if seen > 0 {
            *slot = Some(l);
        }
    }
    (psi.some.is_some() || psi.full.is_some()).then_some(psi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_lines() {
        let p = parse(
            "some avg10=71.32 avg60=68.90 avg300=60.11 total=3301234567\n\
             full avg10=52.10 avg60=49.00 avg300=41.70 total=2401234567\n",
        );
        let p = p.unwrap_or_default();
        assert_eq!(p.some.map(|l| l.avg10), Some(71.32));
        assert_eq!(p.full.map(|l| l.total_us), Some(2401234567));
        assert!(parse("nonsense").is_none());
    }
}
