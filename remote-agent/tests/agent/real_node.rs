//! Every probe on this machine's real /proc and real PATH: whatever is
//! missing here (systemd, a journal, crictl, a kubelet) must come back as
//! unavailable, never as a crash, a failure or a timeout.

use crate::support::{agent, all_probes};

#[test]
fn every_probe_answers_on_the_real_node() {
    let out = agent()
        .args(["probe"])
        .args(all_probes())
        .args(["--arg", "unit.name=kubelet"])
        .run();
    let r = out.report();
    assert_eq!(r["root"], "/");
    for name in all_probes() {
        let p = &r["probes"][name];
        if p["ok"] == true {
            assert!(p["data"]["unavailable"].is_array(), "{name}: {p}");
        } else {
            assert_eq!(p["error"]["kind"], "unavailable", "{name} failed: {p}");
        }
    }
    // What any Linux box has.
    for name in ["memory", "cpu", "processes", "disk", "kubelet"] {
        assert_eq!(
            r["probes"][name]["ok"], true,
            "{name}: {}",
            r["probes"][name]
        );
    }
    let mem = &r["probes"]["memory"]["data"];
    assert!(mem["mem_total_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(mem["oom_kills"].is_u64(), "{mem}");
    assert!(
        r["probes"]["cpu"]["data"]["cpu_count"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    );
    assert!(r["probes"]["cpu"]["data"]["idle_percent"].is_f64());
    // All eight ran concurrently: well under eight sampling windows plus
    // the time limits.
    assert!(out.elapsed.as_secs() < 10, "took {:?}", out.elapsed);
}
