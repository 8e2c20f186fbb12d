//! `processes`: the seed node's four zombies with their parents, the top
//! consumers; and real zombies made on this machine.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::agent;

fn by_pid(list: &Value, pid: u64) -> Option<&Value> {
    list.as_array()?.iter().find(|p| p["pid"] == pid)
}

#[test]
fn seed_node_zombies_come_with_their_parents() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "processes", "--arg", "sample_ms=0"])
        .run()
        .data("processes");
    assert_eq!(d["zombie_count"], 4);
    let expect = [
        (113_716, "python3", 100_500, "containerd-shim"),
        (119_206, "curl", 115_675, "app"),
        (119_324, "calico-node", 69_118, "calico-node"),
        (119_460, "iptables", 69_120, "calico-node"),
    ];
    for (pid, name, ppid, parent) in expect {
        let z = by_pid(&d["zombies"], pid).unwrap_or_else(|| panic!("zombie {pid} missing: {d}"));
        assert_eq!(z["name"], name);
        assert_eq!(z["state"], "Z");
        assert_eq!(z["ppid"], ppid);
        assert_eq!(z["parent_name"], parent);
    }
    assert_eq!(d["states"]["zombie"], 4);
}

#[test]
fn seed_node_top_consumers() {
    let d = agent()
        .on_fixture("seed-node")
        .args([
            "probe",
            "processes",
            "--arg",
            "sample_ms=0",
            "--arg",
            "top=3",
        ])
        .run()
        .data("processes");
    let top_cpu = &d["top_cpu"];
    assert_eq!(top_cpu.as_array().map(Vec::len), Some(3));
    assert_eq!(top_cpu[0]["name"], "kswapd0");
    assert_eq!(top_cpu[0]["cpu_percent"], 69.09);
    assert_eq!(top_cpu[1]["name"], "kube-apiserver");
    assert_eq!(top_cpu[1]["cpu_percent"], 35.76);
    // top: kube-apiserver RES 828812 KiB.
    assert_eq!(d["top_rss"][0]["name"], "kube-apiserver");
    assert_eq!(d["top_rss"][0]["rss_bytes"], 828_812u64 * 1024);
    assert_eq!(d["top_rss"][1]["uid"], 292_100);
    assert_eq!(d["pid_max"], 131_072);
    assert_eq!(d["threads_max"], 31_117);
    assert!(d["threads_total"].as_u64().unwrap_or(0) > 100);
    assert!(d["pids_used_percent"].is_f64());
}

/// A zombie: `sh` forks a child that exits at once, then `exec`s a `sleep`
/// that never waits for it.
fn spawn_zombie_maker() -> std::process::Child {
    Command::new("/bin/sh")
        .args(["-c", "/bin/true & exec /bin/sleep 20"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh starts")
}

#[test]
fn real_zombies_are_reported_with_their_parent() {
    let mut makers: Vec<_> = (0..2).map(|_| spawn_zombie_maker()).collect();
    let parents: Vec<u64> = makers.iter().map(|c| u64::from(c.id())).collect();
    let started = Instant::now();
    let mut found = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        let d = agent()
            .args([
                "probe",
                "processes",
                "--arg",
                "sample_ms=0",
                "--arg",
                "max_list=1000",
            ])
            .run()
            .data("processes");
        found = d["zombies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|z| parents.iter().any(|p| z["ppid"] == *p))
            .cloned()
            .collect();
        if found.len() == parents.len() {
            assert!(d["zombie_count"].as_u64().unwrap_or(0) >= 2);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for m in &mut makers {
        let _ = m.kill();
        let _ = m.wait();
    }
    assert_eq!(
        found.len(),
        2,
        "zombies of {parents:?} not reported: {found:?}"
    );
    for z in found {
        assert_eq!(z["name"], "true");
        assert_eq!(z["state"], "Z");
        assert_eq!(z["parent_name"], "sleep");
    }
}

#[test]
fn real_node_counts_add_up() {
    let d = agent()
        .args(["probe", "processes", "--arg", "top=5"])
        .run()
        .data("processes");
    let total = d["processes_total"].as_u64().unwrap_or(0);
    let by_state: u64 = d["states"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert!(total > 1);
    assert_eq!(total, by_state);
    assert!(d["threads_total"].as_u64().unwrap_or(0) >= total);
    assert_eq!(d["top_rss"].as_array().map(Vec::len), Some(5));
    // The agent itself is running and has a command line.
    assert!(d["pid_max"].as_u64().unwrap_or(0) > 0);
}
