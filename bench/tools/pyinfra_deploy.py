"""The triage of bench/triage.yaml as a pyinfra deploy: one `server.shell`
operation per step; `processes` runs only when the load is high (`_if`,
evaluated at execution time from the `loadavg` operation's output).
Run by bench/run as `pyinfra -y INVENTORY pyinfra_deploy.py`."""

from pyinfra.operations import server

LOAD_HIGH = 64.0

loadavg = server.shell(name="loadavg", commands=["cat /proc/loadavg"])
server.shell(name="meminfo", commands=["cat /proc/meminfo"])
server.shell(
    name="processes",
    commands=["ps -eo pid,stat,pcpu,rss,comm --sort=-pcpu"],
    _if=lambda: float(loadavg.stdout.split()[0]) >= LOAD_HIGH,
)
server.shell(name="uptime", commands=["uptime"])
server.shell(name="df", commands=["df -P"])
# Absent on kernels without PSI: a non-zero exit is tolerated.
server.shell(name="memory pressure", commands=["cat /proc/pressure/memory"], _ignore_errors=True)
server.shell(name="kernel", commands=["uname -r"])
server.shell(name="cpus", commands=["nproc"])
