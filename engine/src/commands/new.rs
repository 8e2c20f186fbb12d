//! `runbook new NAME`: scaffolds a runbook that validates and a scenario
//! test file that passes, as the starting point an on-call engineer edits.

use super::exit;
use crate::cli::NewArgs;

const RUNBOOK: &str = r#"runbook: NAME
summary: TODO one line naming the symptom this runbook diagnoses
params:
  service: { description: The systemd unit to look at, default: "sshd" }
steps:
  - id: service-state
    description: Is the service running?
    run: systemctl is-active {{ params.service }}
    next:
      - when: result.exit_code == 0
        goto: service-up
      - goto: service-down

  - id: service-up
    conclude:
      severity: ok
      finding: "{{ params.service }} is running"
      evidence: [service-state]

  - id: service-down
    conclude:
      severity: critical
      finding: "{{ params.service }} is not running ({{ steps['service-state'].stdout | trim }})"
      remedy: "Look at `journalctl -u {{ params.service }} -n 100` for why it stopped, then `systemctl restart {{ params.service }}`."
      evidence: [service-state]
"#;

const TEST: &str = r#"runbook: NAME
scenarios:
  - name: the service is running
    steps:
      service-state: { stdout: "active\n", exit_code: 0 }
    expect:
      conclusions: [service-up]

  - name: the service is down
    steps:
      service-state: { stdout: "inactive\n", exit_code: 3 }
    expect:
      conclusions: [service-down]
      findings: ["is not running (inactive)"]
"#;

pub(crate) fn run(args: &NewArgs) -> u8 {
    let name = &args.name;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        eprintln!(
            "error: `{name}` is not a runbook name: use lowercase letters, digits, `-` and `_`"
        );
        return exit::USAGE;
    }
    let runbook = args.dir.join(format!("{name}.yaml"));
    let test = args.dir.join("tests").join(format!("{name}.test.yaml"));
    for path in [&runbook, &test] {
        if path.exists() && !args.force {
            eprintln!(
                "error: {} exists (use --force to overwrite)",
                path.display()
            );
            return exit::USAGE;
        }
    }
    let write = |path: &std::path::Path, text: &str| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text.replace("NAME", name))
    };
    if let Err(e) = write(&runbook, RUNBOOK).and_then(|()| write(&test, TEST)) {
        eprintln!("error: cannot write the files: {e}");
        return exit::FAILED;
    }
    outln!("created {}\ncreated {}", runbook.display(), test.display());
    outln!(
        "next: edit them, then\n  runbook validate {}\n  runbook test {}",
        runbook.display(),
        test.display()
    );
    exit::OK
}
