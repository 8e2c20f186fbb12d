//! A new diagnosis needs no code: the walk-through of
//! docs/adding-a-branch.md, done by a test. It copies the shipped
//! `node-not-ready` runbook and its scenarios, adds a "kubelet client
//! certificate expired" check, conclusion and scenario with plain text
//! edits, and shows that `runbook validate` and
//! `runbook test --require-conclusions` accept the result — after first
//! showing that `runbook test` names the scenarios the new step broke.

use std::fs;
use std::path::Path;

use super::support::Test;

/// The shipped runbooks.
fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks")
}

/// Replaces the one occurrence of `anchor` in `text`; a changed runbook
/// that no longer has it fails here, naming it, rather than further on.
fn edit(text: &str, anchor: &str, replacement: &str) -> String {
    assert_eq!(
        text.matches(anchor).count(),
        1,
        "the walk-through edits this text, which must appear exactly once:\n{anchor}"
    );
    text.replacen(anchor, replacement, 1)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Step 1 of the walk-through: the check, its conclusion, and the guard of
/// the conclusion it refines.
fn add_branch(runbook: &str) -> String {
    // After the kubelet probe: when the kubelet is down, look at its
    // certificate before triage.
    let runbook = edit(
        runbook,
        "        {%- if loop.first %}{{ g.sample.split('] ', 1) | last }} ({{ g.count }} times){% endif %}{% endfor %}{% endif %}
    on_failure: triage
    next: triage
",
        "        {%- if loop.first %}{{ g.sample.split('] ', 1) | last }} ({{ g.count }} times){% endif %}{% endfor %}{% endif %}
    on_failure: triage
    next:
      - when: vars.kubelet_down
        goto: kubelet-cert
      - goto: triage

  - id: kubelet-cert
    description: The kubelet is down; has its client certificate expired?
    run: openssl x509 -enddate -checkend 0 -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem
    capture:
      cert_not_after: \"{{ result.stdout | regex_search('notAfter=(.+)') | default('unknown', true) }}\"
      cert_expired: \"{{ 'Certificate will expire' in result.stdout }}\"
    on_failure: triage
    next: triage
",
    );
    // Triage fans out to the new conclusion too.
    let runbook = edit(
        &runbook,
        "      - kubelet-misconfigured\n",
        "      - kubelet-misconfigured\n      - kubelet-client-cert-expired\n",
    );
    // The generic conclusion steps aside when the specific one applies.
    let runbook = edit(
        &runbook,
        "    when: steps.kubelet.ok and vars.kubelet_config_error is not none\n",
        "    when: steps.kubelet.ok and vars.kubelet_config_error is not none and not vars.cert_expired | default(false)\n",
    );
    edit(
        &runbook,
        "  - id: kubelet-down\n",
        "  - id: kubelet-client-cert-expired
    description: The kubelet's client certificate has expired, so it cannot talk to the API server.
    when: vars.cert_expired | default(false)
    conclude:
      severity: critical
      finding: >-
        The kubelet's client certificate expired on {{ vars.cert_not_after }}
        (/var/lib/kubelet/pki/kubelet-client-current.pem); the kubelet is {{ vars.kubelet_status }}.
      remedy: >-
        On a control-plane node, write a new kubeconfig for this node:
        `kubeadm kubeconfig user --org system:nodes --client-name system:node:{{ params.node }} > kubelet.conf`.
        On {{ params.node }}: move /etc/kubernetes/kubelet.conf and /var/lib/kubelet/pki/kubelet-client-* aside,
        copy the new kubelet.conf to /etc/kubernetes/kubelet.conf, `systemctl restart kubelet`, and check
        `kubectl get node {{ params.node }}`.
      evidence: [kubelet-cert, kubelet]

  - id: kubelet-down
",
    )
}

/// Step 2: the scenarios whose kubelet is down now run `kubelet-cert`
/// (record a valid certificate for them), and a new scenario reaches the
/// new conclusion.
fn add_scenarios(tests: &str) -> String {
    let valid =
        "      kubelet-cert: { stdout: \"notAfter=Sep  5 07:04:12 2023 GMT\\nCertificate will not expire\\n\" }\n";
    let tests = edit(
        tests,
        "      kubelet: { stdout_file: recorded/node-not-ready/kubelet-down/unit-kubelet.json }\n",
        &format!("      kubelet: {{ stdout_file: recorded/node-not-ready/kubelet-down/unit-kubelet.json }}\n{valid}"),
    );
    let tests = edit(
        &tests,
        "      api-status-on-node: { timeout: true }\n",
        &format!("      api-status-on-node: {{ timeout: true }}\n{valid}"),
    );
    tests
        + r#"
  - name: the kubelet's client certificate expired and it crash-loops
    host: node-15-cp-gswpw
    steps:
      api-status: { stdout_file: recorded/node-not-ready/kubelet-down/kubectl-get-node.json }
      reach: *healthy-reach
      kubelet:
        json:
          unit: kubelet.service
          state: { load_state: loaded, active_state: activating, sub_state: auto-restart, restarts: 12, main_pid: 0, exec_main_status: 1, active_enter_timestamp: "Mon 2023-10-16 06:10:21 UTC" }
          journal:
            lines_read: 60
            distinct: 3
            groups:
              - { count: 12, first_time: "2023-10-16T06:10:22+0000", last_time: "2023-10-16T06:12:40+0000", pattern: "kubelet[<n>]: E<n> <n>:<n>:<n>.<n> <n> bootstrap.go:<n>] part of the existing bootstrap client certificate in /etc/kubernetes/kubelet.conf is expired: <n>-<n>-<n> <n>:<n>:<n> +<n> UTC", sample: "2023-10-16T06:12:40+0000 node-15-cp-gswpw kubelet[30112]: E1016 06:12:40.118239   30112 bootstrap.go:265] part of the existing bootstrap client certificate in /etc/kubernetes/kubelet.conf is expired: 2023-10-14 09:12:11 +0000 UTC" }
              - { count: 12, first_time: "2023-10-16T06:10:22+0000", last_time: "2023-10-16T06:12:40+0000", pattern: "systemd[<n>]: kubelet.service: Main process exited, code=exited, status=<n>/FAILURE", sample: "2023-10-16T06:12:40+0000 node-15-cp-gswpw systemd[1]: kubelet.service: Main process exited, code=exited, status=1/FAILURE" }
          unavailable: []
      kubelet-cert:
        stdout: "notAfter=Oct 14 09:12:11 2023 GMT\nCertificate will expire\n"
        exit_code: 1
      runtime: *healthy-runtime
      containers: *healthy-containers
      memory: *healthy-memory
      oom: *healthy-oom
      processes: *healthy-processes
      cpu: *healthy-cpu
      disk: *healthy-disk
    expect:
      conclusions: [kubelet-client-cert-expired]
      not_run: [kubelet-misconfigured, kubelet-down]
      findings: ["The kubelet's client certificate expired on Oct 14 09:12:11 2023 GMT"]
"#
}

#[test]
fn a_new_conclusion_and_its_scenario_need_only_yaml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runbooks = dir.path().join("runbooks");
    fs::create_dir_all(runbooks.join("tests")).expect("mkdir");
    let runbook = fs::read_to_string(shipped().join("node-not-ready.yaml")).expect("read runbook");
    let tests = fs::read_to_string(shipped().join("tests/node-not-ready.test.yaml"))
        .expect("read scenarios");
    copy_dir(
        &shipped().join("tests/recorded/node-not-ready"),
        &runbooks.join("tests/recorded/node-not-ready"),
    );
    let test_file = runbooks.join("tests/node-not-ready.test.yaml");
    fs::write(&test_file, &tests).expect("write scenarios");

    // The new branch: the runbook is valid at once...
    fs::write(runbooks.join("node-not-ready.yaml"), add_branch(&runbook)).expect("write");
    Test::new()
        .current_dir(dir.path())
        .args(["validate", "runbooks", "--deny-warnings"])
        .status(0)
        .stdout_contains("0 errors, 0 warnings")
        .run();

    // ...and `runbook test` says which scenarios now reach the new step
    // without a recording, and which conclusion no scenario reaches.
    let out = Test::new()
        .current_dir(dir.path())
        .args(["test", "runbooks", "--require-conclusions"])
        .status(1)
        .stdout_contains("step `kubelet-cert` was not recorded; it would have run: openssl x509 -enddate -checkend 0")
        .stdout_contains("not reached: conclusion `kubelet-client-cert-expired`")
        .run();
    assert!(
        out.stdout
            .contains("FAIL  kubelet crash-loops on a cgroup driver mismatch")
            && out.stdout.contains("FAIL  kubelet stopped by hand"),
        "{}",
        out.stdout
    );

    // Record the new step where it now runs, add the scenario: all green,
    // every conclusion reached.
    fs::write(&test_file, add_scenarios(&tests)).expect("write scenarios");
    Test::new()
        .current_dir(dir.path())
        .args(["test", "runbooks", "--require-conclusions"])
        .status(0)
        .stdout_contains("ok    the kubelet's client certificate expired and it crash-loops")
        .stdout_contains(", conclusions 16/16")
        .stdout_contains(" 0 failed")
        .run();
    Test::new()
        .current_dir(dir.path())
        .args(["show", "runbooks/node-not-ready.yaml"])
        .status(0)
        .stdout_contains("kubelet-client-cert-expired — conclude (critical)")
        .run();
}
