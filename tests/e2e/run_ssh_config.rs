//! The user's ssh_config is what ssh follows, even though the engine
//! connects for ssh (TCP_NODELAY): a host's own `ProxyCommand` still
//! decides how it is reached.

use std::fs;

use crate::fault_support::ssh_master_lines;
use crate::harness::Fleet;
use crate::run_support::Run;

/// An ssh_config that reaches `node-2` through `ssh -W` on `jump`, then the
/// fleet's own.
fn config_with_jump(fleet: &Fleet, jump: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp ssh_config");
    let fleet_config = fleet.ssh_config_path().display().to_string();
    fs::write(
        file.path(),
        format!(
            "Host node-2\n    ProxyCommand ssh -F {fleet_config} -o BatchMode=yes -W %h:%p {jump}\n\n\
             Include {fleet_config}\n"
        ),
    )
    .expect("write ssh_config");
    file
}

#[test]
fn a_hosts_own_proxy_command_is_followed() {
    let fleet = Fleet::start(2);
    let config = config_with_jump(&fleet, "node-1");
    let before = fleet.host("node-1").sshd_log();
    let run = Run::new(&fleet, "run-id")
        .host("node-2")
        .ssh_config(config.path())
        .output();
    run.assert_code(0);
    assert_eq!(run.concluded_steps(), ["done"]);
    // ssh used the user's proxy as configured (with the engine's
    // `ProxyUseFdpass` added it could not connect at all), and node-1
    // carried the connection.
    let jump_log = fleet.host("node-1").sshd_log();
    assert!(
        jump_log.len() > before.len() && jump_log.contains("Accepted publickey"),
        "{jump_log}"
    );
}

#[test]
fn a_proxy_command_that_cannot_connect_is_not_bypassed() {
    let fleet = Fleet::start(2);
    fleet.host("node-1").stop_sshd();
    let config = config_with_jump(&fleet, "node-1");
    let run = Run::new(&fleet, "run-id")
        .host("node-2")
        .ssh_config(config.path())
        .output();
    run.assert_code(1);
    let failed = run.only("connection_failed", None);
    assert_eq!(failed["kind"], "connect", "{failed}");
}

/// The command lines of the SSH masters an engine run of `concurrency` (one
/// second of steps) starts, seen while it runs.
fn master_command_lines(fleet: &Fleet, run: Run) -> Vec<String> {
    let marker = fleet.engine_tmp_dir();
    let mut seen = Vec::new();
    let output = run.spawn().wait_polling(|_| {
        for (_, line) in ssh_master_lines(&marker) {
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
    });
    output.assert_code(0);
    seen
}

#[test]
fn masters_connect_through_the_engines_nodelay_proxy_unless_told_not_to() {
    let fleet = Fleet::start(1);
    let through_proxy =
        master_command_lines(&fleet, Run::new(&fleet, "concurrency").host("node-1"));
    assert!(
        !through_proxy.is_empty()
            && through_proxy
                .iter()
                .all(|l| l.contains("runbook-ssh-config-")),
        "{through_proxy:?}"
    );
    let plain = master_command_lines(
        &fleet,
        Run::new(&fleet, "concurrency")
            .host("node-1")
            .args(["--tcp-nodelay", "off"]),
    );
    let fleet_config = fleet.ssh_config_path().display().to_string();
    assert!(
        !plain.is_empty() && plain.iter().all(|l| l.contains(&fleet_config)),
        "{plain:?}"
    );
}
