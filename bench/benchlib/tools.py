"""The five ways of running the triage: how to install them, the command
line of one run over the first N hosts, and how to tell it succeeded.
Every tool reads the same ssh_config / known_hosts of the fleet."""

import json
import os
import subprocess
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv")
TOOLS_DIR = os.path.join(BENCH, "tools")
PYPI = {"ansible": "ansible-core", "pyinfra": "pyinfra", "fabric": "fabric"}
ALL = ["engine", "engine-nolog", "engine-nagle", "engine-nodelay", "bash", "fabric", "pyinfra", "ansible"]
ENGINES = ("engine", "engine-nolog", "engine-nagle", "engine-nodelay")


def engine_supports(engine, flag):
    """Whether `runbook run --help` lists FLAG (older builds lack some)."""
    r = subprocess.run([engine, "run", "--help"], capture_output=True, text=True)
    return flag in r.stdout


def venv_bin(name):
    return os.path.join(VENV, "bin", name)


def ensure_venv(tools, log):
    """Creates bench/.venv and installs the PyPI tools that are missing.
    Returns {tool: version or None} and notes for the tools that failed."""
    notes = {}
    versions = {}
    wanted = [t for t in tools if t in PYPI]
    if not wanted:
        return versions, notes
    if not os.path.exists(venv_bin("python")):
        r = subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True, text=True)
        if r.returncode != 0:
            for t in wanted:
                notes[t] = f"skipped: cannot create {VENV}: {r.stderr.strip()[-300:]}"
            return versions, notes
    for t in wanted:
        pkg = PYPI[t]
        if not _installed(pkg):
            log(f"installing {pkg} into bench/.venv …")
            r = subprocess.run([venv_bin("pip"), "install", "-q", pkg],
                               capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                notes[t] = f"skipped: `pip install {pkg}` failed: {r.stderr.strip()[-300:]}"
                continue
        versions[t] = _installed(pkg)
    return versions, notes


def _installed(pkg):
    r = subprocess.run([venv_bin("python"), "-c",
                        f"import importlib.metadata as m; print(m.version({pkg!r}))"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


class Cell:
    """Everything one run of one tool over N hosts needs."""

    def __init__(self, fleet, n, workdir, default_kex=None, engine=None, forks=None,
                 audit_dir=None, runbook=None, extra=None):
        self.fleet = fleet
        self.n = n
        self.hosts = fleet.hosts[:n]
        self.workdir = workdir
        if default_kex is None:
            default_kex = fleet.default_kex
        self.ssh_config, self.known_hosts = fleet.config(n, default_kex)
        self.engine = engine
        self.forks = forks or n
        self.audit_dir = audit_dir
        self.runbook = runbook or os.path.join(BENCH, "triage.yaml")
        self.extra = extra or []
        os.makedirs(workdir, exist_ok=True)


def command(tool, cell):
    """(argv, env) of one run."""
    env = dict(os.environ)
    if tool in ENGINES:
        argv = [cell.engine, "--color", "never", "run", cell.runbook,
                "--ssh-config", cell.ssh_config, "--forks", str(cell.forks),
                "--audit-dir", cell.audit_dir, "--output", "json"] + cell.extra
        if tool == "engine-nolog":
            argv.append("--no-remote-log")
        if tool == "engine-nagle":
            argv += ["--tcp-nodelay", "off"]
        if tool == "engine-nodelay":
            argv += ["--tcp-nodelay", "on"]
        # The engine's control sockets and the ssh_config it hands ssh live
        # in its TMPDIR: under the benchmark's root, every ssh it starts
        # names the root, which is how the driver finds (and measures and
        # cleans up) them.
        tmp = os.path.join(cell.fleet.root, "t")
        os.makedirs(tmp, exist_ok=True)
        env["TMPDIR"] = tmp
        for h in cell.hosts:
            argv += ["--host", h]
        return argv, env
    if tool == "bash":
        ctl = os.path.join(cell.workdir, "cm")
        os.makedirs(ctl, exist_ok=True)
        return ["bash", os.path.join(BENCH, "baseline.sh"), cell.ssh_config, ctl] + cell.hosts, env
    if tool == "ansible":
        cfg = os.path.join(cell.workdir, "ansible.cfg")
        inv = os.path.join(cell.workdir, "inventory.ini")
        cp = os.path.join(cell.workdir, "cp")
        os.makedirs(cp, exist_ok=True)
        with open(inv, "w") as f:
            f.write("[bench]\n" + "\n".join(cell.hosts) + "\n")
        with open(cfg, "w") as f:
            f.write(f"""[defaults]
forks = {cell.forks}
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
retry_files_enabled = False
nocows = True
local_tmp = {cell.workdir}/ansible-local

[ssh_connection]
pipelining = True
ssh_args = -F {cell.ssh_config} -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = {cp}
""")
        env["ANSIBLE_CONFIG"] = cfg
        env["ANSIBLE_HOME"] = os.path.join(cell.workdir, "ansible-home")
        return [venv_bin("ansible-playbook"), "-i", inv,
                os.path.join(TOOLS_DIR, "triage-playbook.yml")], env
    if tool == "pyinfra":
        inv = os.path.join(cell.workdir, "inventory.py")
        data = {
            "ssh_config_file": cell.ssh_config,
            "ssh_known_hosts_file": cell.known_hosts,
            "ssh_strict_host_key_checking": "yes",
        }
        with open(inv, "w") as f:
            f.write(f"bench = ({json.dumps(cell.hosts)}, {json.dumps(data)})\n")
        return [venv_bin("pyinfra"), "-y", "--parallel", str(cell.forks), inv,
                os.path.join(TOOLS_DIR, "pyinfra_deploy.py")], env
    if tool == "fabric":
        return [venv_bin("python"), os.path.join(TOOLS_DIR, "fabric_triage.py"),
                cell.ssh_config, cell.known_hosts] + cell.hosts, env
    raise ValueError(tool)


def check(tool, cell, res, log_prefix):
    """None if the run did what it should, else why not."""
    if res["rc"] != 0:
        return f"exit {res['rc']}: " + _tail(log_prefix + ".err") + _tail(log_prefix + ".out")
    if tool in ENGINES:
        try:
            with open(log_prefix + ".out") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            return f"no JSON on stdout: {e}"
        hosts = doc.get("hosts") or []
        statuses = [h.get("status") for h in hosts]
        if len(hosts) != cell.n or any(s != "concluded" for s in statuses):
            return f"expected {cell.n} concluded hosts, got {statuses[:5]}…"
    if tool == "bash":
        with open(log_prefix + ".out") as f:
            lines = [l for l in f if " CPUs, " in l]
        if len(lines) != cell.n:
            return f"expected {cell.n} host lines, got {len(lines)}"
    if tool == "fabric":
        with open(log_prefix + ".out") as f:
            lines = [l for l in f if " CPUs, " in l]
        if len(lines) != cell.n:
            return f"expected {cell.n} host lines, got {len(lines)}"
    return None


def _tail(path, n=600):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""
