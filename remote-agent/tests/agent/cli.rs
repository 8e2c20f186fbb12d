//! The command-line contract: version, listing, usage errors (exit 2),
//! the report envelope, argument scoping, time limits.

use std::collections::BTreeSet;

use crate::support::{agent, all_probes, fixture, keys, script, temp_root};

#[test]
fn version_prints_name_and_version() {
    let out = agent().args(["--version"]).run();
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout.trim(),
        format!("runbook-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn probes_lists_every_probe_as_text_and_json() {
    let text = agent().args(["probes"]).run();
    assert_eq!(text.code, Some(0));
    let json = agent().args(["probes", "--json"]).run().report();
    assert_eq!(json["type"], "runbook-agent.probes");
    let names: Vec<&str> = json["probes"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "memory",
            "cpu",
            "processes",
            "oom",
            "unit",
            "containers",
            "disk",
            "kubelet"
        ]
    );
    for name in names {
        assert!(
            text.stdout.contains(&format!("{name}\n")),
            "{name} missing from text listing"
        );
    }
}

#[test]
fn documented_fields_are_exactly_the_fields_returned() {
    let listing = agent().args(["probes", "--json"]).run().report();
    let out = agent()
        .on_fixture("seed-node")
        .args(["probe"])
        .args(all_probes())
        .args(["--arg", "unit.name=kubelet", "--arg", "sample_ms=0"])
        .run();
    for p in listing["probes"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let documented: BTreeSet<String> = p["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str().map(str::to_owned))
            .collect();
        let returned: BTreeSet<String> = keys(&out.data(name)).into_iter().collect();
        assert_eq!(documented, returned, "fields of `{name}`");
    }
}

#[test]
fn report_envelope_keeps_the_requested_order() {
    let r = agent()
        .on_fixture("seed-node")
        .args([
            "probe",
            "disk",
            "memory",
            "cpu",
            "disk",
            "--arg",
            "sample_ms=0",
        ])
        .run()
        .report();
    assert_eq!(r["type"], "runbook-agent.report");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["hostname"], "node-15-cp-gswpw");
    assert_eq!(r["root"], fixture("seed-node").display().to_string());
    // Duplicates collapse; the order is the order asked for.
    let raw = agent()
        .on_fixture("seed-node")
        .args(["probe", "disk", "memory", "cpu", "--arg", "sample_ms=0"])
        .run()
        .stdout;
    let (d, m, c) = (
        raw.find("\"disk\""),
        raw.find("\"memory\""),
        raw.find("\"cpu\""),
    );
    assert!(d < m && m < c, "order in {raw}");
    for p in ["disk", "memory", "cpu"] {
        assert!(r["probes"][p]["duration_ms"].is_u64());
    }
}

#[test]
fn unknown_probe_is_a_structured_error_and_exit_zero() {
    let out = agent()
        .on_fixture("seed-node")
        .args(["probe", "nosuch", "memory", "--arg", "sample_ms=0"])
        .run();
    let e = out.error("nosuch");
    assert_eq!(e["kind"], "unknown_probe");
    assert!(e["message"].as_str().unwrap_or_default().contains("memory"));
    out.data("memory");
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let root = temp_root();
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["probe"],
        &["probe", "memory", "--bogus"],
        &["probe", "memory", "--arg"],
        &["probe", "memory", "--arg", "novalue"],
        &["probe", "memory", "--arg", "no_probe_takes_this=1"],
        &["probe", "memory", "--timeout-ms", "0"],
        &["probe", "memory", "--timeout-ms", "soon"],
        &["probe", "memory", "--root", "/nonexistent/runbook-agent"],
        &["probes", "--yaml"],
    ];
    for args in cases {
        let out = agent().args(*args).run();
        assert_eq!(
            out.code,
            Some(2),
            "{args:?} should be a usage error; stdout {}",
            out.stdout
        );
        assert!(
            out.stderr.contains("runbook-agent:"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    drop(root);
}

#[test]
fn arguments_are_scoped_and_checked_per_probe() {
    let out = agent()
        .on_fixture("seed-node")
        .args(["probe", "processes", "memory", "unit"])
        .args([
            "--arg",
            "top=7",
            "--arg",
            "processes.top=2",
            "--arg",
            "sample_ms=0",
        ])
        .args([
            "--arg",
            "memory.top=3",
            "--arg",
            "unit.name=kubelet",
            "--arg",
            "unit.lines=ten",
        ])
        .run();
    // `processes.top` wins over `top`.
    assert_eq!(
        out.data("processes")["top_cpu"].as_array().map(Vec::len),
        Some(2)
    );
    // `memory` takes no `top`: a bad argument for it alone.
    assert_eq!(out.error("memory")["kind"], "bad_argument");
    assert_eq!(out.error("unit")["kind"], "bad_argument");
}

#[test]
fn root_comes_from_the_environment_when_not_given() {
    let r = agent()
        .env("RUNBOOK_AGENT_ROOT", fixture("healthy-node"))
        .args(["probe", "memory", "--arg", "sample_ms=0"])
        .run()
        .report();
    assert_eq!(r["hostname"], "healthy-node");
}

#[test]
fn a_hung_command_is_killed_at_the_time_limit() {
    let dir = temp_root();
    let pidfile = dir.path().join("crictl.pid");
    script(
        &dir.path().join("bin/crictl"),
        &format!("echo $$ > {}\nexec /bin/sleep 30", pidfile.display()),
    );
    let out = agent()
        .path(dir.path().join("bin").into_os_string())
        .args(["probe", "containers", "--timeout-ms", "700"])
        .run();
    let e = out.error("containers");
    assert_eq!(e["kind"], "timeout", "{e}");
    assert!(out.elapsed.as_secs() < 5, "took {:?}", out.elapsed);
    let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
    let pid = pid.trim();
    assert!(!pid.is_empty());
    // Killed and reaped: gone from /proc.
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(
        gone,
        "the stand-in crictl (pid {pid}) outlived the agent's time limit"
    );
}

#[test]
fn a_probe_time_limit_can_be_set_per_probe() {
    let dir = temp_root();
    script(&dir.path().join("bin/crictl"), "exec /bin/sleep 30");
    let out = agent()
        .path(dir.path().join("bin").into_os_string())
        .root(&fixture("seed-node"))
        .args([
            "probe",
            "containers",
            "memory",
            "--arg",
            "containers.timeout_ms=300",
        ])
        .args(["--arg", "sample_ms=0"])
        .run();
    assert_eq!(out.error("containers")["kind"], "timeout");
    out.data("memory");
    assert!(out.elapsed.as_secs() < 4, "took {:?}", out.elapsed);
}
