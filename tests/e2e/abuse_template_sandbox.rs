//! A runbook cannot read the engine's files or environment through its
//! templates, nor make the engine spin: `include`/`import`/`extends` find
//! no loader, `env`/`environ` do not exist, `range` and loops are bounded.
//! Each is refused by `validate` or fails at run time, and no file
//! content or environment value reaches any output or the audit trail.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::fault_support::{engine, NsRun};
use crate::harness::run_bounded;

/// A marker in the engine's environment that must never be printed.
const CANARY: &str = "canary-3f1d9a7c-engine-env";

/// `(name, the hostile template)`.
const CASES: &[(&str, &str)] = &[
    ("include", "cat {% include '/etc/passwd' %}"),
    (
        "include-relative",
        "cat {% include '../../../../etc/passwd' %}",
    ),
    ("extends", "{% extends '/etc/passwd' %}"),
    ("import", "{% import '/etc/passwd' as p %}echo {{ p }}"),
    (
        "from-import",
        "{% from '/etc/hostname' import x %}echo {{ x }}",
    ),
    ("env", "echo {{ env }}"),
    ("env-attr", "echo {{ env.RUNBOOK_E2E_CANARY }}"),
    ("environ", "echo {{ environ['RUNBOOK_E2E_CANARY'] }}"),
    ("os-environ", "echo {{ os.environ }}"),
    ("self", "echo {{ self._TemplateReference__context }}"),
    ("config", "echo {{ config.items() }}"),
    ("range", "echo {{ range(10**9) | length }}"),
    (
        "nested-loops",
        "echo {% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    ),
    ("repeat", "echo {{ 'x' * 10**10 }}"),
    (
        "recursion",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}echo {{ f(0) }}",
    ),
];

fn write_runbook(dir: &Path, name: &str, template: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "runbook: sandbox-{name}\nsummary: a hostile template\nsteps:\n  - id: hostile\n    run: {}\n    next: done\n  - id: done\n    conclude: {{ severity: ok, finding: ran }}\n",
        serde_json::to_string(template).expect("json string")
    );
    fs::write(&path, text).expect("write runbook");
    path.display().to_string()
}

fn no_leak(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks {s:?}:\n{text}");
    }
}

#[test]
fn templates_cannot_read_engine_files_or_environment_nor_run_unbounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Lines of the engine's /etc/passwd and /etc/hostname that a leak
    // would show.
    let mut secrets: Vec<String> = fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.len() > 8)
        .map(str::to_string)
        .collect();
    secrets.push(CANARY.into());
    let hostname = fs::read_to_string("/etc/hostname").unwrap_or_default();
    let hostname = hostname.trim();
    for (name, template) in CASES {
        let path = write_runbook(dir.path(), name, template);
        let validate = run_bounded(
            Command::new(engine())
                .args(["validate", "--color", "never", &path])
                .env("RUNBOOK_E2E_CANARY", CANARY),
            Duration::from_secs(30),
        );
        let validate_text = format!(
            "{}{}",
            String::from_utf8_lossy(&validate.stdout),
            String::from_utf8_lossy(&validate.stderr)
        );
        no_leak(&format!("`validate` of {name}"), &validate_text, &secrets);
        // Run it even when validate refuses: `run` loads through the
        // same checks, and a template the validator lets through must
        // fail when rendered.
        let run = NsRun::new(&[], "exec \"$@\"", &path);
        let audit = run.audit_dir().to_path_buf();
        let run = run
            .args(["--local", "-vv", "--audit-dir"])
            .args([audit.as_os_str()])
            .env("RUNBOOK_E2E_CANARY", CANARY)
            .env("RUST_LOG", "trace")
            .timeout(Duration::from_secs(60))
            .output();
        let audit_text = run
            .audit_path
            .as_deref()
            .map(|p| fs::read_to_string(p).expect("read audit"))
            .unwrap_or_default();
        assert_ne!(
            run.code,
            Some(0),
            "`{template}` ran:\n{validate_text}\n{}",
            run.context()
        );
        let refused_early = validate.status.code() != Some(0);
        if refused_early {
            assert_eq!(run.code, Some(2), "{}", run.context());
            assert!(run.audit_path.is_none(), "{}", run.context());
        } else {
            // Failed at render time: the step never ran a command.
            assert_eq!(run.code, Some(1), "{}", run.context());
            let failed = run.events_of("host_finished", None);
            assert_eq!(failed[0]["status"], "failed", "{}", run.context());
            assert!(
                run.events_of("step_started", None).is_empty(),
                "{}",
                run.context()
            );
        }
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("audit", &audit_text),
        ] {
            no_leak(&format!("{what} of {name}"), text, &secrets);
            if !hostname.is_empty() && name.contains("import") {
                assert!(!text.contains(&format!("echo {hostname}")), "{text}");
            }
        }
    }
}
