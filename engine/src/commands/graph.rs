//! `runbook graph`: the DAG as Graphviz dot or Mermaid, with conditions on
//! edges and conclusions styled by severity.

use super::{exit, load_runbook};
use crate::cli::{GraphArgs, GraphFormat};
use crate::graph::{dot, mermaid};
use crate::library::Library;

pub(crate) fn run(args: &GraphArgs, color: bool) -> u8 {
    let library = Library::new(&args.library.runbooks);
    match load_runbook(&library, &args.name, color) {
        Ok(loaded) => {
            let text = match args.format {
                GraphFormat::Dot => dot(&loaded.runbook),
                GraphFormat::Mermaid => mermaid(&loaded.runbook, &[]),
            };
            out!("{text}");
            exit::OK
        }
        Err(code) => code,
    }
}
