//! Shipping the remote agent: before the first probe on a machine, make
//! sure `runbook-agent` is there at a versioned, content-hashed path; if
//! not (or if the file there was altered), upload it over the existing
//! connection — to a temp file, verified by SHA-256, then renamed. Refuses
//! a host of another CPU architecture and explains read-only and noexec
//! directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::transport::{ExecRequest, Transport};

/// The agent binary on this machine, read once per run.
#[derive(Debug)]
pub struct AgentBinary {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// SHA-256, hex.
    pub sha256: String,
    /// CPU architecture it was built for (Rust's name: `x86_64`, `aarch64`).
    pub arch: &'static str,
}

impl AgentBinary {
    /// Reads the agent at `path` (built for this machine's architecture).
    pub fn load(path: &Path) -> std::io::Result<AgentBinary> {
        let bytes: Arc<[u8]> = std::fs::read(path)?.into();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(AgentBinary {
            path: path.to_path_buf(),
            bytes,
            sha256,
            arch: std::env::consts::ARCH,
        })
    }

    /// The file name on hosts: version and hash, so a changed agent never
    /// reuses an old path.
    pub fn remote_name(&self) -> String {
        format!("agent-{}-{}", env!("CARGO_PKG_VERSION"), &self.sha256[..16])
    }

    /// `$RUNBOOK_AGENT_BINARY`, else `runbook-agent` next to this executable.
    pub fn find() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("RUNBOOK_AGENT_BINARY") {
            return Some(PathBuf::from(p));
        }
        let exe = std::env::current_exe().ok()?;
        let candidate = exe.parent()?.join("runbook-agent");
        candidate.is_file().then_some(candidate)
    }
}

/// How probes find the agent on a machine.
#[derive(Debug, Clone)]
pub enum AgentSource {
    /// Installed by the operator at this path on every host (`--agent-path`).
    Preinstalled(String),
    /// Shipped from this machine into `dir` on each host (`--agent-dir`;
    /// `None`: `$HOME/.cache/runbook`).
    Ship {
        /// The binary.
        binary: Arc<AgentBinary>,
        /// Remote directory.
        dir: Option<String>,
    },
    /// No agent available: probe steps fail with this explanation.
    Missing(String),
}

/// What happened when making sure the agent is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// It was already there, intact.
    Present(String),
    /// It was uploaded; `replaced` when a file with the wrong hash was there.
    Uploaded {
        /// Remote path.
        path: String,
        /// An altered file was replaced.
        replaced: bool,
    },
}

impl Installed {
    /// The remote path.
    pub fn path(&self) -> &str {
        match self {
            Installed::Present(p) | Installed::Uploaded { path: p, .. } => p,
        }
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| "''".into(), |q| q.into_owned())
}

/// Normalises `uname -m` to Rust's architecture names.
pub fn normalize_arch(uname: &str) -> &str {
    match uname.trim() {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        "i386" | "i486" | "i586" | "i686" => "x86",
        a if a.starts_with("armv") => "arm",
        a => a,
    }
}

/// Makes sure the agent is on the machine behind `transport`; returns its
/// path there.
pub async fn ensure(
    transport: &dyn Transport,
    binary: &AgentBinary,
    dir: Option<&str>,
    cancel: &CancellationToken,
) -> Result<Installed, String> {
    let dir_expr = match dir {
        Some(d) => quote(d),
        None => "\"${HOME:-/tmp}/.cache/runbook\"".to_string(),
    };
    let name = binary.remote_name();
    let hash = &binary.sha256;
    // A symlink is replaced like an altered file (what it points to can
    // change after the check). Something else that is not a plain file (a
    // directory, a fifo) is `other`: `mv` would put the upload *into* a
    // directory, and hashing a fifo would hang.
    let check = format!(
        "d={dir_expr}; f=\"$d/{name}\"; uname -m; echo \"$f\"; \
         if [ -L \"$f\" ]; then echo altered; \
         elif [ -f \"$f\" ]; then h=$(sha256sum \"$f\" 2>/dev/null | cut -d' ' -f1); \
         if [ \"$h\" = {hash} ] && [ -x \"$f\" ]; then echo present; else echo altered; fi; \
         elif [ -e \"$f\" ]; then echo other; else echo missing; fi"
    );
    let out = run(transport, "agent-check", check, None, cancel).await?;
    let text = String::from_utf8_lossy(&out.0);
    let mut lines = text.lines();
    let remote_arch = lines.next().unwrap_or("").trim().to_string();
    let path = lines.next().unwrap_or("").trim().to_string();
    let state = lines.next().unwrap_or("").trim().to_string();
    if normalize_arch(&remote_arch) != binary.arch {
        return Err(format!(
            "the host's CPU is {remote_arch} but the agent here is built for {}; build runbook-agent for {remote_arch} and install it on the host (--agent-path), or set RUNBOOK_AGENT_BINARY to a {remote_arch} build",
            binary.arch
        ));
    }
    if state == "present" {
        return Ok(Installed::Present(path));
    }
    if state == "other" {
        return Err(format!(
            "{path} on the host is not a regular file (a directory or device is in the agent's place); remove it, or choose another --agent-dir"
        ));
    }
    if path.is_empty() || !matches!(state.as_str(), "missing" | "altered") {
        return Err(format!(
            "cannot check for the agent on the host: {}",
            text.trim()
        ));
    }
    let upload = format!(
        "d={dir_expr}; f=\"$d/{name}\"; umask 077; mkdir -p \"$d\" || exit 71; \
         t=$(mktemp \"$d/.agent.XXXXXX\") || exit 72; \
         cat > \"$t\" || {{ rm -f \"$t\"; exit 73; }}; \
         h=$(sha256sum \"$t\" | cut -d' ' -f1); \
         if [ \"$h\" != {hash} ]; then rm -f \"$t\"; echo \"received $h\" >&2; exit 74; fi; \
         chmod 700 \"$t\" && mv -f \"$t\" \"$f\" || {{ rm -f \"$t\"; exit 75; }}; \
         \"$f\" --version >/dev/null 2>&1 || exit 76"
    );
    let (_, stderr, code) = run(
        transport,
        "agent-upload",
        upload,
        Some(binary.bytes.clone()),
        cancel,
    )
    .await?;
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let hint = "choose a writable directory where files may be executed with --agent-dir DIR, or install the agent yourself and pass --agent-path";
    match code {
        Some(0) => Ok(Installed::Uploaded {
            path,
            replaced: state == "altered",
        }),
        Some(71..=73) | Some(75) => Err(format!("cannot write the agent into {} on the host (read-only or full?): {stderr}; {hint}", dir.unwrap_or("~/.cache/runbook"))),
        Some(74) => Err(format!("the uploaded agent arrived corrupted ({stderr}); it was removed")),
        Some(76) => Err(format!("the agent was copied to {path} but cannot be executed there (is the filesystem mounted noexec?); {hint}")),
        other => Err(format!("installing the agent failed (exit {other:?}): {stderr}")),
    }
}

async fn run(
    transport: &dyn Transport,
    step: &str,
    command: String,
    stdin: Option<Arc<[u8]>>,
    cancel: &CancellationToken,
) -> Result<(Vec<u8>, Vec<u8>, Option<i32>), String> {
    let mut req = ExecRequest::new(step, command, Duration::from_secs(60), cancel.clone());
    req.stdin = stdin;
    let out = transport.exec(req).await.map_err(|e| e.to_string())?;
    if out.timed_out {
        return Err("installing the agent timed out".into());
    }
    Ok((out.stdout.head, out.stderr.head, out.exit_code))
}
