mod harness;
mod harness_selftest;
