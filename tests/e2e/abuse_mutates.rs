//! A step that changes the host (`mutates: true`) runs only after a person
//! says yes at a terminal, sees the exact command while deciding, and can
//! say no or press Ctrl-C. The engine runs on a pseudo-terminal (`script`
//! from util-linux) and the test types the answers.
//! (`--dry-run` and the no-terminal refusal are in run_dry_run.rs and
//! run_approval.rs.)

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::fault_support::{assert_verified, engine};
use crate::harness::Fleet;
use crate::run_support::read_events;
use crate::run_support::runbooks_dir;

const COMMAND: &str = "systemctl restart kubelet && echo restarted node-1";
const PROMPT: &str = "run it? [y/N] ";

/// The engine on a pseudo-terminal, its screen captured as it comes.
struct OnTerminal {
    child: Child,
    stdin: Option<ChildStdin>,
    screen: Arc<Mutex<Vec<u8>>>,
    audit: Option<TempDir>,
}

impl OnTerminal {
    fn start(fleet: &Fleet) -> OnTerminal {
        let audit = tempfile::tempdir().expect("audit dir");
        let args: Vec<String> = vec![
            engine().into(),
            "run".into(),
            "remedy".into(),
            "--host".into(),
            "node-1".into(),
            "--color".into(),
            "never".into(),
            "--runbooks".into(),
            runbooks_dir().display().to_string(),
            "--ssh-config".into(),
            fleet.ssh_config_path().display().to_string(),
            "--audit-dir".into(),
            audit.path().display().to_string(),
            "--operator".into(),
            "alice".into(),
        ];
        let line = shlex::try_join(args.iter().map(String::as_str)).expect("quotable");
        let mut child = Command::new("script")
            .args(["-qfec", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("RUNBOOK_AGENT_BINARY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) runs");
        let screen: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut stdout = child.stdout.take().expect("piped");
        let sink = screen.clone();
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("screen").extend_from_slice(&buffer[..n]);
            }
        });
        OnTerminal {
            stdin: child.stdin.take(),
            child,
            screen,
            audit: Some(audit),
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// Waits until the question is on the screen and has stood there for
    /// a second, unchanged.
    fn wait_for_question(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.screen().contains(PROMPT) {
            assert!(
                matches!(self.child.try_wait(), Ok(None)),
                "the engine ended without asking:\n{}",
                self.screen()
            );
            assert!(Instant::now() < deadline, "no question:\n{}", self.screen());
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_secs(1));
        self.screen()
    }

    fn type_keys(&mut self, keys: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(keys).expect("type");
        stdin.flush().expect("flush");
    }

    /// Waits for the end (bounded).
    fn wait(mut self, within: Duration) -> Finished {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the engine did not end within {within:?}:\n{}",
                    self.screen()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        drop(self.stdin.take());
        thread::sleep(Duration::from_millis(100));
        let audit = self.audit.take().expect("waited for once");
        let path = std::fs::read_dir(audit.path())
            .expect("audit dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .expect("an audit file");
        Finished {
            code: status.code(),
            screen: self.screen(),
            events: read_events(&path),
            path,
            _audit: audit,
        }
    }
}

/// How a run on the terminal ended.
struct Finished {
    code: Option<i32>,
    screen: String,
    events: Vec<Value>,
    path: PathBuf,
    _audit: TempDir,
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn event<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn kubelet_down_fleet() -> Fleet {
    Fleet::builder()
        .hosts(1)
        .host_state("node-1", "kubelet-down")
        .start()
}

/// The question shows the whole command, and nothing redraws over it
/// while the person reads it.
fn assert_question_stands(screen: &str) {
    let at = screen.rfind(PROMPT).expect("prompt");
    let asked = &screen[..at];
    let question = asked
        .rfind("step `restart` on node-1 changes the host:")
        .map(|i| &screen[i..])
        .unwrap_or_else(|| panic!("no question:\n{screen:?}"));
    assert!(question.contains(COMMAND), "{question:?}");
    let after = &screen[at + PROMPT.len()..];
    assert!(
        !after.contains('\u{1b}') && !question.contains('\u{1b}'),
        "the screen was redrawn over the question:\n{screen:?}"
    );
}

#[test]
fn no_at_the_terminal_refuses_the_step_and_yes_runs_it() {
    let fleet = kubelet_down_fleet();
    let host = fleet.host("node-1");

    let mut engine = OnTerminal::start(&fleet);
    let screen = engine.wait_for_question();
    assert_question_stands(&screen);
    engine.type_keys(b"n\n");
    let finished = engine.wait(Duration::from_secs(60));
    let (code, screen, events, path) = (
        finished.code,
        &finished.screen,
        &finished.events,
        &finished.path,
    );
    assert_eq!(code, Some(0), "{screen}");
    let refused = event(events, "approval_refused");
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0]["by"], "alice");
    assert!(event(events, "step_started")
        .iter()
        .all(|e| e["step"] != "restart"));
    assert!(
        !host.fixture_dir().join("actions.log").exists(),
        "a refused step changed the host"
    );
    assert_verified(path);

    let mut engine = OnTerminal::start(&fleet);
    engine.wait_for_question();
    engine.type_keys(b"y\n");
    let finished = engine.wait(Duration::from_secs(60));
    let (code, screen, events, path) = (
        finished.code,
        &finished.screen,
        &finished.events,
        &finished.path,
    );
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(event(events, "approval_given")[0]["by"], "alice");
    assert_eq!(
        host.read_fixture_file("actions.log"),
        "systemctl restart kubelet.service\n"
    );
    assert_verified(path);
}

#[test]
fn ctrl_c_at_the_question_stops_the_run_without_running_the_step() {
    let fleet = kubelet_down_fleet();
    let host = fleet.host("node-1");
    let mut engine = OnTerminal::start(&fleet);
    engine.wait_for_question();
    let pressed = Instant::now();
    engine.type_keys(b"\x03");
    let finished = engine.wait(Duration::from_secs(60));
    let (code, screen, events, path) = (
        finished.code,
        &finished.screen,
        &finished.events,
        &finished.path,
    );
    assert!(
        pressed.elapsed() < Duration::from_secs(10),
        "Ctrl-C took {:?}:\n{screen}",
        pressed.elapsed()
    );
    assert_eq!(code, Some(130), "{screen}");
    assert!(!host.fixture_dir().join("actions.log").exists());
    assert!(event(events, "approval_given").is_empty(), "{events:?}");
    let sealed = events.last().expect("events");
    assert_eq!(sealed["type"], "run_finished", "{sealed}");
    assert_eq!(sealed["status"], "interrupted", "{sealed}");
    assert_verified(path);
}
