#!/usr/bin/env bash
# The hand-written baseline the engine is measured against: the triage of
# bench/triage.yaml as plain bash, one OpenSSH ControlMaster connection per
# host (the first `ssh` becomes the master and persists; every later step is
# a new channel on it), all hosts in parallel, then `ssh -O exit`.
#
#   baseline.sh SSH_CONFIG CONTROL_DIR HOST...
#
# Env: LOAD_HIGH (default 64): 1-minute load at or above which `ps` runs.
# Prints one line per host; exits 1 if any host failed.
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 SSH_CONFIG CONTROL_DIR HOST..." >&2
    exit 2
fi
cfg=$1
ctl=$2
shift 2
load_high=${LOAD_HIGH:-64}

triage() {
    local h=$1
    local o=(-F "$cfg" -o ControlMaster=auto -o "ControlPath=$ctl/%C" -o ControlPersist=60)
    local load mem procs up df psi kernel cpus
    load=$(ssh "${o[@]}" "$h" cat /proc/loadavg) || return 1
    mem=$(ssh "${o[@]}" "$h" cat /proc/meminfo) || return 1
    procs=
    if [ "${load%%.*}" -ge "$load_high" ]; then
        procs=$(ssh "${o[@]}" "$h" ps -eo pid,stat,pcpu,rss,comm --sort=-pcpu) || return 1
    fi
    up=$(ssh "${o[@]}" "$h" uptime) || return 1
    df=$(ssh "${o[@]}" "$h" df -P) || return 1
    # Absent on kernels without PSI: a non-zero exit is tolerated.
    psi=$(ssh "${o[@]}" "$h" cat /proc/pressure/memory)
    [ $? -eq 255 ] && return 1
    kernel=$(ssh "${o[@]}" "$h" uname -r) || return 1
    cpus=$(ssh "${o[@]}" "$h" nproc) || return 1
    ssh "${o[@]}" -O exit "$h" 2>/dev/null
    local avail=${mem#*MemAvailable:}
    avail=${avail%%kB*}
    echo "$h: load ${load%% *} on $cpus CPUs, ${avail// /} kB available, kernel $kernel (${#procs}+${#up}+${#df}+${#psi} bytes more)"
}

pids=()
for h in "$@"; do
    triage "$h" &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
    wait "$p" || failed=$((failed + 1))
done
if [ "$failed" -gt 0 ]; then
    echo "baseline: $failed host(s) failed" >&2
    exit 1
fi
