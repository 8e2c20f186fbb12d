//! Twenty hosts in one run, all at once (`--forks` default): every host
//! concludes, people get a host × conclusion table, machines one document.

use std::time::Duration;

use crate::harness::Fleet;
use crate::run_support::Run;

fn fleet_with_one_sick_node() -> Fleet {
    Fleet::builder()
        .hosts(20)
        .host_state("node-7", "kubelet-down")
        .start()
}

#[test]
fn twenty_hosts_at_once_all_conclude_in_a_host_by_conclusion_table() {
    let fleet = fleet_with_one_sick_node();
    let run = Run::new(&fleet, "kubelet-state")
        .all_hosts(&fleet)
        .timeout(Duration::from_secs(120))
        .output();
    run.assert_code(0);

    assert_eq!(run.events_of("host_finished", None).len(), 20);
    for host in fleet.hosts() {
        let name = host.name();
        let row = run
            .stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}\n{}", run.context()));
        let (severity, finding) = if name == "node-7" {
            ("critical", format!("the kubelet is down on {name}"))
        } else {
            ("ok", format!("the kubelet is active on {name}"))
        };
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns.get(1), Some(&severity), "{row}");
        assert!(row.ends_with(&finding), "{row}");
    }
    assert!(
        run.stdout.contains("host     severity   finding"),
        "{}",
        run.context()
    );
    let tally: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| *line != "by conclusion:")
        .skip(1)
        .take(2)
        .collect();
    assert_eq!(
        tally,
        [
            "      1  critical   kubelet-down",
            "     19  ok         kubelet-active"
        ],
        "{}",
        run.context()
    );
}

#[test]
fn twenty_hosts_give_one_json_document_with_twenty_hosts() {
    let fleet = fleet_with_one_sick_node();
    let run = Run::new(&fleet, "kubelet-state")
        .all_hosts(&fleet)
        .args(["--output", "json"])
        .timeout(Duration::from_secs(120))
        .output();
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["type"], "runbook.run");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["run_id"], run.run_id().as_str());
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 20, "{doc:#}");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["host"].as_str()).collect();
    let expected: Vec<String> = (1..=20).map(|k| format!("node-{k}")).collect();
    assert_eq!(names, expected, "hosts come back in the order given");
    assert!(hosts.iter().all(|h| h["status"] == "concluded"), "{doc:#}");
    assert_eq!(doc["summary"]["hosts"], 20);
    assert_eq!(
        doc["summary"]["by_conclusion"],
        serde_json::json!({"kubelet-active": 19, "kubelet-down": 1})
    );
}
