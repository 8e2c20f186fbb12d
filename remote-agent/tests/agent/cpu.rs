//! `cpu`: the seed node's load of ~176 on four CPUs, spent in the kernel.

use crate::support::agent;

#[test]
fn seed_node_is_overloaded_in_system_time() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "cpu", "--arg", "sample_ms=0"])
        .run()
        .data("cpu");
    assert_eq!(d["load1"], 176.16);
    assert_eq!(d["load5"], 177.88);
    assert_eq!(d["load15"], 186.03);
    assert_eq!(d["cpu_count"], 4);
    assert_eq!(d["load_per_cpu"], 44.04);
    assert_eq!(d["running_tasks"], 53);
    assert_eq!(d["total_tasks"], 373);
    // top: "0.2 us, 99.8 sy, 0.0 id".
    assert_eq!(d["user_percent"], 0.2);
    assert_eq!(d["system_percent"], 99.8);
    assert_eq!(d["idle_percent"], 0.0);
    assert_eq!(d["psi"]["some"]["avg10"], 96.5);
    assert!(d["psi"]["full"].is_null());
}

#[test]
fn healthy_node_is_mostly_idle() {
    let d = agent()
        .on_fixture("healthy-node")
        .args(["probe", "cpu", "--arg", "sample_ms=0"])
        .run()
        .data("cpu");
    assert_eq!(d["cpu_count"], 8);
    assert_eq!(d["idle_percent"], 92.0);
    assert_eq!(d["user_percent"], 6.0);
    assert!(d["psi"].is_null());
    assert_eq!(d["unavailable"][0], "psi: /proc/pressure/cpu not found");
}

#[test]
fn sample_window_is_honoured_and_bounded() {
    let out = agent()
        .on_fixture("healthy-node")
        .args(["probe", "cpu", "--arg", "sample_ms=300"])
        .run();
    assert_eq!(out.data("cpu")["sample_ms"], 300);
    assert!(out.elapsed.as_millis() >= 300);
    let bad = agent()
        .on_fixture("healthy-node")
        .args(["probe", "cpu", "--arg", "sample_ms=999999"])
        .run();
    assert_eq!(bad.error("cpu")["kind"], "bad_argument");
}
