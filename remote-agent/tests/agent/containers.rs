//! `containers`: the seed node's kube-apiserver container has exited;
//! a node without crictl says so; a broken runtime is a failure.

use crate::support::{agent, path_of, script, temp_root};

#[test]
fn seed_node_apiserver_has_exited() {
    let d = agent()
        .on_fixture("seed-node")
        .args(["probe", "containers"])
        .run()
        .data("containers");
    assert_eq!(d["count"], 7);
    assert_eq!(d["running"], 5);
    assert_eq!(d["exited"], 2);
    let cp = d["control_plane_exited"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cp.len(), 1, "{cp:?}");
    assert_eq!(cp[0]["name"], "kube-apiserver");
    assert_eq!(cp[0]["exit_code"], 1);
    assert_eq!(cp[0]["reason"], "Error");
    assert_eq!(cp[0]["restart_count"], 4);
    assert_eq!(cp[0]["pod_name"], "kube-apiserver-node-15-cp-gswpw");
    assert!(cp[0]["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("87d3992f84f74"));
    let api = &d["containers"][0];
    assert_eq!(api["state"], "exited");
    assert_eq!(api["pod_namespace"], "kube-system");
    assert_eq!(api["exit_code"], 1);
    assert_eq!(api["created_at"], 1_664_350_800u64);
    assert!(api["age_seconds"].as_u64().unwrap_or(0) > 0);
    // A non-control-plane container that exited is listed but not flagged.
    assert_eq!(d["containers"][6]["name"], "python-worker");
    assert!(d["containers"][6]["exit_code"].is_null());
}

#[test]
fn no_crictl_is_unavailable() {
    let e = agent()
        .on_fixture("healthy-node")
        .args(["probe", "containers"])
        .run()
        .error("containers");
    assert_eq!(e["kind"], "unavailable");
    assert_eq!(e["message"], "crictl: not found on PATH");
}

#[test]
fn a_runtime_that_does_not_answer_is_a_failure() {
    let dir = temp_root();
    script(
        &dir.path().join("bin/crictl"),
        "echo 'time=\"2022-09-28T08:20:00Z\" level=fatal msg=\"listing containers: rpc error: code = Unavailable desc = connection error\"' >&2\nexit 1",
    );
    let e = agent()
        .path(path_of(&[&dir.path().join("bin")]))
        .args(["probe", "containers"])
        .run()
        .error("containers");
    assert_eq!(e["kind"], "failed");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("rpc error"),
        "{e}"
    );
}

#[test]
fn garbage_from_crictl_is_a_failure_not_a_crash() {
    let dir = temp_root();
    script(
        &dir.path().join("bin/crictl"),
        "echo '{\"containers\": [{\"id\": 42}'",
    );
    let e = agent()
        .path(path_of(&[&dir.path().join("bin")]))
        .args(["probe", "containers"])
        .run()
        .error("containers");
    assert_eq!(e["kind"], "failed");
}
