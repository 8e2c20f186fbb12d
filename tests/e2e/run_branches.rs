//! Every way a walk can branch, over real SSH: first-match `next` rules,
//! `when` guards, fan-out and joins (run and pruned), parsers with typed
//! captures, `call`, and conclusions with their evidence.

use serde_json::json;

use crate::harness::Fleet;
use crate::run_support::Run;

#[test]
fn the_first_matching_next_rule_wins_and_the_rule_without_when_is_the_fallback() {
    let fleet = Fleet::start(1);
    let cases = [
        // (mode, level, concluded step, index of the winning rule)
        ("fast", "7", "fast", 0), // rule 1 holds too: the first one wins
        ("slow", "7", "high-level", 1),
        ("slow", "3", "fallback", 2),
    ];
    for (mode, level, conclusion, rule) in cases {
        let run = Run::new(&fleet, "rules")
            .host("node-1")
            .param("mode", mode)
            .param("level", level)
            .output();
        run.assert_code(0);
        assert_eq!(run.concluded_steps(), [conclusion], "{}", run.audit_text());
        let decision = run.only("decision", Some("read-mode"));
        assert_eq!(decision["rule"], rule, "{decision}");
        assert_eq!(decision["goto"], json!([conclusion]), "{decision}");
        assert_eq!(decision["via"], "next", "{decision}");
        for other in ["fast", "high-level", "fallback"] {
            if other != conclusion {
                assert_eq!(run.skipped_reason(other), "pruned", "{}", run.audit_text());
            }
        }
    }
}

#[test]
fn a_false_when_guard_skips_the_step_and_prunes_what_only_it_leads_to() {
    let fleet = Fleet::start(1);
    let host = fleet.host("node-1");

    let run = Run::new(&fleet, "guard").host("node-1").output();
    run.assert_code(0);
    let skipped = run.only("step_skipped", Some("guarded"));
    assert_eq!(skipped["reason"], "when_false", "{skipped}");
    assert_eq!(skipped["detail"], "params.flag == \"on\"", "{skipped}");
    assert!(run.events_of("step_started", Some("guarded")).is_empty());
    assert_eq!(run.skipped_reason("guarded-done"), "pruned");
    assert_eq!(run.concluded_steps(), ["checked-done"]);
    assert!(
        !host.fixture_dir().join("guarded-ran").exists(),
        "the guarded command ran on the host"
    );

    let run = Run::new(&fleet, "guard")
        .host("node-1")
        .param("flag", "on")
        .output();
    run.assert_code(0);
    let mut concluded = run.concluded_steps();
    concluded.sort();
    assert_eq!(concluded, ["checked-done", "guarded-done"]);
    assert!(host.fixture_dir().join("guarded-ran").exists());
}

#[test]
fn a_fan_out_runs_every_branch_and_its_join_runs_once_after_all_of_them() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "fan-out").host("node-1").output();
    run.assert_code(0);

    let fan_out = run.only("decision", Some("start"));
    assert_eq!(fan_out["goto"], json!(["left", "right"]), "{fan_out}");
    assert_eq!(run.events_of("step_started", Some("join")).len(), 1);
    let join_started = run.position("step_started", "join");
    for branch in ["left", "right"] {
        assert!(
            run.position("step_finished", branch) < join_started,
            "`join` started before `{branch}` finished:\n{}",
            run.audit_text()
        );
    }
    // The join read what each branch captured.
    let join = run.finished("join");
    assert_eq!(join["stdout"]["text"], "L-R\n", "{join}");
    assert_eq!(run.concluded_steps(), ["joined"]);

    // No branch took its edge to `orphan-join`: pruned, and what follows it.
    assert_eq!(run.skipped_reason("orphan-join"), "pruned");
    assert_eq!(run.skipped_reason("orphan-end"), "pruned");
    assert!(run
        .events_of("step_started", Some("orphan-join"))
        .is_empty());
    assert!(!fleet
        .host("node-1")
        .fixture_dir()
        .join("orphan-join-ran")
        .exists());
}

#[test]
fn parsers_feed_typed_captures() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "parse").host("node-1").output();
    run.assert_code(0);
    assert_eq!(
        run.concluded_steps(),
        ["typed"],
        "a capture lost its type:\n{}",
        run.audit_text()
    );

    // The audit keeps each capture with its JSON type.
    assert_eq!(
        run.finished("as-json")["captures"],
        json!({"pods": 3, "ready": true, "name": "kubelet", "load": 1.5, "label": "pods=3"})
    );
    assert_eq!(
        run.finished("as-lines")["captures"],
        json!({"line_count": 3, "first_line": "first"})
    );
    assert_eq!(
        run.finished("as-kv")["captures"],
        json!({"state": "active", "restarts": 4})
    );
    let concluded = run.only("concluded", Some("typed"));
    assert_eq!(
        concluded["finding"], "kubelet has 3 pods; first of 3 lines",
        "{concluded}"
    );
}

#[test]
fn a_json_step_whose_output_is_not_json_fails_the_host_with_the_parse_error() {
    let fleet = Fleet::start(1);
    let run = Run::new(&fleet, "bad-json").host("node-1").output();
    run.assert_code(1);
    let read = run.finished("read");
    assert_eq!(read["status"], "failed", "{read}");
    assert!(
        read["error"]
            .as_str()
            .is_some_and(|e| e.contains("stdout is not JSON")),
        "{read}"
    );
    assert!(
        run.stdout
            .contains("step `read` failed: stdout is not JSON"),
        "{}",
        run.context()
    );
}

#[test]
fn a_called_runbook_runs_on_the_same_host_and_its_conclusions_are_the_callers_too() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "kubelet-down")
        .start();
    let run = Run::new(&fleet, "caller")
        .host("node-1")
        .args(["--output", "json"])
        .output();
    run.assert_code(0);
    let doc = run.json();
    let conclusions = doc["hosts"][0]["conclusions"]
        .as_array()
        .expect("conclusions");
    let summary: Vec<(String, String, String)> = conclusions
        .iter()
        .map(|c| {
            (
                c["runbook"].as_str().unwrap_or_default().to_string(),
                c["step"].as_str().unwrap_or_default().to_string(),
                c["finding"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "called".to_string(),
                "kubelet-down".to_string(),
                // The param came from the caller's capture.
                "the kubelet is down on node-1".to_string()
            ),
            (
                "caller".to_string(),
                "handed-over".to_string(),
                "the called runbook concluded for node-1".to_string()
            ),
        ],
        "{doc:#}"
    );
    // The called runbook's step ran over the same connection: one connect.
    assert_eq!(run.events_of("connected", None).len(), 1);
    let kubelet = run.finished("kubelet");
    assert_eq!(kubelet["exit_code"], 3, "{kubelet}");
}

#[test]
fn a_conclusion_shows_its_evidence_with_the_command_and_key_lines() {
    let fleet = Fleet::builder()
        .hosts(1)
        .host_state("node-1", "kubelet-down")
        .start();
    let run = Run::new(&fleet, "kubelet-state").host("node-1").output();
    run.assert_code(0);
    // For people: severity, finding, and the evidence block.
    assert!(
        run.stdout
            .contains("CRITICAL  the kubelet is down on node-1"),
        "{}",
        run.context()
    );
    assert!(
        run.stdout
            .contains("evidence from `kubelet`  $ systemctl is-active kubelet"),
        "{}",
        run.context()
    );
    assert!(run.stdout.contains("    | failed"), "{}", run.context());

    let run = Run::new(&fleet, "kubelet-state")
        .host("node-1")
        .args(["--output", "json"])
        .output();
    run.assert_code(0);
    let doc = run.json();
    let evidence = &doc["hosts"][0]["conclusions"][0]["evidence"][0];
    assert_eq!(evidence["step"], "kubelet", "{doc:#}");
    assert_eq!(evidence["exit_code"], 3, "{doc:#}");
    assert_eq!(evidence["lines"], json!(["failed"]), "{doc:#}");
    assert!(
        evidence["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("systemctl is-active kubelet")),
        "{doc:#}"
    );
    assert_eq!(
        run.only("concluded", Some("kubelet-down"))["evidence"],
        json!(["kubelet"])
    );
}
