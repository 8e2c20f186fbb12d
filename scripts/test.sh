#!/usr/bin/env bash
# Runs the whole test suite: unit, CLI, scenario and end-to-end tests (real
# sshd targets on loopback, a headless browser for the HTML report).
# Installs what the tests need when it is missing (Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} for the end-to-end tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "error: the tests need: ${need[*]} (install them, e.g. apt-get install ${need[*]})" >&2
    exit 2
  fi
fi

# The agent binary must exist before the engine's end-to-end tests ship it.
cargo build --workspace --bins
cargo test --workspace "$@"
