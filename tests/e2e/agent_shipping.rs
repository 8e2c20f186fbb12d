//! Shipping the agent: the first probe on a host uploads it (verified,
//! at a versioned hashed path), later runs reuse it, and a file that was
//! altered on the host is detected and replaced.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::harness::{Fleet, Host};
use crate::run_support::{agent_binary, memory_probe, Run};

fn seed_fleet() -> Fleet {
    Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start()
}

/// `NAME: N kB` of the host's fake /proc/meminfo, in bytes.
fn meminfo_bytes(host: &Host, name: &str) -> u64 {
    let meminfo = host.read_fixture_file("root/proc/meminfo");
    let line = meminfo
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in the fixture's meminfo"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

fn agent_sha256() -> String {
    hex::encode(Sha256::digest(
        fs::read(agent_binary()).expect("read the agent binary"),
    ))
}

#[test]
fn a_probe_uploads_the_agent_once_and_reads_the_seed_nodes_figures() {
    let fleet = seed_fleet();
    let host = fleet.host("node-1");

    let first = memory_probe(&fleet);
    let installed = first.only("agent_installed", None);
    assert_eq!(installed["host"], "node-1");
    assert_eq!(installed["sha256"], agent_sha256().as_str(), "{installed}");
    assert_eq!(installed["replaced_altered"], false, "{installed}");
    let path = PathBuf::from(installed["path"].as_str().expect("path"));
    assert!(
        path.starts_with(Run::default_agent_dir(&fleet)),
        "{}",
        path.display()
    );
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.starts_with(&format!("agent-{}-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );
    assert_eq!(
        fs::read(&path).expect("the uploaded agent"),
        fs::read(agent_binary()).expect("the local agent"),
        "the uploaded file differs from the agent"
    );
    assert_eq!(
        fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
        0o700
    );
    // Installed before the probe ran, and the probe ran that file.
    let installed_at = first
        .events
        .iter()
        .position(|e| e["type"] == "agent_installed")
        .expect("agent_installed");
    assert!(installed_at < first.position("step_started", "memory"));
    let started = first.only("step_started", Some("memory"));
    assert!(
        started["command"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("{} probe memory", path.display()))),
        "{started}"
    );

    // The agent read the fake node under $RUNBOOK_AGENT_ROOT: the seed's
    // 52 MiB available of 3.8 GiB, and its two OOM kills.
    let captures = &first.finished("memory")["captures"];
    assert_eq!(captures["available"], meminfo_bytes(host, "MemAvailable"));
    assert_eq!(captures["available"], 53_652 * 1024);
    assert_eq!(captures["total"], meminfo_bytes(host, "MemTotal"));
    assert_eq!(captures["oom_kills"], 2);
    assert_eq!(first.concluded_steps(), ["starved"]);

    // The second run finds it in place and uploads nothing.
    let second = memory_probe(&fleet);
    assert!(
        second.events_of("agent_installed", None).is_empty(),
        "uploaded again:\n{}",
        second.audit_text()
    );
    assert_eq!(second.concluded_steps(), ["starved"]);
    assert_eq!(
        second.finished("memory")["captures"]["available"],
        53_652 * 1024
    );
}

#[test]
fn an_altered_agent_on_the_host_is_detected_and_replaced() {
    let fleet = seed_fleet();
    let first = memory_probe(&fleet);
    let path = PathBuf::from(
        first.only("agent_installed", None)["path"]
            .as_str()
            .expect("path"),
    );
    // Someone swaps the file for a script of their own.
    fs::write(&path, "#!/bin/sh\necho '{\"type\": \"forged\"}'\n").expect("tamper");

    let second = memory_probe(&fleet);
    let installed = second.only("agent_installed", None);
    assert_eq!(installed["replaced_altered"], true, "{installed}");
    assert_eq!(installed["path"], path.display().to_string().as_str());
    assert_eq!(
        fs::read(&path).expect("the agent"),
        fs::read(agent_binary()).expect("the local agent")
    );
    assert_eq!(
        second.finished("memory")["captures"]["available"],
        53_652 * 1024
    );
}
