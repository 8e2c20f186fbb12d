//! `systemctl show UNIT -p ...` output: `Key=Value` lines.

use serde::Serialize;

/// The unit properties the `unit` probe reports. Each is `None` when
/// systemd did not print it (older versions lack `NRestarts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitState {
    /// `LoadState`: `loaded`, `not-found`, `masked`, ...
    pub load_state: Option<String>,
    /// `ActiveState`: `active`, `failed`, `activating`, ...
    pub active_state: Option<String>,
    /// `SubState`: `running`, `exited`, `auto-restart`, ...
    pub sub_state: Option<String>,
    /// `NRestarts`: automatic restarts since the unit was last started by
    /// hand.
    pub restarts: Option<u64>,
    /// `MainPID`; `0` when not running.
    pub main_pid: Option<u32>,
    /// `ExecMainStatus`: exit status of the last main process.
    pub exec_main_status: Option<i32>,
    /// `ActiveEnterTimestamp`, as systemd prints it.
    pub active_enter_timestamp: Option<String>,
}

/// Parses `systemctl show` output. Unknown keys and malformed lines are
/// ignored; empty values become `None`.
pub fn parse_show(text: &str) -> UnitState {
    let mut u = UnitState::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "LoadState" => u.load_state = Some(value.to_owned()),
            "ActiveState" => u.active_state = Some(value.to_owned()),
            "SubState" => u.sub_state = Some(value.to_owned()),
            "NRestarts" => u.restarts = value.parse().ok(),
            "MainPID" => u.main_pid = value.parse().ok(),
            "ExecMainStatus" => u.exec_main_status = value.parse().ok(),
            "ActiveEnterTimestamp" => u.active_enter_timestamp = Some(value.to_owned()),
            _ => {}
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_kubelet() {
        let u = parse_show("MainPID=8440\nExecMainStatus=0\nLoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=0\nActiveEnterTimestamp=Wed 2022-09-28 06:39:55 UTC\n");
        assert_eq!(u.main_pid, Some(8440));
        assert_eq!(u.active_state.as_deref(), Some("active"));
        assert_eq!(
            u.active_enter_timestamp.as_deref(),
            Some("Wed 2022-09-28 06:39:55 UTC")
        );
        assert_eq!(parse_show("=\n==\nMainPID=x"), UnitState::default());
    }
}
