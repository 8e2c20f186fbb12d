#!/usr/bin/env python3
"""Agent costs over one loopback sshd target: the upload the first time and
nothing after, and a `probe: memory` step against a `run: cat /proc/meminfo`
step on a reused connection (chained steps, so per-step cost is the
difference between 25 and 5 steps, ÷ 20).

    bench/agent.py [--engine target-bench/release/runbook] [--runs 5]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib.fleet import Fleet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chain(name, step, n):
    lines = [f"runbook: {name}", "summary: agent benchmark", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", *[f"    {l}" for l in step], f"    next: s{i + 1}"]
    lines += [f"  - id: s{n}", "    conclude: { severity: ok, finding: done }"]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--engine", default=os.path.join(REPO, "target-bench/release/runbook"))
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="runbook-agent-bench-")
    books = os.path.join(work, "runbooks")
    os.makedirs(books)
    steps = {
        "probe-memory": ["probe: memory"],
        "probe-memory-nosample": ["probe: memory", "args: { sample_ms: \"0\" }"],
        "cat-meminfo": ["run: cat /proc/meminfo"],
    }
    for name, step in steps.items():
        for n in (5, 25):
            with open(os.path.join(books, f"{name}-{n}.yaml"), "w") as f:
                f.write(chain(f"{name}-{n}", step, n))
    fleet = Fleet(work, 1, prefix="agent")
    fleet.start()
    try:
        cfg, _ = fleet.config()
        agent_dir = os.path.join(work, "agent-dir")

        def run(book, fresh=False):
            if fresh:
                subprocess.run(["rm", "-rf", agent_dir], check=True)
            t = time.monotonic()
            r = subprocess.run([a.engine, "run", book, "--runbooks", books, "--host", fleet.hosts[0],
                                "--ssh-config", cfg, "--audit-dir", os.path.join(work, "audit"),
                                "--agent-dir", agent_dir, "--no-remote-log", "--output", "json"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"{book} failed: {r.stderr[-2000:]}")
            return time.monotonic() - t

        med = lambda xs: statistics.median(xs)
        first = med([run("probe-memory-nosample-5", fresh=True) for _ in range(a.runs)])
        again = med([run("probe-memory-nosample-5") for _ in range(a.runs)])
        print(f"| what | median s |\n|---|---:|")
        print(f"| 5 probe steps, agent uploaded first (empty agent dir) | {first:.3f} |")
        print(f"| 5 probe steps, agent already there | {again:.3f} |")
        print(f"| upload cost | {first - again:+.3f} |")
        print("\n| step | ms/step (25 − 5 chained steps) ÷ 20 |\n|---|---:|")
        for name in steps:
            w5 = med([run(f"{name}-5") for _ in range(a.runs)])
            w25 = med([run(f"{name}-25") for _ in range(a.runs)])
            print(f"| {name} | {(w25 - w5) / 20 * 1000:.1f} |")
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
