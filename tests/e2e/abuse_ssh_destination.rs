//! A target address that comes from an untrusted value — a `-p` param, or
//! what a host printed, passed on through `call … with:` — never becomes
//! an option of the local `ssh` (`-oProxyCommand=…` would run a command
//! on the operator's machine): it is refused with a clear reason, and the
//! walk goes on to `on_failure`.

use std::fs;

use crate::fault_support::assert_verified;
use crate::harness::Fleet;
use crate::run_support::Run;

fn hostile_addresses(dir: &str) -> Vec<String> {
    vec![
        format!("-oProxyCommand=touch {dir}/pwned-proxy"),
        format!("-oLocalCommand=touch {dir}/pwned-local"),
        "-V".into(),
        format!("node-1 -oProxyCommand=touch {dir}/pwned-space"),
        format!("node-1\n-oProxyCommand=touch {dir}/pwned-newline"),
        format!("ssh://-oProxyCommand=touch {dir}/pwned-url"),
    ]
}

fn assert_refused(finding: &str, address: &str) {
    assert!(
        finding.starts_with("the peer was refused: ")
            && finding.contains("not a valid SSH destination"),
        "`{address}`: {finding}"
    );
}

#[test]
fn option_shaped_target_addresses_from_params_are_refused() {
    let fleet = Fleet::start(1);
    let markers = tempfile::tempdir().expect("marker dir");
    let dir = markers.path().display().to_string();
    for address in hostile_addresses(&dir) {
        let run = Run::new(&fleet, "abuse-target")
            .host("node-1")
            .param("peer", &address)
            .output();
        run.assert_code(0);
        let failed = run.only("connection_failed", None);
        assert!(
            failed["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a valid SSH destination")),
            "`{address}`: {failed}"
        );
        let finding = run.only("concluded", None)["finding"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_refused(&finding, &address);
        assert_verified(run.audit_path.as_deref().expect("audit"));
    }
    let ran: Vec<_> = fs::read_dir(markers.path())
        .expect("markers")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(ran.is_empty(), "ssh ran an injected command: {ran:?}");
}

#[test]
fn an_address_a_host_prints_cannot_become_an_ssh_option() {
    let fleet = Fleet::start(1);
    let markers = tempfile::tempdir().expect("marker dir");
    let dir = markers.path().display().to_string();
    let host = fleet.host("node-1");
    host.write_fixture_file(
        "peer-address",
        format!("-oProxyCommand=touch {dir}/pwned-from-host\n"),
    );
    let run = Run::new(&fleet, "abuse-target-caller")
        .host("node-1")
        .output();
    run.assert_code(0);
    let finding = run.only("concluded", Some("refused"))["finding"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_refused(&finding, "from the host");
    assert!(
        fs::read_dir(markers.path())
            .expect("markers")
            .next()
            .is_none(),
        "ssh ran an injected command"
    );
    // A well-formed address read from the host still works.
    host.write_fixture_file("peer-address", "node-1\n");
    let run = Run::new(&fleet, "abuse-target-caller")
        .host("node-1")
        .output();
    run.assert_code(0);
    assert_eq!(
        run.concluded_steps(),
        ["done", "done"],
        "{}",
        run.audit_text()
    );
}
