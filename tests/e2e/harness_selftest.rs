//! Tests of the e2e harness itself and of the node-state stand-ins, driven
//! with the plain `ssh` client (they must hold before engine tests can).

use std::fs;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{
    available_states, fixtures_source_dir, processes_mentioning, run_bounded, stdout_of, Fleet,
    FleetBuilder, Host,
};

/// Polls `condition` every 20 ms until it holds; panics after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a spawned child to exit; kills it and panics after `timeout`.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Keeps an SSH session running `command` open in the background.
fn open_session(host: &Host, command: &str) -> Child {
    host.ssh_command(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot spawn ssh")
}

fn stderr_text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn three_hosts_answer_with_strict_host_key_checking() {
    let fleet = Fleet::start(3);
    let names: Vec<&str> = fleet.hosts().iter().map(Host::name).collect();
    assert_eq!(names, ["node-1", "node-2", "node-3"]);

    let config = fs::read_to_string(fleet.ssh_config_path()).unwrap();
    assert!(config.contains("StrictHostKeyChecking yes"), "{config}");
    let known_hosts = fs::read_to_string(fleet.known_hosts_path()).unwrap();
    for host in fleet.hosts() {
        assert!(
            host.addr().is_loopback() && host.addr().octets()[1] != 0,
            "{}",
            host.addr()
        );
        assert!(known_hosts.contains(&format!("[{}]:{} ssh-ed25519 ", host.addr(), host.port())));
        assert_eq!(host.ssh_ok("hostname").trim(), host.name());
    }
    let mut addresses: Vec<_> = fleet.hosts().iter().map(Host::addr).collect();
    addresses.dedup();
    assert_eq!(addresses.len(), 3, "hosts must have distinct addresses");

    // The same through a hand-written ssh command line, as the engine will run it.
    let output = run_bounded(
        Command::new("ssh")
            .arg("-F")
            .arg(fleet.ssh_config_path())
            .args(["node-3", "echo", "via-config"]),
        Duration::from_secs(30),
    );
    assert_eq!(stdout_of("ssh -F … node-3", &output), "via-config\n");
}

#[test]
fn remote_shell_sees_fixture_path_and_agent_root() {
    let fleet = Fleet::builder().hosts(2).state("seed-oom").start();
    let host = fleet.host("node-2");
    let fixture = host.fixture_dir().display().to_string();
    let report = host.ssh_ok(
        "command -v systemctl; command -v journalctl; echo \"$RUNBOOK_AGENT_ROOT\"; \
         echo \"$RUNBOOK_FIXTURE\"; echo \"$RUNBOOK_NODE_NAME\"; echo \"${PATH%%:*}\"; \
         cat \"$RUNBOOK_AGENT_ROOT/proc/loadavg\"",
    );
    let expected = format!(
        "{fixture}/bin/systemctl\n{fixture}/bin/journalctl\n{fixture}/root\n{fixture}\nnode-2\n{fixture}/bin\n\
         176.16 177.88 186.03 53/373 119736\n"
    );
    assert_eq!(report, expected);
    assert_eq!(host.agent_root(), host.fixture_dir().join("root"));
}

#[test]
fn hosts_have_isolated_fixture_state() {
    let fleet = Fleet::builder()
        .hosts(3)
        .host_state("node-2", "seed-oom")
        .start();
    let [one, two, three] = fleet.hosts() else {
        unreachable!()
    };
    let memory = |host: &Host| host.ssh_ok("free -g | awk '/^Mem:/ {print $2, $7}'");
    assert_eq!(memory(one), "7 5\n");
    assert_eq!(memory(two), "3 0\n");

    one.write_fixture_file("bin/systemctl", "#!/bin/sh\necho patched-on-node-1\n");
    assert_eq!(
        one.ssh_ok("systemctl is-active kubelet"),
        "patched-on-node-1\n"
    );
    assert_eq!(three.ssh_ok("systemctl is-active kubelet"), "active\n");

    three.set_state("kubelet-down");
    let down = three.ssh("systemctl is-active kubelet");
    assert_eq!(String::from_utf8_lossy(&down.stdout), "failed\n");
    assert_eq!(down.status.code(), Some(3));
    assert_eq!(two.ssh_ok("systemctl is-active kubelet"), "active\n");
    assert_eq!(one.read_fixture_file("STATE"), "healthy\n");
    assert_eq!(three.read_fixture_file("STATE"), "kubelet-down\n");
}

#[test]
fn twenty_hosts_start_and_all_answer() {
    let started = Instant::now();
    let fleet = Fleet::start(20);
    let start_time = started.elapsed();
    let answers: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = fleet
            .hosts()
            .iter()
            .map(|host| scope.spawn(move || host.ssh_ok("hostname")))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for (host, answer) in fleet.hosts().iter().zip(&answers) {
        assert_eq!(answer.trim(), host.name());
    }
    eprintln!(
        "started 20 hosts in {start_time:?}; all answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn two_hundred_hosts_start() {
    let started = Instant::now();
    let fleet = Fleet::start(200);
    let start_time = started.elapsed();
    for name in ["node-1", "node-100", "node-200"] {
        assert_eq!(fleet.host(name).ssh_ok("hostname").trim(), name);
    }
    let dropped = Instant::now();
    drop(fleet);
    eprintln!(
        "started 200 hosts in {start_time:?}; dropped them in {:?}",
        dropped.elapsed()
    );
}

#[test]
fn stopped_sshd_refuses_then_restarts_on_the_same_address() {
    let fleet = Fleet::start(2);
    let host = fleet.host("node-1");
    let address = host.socket_addr();
    host.stop_sshd();
    assert!(!host.is_sshd_running());
    let error = TcpStream::connect_timeout(&address, Duration::from_secs(2)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    let refused = host.ssh("true");
    assert_eq!(refused.status.code(), Some(255));
    assert!(
        stderr_text(&refused).contains("Connection refused"),
        "{}",
        stderr_text(&refused)
    );
    assert_eq!(fleet.host("node-2").ssh_ok("hostname"), "node-2\n");

    host.start_sshd();
    assert_eq!(host.socket_addr(), address);
    assert_eq!(host.ssh_ok("hostname"), "node-1\n");
}

#[test]
fn kill_connections_drops_sessions_but_keeps_the_listener() {
    let fleet = Fleet::start(1);
    let host = &fleet.hosts()[0];
    let mut session = open_session(host, "sleep 60");
    wait_until("the remote sleep runs", Duration::from_secs(10), || {
        !host.pgrep("^sleep 60$").is_empty()
    });
    host.kill_connections();
    let status = wait_for_exit(&mut session, Duration::from_secs(10));
    assert!(
        !status.success(),
        "the ssh client should see its connection die"
    );
    assert!(host.pgrep("^sleep 60$").is_empty());
    assert_eq!(host.pgrep("^sshd: .*listener").len(), 1);
    assert_eq!(host.ssh_ok("echo still-listening"), "still-listening\n");
}

#[test]
fn rotated_host_key_fails_strict_host_key_checking() {
    let fleet = Fleet::start(2);
    let host = fleet.host("node-2");
    let address = host.socket_addr();
    host.rotate_host_key();
    assert_eq!(host.socket_addr(), address);
    let output = host.ssh("true");
    assert_eq!(output.status.code(), Some(255));
    let stderr = stderr_text(&output);
    assert!(
        stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{stderr}"
    );
    assert!(stderr.contains("Host key verification failed"), "{stderr}");
    assert_eq!(fleet.host("node-1").ssh_ok("hostname"), "node-1\n");

    fleet.trust_current_host_key(host);
    assert_eq!(host.ssh_ok("hostname"), "node-2\n");
}

#[test]
fn corrupted_known_hosts_fails_strict_host_key_checking() {
    let fleet = Fleet::start(2);
    let host = fleet.host("node-1");
    fleet.corrupt_known_hosts_for(host);
    let stderr = stderr_text(&host.ssh("true"));
    assert!(
        stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{stderr}"
    );
    assert!(stderr.contains("Host key verification failed"), "{stderr}");
    assert_eq!(fleet.host("node-2").ssh_ok("hostname"), "node-2\n");
}

#[test]
fn refused_address_refuses_connections() {
    let address = Fleet::refused_address();
    assert!(address.ip().is_loopback());
    let error = TcpStream::connect_timeout(&address, Duration::from_secs(2)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    let output = run_bounded(
        Command::new("ssh").args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-p",
            &address.port().to_string(),
            &address.ip().to_string(),
            "true",
        ]),
        Duration::from_secs(20),
    );
    assert!(
        stderr_text(&output).contains("Connection refused"),
        "{}",
        stderr_text(&output)
    );
}

#[test]
fn pgrep_sees_detached_processes_of_one_host_only() {
    let fleet = Fleet::start(2);
    let [one, two] = fleet.hosts() else {
        unreachable!()
    };
    one.ssh_ok("setsid sleep 301 </dev/null >/dev/null 2>&1 &");
    wait_until("the detached sleep runs", Duration::from_secs(10), || {
        one.pgrep("^sleep 301$").len() == 1
    });
    assert!(two.pgrep("^sleep 301$").is_empty());
    // Remote `ps` sees only its own host (sshd is PID 1 there).
    let remote =
        one.ssh_ok("/bin/ps -eo pid=,args= | grep -c 'sleep 30[1]'; /bin/ps -o args= -p 1");
    assert!(remote.starts_with("1\nsshd: "), "{remote}");
}

#[test]
fn drop_kills_every_host_process_and_removes_the_temp_dir() {
    let fleet = Fleet::start(2);
    let root = fleet.root_dir().to_path_buf();
    let host = fleet.host("node-1");
    host.ssh_ok("setsid sleep 302 </dev/null >/dev/null 2>&1 &");
    let mut session = open_session(host, "sleep 303");
    wait_until("both sleeps run", Duration::from_secs(10), || {
        host.pgrep("^sleep 30[23]$").len() == 2
    });
    let mut pids: Vec<u32> = fleet
        .hosts()
        .iter()
        .flat_map(|host| host.pgrep("."))
        .collect();
    pids.extend(
        processes_mentioning(&root.display().to_string())
            .into_iter()
            .map(|(pid, _)| pid),
    );
    assert!(
        pids.len() >= 6,
        "expected sshds, sessions and sleeps, found {pids:?}"
    );

    drop(fleet);
    // The local ssh client (our child, so it lingers as a zombie until reaped) sees its connection close.
    wait_for_exit(&mut session, Duration::from_secs(10));
    let survivors: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(
        survivors.is_empty(),
        "processes outlived the fleet: {survivors:?}"
    );
    assert!(processes_mentioning(&root.display().to_string()).is_empty());
    assert!(!root.exists(), "{} was not removed", root.display());
}

#[test]
fn a_panicking_test_still_stops_its_hosts() {
    let root = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let fleet = Fleet::start(2);
        fleet
            .host("node-2")
            .ssh_ok("setsid sleep 304 </dev/null >/dev/null 2>&1 &");
        *root.lock().unwrap() = Some(fleet.root_dir().to_path_buf());
        panic!("deliberate panic while a fleet runs");
    }));
    assert!(outcome.is_err());
    let root = root.into_inner().unwrap().expect("the fleet started");
    assert!(processes_mentioning(&root.display().to_string()).is_empty());
    assert!(!root.exists(), "{} was not removed", root.display());
}

#[test]
fn leftovers_of_a_killed_test_process_are_removed() {
    // No process can have this pid: it is above the kernel's largest pid_max.
    let leftover = std::env::temp_dir().join("runbook-e2e-4194399-leftover");
    fs::create_dir_all(leftover.join("nodes")).unwrap();
    let _fleet = Fleet::start(1);
    assert!(!leftover.exists(), "{} was not removed", leftover.display());
}

#[test]
fn node_states_are_complete_and_their_stand_ins_parse() {
    let states = available_states();
    assert_eq!(states, ["disk-full", "healthy", "kubelet-down", "seed-oom"]);
    let bin = fixtures_source_dir().join("healthy/bin");
    let lib = fixtures_source_dir().join("_lib");
    let mut scripts: Vec<_> = fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    scripts.extend(
        fs::read_dir(&lib)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh")),
    );
    for script in &scripts {
        if script.starts_with(&bin) {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(script).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o755, "{} must be mode 755", script.display());
        }
        let output = run_bounded(
            Command::new("sh").arg("-n").arg(script),
            Duration::from_secs(10),
        );
        stdout_of(&format!("sh -n {}", script.display()), &output);
    }
}

/// A fleet with a single host, `node-1`, in `state`.
fn one_host(state: &str) -> Fleet {
    Fleet::builder().hosts(1).state(state).start()
}

#[test]
fn seed_oom_stand_ins_show_the_seed_figures() {
    let fleet = one_host("seed-oom");
    let seed = &fleet.hosts()[0];
    assert_eq!(
        seed.ssh_ok("free -g"),
        "               total        used        free      shared  buff/cache   available\n\
         Mem:               3           3           0           0           0           0\n\
         Swap:              0           0           0\n"
    );
    let top = seed.ssh_ok("top -bn1");
    assert!(top.contains(
        "load average: 176.16, 177.88, 186.03\nTasks: 123 total,  13 running, 101 sleeping,   0 stopped,   9 zombie\n"
    ), "{top}");
    assert!(top.contains(" 99.8 sy,"), "{top}");
    assert!(top.contains("R 69.09 0.000  38:38.54 kswapd0\n"), "{top}");
    assert_eq!(seed.ssh_ok("nproc"), "2\n");
    assert_eq!(seed.ssh_ok("systemctl is-active kubelet"), "active\n");
    assert_eq!(
        seed.ssh_ok("systemctl show kubelet -p ActiveState,SubState,NRestarts,MainPID --no-pager"),
        "MainPID=8440\nNRestarts=0\nActiveState=active\nSubState=running\n"
    );
    let counts = seed.ssh_ok(
        "journalctl -k --no-pager | grep -c 'Out of memory: Killed process'; \
         dmesg | grep -c 'Out of memory'; \
         grep -ci 'out of memory' \"$RUNBOOK_AGENT_ROOT/var/log/messages\" || true; \
         grep oom_kill \"$RUNBOOK_AGENT_ROOT/proc/vmstat\"",
    );
    assert_eq!(
        counts, "2\n2\n0\noom_kill 2\n",
        "OOM kills: journal -k, dmesg, messages, vmstat"
    );
    assert!(seed
        .ssh_ok("journalctl -u kubelet -n 1")
        .contains("kubelet_volumes.go:245] \"There were many similar errors."));
    let zombies = seed.ssh_ok(
        "ps aux | awk '$8 ~ /^Z/ {print $11}' | sort | uniq -c | awk '{print $2\"=\"$1}' | tr '\\n' ' '",
    );
    assert_eq!(
        zombies,
        "[calico-node]=1 [curl]=2 [ip6tables]=1 [iptables]=2 [python3]=3 "
    );
    let apiserver = seed.ssh_ok("crictl ps -a --name kube-apiserver");
    assert!(
        apiserver.contains("87d3992f84f74") && apiserver.contains("Exited"),
        "{apiserver}"
    );
    assert!(seed
        .ssh_ok("crictl logs 87d3992f84f74")
        .contains("127.0.0.1:2379"));
    let containers: serde_json::Value =
        serde_json::from_str(&seed.ssh_ok("crictl ps -a -o json")).expect("crictl JSON");
    assert_eq!(containers["containers"].as_array().unwrap().len(), 18);
    let node: serde_json::Value =
        serde_json::from_str(&seed.ssh_ok("kubectl get node node-1 -o json")).expect("node JSON");
    assert_eq!(node["metadata"]["name"], "node-1");
    let conditions = node["status"]["conditions"].as_array().unwrap();
    for condition in conditions
        .iter()
        .filter(|c| c["type"] != "NetworkUnavailable")
    {
        assert_eq!(condition["status"], "Unknown", "{condition}");
        assert_eq!(condition["reason"], "NodeStatusUnknown", "{condition}");
        assert_eq!(
            condition["message"], "Kubelet stopped posting node status.",
            "{condition}"
        );
    }
    assert!(seed
        .ssh_ok("kubectl describe node node-1")
        .contains("  Ready                Unknown   Wed, 28 Sep 2022 07:46:33 +0000   Wed, 28 Sep 2022 07:47:36 +0000   NodeStatusUnknown   Kubelet stopped posting node status.\n"));
}

#[test]
fn healthy_stand_ins_show_a_quiet_node() {
    let fleet = one_host("healthy");
    let healthy = &fleet.hosts()[0];
    let report = healthy.ssh_ok(
        "uptime; kubectl get node node-1 --no-headers | awk '{print $2}'; \
         ps -eo stat= | grep -c '^Z'; journalctl -k | grep -c oom; \
         crictl ps -a -o json | grep -c CONTAINER_EXITED; true",
    );
    assert_eq!(
        report,
        " 08:30:09 up 23 days,  1:25,  1 user,  load average: 0.30, 0.25, 0.20\nReady\n0\n0\n0\n"
    );
}

#[test]
fn kubelet_down_stand_ins_show_the_restart_loop() {
    let fleet = one_host("kubelet-down");
    let down = &fleet.hosts()[0];
    assert_eq!(
        down.ssh_ok("systemctl show kubelet -p ActiveState,NRestarts --value"),
        "49\nfailed\n"
    );
    assert_eq!(
        down.ssh("systemctl is-active kubelet").status.code(),
        Some(3)
    );
    assert!(down.ssh_ok("journalctl -u kubelet --no-pager").contains(
        "failed to run Kubelet: misconfiguration: kubelet cgroup driver: \"systemd\" is different from docker cgroup driver: \"cgroupfs\""
    ));
    assert_eq!(down.ssh("ps -C kubelet -o pid=").status.code(), Some(1));
    assert!(down
        .ssh_ok("kubectl get node node-1")
        .contains("node-1   NotReady"));
}

#[test]
fn disk_full_stand_ins_show_full_filesystems() {
    let fleet = one_host("disk-full");
    let disk = &fleet.hosts()[0];
    assert!(disk.ssh_ok("df -P /var").contains(" 98% /var\n"));
    assert!(disk
        .ssh_ok("df -Pi /var/lib/containerd")
        .contains(" 100% /var/lib/containerd\n"));
}

#[test]
fn stand_ins_fail_loudly_on_unknown_invocations() {
    let wrong_commands = [
        "systemctl frobnicate kubelet",
        "journalctl --frobnicate",
        "crictl log 87d3992f84f74",
        "kubectl get frobs",
        "kubectl get pods -A",
        "free --frobnicate",
        "ps --frobnicate",
        "top -n 1",
        "df --frobnicate",
        "dmesg --frobnicate",
        "uptime --frobnicate",
        "nproc --frobnicate",
        "hostname --frobnicate",
    ];
    // One SSH call per host: each line is "<exit status> <stderr bytes>".
    let script: String = wrong_commands
        .iter()
        .map(|command| {
            format!("{command} >/dev/null 2>/tmp/e2e.$$; echo \"$? $(wc -c </tmp/e2e.$$)\"; ")
        })
        .chain(["rm -f /tmp/e2e.$$".to_string()])
        .collect();
    let fleet = one_host_per_state().start();
    for host in fleet.hosts() {
        let report = host.ssh_ok(&script);
        for (command, line) in wrong_commands.iter().zip(report.lines()) {
            let (status, stderr_bytes) = line.split_once(' ').unwrap();
            assert_ne!(status, "0", "`{command}` on {} should fail", host.name());
            assert_ne!(
                stderr_bytes,
                "0",
                "`{command}` on {} should say why",
                host.name()
            );
        }
    }
}

/// node-1..node-4 in states healthy, seed-oom, kubelet-down, disk-full.
fn one_host_per_state() -> FleetBuilder {
    Fleet::builder()
        .hosts(4)
        .host_state("node-1", "healthy")
        .host_state("node-2", "seed-oom")
        .host_state("node-3", "kubelet-down")
        .host_state("node-4", "disk-full")
}
