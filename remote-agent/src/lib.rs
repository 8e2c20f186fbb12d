//! `runbook-agent`: a small binary the runbook engine copies to a sick node
//! over SSH; it answers structured probes (memory, CPU, processes, OOM kills,
//! systemd units, containers, disks, kubelet) as one JSON document.
//!
//! The crate reads as a pipeline:
//!
//! - [`cli`] turns the command line into a request (or a usage error);
//! - [`run`] runs each requested probe in its own thread under a deadline and
//!   gathers a [`report::Report`];
//! - [`probes`] holds the probe catalogue, one module per probe;
//! - [`parse`] holds pure parsers for the text the node hands us (no I/O);
//! - [`source`] is the only place that reads files, always under a root and
//!   always bounded; [`command`] is the only place that runs programs,
//!   always under a deadline and with capped output.
//!
//! The wire format is documented on [`report::Report`] and in `docs/agent.md`.

#![forbid(unsafe_code)]

pub mod args;
pub mod cli;
pub mod command;
pub mod deadline;
pub mod error;
pub mod parse;
pub mod probes;
pub mod report;
pub mod run;
pub mod source;
