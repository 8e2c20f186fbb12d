"""Running one timed command and sampling memory from /proc.

Wall time is taken around a blocking `wait4` (no polling delay). Memory is
sampled by a side thread only when asked, so plain timing runs are not
disturbed by /proc scans:

- `hwm`: the peak RSS (`VmHWM`) of the command's own process, read from
  /proc/PID/status every `interval` s (VmHWM only grows, so the last read
  before exit is the process's peak up to that moment);
- `ssh`: every `ssh` process whose command line contains `marker` (the
  benchmark's temp dir, which is in every ssh_config path): the largest sum
  of their VmRSS over the samples, and the largest number of them that were
  ControlMaster processes (`-M` in argv, as the `openssh` crate starts them;
  counted by distinct control socket) at one time.
"""

import os
import signal
import statistics
import subprocess
import threading
import time


def _status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def ssh_processes(marker):
    """[(pid, argv)] of ssh processes whose command line contains marker."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "ssh":
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(marker.encode() in a for a in argv):
            out.append((int(name), [a.decode(errors="replace") for a in argv if a]))
    return out


def kill_ssh(marker):
    """Ends the ssh processes this benchmark started (by pid): masters left
    by ControlPersist or by a failed run. Returns how many."""
    procs = ssh_processes(marker)
    for pid, _ in procs:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    while procs and time.monotonic() < deadline:
        procs = [(p, a) for p, a in procs if os.path.exists(f"/proc/{p}")]
        time.sleep(0.02)
    for pid, _ in procs:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(procs)


class Sampler(threading.Thread):
    def __init__(self, pid, hwm, marker, interval):
        super().__init__(daemon=True)
        self.pid, self.hwm, self.marker, self.interval = pid, hwm, marker, interval
        self.stop = threading.Event()
        self.hwm_kb = None
        self.ssh_rss_kb = 0
        self.ssh_max = 0
        self.masters_max = 0
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            if self.hwm:
                v = _status_kb(self.pid, "VmHWM:")
                if v is not None:
                    self.hwm_kb = max(self.hwm_kb or 0, v)
            if self.marker:
                procs = ssh_processes(self.marker)
                total = 0
                for pid, _ in procs:
                    total += _status_kb(pid, "VmRSS:") or 0
                # A master is counted once per control socket: `ssh -M -f`
                # and the child it forks briefly coexist with the same argv.
                masters = len({argv[argv.index("-S") + 1] if "-S" in argv[:-1] else pid
                               for pid, argv in procs if "-M" in argv})
                self.ssh_rss_kb = max(self.ssh_rss_kb, total)
                self.ssh_max = max(self.ssh_max, len(procs))
                self.masters_max = max(self.masters_max, masters)
            self.samples += 1
            self.stop.wait(self.interval)


def run(cmd, *, env=None, cwd=None, log_prefix=None, hwm=False, ssh_marker=None,
        interval=0.02, timeout=1800):
    """Runs cmd; returns a dict with wall (s), rc, maxrss_kb (wait4: the
    largest of the process and the children it waited for), and the
    sampled figures when asked. stdout/stderr go to LOG_PREFIX.out/.err."""
    out = open(log_prefix + ".out", "wb") if log_prefix else subprocess.DEVNULL
    err = open(log_prefix + ".err", "wb") if log_prefix else subprocess.DEVNULL
    killer = None
    p = None
    reaped = False
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, start_new_session=True)
        sampler = None
        if hwm or ssh_marker:
            sampler = Sampler(p.pid, hwm, ssh_marker, interval)
            sampler.start()

        def overdue():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killer = threading.Timer(timeout, overdue)
        killer.start()
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
        reaped = True
        if sampler:
            sampler.stop.set()
        p.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.join()
        res = {"wall": t1 - t0, "rc": p.returncode, "maxrss_kb": ru.ru_maxrss}
        if sampler:
            res.update(hwm_kb=sampler.hwm_kb, ssh_rss_kb=sampler.ssh_rss_kb,
                       ssh_max=sampler.ssh_max, masters_max=sampler.masters_max,
                       samples=sampler.samples)
        return res
    finally:
        if killer:
            killer.cancel()
        if p is not None and not reaped:
            # Interrupted (Ctrl-C, SIGTERM): end what this run started.
            try:
                os.killpg(p.pid, signal.SIGKILL)
                os.waitpid(p.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for f in (out, err):
            if f is not subprocess.DEVNULL:
                f.close()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
