//! Probes that become ready together on one host share one agent call:
//! one channel and one agent start-up for the batch, each step still gets
//! (and records) only its own probe's answer. A probe name already in the
//! batch (a second `unit`) runs on its own.

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn concurrent_probes_on_one_host_share_one_agent_call() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "seed-oom")
        .start();
    let run = Run::new(&fleet, "probe-fan-out")
        .host("node-1")
        .with_agent()
        .output();
    run.assert_code(0);

    let command_of = |step: &str| {
        run.only("step_started", Some(step))["command"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let batch = command_of("memory");
    assert_eq!(command_of("oom"), batch, "{}", run.context());
    let units = [command_of("kubelet-unit"), command_of("runtime-unit")];
    let batched_unit = units.iter().filter(|c| **c == batch).count();
    assert_eq!(
        batched_unit,
        1,
        "exactly one `unit` probe joins the batch:\n{}",
        run.context()
    );
    for probe in [" memory", " oom", " unit"] {
        assert!(batch.contains(probe), "{probe} not in the batch: {batch}");
    }
    let distinct: std::collections::BTreeSet<&String> =
        [&batch, &units[0], &units[1]].into_iter().collect();
    assert_eq!(
        distinct.len(),
        2,
        "two agent calls for four probes:\n{}",
        run.context()
    );

    // Each step reads and records its own probe only.
    let memory = run.finished("memory");
    let text = memory["stdout"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("\"memory\"") && !text.contains("\"oom\""),
        "{text}"
    );
    let finding = run.only("concluded", Some("done"))["finding"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The seed node's MemAvailable: 53652 kB.
    assert!(
        finding.contains(&format!("{} bytes available", 53_652 * 1024)),
        "{finding}"
    );
    assert!(finding.contains("2 OOM kills"), "{finding}");
    assert!(finding.contains("kubelet active"), "{finding}");
}
