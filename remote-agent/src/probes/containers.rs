//! The `containers` probe: the CRI's containers (via `crictl`), and above
//! all whether a control-plane container (kube-apiserver, etcd, ...) has
//! exited — which a healthy-looking kubelet does not tell you.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::args::ArgSpec;
use crate::command;
use crate::error::ProbeError;
use crate::parse::crictl::{self, Container};

use super::{to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "containers",
    summary: "CRI containers (crictl ps -a) and control-plane containers that are not running",
    args: &[ArgSpec {
        name: "max_containers",
        default: "500",
        help: "containers listed (counts are exact)",
    }],
    fields: &[
        FieldSpec { name: "count", help: "containers known to the runtime" },
        FieldSpec { name: "running", help: "containers in state running" },
        FieldSpec { name: "exited", help: "containers in state exited" },
        FieldSpec { name: "containers", help: "each: {id, name, pod_name, pod_namespace, state, exit_code, restart_count, created_at, age_seconds, image}" },
        FieldSpec { name: "control_plane_exited", help: "control-plane containers (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) with no running instance: {name, id, pod_name, state, exit_code, reason, finished_at, restart_count}" },
        FieldSpec { name: "unavailable", help: "sources that were missing, one line each" },
    ],
    run,
};

/// Container names that make up the control plane.
pub const CONTROL_PLANE: &[&str] = &[
    "kube-apiserver",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Largest `crictl ps` output accepted.
const PS_CAP: usize = 8 << 20;

/// The `data` of the `containers` probe.
#[derive(Debug, Serialize)]
pub struct ContainersData {
    /// All containers.
    pub count: u64,
    /// Running ones.
    pub running: u64,
    /// Exited ones.
    pub exited: u64,
    /// The list, capped by `max_containers`.
    pub containers: Vec<ContainerInfo>,
    /// Control-plane containers with no running instance.
    pub control_plane_exited: Vec<ControlPlaneExit>,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// One container.
#[derive(Debug, Serialize)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Pod name.
    pub pod_name: Option<String>,
    /// Pod namespace.
    pub pod_namespace: Option<String>,
    /// `running`, `exited`, `created`, `unknown`.
    pub state: String,
    /// Exit code; `crictl ps` does not print it, so it is filled in (via
    /// `crictl inspect`) only for `control_plane_exited` entries.
    pub exit_code: Option<i64>,
    /// Restart count (annotation, else attempt).
    pub restart_count: Option<u64>,
    /// Creation time, seconds since the epoch.
    pub created_at: Option<u64>,
    /// Seconds since creation.
    pub age_seconds: Option<u64>,
    /// Image.
    pub image: Option<String>,
}

/// A control-plane container with no running instance.
#[derive(Debug, Serialize)]
pub struct ControlPlaneExit {
    /// `kube-apiserver`, `etcd`, ...
    pub name: String,
    /// The most recent instance's id.
    pub id: String,
    /// Its pod.
    pub pod_name: Option<String>,
    /// Its state.
    pub state: String,
    /// Exit code from `crictl inspect`.
    pub exit_code: Option<i64>,
    /// Reason from `crictl inspect` (`Error`, `OOMKilled`, ...).
    pub reason: Option<String>,
    /// When it finished, as crictl prints it.
    pub finished_at: Option<String>,
    /// Restart count.
    pub restart_count: Option<u64>,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `containers` data.
pub fn collect(ctx: &Ctx) -> Result<ContainersData, ProbeError> {
    let max = usize::try_from(ctx.args.u64("max_containers", 500, 1, 100_000)?).unwrap_or(500);
    let deadline = &ctx.deadline;
    let mut unavailable = Vec::new();
    let (out, truncated, done) = command::run_capture(
        "crictl",
        &["ps", "-a", "-o", "json"],
        &deadline.share(0.6),
        PS_CAP,
    )
    .map_err(|e| e.into_probe_error())?;
    if truncated {
        return Err(ProbeError::failed(format!(
            "crictl ps printed more than {PS_CAP} bytes"
        )));
    }
    if !done.success() {
        return Err(ProbeError::failed(format!(
            "crictl ps: {}",
            done.complaint()
        )));
    }
    let list = crictl::parse_ps(&out).map_err(|e| ProbeError::failed(e.to_string()))?;
    drop(out);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let count_state = |s: &str| list.iter().filter(|c| c.state == s).count() as u64;

    let mut control_plane_exited = Vec::new();
    for name in CONTROL_PLANE {
        let mut same: Vec<&Container> = list.iter().filter(|c| c.name == *name).collect();
        if same.is_empty() || same.iter().any(|c| c.state == "running") {
            continue;
        }
        same.sort_by_key(|c| std::cmp::Reverse(c.created_at_ns.unwrap_or(0)));
        let Some(latest) = same.first() else { continue };
        let inspect = if is_safe_id(&latest.id) {
            match command::run_capture(
                "crictl",
                &["inspect", "-o", "json", &latest.id],
                &deadline.share(0.3),
                1 << 20,
            ) {
                Ok((out, false, done)) if done.success() => crictl::parse_inspect(&out)
                    .map_err(|e| unavailable.push(format!("{name}: crictl inspect: {e}")))
                    .ok(),
                Ok((_, _, done)) => {
                    unavailable.push(format!("{name}: crictl inspect: {}", done.complaint()));
                    None
                }
                Err(e) => {
                    unavailable.push(format!("{name}: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let inspect = inspect.unwrap_or_default();
        control_plane_exited.push(ControlPlaneExit {
            name: (*name).to_owned(),
            id: latest.id.clone(),
            pod_name: latest.pod_name.clone(),
            state: latest.state.clone(),
            exit_code: inspect.exit_code,
            reason: inspect.reason,
            finished_at: inspect.finished_at,
            restart_count: latest.restart_count,
        });
    }
    deadline.check()?;

    let containers = list
        .iter()
        .take(max)
        .map(|c| {
            let created = c.created_at_ns.map(|ns| ns / 1_000_000_000);
            let exit_code = control_plane_exited
                .iter()
                .find(|x| x.id == c.id)
                .and_then(|x| x.exit_code);
            ContainerInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                pod_name: c.pod_name.clone(),
                pod_namespace: c.pod_namespace.clone(),
                state: c.state.clone(),
                exit_code,
                restart_count: c.restart_count,
                created_at: created,
                age_seconds: created.map(|t| now.saturating_sub(t)),
                image: c.image.clone(),
            }
        })
        .collect();

    Ok(ContainersData {
        count: list.len() as u64,
        running: count_state("running"),
        exited: count_state("exited"),
        containers,
        control_plane_exited,
        unavailable,
    })
}

/// Container ids go on a command line: hex only.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
