#!/usr/bin/env bash
# Everything CI checks, in order: formatting, lints, the test suite (the
# README's test command), the shipped runbooks, and a smoke run of the
# benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

echo "== cargo fmt"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
bash scripts/test.sh

echo "== shipped runbooks"
./target/debug/runbook validate runbooks/ --deny-warnings
./target/debug/runbook test runbooks/ --require-conclusions

if [ -x bench/run ]; then
  echo "== benchmark smoke run"
  bench/run --quick
fi
