//! The executor (tokio): a fleet dispatcher running one task per host (at
//! most `forks` at once), and per host a walker that follows the DAG —
//! guards, first-match `next`, concurrent fan-out, joins with pruning,
//! `on_failure`, retries, timeouts, captures, calls — emitting an event at
//! every step and decision.

pub mod agent;
pub mod approve;
pub mod display;
pub mod events;
mod host;
pub mod result;
pub(crate) mod scope;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use host::{HostOutcome, HostStatus};
pub use result::{ConclusionRecord, Evidence, StepResult};

use crate::model::Runbook;
use crate::plan::Plan;
use crate::transport::{Connector, Destination};
use approve::Approver;
use events::{Event, EventSink};

/// A host to run on.
#[derive(Debug, Clone, Serialize)]
pub struct HostSpec {
    /// Name shown to people and in records.
    pub name: String,
    /// How to reach it.
    #[serde(skip)]
    pub destination: Destination,
    /// Inventory variables (`host.vars`).
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// How a run behaves.
#[derive(Clone)]
pub struct ExecOptions {
    /// Run id.
    pub run_id: String,
    /// Who runs it.
    pub operator: String,
    /// Print mutating steps instead of running them.
    pub dry_run: bool,
    /// Hosts at once.
    pub forks: usize,
    /// Whole-run time limit.
    pub deadline: Option<Duration>,
    /// Bytes of each output stream kept in memory.
    pub output_limit: usize,
    /// Bytes of each output stream written to records.
    pub record_limit: usize,
    /// How probes find the agent on remote machines.
    pub agent: agent::AgentSource,
    /// Agent command on this machine (for `local` steps).
    pub local_agent_command: String,
    /// Write one syslog line per step on remote hosts (`logger`).
    pub remote_log: bool,
    /// Retry at once instead of backing off (recorded-output runs).
    pub no_retry_delay: bool,
    /// Probe steps that become ready together on one machine share one
    /// agent call (off for recorded outputs, which are kept per step).
    pub batch_probes: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            run_id: ulid::Ulid::new().to_string(),
            operator: "unknown".into(),
            dry_run: false,
            forks: 50,
            deadline: None,
            output_limit: 1 << 20,
            record_limit: 64 << 10,
            agent: agent::AgentSource::Preinstalled("runbook-agent".into()),
            local_agent_command: "runbook-agent".into(),
            remote_log: true,
            no_retry_delay: false,
            batch_probes: true,
        }
    }
}

/// A runbook with its plan, prepared once for every host.
pub(crate) struct Prepared {
    pub runbook: Arc<Runbook>,
    pub preds: Vec<usize>,
    pub successors: Vec<Vec<usize>>,
}

impl Prepared {
    fn new(runbook: Arc<Runbook>) -> Self {
        let plan = Plan::new(&runbook);
        let preds = plan.predecessors().iter().map(Vec::len).collect();
        let successors = (0..plan.len()).map(|i| plan.successors(i)).collect();
        Prepared {
            runbook,
            preds,
            successors,
        }
    }
}

/// Everything host walkers share.
pub(crate) struct Shared {
    pub prepared: HashMap<String, Arc<Prepared>>,
    pub connector: Arc<dyn Connector>,
    pub events: EventSink,
    pub approver: Arc<dyn Approver>,
    pub options: ExecOptions,
    pub cancel: CancellationToken,
    pub deadline: Option<Instant>,
}

/// Runs `runbook` on every host; one host's failure never stops another.
pub struct Executor {
    shared: Arc<Shared>,
    root: String,
}

impl Executor {
    /// An executor for `runbook`.
    pub fn new(
        runbook: Arc<Runbook>,
        connector: Arc<dyn Connector>,
        events: EventSink,
        approver: Arc<dyn Approver>,
        options: ExecOptions,
        cancel: CancellationToken,
    ) -> Self {
        let mut prepared = HashMap::new();
        let mut stack = vec![runbook.clone()];
        while let Some(rb) = stack.pop() {
            if prepared.contains_key(&rb.name) {
                continue;
            }
            stack.extend(rb.calls.values().cloned());
            prepared.insert(rb.name.clone(), Arc::new(Prepared::new(rb)));
        }
        let deadline = options.deadline.map(|d| Instant::now() + d);
        Executor {
            root: runbook.name.clone(),
            shared: Arc::new(Shared {
                prepared,
                connector,
                events,
                approver,
                options,
                cancel,
                deadline,
            }),
        }
    }

    /// Runs on all `hosts` with `params` (name → value as given; defaults
    /// are applied per host). Outcomes come back in host order.
    pub async fn run(
        &self,
        hosts: Vec<HostSpec>,
        params: BTreeMap<String, String>,
    ) -> Vec<HostOutcome> {
        let forks = Arc::new(Semaphore::new(self.shared.options.forks.max(1)));
        let params = Arc::new(params);
        let mut tasks = Vec::with_capacity(hosts.len());
        for host in hosts {
            let shared = self.shared.clone();
            let forks = forks.clone();
            let params = params.clone();
            let root = self.root.clone();
            tasks.push(tokio::spawn(async move {
                let name = host.name.clone();
                let Ok(_permit) = forks.acquire_owned().await else {
                    return HostOutcome::failed(
                        &name,
                        "internal error: the fork pool closed".into(),
                    );
                };
                if shared.cancel.is_cancelled() {
                    return HostOutcome::interrupted_before_start(&name);
                }
                host::run_host(shared, &root, host, &params).await
            }));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for t in tasks {
            outcomes.push(match t.await {
                Ok(o) => o,
                Err(e) => {
                    HostOutcome::failed("?", format!("internal error: a host task panicked: {e}"))
                }
            });
        }
        outcomes
    }

    /// Emits an event through the run's sink.
    pub fn emit(&self, event: Event) {
        self.shared.events.emit(event);
    }
}
