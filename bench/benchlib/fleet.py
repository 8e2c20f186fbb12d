"""Loopback OpenSSH targets for the benchmark (the ideas of tests/README.md,
in Python): generated ed25519 host and client keys, one `sshd` per up to 16
addresses in 127.0.0.0/8, a strict known_hosts file and one ssh_config that
every tool uses. Every sshd runs in its own PID namespace under a
parent-death signal, so nothing outlives the driver, even when it is killed.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PER_SSHD = 16
CURVE25519 = "curve25519-sha256"


def address(i):
    """Address of host i (0-based): 127.0.0.2 … 127.0.0.251, then
    127.0.1.2 …, so the first 250 hosts are 127.0.0.(i+2) and no address
    ends in .0, .1, .252-.255."""
    return f"127.0.{i // 250}.{2 + i % 250}"


def _namespaces_work():
    try:
        r = subprocess.run(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "true"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _free_port(addrs, rng):
    """A port in 10000..19999 (below the harness's 20000..32000 and the
    ephemeral range) that every address can bind."""
    for _ in range(50):
        port = rng.randrange(10000, 20000)
        ok = True
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((a, port))
            except OSError:
                ok = False
                break
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port in 10000..19999 on the benchmark addresses")


class Fleet:
    """N hosts `PREFIX-1` … `PREFIX-N` on loopback.

    `env` is added to sshd's `SetEnv` (always `SHLVL=1`); `sshd_env` is the
    environment of the sshd processes themselves. `default_kex` leaves
    KexAlgorithms out of the ssh_config (OpenSSH's default order). Hosts use
    addresses `first`, `first`+1, … (see `address`)."""

    def __init__(self, root, n, prefix="bench", env=None, default_kex=False, first=0,
                 sshd_env=None):
        self.root = root
        self.n = n
        self.prefix = prefix
        self.env = dict(env or {})
        self.sshd_env = sshd_env
        self.default_kex = default_kex
        self.first = first
        self.dir = os.path.join(root, f"fleet-{prefix}-{n}")
        os.makedirs(self.dir, exist_ok=True)
        self.hosts = [f"{prefix}-{i + 1}" for i in range(n)]
        self.addrs = [address(first + i) for i in range(n)]
        self.procs = []
        self.port = None
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.client_key = os.path.join(root, "client_ed25519")
        self.host_key = os.path.join(root, "host_ed25519")

    # -- set-up -----------------------------------------------------------
    def _keys(self):
        for key in (self.client_key, self.host_key):
            if not os.path.exists(key):
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "runbook-bench",
                     "-f", key], check=True, stdin=subprocess.DEVNULL)
        auth = os.path.join(self.root, "authorized_keys")
        if not os.path.exists(auth):
            shutil.copyfile(self.client_key + ".pub", auth)
        return auth

    def config(self, n=None, default_kex=None):
        """(ssh_config, known_hosts) naming the first `n` hosts only, so a
        client parses no more than the cell needs; every tool uses these."""
        n = self.n if n is None else n
        if default_kex is None:
            default_kex = self.default_kex
        tag = f"{n}{'.default-kex' if default_kex else ''}"
        cfg = os.path.join(self.dir, f"ssh_config.{tag}")
        kh = os.path.join(self.dir, f"known_hosts.{n}")
        if os.path.exists(cfg):
            return cfg, kh
        with open(self.host_key + ".pub") as f:
            host_pub = " ".join(f.read().split()[:2])
        with open(kh, "w") as f:
            for a in self.addrs[:n]:
                f.write(f"[{a}]:{self.port} {host_pub}\n")
        lines = []
        for h, a in zip(self.hosts[:n], self.addrs[:n]):
            lines += [f"Host {h}", f"  HostName {a}"]
        lines += [
            f"Host {self.prefix}-*",
            f"  Port {self.port}",
            "  User root",
            f"  IdentityFile {self.client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {kh}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  UpdateHostKeys no",
            "  CheckHostIP no",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  LogLevel ERROR",
        ]
        if not default_kex:
            lines.append(f"  KexAlgorithms {CURVE25519}")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        return cfg, kh

    def _write_configs(self, auth):
        self.ssh_config, self.known_hosts = self.config(self.n, self.default_kex)
        env = {"SHLVL": "1", **self.env}
        setenv = " ".join(f"{k}={v}" for k, v in env.items())
        self.sshd_configs = []
        for g in range(0, self.n, PER_SSHD):
            path = os.path.join(self.dir, f"sshd_config.{g // PER_SSHD}")
            listen = [f"ListenAddress {a}:{self.port}" for a in self.addrs[g:g + PER_SSHD]]
            with open(path, "w") as f:
                f.write("\n".join(listen + [
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {auth}",
                    "PermitRootLogin prohibit-password",
                    "AuthenticationMethods publickey",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitUserRC no",
                    "PidFile none",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "MaxStartups 1000",
                    "MaxSessions 1000",
                    f"SetEnv {setenv}",
                    "Subsystem sftp internal-sftp",
                    "LogLevel INFO",
                ]) + "\n")
            self.sshd_configs.append((path, self.addrs[g:g + PER_SSHD]))

    def start(self):
        os.makedirs("/run/sshd", exist_ok=True)
        auth = self._keys()
        rng = random.Random()
        self.port = _free_port(self.addrs, rng)
        self._write_configs(auth)
        ns = _namespaces_work()
        for i, (cfg, addrs) in enumerate(self.sshd_configs):
            log = open(os.path.join(self.dir, f"sshd.{i}.log"), "wb")
            cmd = [SSHD, "-D", "-e", "-f", cfg]
            if ns:
                cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"] + cmd
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
            env = dict(os.environ, **self.sshd_env) if self.sshd_env else None
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, env=env)
            log.close()
            self.procs.append((p, log.name, addrs))
        deadline = time.monotonic() + 20
        pending = list(self.procs)
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError("sshd did not listen within 20 s: " + self._tail(pending[0][1]))
            still = []
            for p, logname, addrs in pending:
                with open(logname, errors="replace") as f:
                    text = f.read()
                if p.poll() is not None:
                    raise RuntimeError(f"sshd exited ({p.returncode}): {text[-2000:]}")
                if sum(f"Server listening on {a} port {self.port}." in text for a in addrs) < len(addrs):
                    still.append((p, logname, addrs))
            pending = still
            if pending:
                time.sleep(0.02)
        return self

    @staticmethod
    def _tail(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        for p, _, _ in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for p, _, _ in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        self.procs = []

    def sshd_log(self):
        return "".join(self._tail(l) for _, l, _ in self.procs)
