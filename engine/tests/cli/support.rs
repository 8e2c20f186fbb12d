//! A tiny builder for CLI tests, after casey/just's `Test`: write files
//! into a temporary directory, run the real `runbook` binary there, and
//! compare what it printed and how it exited.
//!
//! ```ignore
//! Test::new()
//!     .file("broken.yaml", "runbook: x\n")
//!     .args(["validate", "broken.yaml"])
//!     .status(1)
//!     .stdout_contains("missing required key `steps`")
//!     .run();
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The `runbook` binary cargo built for this test run.
pub const RUNBOOK: &str = env!("CARGO_BIN_EXE_runbook");

/// The workspace's `tests/` folder (fixtures live there).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the engine crate sits in the workspace")
        .join("tests")
}

/// One run of the binary, and what is expected of it.
pub struct Test {
    dir: TempDir,
    cwd: Option<PathBuf>,
    args: Vec<OsString>,
    status: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
}

/// What a run printed and how it ended, redacted.
#[derive(Debug)]
pub struct Output {
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    /// Standard output, with temp paths redacted.
    pub stdout: String,
    /// Standard error, with temp paths redacted.
    pub stderr: String,
}

impl Output {
    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Status, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        let mut out = format!("status: {}\n", self.status);
        if !self.stdout.is_empty() {
            out.push_str("--- stdout\n");
            out.push_str(&self.stdout);
        }
        if !self.stderr.is_empty() {
            out.push_str("--- stderr\n");
            out.push_str(&self.stderr);
        }
        out
    }
}

impl Test {
    /// A test in a fresh, empty temporary directory.
    pub fn new() -> Test {
        Test {
            dir: tempfile::Builder::new()
                .prefix("runbook-cli-")
                .tempdir()
                .expect("a temporary directory"),
            cwd: None,
            args: Vec::new(),
            status: None,
            stdout: None,
            stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
        }
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `path` (relative to the temporary directory),
    /// creating folders on the way.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(&full, contents).expect("write test file");
        self
    }

    /// Runs in `dir` instead of the temporary directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Test {
        self.cwd = Some(dir.into());
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Test {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Expects this exit status.
    pub fn status(mut self, status: i32) -> Test {
        self.status = Some(status);
        self
    }

    /// Expects exactly this standard output (after redaction).
    pub fn stdout(mut self, stdout: &str) -> Test {
        self.stdout = Some(stdout.to_string());
        self
    }

    /// Expects exactly this standard error (after redaction).
    pub fn stderr(mut self, stderr: &str) -> Test {
        self.stderr = Some(stderr.to_string());
        self
    }

    /// Expects standard output to contain `text`.
    pub fn stdout_contains(mut self, text: &str) -> Test {
        self.stdout_contains.push(text.to_string());
        self
    }

    /// Expects standard error to contain `text`.
    pub fn stderr_contains(mut self, text: &str) -> Test {
        self.stderr_contains.push(text.to_string());
        self
    }

    /// Runs the binary, checks every expectation, and returns the output.
    pub fn run(self) -> Output {
        let cwd = self.cwd.clone().unwrap_or_else(|| self.dir.path().into());
        let raw = Command::new(RUNBOOK)
            .args(&self.args)
            .current_dir(&cwd)
            // Nothing from the developer's environment may leak in.
            .env_remove("RUNBOOK_PATH")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run the runbook binary");
        let redact = |bytes: &[u8]| redact(&String::from_utf8_lossy(bytes), self.dir.path());
        let output = Output {
            status: raw.status.code().unwrap_or(-1),
            stdout: redact(&raw.stdout),
            stderr: redact(&raw.stderr),
        };
        let command = format!(
            "runbook {}",
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Some(status) = self.status {
            assert_eq!(
                output.status,
                status,
                "`{command}` exited with {} instead of {status}\n{}",
                output.status,
                output.transcript()
            );
        }
        if let Some(stdout) = &self.stdout {
            assert_eq!(&output.stdout, stdout, "stdout of `{command}`");
        }
        if let Some(stderr) = &self.stderr {
            assert_eq!(&output.stderr, stderr, "stderr of `{command}`");
        }
        for text in &self.stdout_contains {
            assert!(
                output.stdout.contains(text.as_str()),
                "stdout of `{command}` lacks {text:?}:\n{}",
                output.stdout
            );
        }
        for text in &self.stderr_contains {
            assert!(
                output.stderr.contains(text.as_str()),
                "stderr of `{command}` lacks {text:?}:\n{}",
                output.stderr
            );
        }
        output
    }
}

/// Replaces the temporary directory (as given and canonicalised) with
/// `[TEMP]`, so output that names it is stable across runs.
pub fn redact(text: &str, temp: &Path) -> String {
    let mut out = text.to_string();
    let mut forms = vec![temp.display().to_string()];
    if let Ok(canonical) = temp.canonicalize() {
        forms.push(canonical.display().to_string());
    }
    // Longest first, so a canonical path that extends the given one is
    // not left half-replaced.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    for form in forms {
        out = out.replace(&form, "[TEMP]");
    }
    out
}

#[test]
fn redact_masks_the_temporary_directory() {
    let test = Test::new();
    let text = format!("error in {}/a.yaml", test.path().display());
    assert_eq!(redact(&text, test.path()), "error in [TEMP]/a.yaml");
}
