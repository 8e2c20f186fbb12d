//! Kernel log lines as the four sources print them (`/dev/kmsg` records,
//! `dmesg`, `journalctl -k -o short-iso`, syslog files), and the OOM-killer
//! messages inside them.

use super::time::parse_iso8601;

/// A kernel message with whatever time its source attached.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelLine<'a> {
    /// The wall-clock time as printed (`2022-09-28T08:24:19+0000`,
    /// `Sep 28 08:24:19`), if the source printed one.
    pub time: Option<&'a str>,
    /// Seconds since the epoch, when the printed time has a full date.
    pub unix_time: Option<f64>,
    /// Seconds since boot (the kernel's own `[ 6472.442368]` stamp).
    pub uptime_seconds: Option<f64>,
    /// The message text.
    pub message: &'a str,
}

/// Splits a `/dev/kmsg` record: `PRI,SEQ,USEC,FLAGS[,...];MESSAGE`.
/// Continuation lines (` KEY=value`) and malformed records give `None`.
pub fn split_kmsg(line: &str) -> Option<KernelLine<'_>> {
    if line.starts_with(' ') {
        return None;
    }
    let (head, message) = line.split_once(';')?;
    let mut fields = head.split(',');
    let _prio: u32 = fields.next()?.parse().ok()?;
    let _seq: u64 = fields.next()?.parse().ok()?;
    let usec: u64 = fields.next()?.parse().ok()?;
    Some(KernelLine {
        time: None,
        unix_time: None,
        uptime_seconds: Some(usec as f64 / 1e6),
        message,
    })
}

/// Strips a leading `[ 6472.442368] ` kernel timestamp, if any.
fn split_uptime(s: &str) -> (Option<f64>, &str) {
    let t = s.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((stamp, after)) = rest.split_once(']') {
            if let Ok(v) = stamp.trim().parse::<f64>() {
                return (Some(v), after.strip_prefix(' ').unwrap_or(after));
            }
        }
    }
    (None, s)
}

/// Splits a plain `dmesg` line: `[ 6472.442368] MESSAGE`.
pub fn split_dmesg(line: &str) -> KernelLine<'_> {
    let (uptime_seconds, message) = split_uptime(line);
    KernelLine {
        time: None,
        unix_time: None,
        uptime_seconds,
        message,
    }
}

/// Splits a syslog or journal line: `TIME HOST kernel: [UPTIME] MESSAGE`,
/// where TIME is ISO 8601 (journal `short-iso`, rsyslog RFC 3339) or the
/// classic `Sep 28 08:24:19`. Lines that are not from the kernel give
/// `None`.
pub fn split_syslog(line: &str) -> Option<KernelLine<'_>> {
    let idx = line.find(" kernel: ")?;
    let prefix = line.get(..idx)?;
    let after = line.get(idx + " kernel: ".len()..)?;
    let first = prefix.split_whitespace().next()?;
    let (time, unix_time) = if let Some(unix) = parse_iso8601(first) {
        (Some(first), Some(unix))
    } else {
        // `Sep 28 08:24:19 host`: everything but the host name.
        let time = prefix.rsplit_once(' ').map(|(t, _)| t.trim_end());
        (time, None)
    };
    let (uptime_seconds, message) = split_uptime(after);
    Some(KernelLine {
        time,
        unix_time,
        uptime_seconds,
        message,
    })
}

/// What the OOM killer said about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OomRecord {
    /// `[Memory cgroup ]Out of memory: Killed process PID (NAME) total-vm:...`
    Killed(OomKill),
    /// A line naming the victim before the kill: the 5.x
    /// `oom-kill:constraint=...,task=NAME,pid=PID` line or the older
    /// `Out of memory: Kill process PID (NAME) score ...`.
    Hint(OomHint),
}

/// A process killed by the OOM killer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomKill {
    /// The victim's pid.
    pub pid: u32,
    /// The victim's name (`comm`).
    pub process: String,
    /// Whether the message says a memory cgroup limit was hit.
    pub cgroup: bool,
    /// `total-vm`, bytes.
    pub total_vm_bytes: Option<u64>,
    /// `anon-rss`, bytes.
    pub anon_rss_bytes: Option<u64>,
    /// `file-rss`, bytes.
    pub file_rss_bytes: Option<u64>,
    /// `shmem-rss`, bytes.
    pub shmem_rss_bytes: Option<u64>,
}

/// Context about an upcoming kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomHint {
    /// The victim's pid.
    pub pid: u32,
    /// Whether the kill is cgroup-constrained, when the line says.
    pub cgroup: Option<bool>,
    /// The victim's memory cgroup (`task_memcg=`), when given.
    pub memcg: Option<String>,
}

/// Recognises OOM-killer messages; everything else gives `None`.
pub fn parse_oom(message: &str) -> Option<OomRecord> {
    if let Some(idx) = message.find("Killed process ") {
        let before = message.get(..idx)?;
        let rest = message.get(idx + "Killed process ".len()..)?;
        let (pid, process, tail) = pid_and_name(rest)?;
        let mut kill = OomKill {
            pid,
            process,
            cgroup: before.contains("Memory cgroup"),
            total_vm_bytes: None,
            anon_rss_bytes: None,
            file_rss_bytes: None,
            shmem_rss_bytes: None,
        };
        for token in tail.split([',', ' ']) {
            let Some((key, value)) = token.split_once(':') else {
                continue;
            };
            let slot = match key {
                "total-vm" => &mut kill.total_vm_bytes,
                "anon-rss" => &mut kill.anon_rss_bytes,
                "file-rss" => &mut kill.file_rss_bytes,
                "shmem-rss" => &mut kill.shmem_rss_bytes,
                _ => continue,
            };
            *slot = kb_value(value);
        }
        return Some(OomRecord::Killed(kill));
    }
    if let Some(rest) = message.strip_prefix("oom-kill:") {
        let mut hint = OomHint {
            pid: 0,
            cgroup: None,
            memcg: None,
        };
        for pair in rest.split(',') {
            match pair.split_once('=') {
                Some(("constraint", c)) => hint.cgroup = Some(c == "CONSTRAINT_MEMCG"),
                Some(("task_memcg", m)) => hint.memcg = Some(m.to_owned()),
                Some(("pid", p)) => hint.pid = p.trim().parse().ok()?,
                _ => {}
            }
        }
        return (hint.pid != 0).then_some(OomRecord::Hint(hint));
    }
    if let Some(idx) = message.find("Kill process ") {
        let before = message.get(..idx)?;
        let rest = message.get(idx + "Kill process ".len()..)?;
        let (pid, _, _) = pid_and_name(rest)?;
        return Some(OomRecord::Hint(OomHint {
            pid,
            cgroup: Some(before.contains("Memory cgroup")),
            memcg: None,
        }));
    }
    None
}

/// `101788 (python3) total-vm:...` → pid, name and what follows the name.
/// The name ends at the last `)` before ` total-vm` / ` score` (names may
/// contain parentheses), or at the last `)` of the line.
fn pid_and_name(rest: &str) -> Option<(u32, String, &str)> {
    let (pid, after) = rest.split_once(' ')?;
    let pid: u32 = pid.parse().ok()?;
    let after = after.strip_prefix('(')?;
    let end_search = [" total-vm:", " score "]
        .iter()
        .filter_map(|m| after.find(m))
        .min()
        .unwrap_or(after.len());
    let close = after.get(..end_search)?.rfind(')')?;
    let name = after.get(..close)?.to_owned();
    let tail = after.get(close + 1..)?;
    Some((pid, name, tail))
}

/// `54264kB` → bytes.
fn kb_value(v: &str) -> Option<u64> {
    let digits = v.trim().strip_suffix("kB")?;
    digits.parse::<u64>().ok()?.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "Out of memory: Killed process 101788 (python3) total-vm:487148kB, anon-rss:54264kB, file-rss:0kB, shmem-rss:0kB";

    #[test]
    fn parses_a_global_kill() {
        let Some(OomRecord::Killed(k)) = parse_oom(SEED) else {
            panic!("not parsed");
        };
        assert_eq!(
            (k.pid, k.process.as_str(), k.cgroup),
            (101788, "python3", false)
        );
        assert_eq!(k.anon_rss_bytes, Some(54264 * 1024));
        assert_eq!(k.total_vm_bytes, Some(487148 * 1024));
    }

    #[test]
    fn parses_a_cgroup_kill_with_5x_fields() {
        let m = "Memory cgroup out of memory: Killed process 4242 (perl) total-vm:110000kB, anon-rss:19000kB, file-rss:1000kB, shmem-rss:0kB, UID:0 pgtables:260kB oom_score_adj:0";
        let Some(OomRecord::Killed(k)) = parse_oom(m) else {
            panic!("not parsed");
        };
        assert!(k.cgroup);
        assert_eq!((k.pid, k.process.as_str()), (4242, "perl"));
        assert_eq!(k.file_rss_bytes, Some(1000 * 1024));
    }

    #[test]
    fn parses_hints() {
        let m = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=perl,pid=4242,uid=0";
        assert_eq!(
            parse_oom(m),
            Some(OomRecord::Hint(OomHint {
                pid: 4242,
                cgroup: Some(true),
                memcg: Some("/t".into())
            }))
        );
        let old =
            "Memory cgroup out of memory: Kill process 77 (java (x)) score 999 or sacrifice child";
        assert!(matches!(
            parse_oom(old),
            Some(OomRecord::Hint(OomHint {
                pid: 77,
                cgroup: Some(true),
                ..
            }))
        ));
        assert_eq!(
            parse_oom("oom_reaper: reaped process 1 (x), now anon-rss:0kB"),
            None
        );
    }

    #[test]
    fn splits_each_source_format() {
        let line = format!("3,1234,6472442368,-;{SEED}");
        let k = split_kmsg(&line);
        assert_eq!(k.as_ref().and_then(|k| k.uptime_seconds), Some(6472.442368));
        assert_eq!(k.map(|k| k.message), Some(SEED));
        assert!(split_kmsg(" SUBSYSTEM=memory").is_none());

        let d = split_dmesg("[ 6472.442368] hello");
        assert_eq!((d.uptime_seconds, d.message), (Some(6472.442368), "hello"));

        let line =
            format!("2022-09-28T08:24:19.537448+00:00 node-15 kernel: [ 6472.442368] {SEED}");
        let s = split_syslog(&line);
        let s = s.map(|s| (s.time, s.unix_time.is_some(), s.uptime_seconds, s.message));
        assert_eq!(
            s,
            Some((
                Some("2022-09-28T08:24:19.537448+00:00"),
                true,
                Some(6472.442368),
                SEED
            ))
        );

        let line = format!("Sep 28 08:24:19 node-15 kernel: {SEED}");
        let c = split_syslog(&line);
        assert_eq!(
            c.map(|c| (c.time, c.unix_time)),
            Some((Some("Sep 28 08:24:19"), None))
        );
        assert!(split_syslog("Sep 28 08:24:19 node-15 kubelet[1]: x").is_none());
    }
}
