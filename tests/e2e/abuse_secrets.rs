//! Secrets never appear: a `secret: true` param used in a remote command
//! (where the engine shell-quotes it) and echoed back by the host, and a
//! private key printed by a remote step. Neither reaches the terminal
//! (even with `-vv` and `RUST_LOG=trace`), the audit file, `--output
//! json`, `audit show` or a report.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::fault_support::{assert_verified, engine};
use crate::harness::{run_bounded, Fleet};
use crate::run_support::{Run, RunOutput};

/// Quotes, `$` and a double quote make the shell-quoted form of the
/// secret differ from the secret itself; the `S3cr3t-x9q` stem must not
/// appear in any form.
const SECRET: &str = "S3cr3t-x9q-'tok'-$HOME-\"q\"";
const STEM: &str = "S3cr3t-x9q";

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_clean(what: &str, haystack: &str, key_lines: &[String]) {
    assert!(
        !haystack.contains(STEM),
        "the secret is in {what}:\n{haystack}"
    );
    for line in key_lines {
        assert!(
            !haystack.contains(line.as_str()),
            "private key material `{line}` is in {what}:\n{haystack}"
        );
    }
}

#[test]
fn secrets_and_private_keys_reach_no_output_record_or_report() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");
    let keys = tempfile::tempdir().expect("temp dir");
    let key_path = keys.path().join("id_leaked");
    let keygen = run_bounded(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "leaked", "-f"])
            .arg(&key_path),
        Duration::from_secs(20),
    );
    assert!(keygen.status.success(), "{}", text(&keygen));
    let key = fs::read_to_string(&key_path).expect("read key");
    host.write_fixture_file("id_leaked", &key);
    let key_lines: Vec<String> = key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| l[..l.len().min(40)].to_string())
        .collect();
    assert!(!key_lines.is_empty());

    let logged = Run::new(&fleet, "abuse-secrets")
        .host("node-1")
        .param("token", SECRET)
        .args(["-vv"])
        .output();
    logged.assert_code(0);
    // The host did get the real value, and echoed it back (masked).
    let used = logged.finished("use");
    assert_eq!(used["stdout"]["text"], "token=[REDACTED]\n", "{used}");
    assert_eq!(used["stderr"]["text"], "[REDACTED]\n", "{used}");
    assert_clean("the terminal (-vv)", &logged.context(), &key_lines);

    let traced = {
        // `RUST_LOG` is removed by the builder; set it for this run only.
        let run = crate::fault_support::NsRun::new(&[], "exec \"$@\"", "abuse-secrets");
        let audit = run.audit_dir().to_path_buf();
        run.args(["--host", "node-1", "-p"])
            .args([format!("token={SECRET}")])
            .args(["-vvv", "--audit-dir"])
            .args([audit.as_os_str()])
            .args([
                std::ffi::OsStr::new("--ssh-config"),
                fleet.ssh_config_path().as_os_str(),
            ])
            .env("RUST_LOG", "trace")
            .output()
    };
    assert_eq!(traced.code, Some(0), "{}", traced.context());
    assert_clean(
        "the terminal (RUST_LOG=trace)",
        &traced.context(),
        &key_lines,
    );

    let json = Run::new(&fleet, "abuse-secrets")
        .host("node-1")
        .param("token", SECRET)
        .args(["--output", "json"])
        .output();
    json.assert_code(0);
    let _ = json.json();
    assert_clean("--output json", &json.context(), &key_lines);

    for run in [&logged, &json] {
        check_records(run, &key_lines);
    }
    let audit = traced.audit_path.as_deref().expect("audit");
    assert_clean(
        "the audit file",
        &fs::read_to_string(audit).expect("audit"),
        &key_lines,
    );
}

/// The audit file, `audit show`, and reports made from it.
fn check_records(run: &RunOutput, key_lines: &[String]) {
    let path = run.audit_path.as_deref().expect("audit");
    assert_verified(path);
    let audit = fs::read_to_string(path).expect("audit");
    assert_clean("the audit file", &audit, key_lines);
    assert!(audit.contains("[REDACTED]"));
    let path = path.to_str().expect("utf-8 path");
    for args in [
        vec!["audit", "show", path],
        vec!["report", path, "--format", "html"],
        vec!["report", path, "--format", "md"],
    ] {
        let out = run_bounded(
            Command::new(engine())
                .args(&args)
                .args(["--color", "never"]),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_clean(
            &format!("`runbook {}`", args.join(" ")),
            &text(&out),
            key_lines,
        );
    }
}
