//! Every example in `examples/` is read by the code that consumes it: the
//! inventories parse into the hosts they describe, and the Indexed Job's
//! command uses flags the CLI knows.

use std::path::Path;

use runbook_engine::inventory;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn the_inventory_examples_parse_into_their_hosts() {
    let ours = inventory::read(&examples().join("inventory.yaml"), None).expect("parses");
    assert_eq!(
        ours.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["node-14", "node-15", "node-16"]
    );
    assert_eq!(
        inventory::read(&examples().join("inventory.yaml"), Some("workers"))
            .expect("group")
            .len(),
        2
    );
    let ansible =
        inventory::read(&examples().join("ansible-inventory.yaml"), None).expect("parses");
    assert_eq!(ansible.len(), 3);
    let n16 = ansible
        .iter()
        .find(|h| h.name == "node-16")
        .expect("node-16");
    assert_eq!((n16.address.as_str(), n16.port), ("10.20.0.16", Some(2222)));
    assert_eq!(n16.vars["role"], "worker");
    assert_eq!(n16.vars["cluster"], "prod-eu-1");
}

#[test]
fn the_indexed_job_uses_real_flags() {
    let job = std::fs::read_to_string(examples().join("k8s-indexed-job.yaml")).expect("read");
    let help = std::process::Command::new(super::support::RUNBOOK)
        .args(["run", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--inventory",
        "--shard",
        "--ssh-config",
        "--operator",
        "--audit-dir",
        "--output",
    ] {
        assert!(job.contains(flag) && help.contains(flag), "{flag}");
    }
    let _: serde_yaml::Value = serde_yaml::from_str(&job).expect("valid YAML");
}
