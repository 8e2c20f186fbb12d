//! `unit`: the seed kubelet is `active (running)`, yet its journal is one
//! error repeated every 2 s — which must come back as one counted group.

use crate::support::{agent, path_of, script, temp_root};

#[test]
fn seed_kubelet_flood_collapses_into_one_group() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "unit", "--arg", "unit.name=kubelet"])
        .run()
        .data("unit");
    assert_eq!(d["unit"], "kubelet.service");
    let s = &d["state"];
    assert_eq!(s["active_state"], "active");
    assert_eq!(s["sub_state"], "running");
    assert_eq!(s["main_pid"], 8440);
    assert_eq!(s["restarts"], 0);
    assert_eq!(s["load_state"], "loaded");
    assert_eq!(s["active_enter_timestamp"], "Wed 2022-09-28 06:39:55 UTC");

    let j = &d["journal"];
    assert_eq!(j["lines_read"], 200);
    assert_eq!(j["distinct"], 3);
    let top = &j["groups"][0];
    assert_eq!(top["count"], 158);
    assert_eq!(top["last_time"], "2022-09-28T07:54:36+0000");
    assert_eq!(top["first_time"], "2022-09-28T07:49:22+0000");
    let pattern = top["pattern"].as_str().unwrap_or_default();
    assert!(pattern.contains(r#"orphaned pod \"<uuid>\""#), "{pattern}");
    assert!(
        pattern.starts_with("kubelet[<n>]: E<n> <n>:<n>:<n>.<n> <n> kubelet_volumes.go:<n>]"),
        "{pattern}"
    );
    let sample = top["sample"].as_str().unwrap_or_default();
    assert!(
        sample.contains("7181c3a5-8f6e-4b1a-9d2c-1e0f5a6b7c8d"),
        "{sample}"
    );
    // The counts add up to the lines read.
    let sum: u64 = j["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["count"].as_u64())
        .sum();
    assert_eq!(sum, 200);
}

#[test]
fn lines_and_groups_are_bounded_by_arguments() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "unit", "--arg", "unit.name=kubelet.service"])
        .args(["--arg", "lines=20", "--arg", "groups=1"])
        .run()
        .data("unit");
    assert_eq!(d["journal"]["lines_read"], 20);
    assert_eq!(d["journal"]["groups"].as_array().map(Vec::len), Some(1));
}

#[test]
fn unit_name_is_required_and_checked() {
    let out = agent()
        .on_fixture("seed-node")
        .args(["probe", "unit"])
        .run();
    assert_eq!(out.error("unit")["kind"], "bad_argument");
    for bad in ["--now", "a b", "x;rm", ""] {
        let out = agent()
            .on_fixture("seed-node")
            .args(["probe", "unit", "--arg", &format!("unit.name={bad}")])
            .run();
        assert_eq!(out.error("unit")["kind"], "bad_argument", "name {bad:?}");
    }
}

#[test]
fn missing_systemctl_leaves_the_journal() {
    let dir = temp_root();
    script(
        &dir.path().join("bin/journalctl"),
        "echo '2024-01-01T00:00:00+0000 h containerd[7]: started'",
    );
    let d = agent()
        .path(path_of(&[&dir.path().join("bin")]))
        .args(["probe", "unit", "--arg", "unit.name=containerd"])
        .run()
        .data("unit");
    assert!(d["state"].is_null());
    assert_eq!(d["journal"]["lines_read"], 1);
    assert_eq!(d["unavailable"][0], "state: systemctl: not found on PATH");
}

#[test]
fn no_systemd_at_all_is_unavailable_not_a_crash() {
    let dir = temp_root();
    let e = agent()
        .path(path_of(&[&dir.path().join("bin")]))
        .args(["probe", "unit", "--arg", "unit.name=kubelet"])
        .run()
        .error("unit");
    assert_eq!(e["kind"], "unavailable");
    assert!(e["message"]
        .as_str()
        .unwrap_or_default()
        .contains("journalctl"));
}
