//! The `runbook` binary: parse arguments, set up logging, dispatch.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // ssh runs a ProxyCommand (the engine's TCP_NODELAY connect) through
    // `$SHELL -c`; Debian's bash reads ~/.bashrc there when its stdin is a
    // socket and SHLVL < 2, which can add 100 ms to every connection. Set
    // before any thread starts.
    if std::env::var("SHLVL").map_or(true, |v| v.trim() == "0" || v.trim().is_empty()) {
        std::env::set_var("SHLVL", "1");
    }
    let cli = runbook_engine::cli::Cli::parse();
    runbook_engine::commands::main(cli)
}
