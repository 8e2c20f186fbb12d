//! The flagship runbook against the seed incident, end to end: real sshd
//! hosts serving the seed node (`seed-oom`) and a healthy one, the real
//! engine shipping the real agent, and `node-not-ready` concluding out of
//! memory with the seed's figures on the first and healthy on the second.
//!
//! The node fixtures fake the tools a shell step runs and the files the
//! `memory` and `oom` probes read, but have no `/proc/stat`, `/proc/<pid>`
//! or `/proc/mounts`, which the `cpu`, `processes` and `disk` probes need.
//! Each host gets those from the agent's own fixtures
//! (`remote-agent/tests/fixtures/{seed-node,healthy-node}`: kswapd0 at 69%,
//! kube-apiserver at 809 MiB, four zombies on the seed node), without
//! touching the figures the node fixture already has.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{run_bounded, Fleet, Host};
use crate::run_support::agent_binary;

/// Upper bound of one `runbook run` here (it takes a few seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn seed_node_is_out_of_memory_and_healthy_node_is_healthy() {
    let fleet = Fleet::builder()
        .hosts(2)
        .host_state("node-1", "seed-oom")
        .host_state("node-2", "healthy")
        .start();
    add_procfs(fleet.host("node-1"), "seed-node");
    add_procfs(fleet.host("node-2"), "healthy-node");

    // kubectl on each node itself: the fixture's stand-in answers for the
    // host it runs on.
    let run = run_node_not_ready(&fleet, &["node-1", "node-2"], &["control_plane=host"], &[]);

    let seed = run.host("node-1");
    assert_eq!(seed["status"], "concluded", "{}", run.text());
    let oom = run.conclusion("node-1", "out-of-memory");
    assert_eq!(oom["severity"], "critical");
    let finding = oom["finding"].as_str().unwrap_or_default();
    for figure in [
        // MemAvailable 53652 kB of MemTotal 4015956 kB, no swap.
        "52.4 MiB available of 3.8 GiB (1.34%), no swap",
        // The two kills of the seed, found in the ring buffer and
        // `journalctl -k` although /var/log/messages lost them.
        "The OOM killer has run 2 times since boot",
        "python3 (pid 113716",
        "python3 (pid 101788",
        "/var/log/messages does not",
        "kswapd at 69.09% CPU",
    ] {
        assert!(finding.contains(figure), "`{figure}` not in: {finding}");
    }
    let remedy = oom["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy.contains("kube-apiserver (pid 8690) 809.4 MiB"),
        "the remedy names the largest process: {remedy}"
    );
    assert!(
        run.conclusions("node-1")
            .contains(&"control-plane-down".to_string()),
        "the exited kube-apiserver is reported too: {:?}",
        run.conclusions("node-1")
    );
    assert!(!run
        .conclusions("node-1")
        .contains(&"node-healthy".to_string()));

    assert_eq!(
        run.conclusions("node-2"),
        vec!["node-healthy".to_string()],
        "{}",
        run.text()
    );
    let healthy = run.conclusion("node-2", "node-healthy");
    assert!(
        healthy["finding"]
            .as_str()
            .unwrap_or_default()
            .contains("Ready per the API server"),
        "{healthy}"
    );

    // What the API server said came from kubectl on each node.
    assert!(run.captures("node-1", "api-status-on-node")["api_says"]
        .as_str()
        .unwrap_or_default()
        .contains("Ready=Unknown (NodeStatusUnknown: Kubelet stopped posting node status.)"));
    assert_eq!(
        run.captures("node-2", "api-status-on-node")["api_ready"],
        "True"
    );
}

#[test]
fn kubectl_runs_on_this_machine_by_default() {
    let fleet = Fleet::builder().host_state("node-1", "seed-oom").start();
    add_procfs(fleet.host("node-1"), "seed-node");
    let node = fleet.host("node-1");

    // The seed node's kubectl stand-in first on the engine's own PATH,
    // answering for node-1.
    let path = std::env::join_paths(std::iter::once(node.fixture_dir().join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let run = run_node_not_ready(
        &fleet,
        &["node-1"],
        &[],
        &[("PATH", path), ("RUNBOOK_NODE_NAME", "node-1".into())],
    );

    assert!(
        run.host("node-1")["path"]
            .as_array()
            .is_some_and(|p| p.iter().any(|s| s == "api-status")),
        "{}",
        run.text()
    );
    assert_eq!(
        run.captures("node-1", "api-status")["api_ready"],
        "Unknown",
        "{}",
        run.text()
    );
    assert!(
        run.conclusions("node-1")
            .contains(&"out-of-memory".to_string()),
        "{}",
        run.text()
    );
}

/// A finished `runbook run --output json` and its audit trail.
struct RunResult {
    output: Output,
    doc: Value,
    audit: Vec<Value>,
}

impl RunResult {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    fn host(&self, name: &str) -> &Value {
        self.doc["hosts"]
            .as_array()
            .and_then(|hosts| hosts.iter().find(|h| h["host"] == name))
            .unwrap_or_else(|| panic!("no host `{name}` in the run:\n{}", self.text()))
    }

    fn conclusions(&self, host: &str) -> Vec<String> {
        self.host(host)["conclusions"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["step"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn conclusion(&self, host: &str, step: &str) -> &Value {
        self.host(host)["conclusions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["step"] == step))
            .unwrap_or_else(|| panic!("`{host}` did not conclude `{step}`:\n{}", self.text()))
    }

    /// The captures of `step` on `host`, from the audit trail.
    fn captures(&self, host: &str, step: &str) -> &Value {
        self.audit
            .iter()
            .find(|e| e["type"] == "step_finished" && e["host"] == host && e["step"] == step)
            .map(|e| &e["captures"])
            .unwrap_or_else(|| {
                panic!(
                    "no step_finished for `{step}` on `{host}`:\n{}",
                    self.text()
                )
            })
    }
}

/// `runbook run node-not-ready` on `hosts` of `fleet`, with the shipped
/// runbooks, the agent, a temp audit dir and an agent dir inside the
/// fleet's temp dir (never the real `~/.cache`).
fn run_node_not_ready(
    fleet: &Fleet,
    hosts: &[&str],
    params: &[&str],
    env: &[(&str, OsString)],
) -> RunResult {
    let audit = tempfile::tempdir().expect("audit dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
    command
        .args(["run", "node-not-ready", "--output", "json", "--runbooks"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks"))
        .arg("--ssh-config")
        .arg(fleet.ssh_config_path())
        .arg("--audit-dir")
        .arg(audit.path())
        .arg("--agent-dir")
        .arg(fleet.root_dir().join("agent"))
        .env("RUNBOOK_AGENT_BINARY", agent_binary());
    for host in hosts {
        command.args(["--host", host]);
    }
    // The disk probe measures this machine's own filesystem under the
    // fixture; do not let a nearly full build disk decide the test.
    command.args(["-p", "disk_full_percent=99"]);
    for p in params {
        command.args(["-p", p]);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let output = run_bounded(&mut command, RUN_TIMEOUT);
    let text = String::from_utf8_lossy(&output.stdout);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "`runbook run --output json` printed no JSON ({e}):\n{text}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let audit_file = doc["audit_file"].as_str().unwrap_or_default();
    let audit = fs::read_to_string(audit_file)
        .unwrap_or_else(|e| panic!("cannot read the audit file {audit_file}: {e}"))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    RunResult { output, doc, audit }
}

/// Copies the `/proc` files the `cpu`, `processes` and `disk` probes need
/// from the agent's fixture `agent_fixture` into `host`'s agent root, never
/// replacing a file the node fixture already has (its meminfo, vmstat,
/// loadavg and PSI are the seed's). `/proc/mounts` lists only `/`.
fn add_procfs(host: &Host, agent_fixture: &str) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../remote-agent/tests/fixtures")
        .join(agent_fixture);
    let root = host.agent_root();
    for dir in ["proc", "proc.2"] {
        copy_missing(&source.join(dir), &root.join(dir));
    }
    fs::write(
        root.join("proc/mounts"),
        "/dev/vda2 / ext4 rw,relatime 0 0\n",
    )
    .expect("write proc/mounts");
}

fn copy_missing(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_missing(&entry.path(), &target);
        } else if !target.exists() {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy to {}: {e}", target.display()));
        }
    }
}
