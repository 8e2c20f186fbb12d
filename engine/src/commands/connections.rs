//! `runbook connections [--close]`: the SSH masters `run
//! --keep-connections` left running, and closing them. Also the hidden
//! `runbook __connect`, ssh's TCP_NODELAY `ProxyCommand`.

use super::{exit, runtime};
use crate::cli::{ConnectArgs, ConnectionsArgs};
use crate::transport::kept::KeptMasters;
use crate::transport::nodelay;

/// `runbook __connect`, run by ssh as its `ProxyCommand`.
pub(crate) fn connect(args: &ConnectArgs) -> u8 {
    let report = args.report.as_deref().zip(args.name.as_deref());
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    match nodelay::connect_and_pass(&args.host, args.port, timeout, report) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!(
                "runbook: cannot connect to {} port {}: {e}",
                args.host, args.port
            );
            exit::FAILED
        }
    }
}

pub(crate) fn run(args: &ConnectionsArgs) -> u8 {
    let root = KeptMasters::default_root();
    let masters = match KeptMasters::open(root.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    if args.close {
        return match rt.block_on(masters.close_all()) {
            Ok(n) => {
                outln!(
                    "closed {n} kept connection{}",
                    if n == 1 { "" } else { "s" }
                );
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILED
            }
        };
    }
    match rt.block_on(masters.list()) {
        Ok(entries) => {
            let live: Vec<_> = entries.iter().filter(|e| !e.live.is_empty()).collect();
            if live.is_empty() {
                outln!("no kept connections in {}", root.display());
            }
            for entry in live {
                outln!(
                    "{}  ({} master{})",
                    entry.destination,
                    entry.live.len(),
                    if entry.live.len() == 1 { "" } else { "s" }
                );
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
