//! `disk`: real filesystems only, and which one holds the kubelet's and the
//! runtime's state.

use crate::support::agent;

#[test]
fn seed_node_state_dirs_and_real_mounts() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "disk"])
        .run()
        .data("disk");
    let mounts: Vec<&str> = d["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["mount_point"].as_str())
        .collect();
    // proc, sysfs, tmpfs, cgroup and container overlays are not disks.
    assert_eq!(mounts, ["/", "/var/lib/containerd"]);
    let paths = d["paths"].as_array().cloned().unwrap_or_default();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(paths[0]["path"], "/var/lib/kubelet");
    assert_eq!(paths[0]["mount_point"], "/");
    assert_eq!(paths[0]["device"], "/dev/vda1");
    assert_eq!(paths[1]["path"], "/var/lib/containerd");
    assert_eq!(paths[1]["mount_point"], "/var/lib/containerd");
    assert_eq!(paths[1]["device"], "/dev/vdb");
    assert_eq!(paths[1]["fs_type"], "xfs");
}

#[test]
fn real_root_filesystem_has_sane_numbers() {
    let d = agent().args(["probe", "disk"]).run().data("disk");
    let root = d["mounts"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["mount_point"] == "/"))
        .cloned()
        .unwrap_or_else(|| panic!("no / in {d}"));
    let total = root["total_bytes"].as_u64().unwrap_or(0);
    let used = root["used_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(total > 0 && used <= total, "{root}");
    let pct = root["used_percent"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=100.0).contains(&pct), "{root}");
    assert!(root["error"].is_null());
}
