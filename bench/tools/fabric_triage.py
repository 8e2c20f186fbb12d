"""The triage of bench/triage.yaml with Fabric: one paramiko connection per
host, every step a new channel on it, all hosts in parallel (one thread
each), the load-dependent `ps` decided in Python.

    python fabric_triage.py SSH_CONFIG KNOWN_HOSTS HOST...

Host keys are checked strictly against KNOWN_HOSTS (RejectPolicy). Exits 1
if any host failed."""

import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko
from fabric import Config, Connection

LOAD_HIGH = 64.0


def triage(host, config, known_hosts):
    c = Connection(host, config=config)
    c.client.load_host_keys(known_hosts)
    c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        run = lambda cmd, **kw: c.run(cmd, hide=True, in_stream=False, **kw)
        load = float(run("cat /proc/loadavg").stdout.split()[0])
        mem = run("cat /proc/meminfo").stdout
        if load >= LOAD_HIGH:
            run("ps -eo pid,stat,pcpu,rss,comm --sort=-pcpu")
        run("uptime")
        run("df -P")
        run("cat /proc/pressure/memory", warn=True)
        kernel = run("uname -r").stdout.strip()
        cpus = int(run("nproc").stdout)
        avail = [l for l in mem.splitlines() if l.startswith("MemAvailable:")]
        return f"{host}: load {load} on {cpus} CPUs, {avail[0].split()[1]} kB available, kernel {kernel}"
    finally:
        c.close()


def main():
    ssh_config, known_hosts, hosts = sys.argv[1], sys.argv[2], sys.argv[3:]
    config = Config(runtime_ssh_path=ssh_config)
    failed = 0
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        futures = [pool.submit(triage, h, config, known_hosts) for h in hosts]
        for f in futures:
            try:
                print(f.result())
            except Exception as e:  # noqa: BLE001 - report every host
                failed += 1
                print(f"failed: {e!r}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
