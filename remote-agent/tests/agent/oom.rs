//! `oom`: kills found in the ring buffer even when syslog lost them, merged
//! across sources, tails only of big logs, `dmesg` as a fallback, and a real
//! memory-cgroup OOM kill on this machine when cgroups are writable.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{agent, path_of, script, temp_root, write};

const SEED_KILL_1: &str = "Out of memory: Killed process 101788 (python3) total-vm:487148kB, anon-rss:54264kB, file-rss:0kB, shmem-rss:0kB";

fn source<'a>(d: &'a Value, location: &str) -> &'a Value {
    d["sources"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["location"] == location))
        .unwrap_or(&Value::Null)
}

#[test]
fn seed_node_kills_come_from_the_ring_buffer() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "oom"])
        .run()
        .data("oom");
    assert_eq!(d["count"], 2);
    assert_eq!(d["oom_kill_counter"], 17);
    let e = &d["events"];
    // Newest first.
    assert_eq!(e[0]["pid"], 113_716);
    assert_eq!(e[1]["pid"], 101_788);
    assert_eq!(e[1]["process"], "python3");
    assert_eq!(e[1]["anon_rss_bytes"], 54_264u64 * 1024);
    assert_eq!(e[1]["total_vm_bytes"], 487_148u64 * 1024);
    assert_eq!(e[1]["cgroup_constrained"], false);
    assert_eq!(e[1]["uptime_seconds"], 6472.442368);
    assert_eq!(e[1]["time"], "2022-09-28T08:24:19.442Z");
    assert_eq!(e[1]["sources"], serde_json::json!(["kmsg"]));
    assert_eq!(e[1]["message"], SEED_KILL_1);
    assert!(e[1]["memcg"]
        .as_str()
        .unwrap_or_default()
        .contains("cri-containerd-4f1a"));
    // /var/log/messages was read and had none of them: only the ring
    // buffer knew.
    let kmsg = source(&d, "/dev/kmsg");
    assert_eq!(kmsg["read"], true);
    assert_eq!(kmsg["events"], 2);
    let messages = source(&d, "/var/log/messages");
    assert_eq!(messages["read"], true);
    assert_eq!(messages["events"], 0);
    assert!(messages["lines"].as_u64().unwrap_or(0) > 10);
    assert_eq!(source(&d, "/var/log/syslog")["read"], false);
    let unavailable = d["unavailable"].to_string();
    assert!(
        unavailable.contains("/var/log/kern.log not found"),
        "{unavailable}"
    );
}

#[test]
fn the_same_kill_in_several_sources_is_one_event() {
    let root = temp_root();
    let r = root.path();
    write(
        &r.join("proc/stat"),
        "cpu 1 2 3 4 5 6 7 8\nbtime 1664346987\n",
    );
    write(&r.join("proc/vmstat"), "oom_kill 3\n");
    write(
        &r.join("dev/kmsg"),
        &format!("3,9,6472442368,-;{SEED_KILL_1}\n"),
    );
    write(
        &r.join("var/log/messages"),
        &format!(
            "2022-09-28T08:24:19.537448+00:00 n kernel: [ 6472.442368] {SEED_KILL_1}\n\
             Sep 28 08:30:00 n kernel: [ 6800.000000] Memory cgroup out of memory: Killed process 4242 (java) total-vm:900kB, anon-rss:800kB, file-rss:0kB, shmem-rss:0kB\n"
        ),
    );
    write(
        &r.join("var/log/kern.log"),
        &format!("Sep 28 08:24:19 n kernel: [ 6472.442368] {SEED_KILL_1}\n"),
    );
    let d = agent()
        .root(r)
        .path(path_of(&[&r.join("bin")]))
        .args(["probe", "oom"])
        .run()
        .data("oom");
    assert_eq!(d["count"], 2, "{d}");
    let python = d["events"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["pid"] == 101_788))
        .cloned()
        .unwrap_or_default();
    assert_eq!(python["sources"], serde_json::json!(["kmsg", "syslog"]));
    let java = d["events"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["pid"] == 4242))
        .cloned()
        .unwrap_or_default();
    assert_eq!(java["cgroup_constrained"], true);
    assert_eq!(java["time"], "Sep 28 08:30:00");
    assert!(java["unix_time"].is_null());
    // No journalctl on PATH: unavailable, not fatal.
    assert!(d["unavailable"]
        .to_string()
        .contains("journalctl: not found on PATH"));
}

#[test]
fn only_the_tail_of_a_big_log_is_read() {
    let root = temp_root();
    let r = root.path();
    let mut log = String::from("Sep 28 01:00:00 n kernel: Out of memory: Killed process 1 (old) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n");
    let filler = "Sep 28 01:00:01 n kubelet[1]: nothing to see here, just filling the file up\n";
    while log.len() < 200_000 {
        log.push_str(filler);
    }
    log.push_str("Sep 28 02:00:00 n kernel: Out of memory: Killed process 2 (new) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n");
    write(&r.join("var/log/messages"), &log);
    let d = agent()
        .root(r)
        .path(path_of(&[&r.join("bin")]))
        .args(["probe", "oom", "--arg", "max_bytes=8192"])
        .run()
        .data("oom");
    assert_eq!(d["count"], 1);
    assert_eq!(d["events"][0]["process"], "new");
    let m = source(&d, "/var/log/messages");
    assert_eq!(m["truncated"], true);
    assert!(m["bytes"].as_u64().unwrap_or(u64::MAX) <= 8192);
}

#[test]
fn dmesg_is_the_fallback_when_kmsg_cannot_be_read() {
    let root = temp_root();
    let r = root.path();
    write(
        &r.join("proc/stat"),
        "cpu 1 2 3 4 5 6 7 8\nbtime 1664346987\n",
    );
    script(
        &r.join("bin/dmesg"),
        &format!("echo '[    0.000000] Linux version 6.1.0'\necho '[ 6472.442368] {SEED_KILL_1}'"),
    );
    let d = agent()
        .root(r)
        .path(path_of(&[&r.join("bin")]))
        .args(["probe", "oom"])
        .run()
        .data("oom");
    assert_eq!(source(&d, "/dev/kmsg")["read"], false);
    assert_eq!(source(&d, "dmesg")["read"], true);
    assert_eq!(d["events"][0]["sources"], serde_json::json!(["dmesg"]));
    assert_eq!(d["events"][0]["time"], "2022-09-28T08:24:19.442Z");
}

#[test]
fn no_source_at_all_is_unavailable() {
    let root = temp_root();
    let e = agent()
        .root(root.path())
        .path(path_of(&[&root.path().join("bin")]))
        .args(["probe", "oom"])
        .run()
        .error("oom");
    assert_eq!(e["kind"], "unavailable");
}

/// A memory cgroup with a 20 MiB limit, removed on drop.
struct Cgroup {
    dir: PathBuf,
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn own_cgroup(controller_line: impl Fn(&str) -> bool) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find(|l| controller_line(l))
        .and_then(|l| l.splitn(3, ':').nth(2))
        .map(str::to_owned)
}

fn make_memory_cgroup() -> Result<Cgroup, String> {
    let name = format!("runbook-agent-test-{}", std::process::id());
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
    let limit = 20 * 1024 * 1024;
    if std::fs::read_to_string(v2).is_ok_and(|c| c.split_whitespace().any(|x| x == "memory")) {
        let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
        let dir = Path::new("/sys/fs/cgroup").join(&name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = Cgroup { dir };
        std::fs::write(cg.dir.join("memory.max"), limit.to_string())
            .map_err(|e| format!("memory.max: {e}"))?;
        let _ = std::fs::write(cg.dir.join("memory.swap.max"), "0");
        return Ok(cg);
    }
    let v1 = Path::new("/sys/fs/cgroup/memory");
    if v1.join("memory.limit_in_bytes").exists() {
        let own = own_cgroup(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
        .unwrap_or_default();
        let dir = v1.join(own.trim_start_matches('/')).join(&name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = Cgroup { dir };
        std::fs::write(cg.dir.join("memory.limit_in_bytes"), limit.to_string())
            .map_err(|e| format!("memory.limit_in_bytes: {e}"))?;
        let _ = std::fs::write(
            cg.dir.join("memory.memsw.limit_in_bytes"),
            limit.to_string(),
        );
        return Ok(cg);
    }
    Err("no memory cgroup controller (v1 or v2) under /sys/fs/cgroup".into())
}

#[test]
fn a_real_memory_cgroup_oom_kill_is_reported() {
    if !Path::new("/usr/bin/perl").exists() {
        eprintln!("skipping: /usr/bin/perl is needed to allocate memory");
        return;
    }
    let cg = match make_memory_cgroup() {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipping: cgroups are not writable here: {why}");
            return;
        }
    };
    // The shell moves itself into the cgroup, then becomes perl (same pid),
    // which allocates 100 MiB against a 20 MiB limit.
    let procs = cg.dir.join("cgroup.procs");
    let mut child = Command::new("/bin/sh")
        .args([
            "-c",
            &format!(
                "echo $$ > {} && exec /usr/bin/perl -e '$x = q(x) x (100*1024*1024); sleep 10'",
                procs.display()
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    let pid = u64::from(child.id());
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.expect("the memory hog ended within 20 s");
    if status.code() == Some(1) || status.code() == Some(2) {
        eprintln!("skipping: could not move into the cgroup ({status})");
        return;
    }
    assert_eq!(
        status.signal(),
        Some(9),
        "perl should be OOM-killed, ended with {status}"
    );

    // The kill line reaches the ring buffer right away, but allow a moment.
    let mut event = None;
    for _ in 0..20 {
        let d = agent()
            .args(["probe", "oom", "--arg", "max_events=1000"])
            .run()
            .data("oom");
        event = d["events"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["pid"] == pid))
            .cloned();
        if event.is_some() {
            assert!(d["oom_kill_counter"].as_u64().unwrap_or(0) >= 1);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let e = event.unwrap_or_else(|| panic!("the OOM kill of pid {pid} was not reported"));
    assert_eq!(e["process"], "perl");
    assert_eq!(e["cgroup_constrained"], true, "{e}");
    assert!(
        e["anon_rss_bytes"].as_u64().unwrap_or(0) > 1024 * 1024,
        "{e}"
    );
    assert!(e["sources"].to_string().contains("kmsg"), "{e}");
    assert!(e["unix_time"].is_f64(), "{e}");
    drop(cg);
}
