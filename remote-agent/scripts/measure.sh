#!/usr/bin/env bash
# Measures the figures quoted in docs/agent.md: binary size, start-up time,
# each probe's latency and peak RSS, and peak RSS while 5,000 processes
# exist. Run from the workspace root; needs /usr/bin/time and perl.
#
#   remote-agent/scripts/measure.sh            # builds the release-agent profile
#   AGENT=path/to/runbook-agent remote-agent/scripts/measure.sh
set -euo pipefail

target=${CARGO_TARGET_DIR:-target-agent}
if [[ -z "${AGENT:-}" ]]; then
  CARGO_TARGET_DIR=$target cargo build -q -p runbook-agent --profile release-agent
  AGENT=$target/release-agent/runbook-agent
fi
fixture=remote-agent/tests/fixtures/seed-node

echo "binary: $AGENT ($(stat -c %s "$AGENT") bytes)"

runs=500
start=$(date +%s%N)
for _ in $(seq $runs); do "$AGENT" --version >/dev/null; done
end=$(date +%s%N)
echo "start-up (--version, mean of $runs): $(( (end - start) / runs / 1000 )) us"

# Peak RSS is GNU time's %M: the largest of the agent and the programs it
# waited for (journalctl, systemctl), so rows that run those show theirs.
probe_row() { # label, PATH for the agent, then agent arguments
  local label=$1 path=$2; shift 2
  local out rss ms
  out=$( { /usr/bin/time -f 'rss=%M' env PATH="$path" "$AGENT" "$@" >/tmp/measure.$$.json; } 2>&1 )
  rss=${out##*rss=}
  ms=$(grep -o '"duration_ms":[0-9]*' /tmp/measure.$$.json | head -1 | cut -d: -f2)
  printf '  %-34s %6s ms  %6s KiB peak RSS\n' "$label" "$ms" "$rss"
}

echo "per probe, this machine's real /proc (default 200 ms sampling window):"
for p in memory cpu processes oom disk kubelet containers; do
  probe_row "$p" "$PATH" probe "$p"
done
probe_row "unit (name=kubelet)" "$PATH" probe unit --arg unit.name=kubelet
probe_row "oom, no journalctl on PATH" /nonexistent probe oom
echo "per probe, seed-node fixture with stand-in commands:"
for p in memory cpu processes oom unit containers disk kubelet; do
  probe_row "$p" "$fixture/bin" probe "$p" --root "$fixture" --arg unit.name=kubelet
done

n=5000
# Job control gives the sleepers their own process group, killed as one.
set -m
perl -e "for (1..$n) { my \$p = fork; last unless defined \$p; if (!\$p) { sleep 60; exit 0 } } sleep 60" &
sleepers=$!
set +m
trap 'kill -KILL -- "-$sleepers" 2>/dev/null; wait "$sleepers" 2>/dev/null; rm -f /tmp/measure.$$.json' EXIT
sleep 3
echo "with $n extra sleeping processes ($(ls -d /proc/[0-9]* | wc -l) in /proc):"
probe_row "processes" "$PATH" probe processes
probe_row "all eight probes in one call" "$PATH" probe memory cpu processes oom unit containers disk kubelet --arg unit.name=kubelet
