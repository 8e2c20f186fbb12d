//! `runbook run` and `runbook plan`: resolve what the user typed (runbook,
//! params, hosts) into a run, wire the executor to SSH, the audit trail,
//! the progress view and approvals, and turn the outcomes into a diagnosis
//! and an exit code.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use super::summary;
use super::{exit, load_runbook};
use crate::audit::writer::AuditWriter;
use crate::cli::{FailOn, OutputFormat, RunArgs, TcpNodelay};
use crate::diagnostic::did_you_mean;
use crate::exec::agent::{AgentBinary, AgentSource};
use crate::exec::approve::{ApproveAll, Approver, AskTerminal, RefuseAll};
use crate::exec::events::{Durability, Event, EventSink};
use crate::exec::{ExecOptions, Executor, HostOutcome, HostSpec, HostStatus};
use crate::inventory;
use crate::library::Library;
use crate::model::{Action, FindingSeverity, Runbook};
use crate::redact::Redactor;
use crate::transport::kept::KeptMasters;
use crate::transport::nodelay::NodelayConfig;
use crate::transport::ssh::{KeepConnections, SshOptions};
use crate::transport::{Connector, DefaultConnector, Destination};

/// A run as resolved from the command line.
pub(crate) struct Resolved {
    pub runbook: Arc<Runbook>,
    pub params: BTreeMap<String, String>,
    pub hosts: Vec<HostSpec>,
    pub operator: String,
}

/// Resolves runbook, params and hosts; prints the problem and returns the
/// exit code on failure.
pub(crate) fn resolve(args: &RunArgs, color: bool, need_hosts: bool) -> Result<Resolved, u8> {
    let library = Library::new(&args.library.runbooks);
    let runbook = load_runbook(&library, &args.name, color)?.runbook;
    let params = parse_params(&runbook, &args.params).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    let hosts = match hosts(args) {
        Ok(h) => h,
        Err(e) if need_hosts => {
            eprintln!("error: {e}");
            return Err(exit::USAGE);
        }
        Err(_) => Vec::new(),
    };
    Ok(Resolved {
        runbook,
        params,
        hosts,
        operator: args.operator.clone().unwrap_or_else(os_user),
    })
}

/// `-p name=value` → map, checked against the runbook's params.
fn parse_params(runbook: &Runbook, raw: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in raw {
        let Some((name, value)) = item.split_once('=') else {
            return Err(format!("`-p {item}` is not NAME=VALUE"));
        };
        let name = name.trim();
        if !runbook.params.iter().any(|p| p.name == name) {
            let known: Vec<&str> = runbook.params.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "runbook `{}` has no param `{name}`{}",
                runbook.name,
                did_you_mean(name, known.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_else(|| if known.is_empty() {
                        String::new()
                    } else {
                        format!(" (params: {})", known.join(", "))
                    })
            ));
        }
        if out.insert(name.to_string(), value.to_string()).is_some() {
            return Err(format!("param `{name}` is given twice"));
        }
    }
    for p in runbook.params.iter().filter(|p| p.required) {
        if !out.contains_key(&p.name) {
            return Err(format!(
                "runbook `{}` needs param `{}`{}: pass `-p {}=VALUE`",
                runbook.name,
                p.name,
                p.description
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                p.name
            ));
        }
    }
    Ok(out)
}

fn hosts(args: &RunArgs) -> Result<Vec<HostSpec>, String> {
    let mut out = Vec::new();
    if args.local {
        if !args.hosts.is_empty() || args.inventory.is_some() {
            return Err(
                "--local runs on this machine; it cannot be combined with --host or --inventory"
                    .into(),
            );
        }
        let name = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        out.push(HostSpec {
            destination: Destination {
                name: name.clone(),
                ..Destination::local()
            },
            name,
            vars: BTreeMap::new(),
        });
        return Ok(out);
    }
    for h in &args.hosts {
        if h.trim().is_empty() || h.starts_with('-') {
            return Err(format!("`{h}` is not a host name"));
        }
        out.push(HostSpec {
            name: h.clone(),
            destination: Destination {
                name: h.clone(),
                address: h.clone(),
                user: None,
                port: None,
                local: false,
            },
            vars: BTreeMap::new(),
        });
    }
    if let Some(path) = &args.inventory {
        for h in inventory::read(path, args.group.as_deref()).map_err(|e| e.to_string())? {
            if h.address.starts_with('-') {
                return Err(format!(
                    "inventory host `{}` has an address starting with `-`",
                    h.name
                ));
            }
            out.push(HostSpec {
                destination: Destination {
                    name: h.name.clone(),
                    address: h.address,
                    user: h.user,
                    port: h.port,
                    local: false,
                },
                name: h.name,
                vars: h.vars,
            });
        }
    }
    if out.is_empty() {
        return Err("no host to run on: pass --host HOST, --inventory FILE, or --local".into());
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|h| seen.insert(h.name.clone()));
    if let Some(shard) = &args.shard {
        out = shard_hosts(out, shard)?;
    }
    Ok(out)
}

/// Keeps shard `I/N` (1-based) of `hosts`: a host belongs to the shard its
/// name hashes to, so shards are stable as the fleet changes.
pub(crate) fn shard_hosts(hosts: Vec<HostSpec>, shard: &str) -> Result<Vec<HostSpec>, String> {
    let bad = || format!("--shard `{shard}` is not I/N with 1 <= I <= N");
    let (i, n) = shard.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    use sha2::{Digest, Sha256};
    Ok(hosts
        .into_iter()
        .filter(|h| {
            let d = Sha256::digest(h.name.as_bytes());
            let v = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
            v % n == i - 1
        })
        .collect())
}

fn os_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The local agent binary: next to this executable, else on PATH.
fn local_agent() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("runbook-agent")))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "runbook-agent".into())
}

/// Where remote probes get the agent from.
fn agent_source(args: &RunArgs) -> AgentSource {
    if let Some(p) = &args.agent_path {
        return AgentSource::Preinstalled(p.clone());
    }
    match AgentBinary::find() {
        Some(path) => match AgentBinary::load(&path) {
            Ok(binary) => AgentSource::Ship {
                binary: Arc::new(binary),
                dir: args.agent_dir.clone(),
            },
            Err(e) => AgentSource::Missing(format!("cannot read the agent binary {}: {e}", path.display())),
        },
        None => AgentSource::Missing(
            "no runbook-agent binary next to runbook (build it with `cargo build -p runbook-agent`, set RUNBOOK_AGENT_BINARY, or pass --agent-path)".into(),
        ),
    }
}

/// Whether `runbook` or a runbook it calls has a probe step.
fn uses_probes(runbook: &Runbook) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![runbook];
    while let Some(rb) = stack.pop() {
        if !seen.insert(rb.name.as_str()) {
            continue;
        }
        if rb
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Probe { .. }))
        {
            return true;
        }
        stack.extend(rb.calls.values().map(|c| c.as_ref()));
    }
    false
}

/// `runbook run`.
pub(crate) fn run(args: RunArgs, color: bool) -> u8 {
    let resolved = match resolve(&args, color, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let code = runtime.block_on(run_async(args, resolved, color));
    // Not the default drop, which waits for blocking tasks: an approval
    // prompt stopped by Ctrl-C still sits in a blocking read of the
    // terminal, and would hold the exit until someone pressed Enter.
    runtime.shutdown_background();
    code
}

async fn run_async(args: RunArgs, resolved: Resolved, color: bool) -> u8 {
    let Resolved {
        runbook,
        params,
        hosts,
        operator,
    } = resolved;
    let keep = match args.keep_connections {
        Some(idle) => match KeptMasters::open(KeptMasters::default_root()) {
            Ok(masters) => Some(KeepConnections { masters, idle }),
            Err(e) => {
                eprintln!("error: --keep-connections: {e}");
                return exit::FAILED;
            }
        },
        None => None,
    };
    if let Some(file) = &args.ssh_config {
        if let Err(e) = std::fs::File::open(file) {
            eprintln!("error: --ssh-config {}: {e}", file.display());
            return exit::USAGE;
        }
    }
    let nodelay = if args.local || !tcp_nodelay_pays(args.tcp_nodelay, hosts.len(), args.forks) {
        None
    } else {
        std::env::current_exe()
            .and_then(|engine| {
                NodelayConfig::write(args.ssh_config.as_deref(), &engine, args.connect_timeout)
            })
            .map(Arc::new)
            .map_err(|e| tracing::warn!("connecting without TCP_NODELAY: {e}"))
            .ok()
    };
    let run_id = ulid::Ulid::new().to_string();
    let secrets: Vec<String> = runbook
        .params
        .iter()
        .filter(|p| p.secret)
        .filter_map(|p| params.get(&p.name).cloned())
        .collect();
    let redactor = Arc::new(Redactor::new(secrets, runbook.redact.clone()));
    let masked_params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| {
            let secret = runbook.params.iter().any(|p| &p.name == k && p.secret);
            (
                k.clone(),
                if secret {
                    crate::redact::MASK.to_string()
                } else {
                    redactor.redact(v).into_owned()
                },
            )
        })
        .collect();
    let started_event = Event::RunStarted {
        run_id: run_id.clone(),
        runbook: runbook.name.clone(),
        runbook_sha256: runbook.source_sha256.clone(),
        params: masked_params,
        operator: operator.clone(),
        engine_version: env!("CARGO_PKG_VERSION").into(),
        hosts: hosts.iter().map(|h| h.name.clone()).collect(),
        command_line: std::env::args().collect(),
        dry_run: args.dry_run,
    };
    let mut started_json = serde_json::to_value(&started_event).unwrap_or_default();
    redactor.redact_json(&mut started_json);

    // The audit trail first: no audit, no run.
    let audit_dir = args
        .audit_dir
        .clone()
        .unwrap_or_else(crate::audit::default_dir);
    let writer = match AuditWriter::create(&audit_dir, &run_id, &runbook.name, &started_json) {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "error: {e}\nrefusing to run unaudited: fix the directory or pass --audit-dir DIR"
            );
            return exit::FAILED;
        }
    };
    let audit_path = writer.path().to_path_buf();
    let cancel = CancellationToken::new();
    let (audit_tx, audit_rx) = mpsc::unbounded_channel();
    let (durable_tx, durable_rx) = tokio::sync::watch::channel(Durability::default());
    let audit_task = tokio::spawn(writer.run(audit_rx, cancel.clone(), durable_tx));

    let interactive = std::io::stderr().is_terminal();
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let progress = Progress::start(
        progress_rx,
        hosts.len(),
        interactive && args.output == OutputFormat::Human,
    );
    // Only this sink feeds the audit writer, so the writer's count of
    // events is the sink's (see `with_durability`).
    let events =
        EventSink::new(redactor.clone(), vec![audit_tx, progress_tx]).with_durability(durable_rx);

    let connector: Arc<dyn Connector> = Arc::new(DefaultConnector {
        ssh: SshOptions {
            config_file: args.ssh_config.clone(),
            identity: args.identity.clone(),
            user: args.user.clone(),
            accept_new_host_keys: args.accept_new_host_keys,
            connect_timeout: args.connect_timeout,
            control_dir: std::env::temp_dir(),
            channels_per_host: usize::from(args.channels_per_host),
            keep,
            nodelay,
        },
    });
    let approver: Arc<dyn Approver> = if args.yes {
        Arc::new(ApproveAll {
            operator: operator.clone(),
        })
    } else if AskTerminal::available() && !args.dry_run {
        Arc::new(AskTerminal::new(operator.clone()).with_screen(progress.screen()))
    } else {
        Arc::new(RefuseAll)
    };
    let options = ExecOptions {
        run_id: run_id.clone(),
        operator,
        dry_run: args.dry_run,
        forks: args.forks as usize,
        deadline: args.deadline,
        // Reading and hashing the agent is only worth it when a probe may
        // run (it is most of the start-up time of a debug build).
        agent: if uses_probes(&runbook) {
            agent_source(&args)
        } else {
            AgentSource::Missing("the runbook has no probe steps".into())
        },
        local_agent_command: local_agent(),
        remote_log: !args.no_remote_log,
        ..ExecOptions::default()
    };
    let executor = Executor::new(
        runbook.clone(),
        connector,
        events.clone(),
        approver,
        options,
        cancel.clone(),
    );
    let (interrupted, signals) = watch_signals(cancel.clone(), events.clone());
    let outcomes = executor.run(hosts, params).await;
    signals.abort();
    let _ = signals.await;

    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    let code = exit_code(&outcomes, was_interrupted, args.fail_on);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        *counts.entry(o.status.name().to_string()).or_default() += 1;
    }
    events.emit(Event::RunFinished {
        status: if was_interrupted {
            "interrupted".into()
        } else {
            "completed".into()
        },
        hosts: counts,
        exit_code: code,
    });
    drop(executor);
    drop(events);
    let audit_result = audit_task
        .await
        .unwrap_or_else(|e| Err(format!("internal error: audit task: {e}")));
    progress.finish().await;

    let text = match args.output {
        OutputFormat::Human => summary::human(&runbook, &outcomes, &run_id, &audit_path, color),
        OutputFormat::Json => {
            summary::json(&runbook, &outcomes, &run_id, &audit_path, code, &redactor)
        }
    };
    // JSON is masked value by value (masking its text could cut through
    // its syntax); people's text as a whole.
    match args.output {
        OutputFormat::Human => out!("{}", redactor.redact(&text)),
        OutputFormat::Json => out!("{text}"),
    }
    if let Err(e) = audit_result {
        eprintln!("error: {e}");
        return exit::FAILED.max(code);
    }
    code
}

/// Exit code from the outcomes (see [`exit`]).
fn exit_code(outcomes: &[HostOutcome], interrupted: bool, fail_on: Option<FailOn>) -> u8 {
    if interrupted {
        return exit::INTERRUPTED;
    }
    if outcomes.iter().any(|o| o.status != HostStatus::Concluded) {
        return exit::FAILED;
    }
    let threshold = match fail_on {
        Some(FailOn::Warning) => Some(FindingSeverity::Warning),
        Some(FailOn::Critical) => Some(FindingSeverity::Critical),
        None => None,
    };
    if let Some(t) = threshold {
        if outcomes
            .iter()
            .flat_map(|o| &o.conclusions)
            .any(|c| c.severity >= t)
        {
            return exit::FINDING;
        }
    }
    exit::OK
}

/// First SIGINT/SIGTERM: stop remote commands, seal the audit as
/// interrupted. Second: exit at once.
fn watch_signals(
    cancel: CancellationToken,
    events: EventSink,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = flag.clone();
    let task = tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut count = 0;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            count += 1;
            if count == 1 {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                eprintln!("\n{name}: stopping remote commands and sealing the audit trail (again to force exit)");
                events.emit(Event::Interrupted {
                    signal: name.into(),
                });
                cancel.cancel();
            } else {
                eprintln!("{name} again: exiting now; the audit trail is left unsealed");
                // Skipping the orderly close would leave the SSH masters
                // (and the hosts' sessions on them) running for their
                // ControlPersist time.
                crate::transport::ssh::terminate_masters(std::time::Duration::from_secs(1));
                std::process::exit(exit::INTERRUPTED.into());
            }
        }
    });
    (flag, task)
}

/// Whether connecting through the TCP_NODELAY proxy pays for this run: it
/// saves one delayed ACK (~40 ms) per connection, and costs ~3 ms of CPU
/// (a shell and the proxy process). With more than 14 connections per
/// CPU opening at once, connecting is CPU-bound and the wait it saves is
/// hidden anyway (bench/README.md, "TCP_NODELAY").
fn tcp_nodelay_pays(setting: TcpNodelay, hosts: usize, forks: u32) -> bool {
    const CONNECTIONS_PER_CPU: usize = 14;
    match setting {
        TcpNodelay::On => true,
        TcpNodelay::Off => false,
        TcpNodelay::Auto => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            hosts.min(forks as usize) <= CONNECTIONS_PER_CPU * cpus
        }
    }
}

#[cfg(test)]
mod tcp_nodelay_tests {
    use super::*;

    #[test]
    fn auto_uses_the_proxy_for_a_few_hosts_and_not_for_a_cpu_bound_fleet() {
        assert!(tcp_nodelay_pays(TcpNodelay::Auto, 1, 50));
        assert!(!tcp_nodelay_pays(TcpNodelay::Auto, 100_000, 100_000));
        // --forks bounds the connections opened at once.
        assert!(tcp_nodelay_pays(TcpNodelay::Auto, 100_000, 1));
        assert!(tcp_nodelay_pays(TcpNodelay::On, 100_000, 100_000));
        assert!(!tcp_nodelay_pays(TcpNodelay::Off, 1, 1));
    }
}
