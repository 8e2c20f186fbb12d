//! SSH masters kept between runs (`runbook run --keep-connections IDLE`).
//! Each lives in a private directory named after its destination and SSH
//! settings, so a later run with the same settings resumes it instead of
//! paying the handshake again; OpenSSH's `ControlPersist` ends it after
//! IDLE without use. `runbook connections` lists and closes them.
//!
//! A kept master is a logged-in root shell for whoever can reach its
//! control socket, so the directories are the user's own and private
//! (0700), and a directory anyone else could enter is refused.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use openssh::Session;
use sha2::{Digest, Sha256};

/// Prefix of the directories `openssh` creates for one master.
const MASTER_DIR_PREFIX: &str = ".ssh-connection";
/// The file in a slot that says what it connects to (for listing).
const DESTINATION_FILE: &str = "destination";
/// A master directory without a live socket is only removed once it is
/// older than this: a concurrent run may still be logging in with it.
const LAUNCH_GRACE: Duration = Duration::from_secs(120);
/// How long asking a master whether it is alive may take.
const CHECK_LIMIT: Duration = Duration::from_secs(2);
/// Unix socket paths hold about 108 bytes; ssh adds a random suffix of 17
/// while it sets the socket up.
const MAX_SOCKET_PATH: usize = 90;

/// Why kept masters cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    /// The directory cannot be created or read.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Someone else owns the directory or could enter it.
    #[error("refusing {}: {why}; SSH control sockets there would let others run commands on your hosts", path.display())]
    Unsafe {
        /// Directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Socket paths under the directory would be too long for the OS.
    #[error("{} is too long a path for SSH control sockets; set RUNBOOK_SSH_DIR to a shorter one", path.display())]
    TooLong {
        /// Directory.
        path: PathBuf,
    },
}

/// The directory of kept masters.
#[derive(Debug, Clone)]
pub struct KeptMasters {
    root: PathBuf,
}

/// One destination's directory, as `runbook connections` shows it.
#[derive(Debug, Clone)]
pub struct KeptEntry {
    /// What it connects to (`user@address:port`, ssh settings).
    pub destination: String,
    /// Control sockets of live masters.
    pub live: Vec<PathBuf>,
}

impl KeptMasters {
    /// `$RUNBOOK_SSH_DIR`, else `$XDG_RUNTIME_DIR/runbook/ssh`, else
    /// `/tmp/runbook-UID/ssh`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("RUNBOOK_SSH_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("runbook").join("ssh");
        }
        let uid = nix::unistd::geteuid().as_raw();
        std::env::temp_dir()
            .join(format!("runbook-{uid}"))
            .join("ssh")
    }

    /// Opens `root`, creating it (and missing parents) private to this user.
    pub fn open(root: PathBuf) -> Result<KeptMasters, KeptError> {
        private_dir(&root)?;
        // `<root>/<16 hex>/.ssh-connectionXXXXXX/master`
        if root.as_os_str().len() + 48 > MAX_SOCKET_PATH {
            return Err(KeptError::TooLong { path: root });
        }
        Ok(KeptMasters { root })
    }

    /// Where masters for `settings` live (created private), recording
    /// `description` for listings. `settings` is everything that decides
    /// which host is reached and how: two runs share a master only when
    /// they would have made the same connection.
    pub fn slot(&self, settings: &[String], description: &str) -> Result<PathBuf, KeptError> {
        let mut hash = Sha256::new();
        for part in settings {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let key = hex::encode(hash.finalize());
        let slot = self.root.join(&key[..16]);
        private_dir(&slot)?;
        let file = slot.join(DESTINATION_FILE);
        if fs::read_to_string(&file).ok().as_deref() != Some(description) {
            fs::write(&file, description).map_err(|source| KeptError::Io {
                path: file.clone(),
                source,
            })?;
        }
        Ok(slot)
    }

    /// Every destination with kept masters.
    pub async fn list(&self) -> Result<Vec<KeptEntry>, KeptError> {
        let mut entries = Vec::new();
        for slot in subdirs(&self.root, "").map_err(|source| KeptError::Io {
            path: self.root.clone(),
            source,
        })? {
            let destination = fs::read_to_string(slot.join(DESTINATION_FILE))
                .unwrap_or_else(|_| slot.display().to_string());
            let live = live_masters(&slot)
                .await
                .iter()
                .map(|s| s.control_socket().to_path_buf())
                .collect();
            entries.push(KeptEntry { destination, live });
        }
        Ok(entries)
    }

    /// Tells every kept master to exit and removes their directories;
    /// returns how many were closed.
    pub async fn close_all(&self) -> Result<usize, KeptError> {
        let mut closed = 0;
        for slot in subdirs(&self.root, "").map_err(|source| KeptError::Io {
            path: self.root.clone(),
            source,
        })? {
            for session in live_masters(&slot).await {
                let _ = tokio::time::timeout(CHECK_LIMIT, session.close()).await;
                closed += 1;
            }
            let _ = fs::remove_dir_all(&slot);
        }
        Ok(closed)
    }
}

/// A live master in `slot`, resumed.
pub async fn resume_live(slot: &Path) -> Option<Session> {
    live_masters(slot).await.into_iter().next()
}

/// The live masters in `slot`, resumed; dead ones past their launch grace
/// are removed on the way.
async fn live_masters(slot: &Path) -> Vec<Session> {
    let mut live = Vec::new();
    for dir in subdirs(slot, MASTER_DIR_PREFIX).unwrap_or_default() {
        let socket = dir.join("master");
        if socket.exists() {
            let session = Session::resume_mux(socket.into_boxed_path(), None);
            if tokio::time::timeout(CHECK_LIMIT, session.check())
                .await
                .is_ok_and(|r| r.is_ok())
            {
                live.push(session);
                continue;
            }
        }
        let old = fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > LAUNCH_GRACE);
        if old {
            let _ = fs::remove_dir_all(&dir);
        }
    }
    live
}

/// Subdirectories of `dir` whose names start with `prefix`, sorted.
fn subdirs(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && entry.file_name().to_string_lossy().starts_with(prefix) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Creates `dir` (mode 0700) if needed and checks that it is this user's
/// and private.
fn private_dir(dir: &Path) -> Result<(), KeptError> {
    let io_error = |source| KeptError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error)?;
    let meta = fs::symlink_metadata(dir).map_err(io_error)?;
    let unsafe_dir = |why: String| KeptError::Unsafe {
        path: dir.to_path_buf(),
        why,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not {me}",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "its mode is {mode:03o}; others may enter it (chmod 700)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_others_can_enter_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("ssh");
        fs::create_dir(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = KeptMasters::open(root).expect_err("refused");
        assert!(err.to_string().contains("mode is 755"), "{err}");
    }

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_same_settings_share_a_slot_and_others_do_not() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let kept = KeptMasters::open(tmp.path().join("ssh")).expect("open");
        let a = kept
            .slot(&strings(&["node-1", "root"]), "root@node-1")
            .expect("slot");
        let again = kept
            .slot(&strings(&["node-1", "root"]), "root@node-1")
            .expect("slot");
        let other = kept
            .slot(&strings(&["node-1", "admin"]), "admin@node-1")
            .expect("slot");
        assert_eq!(a, again);
        assert_ne!(a, other);
        let mode = fs::metadata(&a).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(
            fs::read_to_string(a.join(DESTINATION_FILE)).expect("read"),
            "root@node-1"
        );
    }

    #[test]
    fn a_root_too_long_for_socket_paths_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("x".repeat(60));
        let err = KeptMasters::open(root).expect_err("too long");
        assert!(matches!(err, KeptError::TooLong { .. }), "{err}");
    }
}
