//! `/proc/<pid>/stat`, `/proc/<pid>/status` and `/proc/<pid>/cmdline`: one
//! process's name, state, parent, CPU ticks, threads and resident pages.

/// The fields of `/proc/<pid>/stat` the probes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    /// Process id.
    pub pid: u32,
    /// `comm`: the executable name, at most 15 bytes, as the kernel keeps it.
    pub name: String,
    /// State letter (`R`, `S`, `D`, `Z`, `T`, `I`, ...).
    pub state: char,
    /// Parent process id.
    pub ppid: u32,
    /// User plus system CPU ticks.
    pub cpu_ticks: u64,
    /// Number of threads.
    pub threads: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The name sits between the first `(` and the
/// last `)`, since it may itself contain spaces and parentheses.
pub fn parse_stat(bytes: &[u8]) -> Option<PidStat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let pid = std::str::from_utf8(bytes.get(..open)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let name = String::from_utf8_lossy(bytes.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    // Field numbers from proc(5) minus 3: `state` is field 3.
    let fields: Vec<&str> = rest.split_whitespace().take(22).collect();
    let num = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let state = fields.first()?.chars().next()?;
    let ppid = u32::try_from(num(1)?).ok()?;
    let utime = num(11).unwrap_or(0);
    let stime = num(12).unwrap_or(0);
    let threads = num(17).unwrap_or(0);
    // rss can be printed negative in odd cases; treat as 0.
    let rss_pages = num(21).unwrap_or(0);
    Some(PidStat {
        pid,
        name,
        state,
        ppid,
        cpu_ticks: utime.saturating_add(stime),
        threads,
        rss_pages,
    })
}

/// The real uid from `/proc/<pid>/status` (`Uid:` line, first value).
pub fn status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `/proc/<pid>/cmdline` (NUL-separated) as one space-separated string,
/// `None` if empty (kernel threads, zombies).
pub fn cmdline(bytes: &[u8]) -> Option<String> {
    let s: String = String::from_utf8_lossy(bytes)
        .split('\0')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!s.is_empty()).then_some(s)
}

/// Human name of a state letter, as in `ps(1)`.
pub fn state_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk_sleep",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "tracing_stop",
        'I' => "idle",
        'X' | 'x' => "dead",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parentheses() {
        let line = b"42 (my (odd) name) Z 7 42 42 0 -1 4194560 0 0 0 0 12 34 0 0 20 0 1 0 100 0 0 18446744073709551615";
        let s = parse_stat(line);
        let s = s.map(|s| {
            (
                s.pid,
                s.name,
                s.state,
                s.ppid,
                s.cpu_ticks,
                s.threads,
                s.rss_pages,
            )
        });
        assert_eq!(s, Some((42, "my (odd) name".to_owned(), 'Z', 7, 46, 1, 0)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat(b")(").is_none());
        assert!(parse_stat(b"x (a) R").is_none());
        assert!(parse_stat(b"").is_none());
    }

    #[test]
    fn reads_uid_and_cmdline() {
        assert_eq!(
            status_uid("Name:\tcurl\nUid:\t128052\t128052\t128052\t128052\n"),
            Some(128052)
        );
        assert_eq!(
            cmdline(b"python3\0-m\0http.server\0"),
            Some("python3 -m http.server".into())
        );
        assert_eq!(cmdline(b""), None);
    }
}
