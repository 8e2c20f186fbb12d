//! Entry point of `runbook-agent`: everything lives in the library so tests
//! can reach the parsers; this file only hands over the process arguments.

fn main() {
    std::process::exit(runbook_agent::cli::main(std::env::args_os()));
}
