//! Runs the requested probes, each in its own small thread under its own
//! deadline, and assembles the report. A probe stuck in the kernel (a read
//! of a hung mount, a wedged `/proc/<pid>` file) is reported as a timeout
//! and abandoned; the document is printed regardless.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{ProbeArgs, RawArg};
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProbeError};
use crate::probes::{self, Ctx};
use crate::report::{ProbeOutcome, ProbeResults, Report, REPORT_TYPE, SCHEMA_VERSION};
use crate::source::Root;

/// Stack of a probe thread; probes do not recurse, and untouched stack
/// pages cost no memory.
const PROBE_STACK: usize = 256 * 1024;

/// Extra time given to a probe past its deadline to return its own
/// (better worded) timeout error before it is abandoned.
const GRACE: Duration = Duration::from_millis(250);

/// Default per-probe time limit (`--timeout-ms`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);

/// What `runbook-agent probe ...` asked for, after command-line parsing.
#[derive(Debug, Clone)]
pub struct Request {
    /// Probe names, in order, without duplicates.
    pub names: Vec<String>,
    /// Every `--arg`, in order.
    pub args: Vec<RawArg>,
    /// The root directory.
    pub root: PathBuf,
    /// Default time limit per probe.
    pub timeout: Duration,
}

/// Runs every requested probe and builds the report.
pub fn run(req: &Request) -> Report {
    let root = Arc::new(Root::new(&req.root));
    let (tx, rx) = mpsc::channel::<(
        usize,
        Result<Box<serde_json::value::RawValue>, ProbeError>,
        u64,
    )>();
    let mut slots: Vec<Option<ProbeOutcome>> = Vec::with_capacity(req.names.len());
    let mut waits: Vec<(usize, Instant, Duration)> = Vec::new();

    for (i, name) in req.names.iter().enumerate() {
        let Some(spec) = probes::find(name) else {
            let known: Vec<&str> = probes::CATALOGUE.iter().map(|p| p.name).collect();
            slots.push(Some(ProbeOutcome::failed(
                ProbeError::new(
                    ErrorKind::UnknownProbe,
                    format!("no probe named `{name}` (known: {})", known.join(", ")),
                ),
                0,
            )));
            continue;
        };
        let prepared = ProbeArgs::resolve(spec.name, spec.args, &req.args).and_then(|args| {
            let timeout = args.millis("timeout_ms", req.timeout, 1, 600_000)?;
            Ok((args, timeout))
        });
        let (args, timeout) = match prepared {
            Ok(p) => p,
            Err(e) => {
                slots.push(Some(ProbeOutcome::failed(e, 0)));
                continue;
            }
        };
        let ctx = Ctx {
            root: Arc::clone(&root),
            args,
            deadline: Deadline::after(timeout),
        };
        let tx = tx.clone();
        let run = spec.run;
        let started = Instant::now();
        let spawned = thread::Builder::new()
            .name(format!("probe-{}", spec.name))
            .stack_size(PROBE_STACK)
            .spawn(move || {
                let result = std::panic::catch_unwind(|| run(&ctx)).unwrap_or_else(|_| {
                    Err(ProbeError::failed(
                        "internal error: the probe panicked; please report this",
                    ))
                });
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let _ = tx.send((i, result, ms));
            });
        match spawned {
            Ok(_) => {
                slots.push(None);
                waits.push((i, started + timeout + GRACE, timeout));
            }
            Err(e) => slots.push(Some(ProbeOutcome::failed(
                ProbeError::failed(format!("could not start a thread: {e}")),
                0,
            ))),
        }
    }
    drop(tx);

    // Collect until every probe answered or its deadline (plus grace) passed.
    while let Some(until) = waits
        .iter()
        .filter(|(i, _, _)| matches!(slots.get(*i), Some(None)))
        .map(|&(_, t, _)| t)
        .max()
    {
        let wait = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok((i, result, ms)) => {
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(ProbeOutcome::from_result(result, ms));
                }
            }
            Err(_) => break,
        }
    }
    for (i, _, timeout) in &waits {
        if let Some(slot @ None) = slots.get_mut(*i) {
            *slot = Some(ProbeOutcome::failed(
                ProbeError::timeout(format!(
                    "probe did not finish within its time limit of {} ms and was abandoned",
                    timeout.as_millis()
                )),
                u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            ));
        }
    }

    let hostname = root
        .read_string("/proc/sys/kernel/hostname", 256)
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    Report {
        kind: REPORT_TYPE,
        schema_version: SCHEMA_VERSION,
        agent_version: env!("CARGO_PKG_VERSION"),
        hostname,
        root: req.root.display().to_string(),
        probes: ProbeResults(
            req.names
                .iter()
                .cloned()
                .zip(slots)
                .filter_map(|(n, s)| s.map(|s| (n, s)))
                .collect(),
        ),
    }
}
