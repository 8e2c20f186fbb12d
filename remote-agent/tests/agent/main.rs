//! Integration tests for `runbook-agent`: one file per probe, plus the
//! command line, the real node this runs on, the memory footprint, and the
//! parsers under random input. Every test runs the real binary and is
//! bounded in time; none touches the network beyond 127.0.0.1.

mod cli;
mod containers;
mod cpu;
mod disk;
mod footprint;
mod kubelet;
mod memory;
mod oom;
mod parsers;
mod processes;
mod real_node;
mod support;
mod unit;
