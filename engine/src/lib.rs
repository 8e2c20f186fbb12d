//! runbook: incident runbook automation. A runbook is a YAML troubleshooting
//! DAG; the engine validates it, plans it, walks it on hosts over SSH and
//! records everything it did.
//!
//! The modules follow the data:
//! [`parse`] (YAML → raw model) → [`validate`] (raw → checked [`model`], or
//! diagnostics) → [`plan`] (petgraph DAG) → [`exec`] (tokio) over a
//! [`transport`] → [`audit`].

pub mod audit;
pub mod cli;
pub mod commands;
pub mod diagnostic;
pub mod exec;
pub mod graph;
pub mod inventory;
pub mod library;
pub mod model;
pub mod parse;
pub mod plan;
pub mod redact;
pub mod render;
pub mod scenario;
pub mod source;
pub mod transport;
pub mod validate;
