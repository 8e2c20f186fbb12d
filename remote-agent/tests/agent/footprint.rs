//! The agent must stay light on a sick node: peak RSS under 10 MB while
//! probing a host with 5,000 processes. Measured with GNU time around the
//! real binary while 5,000 forked processes sleep.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROCESSES: usize = 5000;
const RSS_LIMIT_KIB: u64 = 10 * 1024;

/// Kills the forked sleepers (their own process group) on drop.
struct Sleepers(std::process::Child);

impl Drop for Sleepers {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

fn count_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn peak_rss_stays_under_10_mb_with_5000_processes() {
    let time = Path::new("/usr/bin/time");
    let perl = Path::new("/usr/bin/perl");
    if !time.exists() || !perl.exists() {
        eprintln!("skipping: needs /usr/bin/time and /usr/bin/perl");
        return;
    }
    let before = count_processes();
    // One perl forks PROCESSES children that sleep (bounded: 60 s at most).
    let mut cmd = Command::new(perl);
    cmd.args([
        "-e",
        &format!("for (1..{PROCESSES}) {{ my $p = fork; last unless defined $p; if (!$p) {{ sleep 60; exit 0 }} }} sleep 60"),
    ])
    .stdin(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let sleepers = Sleepers(cmd.spawn().expect("perl starts"));
    let started = Instant::now();
    while count_processes() < before + PROCESSES && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new(time)
        .args(["-f", "peak_rss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_runbook-agent"))
        .args(["probe", "processes", "memory", "--arg", "top=10"])
        .output()
        .expect("time runs");
    drop(sleepers);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let total = report["probes"]["processes"]["data"]["processes_total"]
        .as_u64()
        .unwrap_or(0);
    assert!(total >= PROCESSES as u64, "only {total} processes seen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    eprintln!("peak RSS probing {total} processes: {rss} KiB");
    assert!(
        rss < RSS_LIMIT_KIB,
        "peak RSS {rss} KiB with {total} processes"
    );
}
