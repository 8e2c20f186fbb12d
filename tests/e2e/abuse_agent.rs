//! The shipped agent is only ever run when it is exactly the binary the
//! engine has: a copy on the host that was cut short, lost its execute
//! bit, or was swapped for a directory is detected and replaced (or
//! refused), never executed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::Fleet;
use crate::run_support::{agent_binary, memory_probe, Run, RunOutput};

fn installed_path(run: &RunOutput) -> PathBuf {
    PathBuf::from(
        run.only("agent_installed", None)["path"]
            .as_str()
            .expect("path"),
    )
}

fn assert_replaced(fleet: &Fleet, path: &PathBuf) {
    let run = memory_probe(fleet);
    let installed = run.only("agent_installed", None);
    assert_eq!(installed["replaced_altered"], true, "{installed}");
    assert_eq!(installed["path"], path.display().to_string().as_str());
    assert_eq!(
        fs::read(path).expect("the agent"),
        fs::read(agent_binary()).expect("the local agent"),
        "the file on the host is not the agent"
    );
    assert_eq!(
        fs::metadata(path).expect("stat").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(run.finished("memory")["status"], "ok");
    assert_eq!(run.concluded_steps(), ["starved"]);
}

fn seed_fleet() -> Fleet {
    Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start()
}

#[test]
fn a_truncated_agent_on_the_host_is_replaced_not_run() {
    let fleet = seed_fleet();
    let path = installed_path(&memory_probe(&fleet));
    let full = fs::read(&path).expect("agent");
    fs::write(&path, &full[..full.len() / 2]).expect("truncate");
    assert_replaced(&fleet, &path);
}

#[test]
fn an_agent_that_lost_its_execute_bit_is_replaced() {
    let fleet = seed_fleet();
    let path = installed_path(&memory_probe(&fleet));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_replaced(&fleet, &path);
}

#[test]
fn an_agent_that_is_a_script_with_the_right_name_is_never_executed() {
    let fleet = seed_fleet();
    let path = installed_path(&memory_probe(&fleet));
    let marker = fleet.root_dir().join("agent-ran");
    // Same name, executable, but a script of someone else's.
    fs::write(
        &path,
        format!("#!/bin/sh\ntouch {}\necho '{{}}'\n", marker.display()),
    )
    .expect("swap");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_replaced(&fleet, &path);
    assert!(!marker.exists(), "the swapped-in script was executed");
}

#[test]
fn a_directory_in_place_of_the_agent_fails_the_probe_with_a_clear_error() {
    let fleet = seed_fleet();
    let path = installed_path(&memory_probe(&fleet));
    fs::remove_file(&path).expect("remove");
    fs::create_dir(&path).expect("a directory in its place");
    let run = Run::new(&fleet, "memory-probe")
        .host("node-1")
        .with_agent()
        .output();
    // Never executed, never silently "installed" into the directory.
    let memory = run.finished("memory");
    assert_eq!(memory["status"], "failed", "{memory}");
    let error = memory["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&path.display().to_string()) && error.contains("not a regular file"),
        "{error}"
    );
    assert!(fs::read_dir(&path).expect("dir").next().is_none());
}
