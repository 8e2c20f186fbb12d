//! Template injection: hostile values — in remote output (JSON and text),
//! a captured var, `-p` params, inventory vars and host names — are
//! interpolated into a later `run:` command. None of them runs: no marker
//! file appears, on the host or here, and each value arrives as exactly
//! one argument, byte for byte.

use std::fs;

use crate::fault_support::{assert_verified, inventory, yaml_str};
use crate::harness::Fleet;
use crate::run_support::Run;

/// Values that would run `touch DIR/pwned-N` if they ever reached a shell
/// unquoted (or quoted naively), and values that look like options.
fn payloads(dir: &str) -> Vec<String> {
    vec![
        format!("$(touch {dir}/pwned-1)"),
        format!("`touch {dir}/pwned-2`"),
        format!("; touch {dir}/pwned-3"),
        format!("x | touch {dir}/pwned-4"),
        format!("x && touch {dir}/pwned-5 &"),
        format!("x\ntouch {dir}/pwned-6\n"),
        format!("' ; touch {dir}/pwned-7 ; '"),
        format!("\" ; touch {dir}/pwned-8 ; \""),
        format!("$'\\x3b' touch {dir}/pwned-9 > {dir}/pwned-10"),
        "--option=value".into(),
        "-n".into(),
        "--".into(),
        "$HOME ${PATH} * ~ {a,b} #".into(),
        "back\\slash\\".into(),
        String::new(),
        "tab\there".into(),
    ]
}

fn assert_no_marker(fleet: &Fleet, dir: &std::path::Path) {
    let here: Vec<String> = fs::read_dir(dir)
        .expect("marker dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(here.is_empty(), "injected commands ran: {here:?}");
    // And as the host sees it (its own mount namespace, same files).
    let host = fleet.host("node-1");
    let listed = host.ssh_ok(&format!("ls -A {}", dir.display()));
    assert_eq!(listed, "", "injected commands ran on the host");
    let stray = host.ssh_ok("ls -A ~ \"$RUNBOOK_FIXTURE\" | grep -c pwned || true");
    assert_eq!(stray.trim(), "0");
}

#[test]
fn hostile_values_from_every_source_arrive_as_one_inert_argument() {
    let fleet = Fleet::start(1);
    let markers = tempfile::Builder::new()
        .prefix("runbook-e2e-markers-")
        .tempdir()
        .expect("marker dir");
    let dir = markers.path().display().to_string();
    let values = payloads(&dir);
    let host = fleet.host("node-1");
    host.write_fixture_file(
        "payload.json",
        serde_json::to_string(&values).expect("json"),
    );
    // One per line for `parse: lines` (which drops blank lines and keeps
    // the rest whole).
    let lines: Vec<String> = values
        .iter()
        .filter(|v| !v.contains('\n') && !v.trim().is_empty())
        .cloned()
        .collect();
    host.write_fixture_file("payload.txt", lines.join("\n") + "\n");

    let param = format!("$(touch {dir}/pwned-param); touch {dir}/pwned-param2");
    let label = format!("`touch {dir}/pwned-var` $(touch {dir}/pwned-var2)");
    let name = format!("node-1;touch {dir}/pwned-name;$(touch {dir}/pwned-name2)");
    let inventory = inventory(&[format!(
        "{}: {{ address: node-1, vars: {{ label: {} }} }}",
        yaml_str(&name),
        yaml_str(&label)
    )]);
    let run = Run::new(&fleet, "abuse-injection")
        .param("value", &param)
        .args(["--inventory"])
        .args([inventory.path()])
        .output();
    run.assert_code(0);

    let mut expected = String::new();
    for v in values.iter().chain(&lines) {
        expected.push_str(&format!("<{v}>\n"));
    }
    let text_stdout = lines.join("\n") + "\n";
    for v in [&values[0], &param, &label, &name, &text_stdout] {
        expected.push_str(&format!("<{v}>\n"));
    }
    let echo = run.finished("echo");
    assert_eq!(echo["exit_code"], 0, "{echo}");
    assert_eq!(
        echo["stdout"]["text"].as_str().unwrap_or_default(),
        expected,
        "{}",
        run.audit_text()
    );
    assert!(echo["stderr"].is_null(), "{echo}");
    assert_no_marker(&fleet, markers.path());
    assert_verified(run.audit_path.as_deref().expect("audit"));
}
