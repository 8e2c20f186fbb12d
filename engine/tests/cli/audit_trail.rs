//! The audit trail: every run leaves a hash-chained, sealed JSONL file;
//! any edit, deletion, reordering or truncation is caught and named; a
//! killed run's complete lines still verify; secrets never reach it; the
//! reports render; replay re-decides a run from its recorded outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::support::RUNBOOK;

const CHECK: &str = r#"runbook: check-token
summary: uses a secret and meets a private key in output
params:
  token: { description: API token, secret: true, required: true }
steps:
  - id: call-api
    on: local
    run: echo calling with {{ params.token }}; printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n'
    next:
      - when: result.exit_code == 0
        goto: fine
      - goto: broken
  - id: fine
    conclude: { severity: ok, finding: "the API answered", evidence: [call-api] }
  - id: broken
    conclude: { severity: critical, finding: "the API failed" }
"#;

const SLOW: &str = r#"runbook: slow
summary: a step that takes a while
steps:
  - id: wait
    on: local
    run: sleep 31.7
    timeout: 60s
    next: [done]
  - id: done
    conclude: { severity: ok, finding: "waited" }
"#;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("runbooks")).expect("mkdir");
        std::fs::write(dir.path().join("runbooks/check-token.yaml"), CHECK).expect("write");
        std::fs::write(dir.path().join("runbooks/slow.yaml"), SLOW).expect("write");
        Env { dir }
    }

    fn audit_dir(&self) -> PathBuf {
        self.dir.path().join("audit")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(RUNBOOK);
        c.current_dir(self.dir.path())
            .args(args)
            .env("RUNBOOK_AUDIT_DIR", self.audit_dir())
            .env("RUNBOOK_PATH", self.dir.path().join("runbooks"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("runbook runs")
    }

    fn only_audit_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.audit_dir())
            .expect("audit dir exists")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    fn verify(&self, file: &Path) -> (i32, String) {
        let out = self.run(&["audit", "verify", file.to_str().expect("utf-8 path")]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn checked_run() -> (Env, PathBuf) {
    let env = Env::new();
    let out = env.run(&[
        "run",
        "check-token",
        "--local",
        "-p",
        "token=tok-s3cr3t-value",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = env.only_audit_file();
    (env, file)
}

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(file: &Path, lines: &[String]) {
    std::fs::write(file, lines.join("\n") + "\n").expect("write");
}

#[test]
fn a_finished_run_verifies_and_is_sealed() {
    let (env, file) = checked_run();
    let (code, out) = env.verify(&file);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("hash chain intact, sealed"), "{out}");
    let all = lines(&file);
    assert!(all
        .last()
        .is_some_and(|l| l.contains("\"type\":\"run_finished\"")));
    for kind in [
        "run_started",
        "host_started",
        "connected",
        "step_started",
        "step_finished",
        "decision",
        "concluded",
        "host_finished",
    ] {
        assert!(
            all.iter()
                .any(|l| l.contains(&format!("\"type\":\"{kind}\""))),
            "no {kind} event"
        );
    }
}

/// Runs a checked run, edits its audit file's lines with `edit`, and
/// verifies it: `(exit code, output)`.
fn verify_after_editing(edit: impl FnOnce(&mut Vec<String>)) -> (i32, String) {
    let (env, file) = checked_run();
    let mut all = lines(&file);
    edit(&mut all);
    write_lines(&file, &all);
    env.verify(&file)
}

#[test]
fn editing_a_line_is_caught_at_the_next_line() {
    let (code, out) = verify_after_editing(|all| {
        all[3] = all[3]
            .replace("\"host\"", "\"host\" ")
            .replacen("local", "locul", 1);
    });
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(":5: TAMPERED") && out.contains("line 4 was changed"),
        "{out}"
    );
}

#[test]
fn deleting_a_line_is_caught() {
    let (code, out) = verify_after_editing(|all| {
        all.remove(2);
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(":3: TAMPERED"), "{out}");
}

#[test]
fn reordering_lines_is_caught() {
    let (code, out) = verify_after_editing(|all| {
        all.swap(2, 3);
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(":3: TAMPERED"), "{out}");
}

#[test]
fn truncating_the_file_is_caught() {
    let (code, out) = verify_after_editing(|all| {
        all.truncate(all.len() - 2);
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT SEALED"), "{out}");
}

#[test]
fn appending_after_the_seal_is_caught() {
    let mut n = 0;
    let (code, out) = verify_after_editing(|all| {
        let extra = all[1].clone();
        all.push(extra);
        n = all.len();
    });
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(":{n}: TAMPERED")) && out.contains("after the run was sealed"),
        "{out}"
    );
}

#[test]
fn secrets_and_private_keys_never_reach_the_audit_or_the_terminal() {
    let env = Env::new();
    let out = env
        .cmd(&[
            "run",
            "check-token",
            "--local",
            "-p",
            "token=tok-s3cr3t-value",
            "-vv",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = env.only_audit_file();
    let audit = std::fs::read_to_string(&file).expect("read");
    let json = env.run(&[
        "run",
        "check-token",
        "--local",
        "-p",
        "token=tok-s3cr3t-value",
        "--output",
        "json",
    ]);
    let report = env.run(&["report", file.to_str().expect("path"), "--format", "html"]);
    let show = env.run(&["audit", "show", file.to_str().expect("path")]);
    for (what, haystack) in [
        ("audit file", audit.clone()),
        ("terminal and logs", text(&out)),
        ("json output", text(&json)),
        ("report", text(&report)),
        ("audit show", text(&show)),
    ] {
        assert!(
            !haystack.contains("tok-s3cr3t-value"),
            "secret in {what}:\n{haystack}"
        );
        assert!(
            !haystack.contains("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
            "private key in {what}:\n{haystack}"
        );
    }
    assert!(audit.contains("[REDACTED]"));
}

#[test]
fn a_run_killed_mid_step_leaves_complete_lines_that_verify_and_shows_as_incomplete() {
    let env = Env::new();
    let mut child = env
        .cmd(&["run", "slow", "--local"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the step has started, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = std::fs::read_dir(env.audit_dir())
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .is_some_and(|t| t.contains("\"type\":\"step_started\""));
        if started || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let file = env.only_audit_file();
    let (code, out) = env.verify(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("NOT SEALED") && out.contains("chain correctly"),
        "{out}"
    );
    let show = env.run(&["audit", "show", file.to_str().expect("path")]);
    assert!(text(&show).contains("INCOMPLETE"), "{}", text(&show));
    let _ = Command::new("pkill").args(["-f", "sleep 31[.]7"]).status();
}

#[test]
fn the_html_report_renders_in_a_browser_with_the_path_highlighted() {
    let (env, file) = checked_run();
    let html = env.dir.path().join("report.html");
    let out = env.run(&[
        "report",
        file.to_str().expect("path"),
        "--format",
        "html",
        "-o",
        html.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a headless browser (Debian: apt-get install chromium) is needed for this test");
    let profile = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("file://{}", html.display()))
    .stdin(Stdio::null())
    .stderr(Stdio::null());
    let dom = cmd.output().expect("browser runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    // call-api and fine ran: both boxes are drawn and highlighted.
    assert!(dom.contains("data-taken-visible=\"2\""), "{dom}");
    assert!(dom.contains("the API answered"));
}

#[test]
fn the_markdown_report_has_conclusions_diagram_and_timeline() {
    let (env, file) = checked_run();
    let out = env.run(&["report", file.to_str().expect("path")]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("**OK** — the API answered"), "{md}");
    assert!(
        md.contains("```mermaid") && md.contains("class s0 taken"),
        "{md}"
    );
    assert!(md.contains("## Timeline"), "{md}");
}

#[test]
fn replay_reaches_the_recorded_conclusions_and_reports_a_changed_branch() {
    let (env, file) = checked_run();
    let out = env.run(&["replay", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("same"), "{}", text(&out));
    // Today's runbook changes the branch: exit code 0 now means broken.
    let changed = CHECK.replace("when: result.exit_code == 0", "when: result.exit_code != 0");
    std::fs::write(env.dir.path().join("runbooks/check-token.yaml"), changed).expect("write");
    let out = env.run(&["replay", file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("DIFFERENT") && t.contains("expected conclusions [fine], got [broken]"),
        "{t}"
    );
}

#[test]
fn an_unwritable_audit_directory_refuses_the_run() {
    let env = Env::new();
    let blocker = env.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").expect("write");
    let out = env
        .cmd(&[
            "run",
            "check-token",
            "--local",
            "-p",
            "token=abc",
            "--audit-dir",
            blocker.join("audit").to_str().expect("path"),
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to run unaudited"),
        "{}",
        text(&out)
    );
}

#[test]
fn audit_list_shows_runs_across_directories() {
    let (env, _) = checked_run();
    let other = env.dir.path().join("shard-2");
    let out = env
        .cmd(&["run", "check-token", "--local", "-p", "token=abc"])
        .env("RUNBOOK_AUDIT_DIR", &other)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list = env.run(&[
        "audit",
        "list",
        "--audit-dir",
        env.audit_dir().to_str().expect("p"),
        "--audit-dir",
        other.to_str().expect("p"),
    ]);
    let t = String::from_utf8_lossy(&list.stdout);
    assert_eq!(t.matches("check-token").count(), 2, "{t}");
}
