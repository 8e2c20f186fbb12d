//! A tiny builder for running the real `runbook-agent` binary: pick a
//! fixture (root + stand-in commands on PATH) or a temp root, add
//! arguments, run with a hard time limit, look at the JSON.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any single agent run may take in a test.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The directory of a committed fixture root.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// PATH with only the given directories (stand-in scripts set their own
/// PATH for the tools they use).
pub fn path_of(dirs: &[&Path]) -> OsString {
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Every probe the agent has, from its own catalogue.
pub fn all_probes() -> Vec<&'static str> {
    runbook_agent::probes::CATALOGUE
        .iter()
        .map(|p| p.name)
        .collect()
}

/// Starts building an agent run.
pub fn agent() -> Agent {
    Agent {
        args: Vec::new(),
        envs: Vec::new(),
        path: None,
        root: None,
    }
}

/// An agent invocation being built.
pub struct Agent {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    path: Option<OsString>,
    root: Option<PathBuf>,
}

impl Agent {
    /// Adds arguments.
    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `probe NAMES...` against a committed fixture: `--root` it, and only its
    /// `bin/` on PATH.
    pub fn on_fixture(self, name: &str) -> Self {
        let root = fixture(name);
        let bin = root.join("bin");
        self.path(path_of(&[&bin])).root(&root)
    }

    /// `--root DIR` (added after the other arguments).
    pub fn root(mut self, dir: &Path) -> Self {
        self.root = Some(dir.to_owned());
        self
    }

    /// Replaces PATH.
    pub fn path(mut self, path: OsString) -> Self {
        self.path = Some(path);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// Runs it, killing it if it takes longer than a minute.
    pub fn run(self) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook-agent"));
        cmd.args(&self.args);
        if let Some(root) = &self.root {
            cmd.arg("--root").arg(root);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUNBOOK_AGENT_ROOT");
        if let Some(p) = &self.path {
            cmd.env("PATH", p);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("the agent binary starts");
        let mut out_pipe = child.stdout.take().expect("stdout is piped");
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out_pipe.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait works") {
                break st;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                panic!("the agent ran for more than {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            code: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            elapsed: started.elapsed(),
        }
    }
}

/// What a run left behind.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Output {
    /// The report, asserting exit 0 and valid JSON.
    pub fn report(&self) -> Value {
        assert_eq!(self.code, Some(0), "exit code; stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// The `data` of a probe that must have succeeded.
    pub fn data(&self, probe: &str) -> Value {
        let r = self.report();
        let p = &r["probes"][probe];
        assert_eq!(p["ok"], true, "probe `{probe}` failed: {p}");
        p["data"].clone()
    }

    /// The `error` of a probe that must have failed.
    pub fn error(&self, probe: &str) -> Value {
        let r = self.report();
        let p = &r["probes"][probe];
        assert_eq!(
            p["ok"], false,
            "probe `{probe}` unexpectedly succeeded: {p}"
        );
        p["error"].clone()
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create script dir");
    }
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// Writes a file, creating its directory.
pub fn write(path: &Path, body: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, body).expect("write file");
}

/// A fresh temporary directory.
pub fn temp_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("runbook-agent-test-")
        .tempdir()
        .expect("temp dir")
}

/// Copies a directory tree (fixtures are small).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Names of a JSON object's keys, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
