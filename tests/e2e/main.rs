mod harness;
mod harness_selftest;
mod run_smoke;
