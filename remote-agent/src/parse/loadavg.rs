//! `/proc/loadavg`: load averages plus running/total scheduling entities.

/// The parsed `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// 1-minute load average.
    pub load1: f64,
    /// 5-minute load average.
    pub load5: f64,
    /// 15-minute load average.
    pub load15: f64,
    /// Currently runnable tasks.
    pub running: Option<u64>,
    /// Total tasks (threads included).
    pub total: Option<u64>,
}

/// Parses `176.16 177.88 186.03 53/373 119736`.
pub fn parse(text: &str) -> Option<LoadAvg> {
    let mut parts = text.split_whitespace();
    let load1 = parts.next()?.parse().ok()?;
    let load5 = parts.next()?.parse().ok()?;
    let load15 = parts.next()?.parse().ok()?;
    let (running, total) = match parts.next().and_then(|t| t.split_once('/')) {
        Some((r, t)) => (r.parse().ok(), t.parse().ok()),
        None => (None, None),
    };
    Some(LoadAvg {
        load1,
        load5,
        load15,
        running,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_line() {
        let l = parse("176.16 177.88 186.03 53/373 119736\n");
        assert_eq!(
            l.map(|l| (l.load1, l.running, l.total)),
            Some((176.16, Some(53), Some(373)))
        );
        assert!(parse("1.0 2.0").is_none());
    }
}
