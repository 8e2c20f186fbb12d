//! The `runbook` binary: parse arguments, set up logging, dispatch.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = runbook_engine::cli::Cli::parse();
    runbook_engine::commands::main(cli)
}
