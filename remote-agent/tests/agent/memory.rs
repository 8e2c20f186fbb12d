//! `memory`: the seed node's figures come back as numbers; missing PSI is
//! reported, not fatal; a static /proc gives null CPU shares, not a crash.

use crate::support::{agent, copy_tree, fixture, temp_root};

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn seed_node_is_out_of_memory() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "memory", "--arg", "sample_ms=0"])
        .run()
        .data("memory");
    // top: "MiB Mem : 3921.832 total, 86.609 free ... 52.395 avail Mem", no swap.
    assert_eq!(d["mem_total_bytes"], 4_015_956u64 * 1024);
    let total_mib = d["mem_total_bytes"].as_f64().unwrap_or(0.0) / MIB;
    assert!((total_mib - 3921.832).abs() < 0.01, "{total_mib}");
    let free_mib = d["mem_free_bytes"].as_f64().unwrap_or(0.0) / MIB;
    assert!((free_mib - 86.609).abs() < 0.01, "{free_mib}");
    let avail_mib = d["mem_available_bytes"].as_f64().unwrap_or(0.0) / MIB;
    assert!((avail_mib - 52.395).abs() < 0.01, "{avail_mib}");
    assert_eq!(d["available_percent"], 1.34);
    assert_eq!(d["swap_total_bytes"], 0);
    assert_eq!(d["psi"]["some"]["avg10"], 71.32);
    assert_eq!(d["psi"]["full"]["avg60"], 49.0);
    assert_eq!(d["psi"]["full"]["total_us"], 2_401_234_567u64);
    assert_eq!(d["oom_kills"], 17);
    // top: kswapd0 at 69.09 % CPU.
    assert_eq!(d["kswapd_cpu_percent"], 69.09);
    assert_eq!(d["kswapd"][0]["name"], "kswapd0");
    assert_eq!(d["kswapd"][0]["pid"], 108);
    assert_eq!(d["unavailable"], serde_json::json!([]));
}

#[test]
fn healthy_node_without_psi_reports_it_unavailable() {
    let d = agent()
        .on_fixture("healthy-node")
        .args(["probe", "memory", "--arg", "sample_ms=0"])
        .run()
        .data("memory");
    assert_eq!(d["available_percent"], 70.4);
    assert_eq!(d["oom_kills"], 0);
    assert!(d["psi"].is_null());
    assert_eq!(d["unavailable"][0], "psi: /proc/pressure/memory not found");
}

#[test]
fn static_proc_without_a_second_sample_gives_null_cpu_not_a_crash() {
    let dir = temp_root();
    copy_tree(&fixture("seed-node/proc"), &dir.path().join("proc"));
    let d = agent()
        .root(dir.path())
        .args(["probe", "memory", "--arg", "sample_ms=0"])
        .run()
        .data("memory");
    assert!(d["kswapd_cpu_percent"].is_null());
    let notes = d["unavailable"].to_string();
    assert!(notes.contains("no clock ticks elapsed"), "{notes}");
    assert_eq!(d["oom_kills"], 17);
}

#[test]
fn missing_meminfo_is_unavailable() {
    let dir = temp_root();
    let e = agent()
        .root(dir.path())
        .args(["probe", "memory"])
        .run()
        .error("memory");
    assert_eq!(e["kind"], "unavailable");
    assert_eq!(e["message"], "/proc/meminfo not found");
}
