//! Generates throwaway ed25519 keys with `ssh-keygen` for host and client.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::command::{run_bounded, stdout_of};

/// A key pair on disk: the private key file and its public half.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The private key file (mode 0600, as ssh-keygen writes it).
    pub private_key: PathBuf,
    /// The public key as `ssh-ed25519 AAAA…`, without the comment.
    pub public_key: String,
}

/// Writes a new passphrase-less ed25519 key to `private_key` (and `.pub`).
pub fn generate(private_key: &Path, comment: &str) -> KeyPair {
    let output = run_bounded(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(private_key),
        Duration::from_secs(20),
    );
    stdout_of(
        &format!("ssh-keygen for {}", private_key.display()),
        &output,
    );
    let mut public_path = private_key.as_os_str().to_owned();
    public_path.push(".pub");
    let public_path = PathBuf::from(public_path);
    let public_line = fs::read_to_string(&public_path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", public_path.display()));
    let public_key = public_line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    KeyPair {
        private_key: private_key.to_path_buf(),
        public_key,
    }
}
