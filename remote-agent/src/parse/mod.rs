//! Pure parsers for the text a node hands us: `/proc` files, kernel log
//! lines, journal lines, `systemctl show`, `crictl` JSON. No I/O here, and
//! no panics on any input (a randomized test feeds them garbage).

pub mod crictl;
pub mod journal;
pub mod kernel_log;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod pid;
pub mod proc_stat;
pub mod psi;
pub mod systemctl;
pub mod time;

/// The value of `key` in a file of `key value` lines (`/proc/vmstat`).
pub fn key_value_u64(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next())
            .flatten()
            .and_then(|v| v.parse().ok())
    })
}

/// The first line of a file, trimmed, parsed as a number
/// (`/proc/sys/kernel/pid_max`).
pub fn single_u64(text: &str) -> Option<u64> {
    text.split_whitespace().next().and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_vmstat_counter() {
        let text = "nr_free_pages 123\noom_kill 7\npgfault 9\n";
        assert_eq!(key_value_u64(text, "oom_kill"), Some(7));
        assert_eq!(key_value_u64(text, "oom"), None);
        assert_eq!(single_u64("32768\n"), Some(32768));
    }
}
