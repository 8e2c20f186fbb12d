//! A host that answers with terminal escape sequences and bytes that are
//! not UTF-8: the operator's terminal gets them neutralised (no raw ESC,
//! BEL or CSI; no line a host can forge), the audit keeps the text
//! (lossily) with the exact byte count and SHA-256 of what was sent.

use sha2::{Digest, Sha256};

use crate::fault_support::{assert_no_control_bytes, assert_verified, inventory};
use crate::harness::Fleet;
use crate::run_support::Run;

/// What `noise` prints on stdout: set the window title to "pwned", clear
/// the screen, then two bytes that are not UTF-8.
const STDOUT: &[u8] = b"\x1b]0;pwned\x07\x1b[2J\xff\xfe";
/// And on stderr: colour, a C1 CSI byte, a carriage return.
const STDERR: &[u8] = b"\x1b[31mred\x9b\r";

#[test]
fn escape_sequences_are_neutralised_on_the_terminal_and_recorded_exactly() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "fault-escapes")
        .host("node-1")
        .args(["-vv"])
        .output();
    run.assert_code(0);
    assert_no_control_bytes("stdout", &run.stdout);
    assert_no_control_bytes("stderr (progress and -vv logs)", &run.stderr);
    // Shown, but inert.
    assert!(
        run.stdout.contains("\\x1b]0;pwned\\x07\\x1b[2J"),
        "{}",
        run.context()
    );

    for (stream, sent) in [("stdout", STDOUT), ("stderr", STDERR)] {
        let record = &run.finished("noise")[stream];
        assert_eq!(record["bytes"], sent.len(), "{stream}: {record}");
        assert_eq!(
            record["sha256"],
            hex::encode(Sha256::digest(sent)),
            "{stream}: {record}"
        );
        assert_eq!(
            record["text"],
            String::from_utf8_lossy(sent).as_ref(),
            "{stream}: {record}"
        );
        assert_eq!(record["truncated"], false);
    }
    let finding = run.only("concluded", None)["finding"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(finding.contains("\u{1b}]0;pwned\u{7}"), "{finding:?}");
    assert_verified(run.audit_path.as_deref().expect("audit"));
}

#[test]
fn a_fleet_table_and_json_output_stay_inert_and_one_row_per_host() {
    let fleet = Fleet::start(2);
    // A second name for node-2 that tries to forge a table row and a
    // progress line of its own.
    let forged = "node-2\nnode-9    ok         all fine\r\x1b[2K[node-9] finished: concluded";
    let inventory = inventory(&[format!(
        "{}: {{ address: node-2 }}",
        crate::fault_support::yaml_str(forged)
    )]);
    let run = Run::new(&fleet, "fault-escapes")
        .host("node-1")
        .args(["--inventory"])
        .args([inventory.path()])
        .output();
    run.assert_code(0);
    assert_no_control_bytes("stdout", &run.stdout);
    assert_no_control_bytes("stderr", &run.stderr);
    // Two hosts, two rows: nothing a host says starts a line of its own.
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("host "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "{}", run.context());
    assert!(rows[0].starts_with("node-1 "), "{rows:?}");
    assert!(rows[1].starts_with("node-2\\nnode-9"), "{rows:?}");
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("node-9")),
        "{}",
        run.context()
    );
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with("[node-9]") || l.starts_with("node-9")),
        "{}",
        run.context()
    );

    let run = Run::new(&fleet, "fault-escapes")
        .host("node-1")
        .args(["--output", "json", "--inventory"])
        .args([inventory.path()])
        .output();
    run.assert_code(0);
    assert_no_control_bytes("stdout", &run.stdout);
    let doc = run.json();
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts[1]["host"], forged, "{doc:#}");
    let finding = hosts[0]["conclusions"][0]["finding"]
        .as_str()
        .unwrap_or_default();
    assert!(finding.contains("\u{1b}[2J\u{fffd}\u{fffd}"), "{finding:?}");
}
