//! The `disk` probe: space and inodes of each real filesystem, and which
//! mount holds the kubelet's and the container runtime's state — a full
//! `/var/lib/containerd` stops pods as surely as a lack of memory.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde::Serialize;

use crate::error::ProbeError;
use crate::parse::mounts::{self, Mount};
use crate::source::Root;

use super::{percent, to_data, Ctx, FieldSpec, ProbeSpec};

/// Catalogue entry.
pub const SPEC: ProbeSpec = ProbeSpec {
    name: "disk",
    summary: "space and inodes per real filesystem, and the mounts holding kubelet and runtime state",
    args: &[],
    fields: &[
        FieldSpec { name: "mounts", help: "each real filesystem (deduplicated by device): {mount_point, device, fs_type, total_bytes, used_bytes, available_bytes, used_percent, inodes_total, inodes_used, inodes_free, inodes_used_percent, error}" },
        FieldSpec { name: "paths", help: "for each of /var/lib/kubelet, /var/lib/containerd, /var/lib/docker, /var/lib/containers that exists: {path, mount_point, device, fs_type, used_percent, available_bytes, inodes_used_percent}" },
        FieldSpec { name: "unavailable", help: "sources that were missing, one line each" },
    ],
    run,
};

/// State directories whose filesystem is reported when they exist.
pub const STATE_DIRS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/var/lib/containers",
];

/// Filesystem types that hold data (everything else — proc, cgroup, tmpfs,
/// overlay layers of containers — is not a disk to fill up).
const DISK_FS: &[&str] = &[
    "ext2",
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
    "zfs",
    "f2fs",
    "jfs",
    "reiserfs",
    "vfat",
    "exfat",
    "ntfs",
    "ntfs3",
    "fuseblk",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "ceph",
    "glusterfs",
];

/// Filesystems whose `statvfs` can hang when the server is gone; they are
/// asked from a helper thread that is abandoned after a second.
const NETWORK_FS: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs"];

/// Most mounts listed.
const MAX_MOUNTS: usize = 128;

/// The `data` of the `disk` probe.
#[derive(Debug, Serialize)]
pub struct DiskData {
    /// Real filesystems.
    pub mounts: Vec<MountUsage>,
    /// State directories and the mount holding each.
    pub paths: Vec<PathUsage>,
    /// Missing sources.
    pub unavailable: Vec<String>,
}

/// Space and inodes of one filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct MountUsage {
    /// Where it is mounted.
    pub mount_point: String,
    /// The source device.
    pub device: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Size.
    pub total_bytes: Option<u64>,
    /// Used (size minus free).
    pub used_bytes: Option<u64>,
    /// Available to unprivileged users.
    pub available_bytes: Option<u64>,
    /// `used / (used + available) × 100`, as `df` computes it.
    pub used_percent: Option<f64>,
    /// Inodes.
    pub inodes_total: Option<u64>,
    /// Inodes used.
    pub inodes_used: Option<u64>,
    /// Inodes free.
    pub inodes_free: Option<u64>,
    /// Inodes used, %; `null` for filesystems without an inode table.
    pub inodes_used_percent: Option<f64>,
    /// Why `statvfs` failed, if it did.
    pub error: Option<String>,
}

/// Which mount holds a state directory.
#[derive(Debug, Serialize)]
pub struct PathUsage {
    /// The directory.
    pub path: String,
    /// The mount point holding it.
    pub mount_point: String,
    /// Its device.
    pub device: String,
    /// Its type.
    pub fs_type: String,
    /// Space used, %.
    pub used_percent: Option<f64>,
    /// Space available.
    pub available_bytes: Option<u64>,
    /// Inodes used, %.
    pub inodes_used_percent: Option<f64>,
}

fn run(ctx: &Ctx) -> Result<Box<serde_json::value::RawValue>, ProbeError> {
    to_data(&collect(ctx)?)
}

/// Gathers the `disk` data.
pub fn collect(ctx: &Ctx) -> Result<DiskData, ProbeError> {
    let root = &ctx.root;
    let mut unavailable = Vec::new();
    let text = root
        .read_string("/proc/mounts", 1 << 20)
        .map_err(|e| ProbeError::unavailable(e.to_string()))?;
    let all = mounts::parse(&text);

    let mut chosen: Vec<&Mount> = Vec::new();
    for m in &all {
        let is_disk = DISK_FS.contains(&m.fs_type.as_str())
            || (m.fs_type == "overlay" && m.mount_point == "/");
        if !is_disk {
            continue;
        }
        match chosen.iter_mut().find(|c| c.device == m.device) {
            Some(c) if m.mount_point.len() < c.mount_point.len() => *c = m,
            Some(_) => {}
            None => chosen.push(m),
        }
    }
    if chosen.len() > MAX_MOUNTS {
        unavailable.push(format!(
            "mounts: {} real filesystems, only the first {MAX_MOUNTS} are listed",
            chosen.len()
        ));
        chosen.truncate(MAX_MOUNTS);
    }

    let mut usages = Vec::with_capacity(chosen.len());
    for m in chosen {
        ctx.deadline.check()?;
        usages.push(usage(root, m, &ctx.deadline));
    }

    let mut paths = Vec::new();
    for dir in STATE_DIRS {
        if !root.exists(dir) {
            continue;
        }
        let Some(holder) = all
            .iter()
            .filter(|m| holds(&m.mount_point, dir))
            .max_by_key(|m| m.mount_point.len())
        else {
            unavailable.push(format!("{dir}: no mount in /proc/mounts holds it"));
            continue;
        };
        let u = match usages.iter().find(|u| u.mount_point == holder.mount_point) {
            Some(u) => u.clone(),
            None => usage(root, holder, &ctx.deadline),
        };
        paths.push(PathUsage {
            path: (*dir).to_owned(),
            mount_point: holder.mount_point.clone(),
            device: holder.device.clone(),
            fs_type: holder.fs_type.clone(),
            used_percent: u.used_percent,
            available_bytes: u.available_bytes,
            inodes_used_percent: u.inodes_used_percent,
        });
    }

    Ok(DiskData {
        mounts: usages,
        paths,
        unavailable,
    })
}

/// Whether the mount point `mp` contains `path`.
fn holds(mp: &str, path: &str) -> bool {
    mp == "/"
        || path == mp
        || path
            .strip_prefix(mp)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `statvfs` of one mount (under the root), bounded for network mounts.
fn usage(root: &Root, m: &Mount, deadline: &crate::deadline::Deadline) -> MountUsage {
    let path = root.path(&m.mount_point);
    let result = if NETWORK_FS.contains(&m.fs_type.as_str()) {
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new()
            .name("statvfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = tx.send(rustix::fs::statvfs(&path).map_err(|e| e.to_string()));
            });
        match spawned {
            Ok(_) => rx
                .recv_timeout(deadline.remaining().min(Duration::from_secs(1)))
                .unwrap_or_else(|_| Err("statvfs did not answer within 1 s (server gone?)".into())),
            Err(e) => Err(e.to_string()),
        }
    } else {
        rustix::fs::statvfs(&path).map_err(|e| e.to_string())
    };
    let mut u = MountUsage {
        mount_point: m.mount_point.clone(),
        device: m.device.clone(),
        fs_type: m.fs_type.clone(),
        total_bytes: None,
        used_bytes: None,
        available_bytes: None,
        used_percent: None,
        inodes_total: None,
        inodes_used: None,
        inodes_free: None,
        inodes_used_percent: None,
        error: None,
    };
    match result {
        Ok(s) => {
            let frsize = if s.f_frsize > 0 {
                s.f_frsize
            } else {
                s.f_bsize
            };
            let total = s.f_blocks.saturating_mul(frsize);
            let free = s.f_bfree.saturating_mul(frsize);
            let avail = s.f_bavail.saturating_mul(frsize);
            let used = total.saturating_sub(free);
            u.total_bytes = Some(total);
            u.used_bytes = Some(used);
            u.available_bytes = Some(avail);
            u.used_percent = percent(used as f64, used.saturating_add(avail) as f64);
            let iused = s.f_files.saturating_sub(s.f_ffree);
            u.inodes_total = Some(s.f_files);
            u.inodes_used = Some(iused);
            u.inodes_free = Some(s.f_ffree);
            u.inodes_used_percent = percent(iused as f64, s.f_files as f64);
        }
        Err(e) => u.error = Some(format!("statvfs {}: {e}", m.mount_point)),
    }
    u
}
