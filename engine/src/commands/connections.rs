//! `runbook connections [--close]`: the SSH masters `run
//! --keep-connections` left running, and closing them.

use super::{exit, runtime};
use crate::cli::ConnectionsArgs;
use crate::transport::kept::KeptMasters;

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
