#!/usr/bin/env bash
# Long fuzz runs of every property test that feeds hostile input to a parser:
# the runbook parser/validator, templates and expressions, the inventory
# reader (engine), and the agent's /proc, kernel-log, crictl and systemctl
# parsers. CI runs the same tests with a few hundred cases; this runs many
# more, bounded in time.
#   scripts/fuzz.sh [CASES] [SECONDS-PER-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-20000}
limit=${2:-600}
export PROPTEST_CASES=$cases
start=$(date +%s)
status=0
timeout "$limit" cargo test --release -p runbook-engine --test cli -- parse_never_panics fuzz_templates_and_inventory || status=$?
FUZZ_SEED=$RANDOM$RANDOM timeout "$limit" cargo test --release -p runbook-agent --test agent -- never_panic || status=$?
echo "fuzzed with PROPTEST_CASES=$cases in $(( $(date +%s) - start )) s; status $status"
exit $status
