//! Reads `/proc` to find and signal the processes of one fake host.
//!
//! Each host's sshd runs as PID 1 of its own PID namespace, so "the processes
//! of node-3" are exactly the processes whose `/proc/PID/ns/pid` link names
//! node-3's namespace, however they were forked or reparented.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::command::run_bounded;

/// Every PID currently listed in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `(state, parent pid)` from `/proc/PID/stat`, or `None` once it is gone.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// True while `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    matches!(state_and_parent(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// True while `/proc/PID` exists at all (a zombie counts: it is not reaped yet).
pub fn exists(pid: u32) -> bool {
    fs::metadata(format!("/proc/{pid}")).is_ok()
}

/// Direct children of `pid`: from `/proc/PID/task/PID/children` where the
/// kernel offers it (cheap), else by scanning every process's parent.
pub fn children_of(pid: u32) -> Vec<u32> {
    if let Ok(list) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return list
            .split_whitespace()
            .filter_map(|child| child.parse().ok())
            .collect();
    }
    all_pids()
        .into_iter()
        .filter(
            |&candidate| matches!(state_and_parent(candidate), Some((_, parent)) if parent == pid),
        )
        .collect()
}

/// The PID namespace of `pid`, as the target of its `/proc/PID/ns/pid` link.
pub fn pid_namespace(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Every live process in the PID namespace `namespace`.
pub fn processes_in(namespace: &PathBuf) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| pid_namespace(pid).as_ref() == Some(namespace) && is_alive(pid))
        .collect()
}

/// The command line of `pid` with arguments joined by spaces, as `pgrep -f`
/// matches it; `None` for kernel threads, zombies and vanished processes.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&raw);
    Some(text.trim_end_matches('\0').replace('\0', " "))
}

/// Processes on this machine whose command line (as [`command_line`]
/// gives it) contains `needle`, with that command line.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let line = command_line(pid)?;
            line.contains(needle).then_some((pid, line))
        })
        .collect()
}

/// Sends `signal` (a name such as `KILL`) to `pids`. The standard library can
/// only signal its own children and the workspace forbids `unsafe`, so this
/// runs the shell's `kill` builtin; pids that are already gone are ignored.
pub fn send_signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("kill -s \"$0\" \"$@\" 2>/dev/null; exit 0")
        .arg(signal)
        .args(pids.iter().map(u32::to_string));
    run_bounded(&mut command, Duration::from_secs(10));
}
