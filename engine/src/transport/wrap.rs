//! The shell text around every command: it exports the run's identity to
//! the command and reports the process-group id first on stderr, so a
//! timed-out or interrupted command's whole tree can be killed on the host.

/// First stderr line of a wrapped command: this marker and the pgid.
pub const PID_MARKER: &str = "RUNBOOK-PGID ";

/// Wraps `command` with `env` exports and the pid report. Values are
/// shell-quoted; names are trusted (they come from the engine).
pub fn wrap_command(command: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(command.len() + 128);
    out.push_str("echo \"");
    out.push_str(PID_MARKER);
    out.push_str("$$\" >&2; ");
    for (name, value) in env {
        let quoted = shlex::try_quote(value).map_or_else(|_| "''".into(), |q| q.into_owned());
        out.push_str(&format!("{name}={quoted}; export {name}; "));
    }
    out.push_str(command);
    out
}

/// Splits the pid report off captured stderr: `(pgid, rest)`.
pub fn split_pid(stderr_head: &[u8]) -> (Option<i32>, usize) {
    let marker = PID_MARKER.as_bytes();
    if !stderr_head.starts_with(marker) {
        return (None, 0);
    }
    let Some(end) = stderr_head.iter().position(|&b| b == b'\n') else {
        return (None, 0);
    };
    let pid = std::str::from_utf8(&stderr_head[marker.len()..end])
        .ok()
        .and_then(|s| s.trim().parse().ok());
    (pid, end + 1)
}

/// The command that kills process group `pgid`: TERM now, and KILL after
/// up to 1 s of grace if the group is still there. The grace runs in the
/// background with no open descriptor, so the channel closes after one
/// round trip: killing eight timed-out steps through the one channel kept
/// for kills takes milliseconds, not eight seconds.
pub fn kill_command(pgid: i32) -> String {
    format!(
        "kill -TERM -- -{pgid} 2>/dev/null || exit 0; (i=0; while [ $i -lt 10 ] && kill -0 -- -{pgid} 2>/dev/null; do sleep 0.1; i=$((i+1)); done; kill -KILL -- -{pgid} 2>/dev/null) </dev/null >/dev/null 2>&1 & exit 0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_quoted() {
        let w = wrap_command("true", &[("RUNBOOK_STEP".into(), "a b; rm".into())]);
        assert!(
            w.contains("RUNBOOK_STEP='a b; rm'; export RUNBOOK_STEP;"),
            "{w}"
        );
    }

    #[test]
    fn pid_line_is_split_off() {
        assert_eq!(split_pid(b"RUNBOOK-PGID 4242\nerr"), (Some(4242), 18));
        assert_eq!(split_pid(b"other"), (None, 0));
    }
}
