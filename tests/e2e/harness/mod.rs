//! End-to-end test harness: real OpenSSH `sshd` targets on loopback, each
//! serving its own copy of a fake node state from `tests/fixtures/nodes/`.
//!
//! A test starts a [`Fleet`], points the engine (or plain `ssh -F`) at
//! [`Fleet::ssh_config_path`], and inspects or breaks hosts through [`Host`].
//! `tests/README.md` explains the mechanisms (PID namespaces, `SetEnv`,
//! address allocation) and how to add a node state.

// Later test files use helpers that the harness self-tests do not exercise.
#![allow(dead_code)]

mod addr;
mod command;
mod fixture;
mod fleet;
mod host;
mod keys;
mod procfs;
mod sshd;

pub use command::{run_bounded, stdout_of};
pub use fixture::{available_states, fixtures_source_dir};
pub use fleet::{Fleet, FleetBuilder};
pub use host::Host;
pub use procfs::processes_mentioning;
