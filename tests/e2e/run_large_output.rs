//! A step that prints a gigabyte: the engine's memory stays flat, and the
//! audit keeps a bounded excerpt with the full length and hash.

use std::fs;
use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::Run;

/// SHA-256 of 1,000,000,000 zero bytes.
const GIGABYTE_OF_ZEROS_SHA256: &str =
    "bc17f06f9d9b5f6f79ca189a1772b1a3a38d6e40c45bec50f9c4f28144efddca";

/// Peak resident memory of `pid` so far (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_gigabyte_of_output_keeps_engine_memory_bounded_and_is_recorded_hashed_and_cut() {
    let fleet = Fleet::start(1);
    let engine = Run::new(&fleet, "big-output")
        .host("node-1")
        .timeout(Duration::from_secs(300))
        .spawn();
    // VmHWM only grows, so the last reading before exit is the peak
    // (give or take the last few milliseconds).
    let mut peak = 0;
    let run = engine.wait_polling(|pid| {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
    });
    run.assert_code(0);
    assert!(peak > 0, "could not read the engine's VmHWM");
    eprintln!(
        "engine peak RSS while reading 1 GB: {} MiB, in {:?}",
        peak >> 20,
        run.elapsed
    );
    assert!(
        peak < 200 << 20,
        "the engine's peak RSS was {} MiB while it read 1 GB",
        peak >> 20
    );

    let flood = run.finished("flood");
    let stdout = &flood["stdout"];
    assert_eq!(stdout["bytes"], 1_000_000_000u64, "{stdout}");
    assert_eq!(stdout["truncated"], true);
    assert_eq!(stdout["sha256"], GIGABYTE_OF_ZEROS_SHA256);
    assert!(
        stdout["text"].as_str().unwrap_or_default().len() <= 70 << 10,
        "the audit kept {} bytes of text",
        stdout["text"].as_str().unwrap_or_default().len()
    );
    let audit_size = fs::metadata(run.audit_path.as_ref().expect("audit file"))
        .expect("stat audit")
        .len();
    assert!(audit_size < 2 << 20, "the audit file is {audit_size} bytes");
    assert_eq!(
        run.only("concluded", None)["finding"],
        "read 1000000000 bytes"
    );
}
