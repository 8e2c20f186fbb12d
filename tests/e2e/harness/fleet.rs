//! A set of fake nodes `node-1`..`node-N` started together, with the client
//! files (key, known_hosts, ssh_config) that reach them, all in one temp dir
//! that is removed, with every process, when the fleet is dropped.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::addr;
use super::fixture;
use super::host::{FleetFiles, Host, SSHD_START_TIMEOUT};
use super::keys::{self, KeyPair};
use super::procfs;
use super::sshd::{self, Startup};

/// Prefix of every fleet's temp dir; the owning pid follows, so dirs left by
/// a killed test process can be recognised and removed.
const TEMP_DIR_PREFIX: &str = "runbook-e2e-";
/// How many times a host may draw a new address after a bind clash.
const MAX_ADDRESS_DRAWS: usize = 5;

/// Configures a fleet before starting it: `Fleet::builder().hosts(3).state("seed-oom").start()`.
#[derive(Clone, Debug)]
pub struct FleetBuilder {
    hosts: usize,
    default_state: String,
    host_states: Vec<(String, String)>,
}

impl FleetBuilder {
    /// Number of hosts, named `node-1`..`node-N` (default 1).
    pub fn hosts(mut self, count: usize) -> Self {
        self.hosts = count;
        self
    }

    /// Node state every host starts in (default `"healthy"`).
    pub fn state(mut self, state: &str) -> Self {
        self.default_state = state.to_string();
        self
    }

    /// Node state for one host, e.g. `.host_state("node-15", "seed-oom")`.
    pub fn host_state(mut self, host: &str, state: &str) -> Self {
        self.host_states.push((host.to_string(), state.to_string()));
        self
    }

    /// Starts every host and waits until all accept SSH connections.
    pub fn start(self) -> Fleet {
        assert!(self.hosts > 0, "a fleet needs at least one host");
        for (host, _) in &self.host_states {
            let in_range = host
                .strip_prefix("node-")
                .and_then(|k| k.parse::<usize>().ok())
                .is_some_and(|k| (1..=self.hosts).contains(&k));
            assert!(
                in_range,
                "host_state names `{host}`, which is not one of node-1..node-{}",
                self.hosts
            );
        }
        Fleet::start_from(self)
    }
}

/// Running fake nodes and the client files to reach them. Dropping it kills
/// every sshd and every process on the hosts and deletes the temp dir.
pub struct Fleet {
    hosts: Vec<Host>,
    files: Arc<FleetFiles>,
    /// The key known_hosts lists for each host (index = host index).
    known_keys: std::sync::Mutex<Vec<String>>,
    /// Removed last: after every process is gone.
    temp_dir: TempDir,
}

impl Fleet {
    /// A builder; defaults to one host in state `"healthy"`.
    pub fn builder() -> FleetBuilder {
        FleetBuilder {
            hosts: 1,
            default_state: "healthy".into(),
            host_states: Vec::new(),
        }
    }

    /// Starts `count` healthy hosts `node-1`..`node-{count}`.
    pub fn start(count: usize) -> Fleet {
        Fleet::builder().hosts(count).start()
    }

    /// An address where nothing listens, for "connection refused" tests.
    pub fn refused_address() -> SocketAddr {
        addr::refused_address()
    }

    fn start_from(builder: FleetBuilder) -> Fleet {
        remove_leftovers_of_dead_processes();
        sshd::ensure_privilege_separation_dir();
        let temp_dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .expect("cannot create the fleet's temp dir");
        let root = temp_dir.path().to_path_buf();

        let (client_key, host_key) = thread::scope(|scope| {
            let client =
                scope.spawn(|| keys::generate(&root.join("client_ed25519"), "runbook e2e client"));
            let host = scope.spawn(|| {
                keys::generate(
                    &root.join("ssh_host_ed25519_key"),
                    "runbook e2e fleet host key",
                )
            });
            (
                client.join().expect("client keygen"),
                host.join().expect("host keygen"),
            )
        });
        let files = Arc::new(FleetFiles {
            ssh_config: root.join("ssh_config"),
            known_hosts: root.join("known_hosts"),
            client_key: client_key.private_key.clone(),
            authorized_keys: root.join("authorized_keys"),
            root,
        });
        fs::write(
            &files.authorized_keys,
            format!("{}\n", client_key.public_key),
        )
        .expect("cannot write authorized_keys");
        fixture::install_shared_lib(&files.root.join("nodes"));

        let names: Vec<String> = (1..=builder.hosts).map(|k| format!("node-{k}")).collect();
        let hosts = prepare_hosts_in_parallel(&names, &builder, &files, &host_key);
        let known_keys = std::sync::Mutex::new(vec![host_key.public_key; hosts.len()]);
        let fleet = Fleet {
            hosts,
            files,
            known_keys,
            temp_dir,
        };
        // From here on a panic drops `fleet`, which kills what was started.
        fleet.launch_all();
        fleet.write_known_hosts();
        fleet.write_ssh_config();
        fleet
    }

    /// Launches every sshd, then waits for all of them; a host whose address
    /// turns out to be taken by another process draws a new one.
    fn launch_all(&self) {
        let mut starting: Vec<(usize, u64, usize)> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(index, host)| (index, host.launch_sshd(), 1))
            .collect();
        let deadline = Instant::now()
            + SSHD_START_TIMEOUT
            + Duration::from_millis(20) * self.hosts.len() as u32;
        while !starting.is_empty() {
            let mut still_starting = Vec::new();
            for (index, log_offset, draws) in starting {
                let host = &self.hosts[index];
                match host.poll_startup(log_offset) {
                    Startup::Listening => {}
                    Startup::Pending if Instant::now() < deadline => {
                        still_starting.push((index, log_offset, draws))
                    }
                    Startup::Pending => {
                        host.startup_failed(log_offset, "did not start listening in time")
                    }
                    Startup::AddressInUse if draws < MAX_ADDRESS_DRAWS => {
                        host.set_listen_address(addr::claim_listen_address());
                        still_starting.push((index, host.launch_sshd(), draws + 1));
                    }
                    Startup::AddressInUse => host.startup_failed(
                        log_offset,
                        &format!("found its address taken {draws} times"),
                    ),
                    Startup::Failed => host.startup_failed(log_offset, "exited during start-up"),
                }
            }
            starting = still_starting;
            if !starting.is_empty() {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// All hosts, `node-1` first.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host called `name` (e.g. `"node-3"`); panics if there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|host| host.name() == name)
            .unwrap_or_else(|| panic!("no host `{name}` in this fleet of {}", self.hosts.len()))
    }

    /// The client config with one `Host node-K` block per host; use it as
    /// `ssh -F <path> node-K …`.
    pub fn ssh_config_path(&self) -> &Path {
        &self.files.ssh_config
    }

    /// The known_hosts file the ssh_config points at.
    pub fn known_hosts_path(&self) -> &Path {
        &self.files.known_hosts
    }

    /// The private key every host accepts for root.
    pub fn client_key_path(&self) -> &Path {
        &self.files.client_key
    }

    /// The fleet's temp dir (keys, configs, `nodes/<host>/`, `sshd/<host>/`).
    pub fn root_dir(&self) -> &Path {
        self.temp_dir.path()
    }

    /// The `TMPDIR` of engines run against this fleet (created on first
    /// use). The engine's SSH control sockets and the ssh_config it hands
    /// to `ssh` live there, so the command line of every `ssh` it starts
    /// names this directory: that is how tests find an engine's masters.
    pub fn engine_tmp_dir(&self) -> PathBuf {
        let dir = self.root_dir().join("engine-tmp");
        fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        dir
    }

    /// Makes known_hosts list a different, unrelated key for `host`, so a
    /// strict client refuses it ("REMOTE HOST IDENTIFICATION HAS CHANGED")
    /// while sshd itself is unchanged.
    pub fn corrupt_known_hosts_for(&self, host: &Host) {
        let index = self.index_of(host);
        let path = self
            .files
            .root
            .join(format!("impostor_key_{}", host.name()));
        let impostor = keys::generate(&path, "key no host serves");
        self.known_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())[index] = impostor.public_key;
        self.write_known_hosts();
    }

    /// Makes known_hosts list `host`'s current key again (after
    /// [`Fleet::corrupt_known_hosts_for`] or [`Host::rotate_host_key`]).
    pub fn trust_current_host_key(&self, host: &Host) {
        let index = self.index_of(host);
        self.known_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())[index] = host.host_key().public_key;
        self.write_known_hosts();
    }

    fn index_of(&self, host: &Host) -> usize {
        self.hosts
            .iter()
            .position(|candidate| std::ptr::eq(candidate, host))
            .unwrap_or_else(|| panic!("{} is not a host of this fleet", host.name()))
    }

    fn write_known_hosts(&self) {
        let known_keys = self
            .known_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut text = String::new();
        for (host, key) in self.hosts.iter().zip(known_keys.iter()) {
            let _ = writeln!(text, "[{}]:{} {key}", host.addr(), host.port());
        }
        write_atomically(&self.files.known_hosts, &text);
    }

    fn write_ssh_config(&self) {
        let mut text = String::from("# Generated by tests/e2e/harness: one block per fake host.\n");
        for host in &self.hosts {
            let _ = write!(
                text,
                "\nHost {name}\n\
                 \x20   HostName {addr}\n\
                 \x20   Port {port}\n\
                 \x20   User root\n\
                 \x20   IdentityFile {key}\n\
                 \x20   IdentitiesOnly yes\n\
                 \x20   UserKnownHostsFile {known_hosts}\n\
                 \x20   GlobalKnownHostsFile /dev/null\n\
                 \x20   StrictHostKeyChecking yes\n\
                 \x20   UpdateHostKeys no\n\
                 \x20   CheckHostIP no\n\
                 \x20   BatchMode yes\n\
                 \x20   ConnectTimeout 5\n\
                 \x20   ConnectionAttempts 1\n\
                 \x20   LogLevel ERROR\n",
                name = host.name(),
                addr = host.addr(),
                port = host.port(),
                key = self.files.client_key.display(),
                known_hosts = self.files.known_hosts.display(),
            );
        }
        write_atomically(&self.files.ssh_config, &text);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Kill every sshd at once (each takes its namespace with it), then reap.
        let sshd_pids: Vec<u32> = self.hosts.iter().filter_map(Host::signal_stop).collect();
        procfs::send_signal("KILL", &sshd_pids);
        for host in &self.hosts {
            if let Err(problem) = host.reap_stopped() {
                eprintln!("e2e harness: {problem}");
            }
        }
    }
}

/// Creates each host's directories, fixture copy and sshd_config, several
/// hosts at a time (copying fixtures is most of the start-up work).
fn prepare_hosts_in_parallel(
    names: &[String],
    builder: &FleetBuilder,
    files: &Arc<FleetFiles>,
    host_key: &KeyPair,
) -> Vec<Host> {
    let workers = thread::available_parallelism()
        .map_or(4, |n| n.get())
        .clamp(2, 8);
    let chunk_size = names.len().div_ceil(workers);
    thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(chunk_size)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|name| {
                            let state = builder
                                .host_states
                                .iter()
                                .rev()
                                .find(|(host, _)| host == name)
                                .map_or(builder.default_state.as_str(), |(_, state)| {
                                    state.as_str()
                                });
                            let host = Host::new(
                                name.clone(),
                                addr::claim_listen_address(),
                                Arc::clone(files),
                                host_key.clone(),
                            );
                            host.set_state(state);
                            host.write_sshd_config();
                            host
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn write_atomically(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    fs::write(&partial, text)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", partial.display()));
    fs::rename(&partial, path)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// Removes temp dirs of fleets whose test process died without dropping them
/// (killed by a timeout, say). Their sshds died with the process (see
/// `sshd.rs`); only the files are left.
fn remove_leftovers_of_dead_processes() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(TEMP_DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !procfs::exists(owner) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
