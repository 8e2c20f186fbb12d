"""The results as Markdown: one table per section (see bench/README.md for
what each column means)."""


def _f(x, fmt="{:.3f}", none="–"):
    return none if x is None else fmt.format(x)


def render(r, args):
    m = r["machine"]
    kex = "OpenSSH default" if args.default_kex else "curve25519-sha256"
    out = [
        f"# runbook benchmark, {m['date']}",
        "",
        f"Machine: {m['nproc']} CPUs, {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"{m['openssh']}, Python {m['python']}. Key exchange: {kex}. fd limit {r.get('fd_limit')}.",
        f"Engine: `{m.get('engine')}` built {m.get('engine_built')}"
        + (f" from {m['engine_rev']}" if m.get("engine_rev") else "") + f"; repository at run time: {m.get('tree')}.",
    ]
    if r.get("versions"):
        out.append("Tools: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".")
    loads = r.get("loads") or []
    if loads:
        out.append("1-minute load (and share of the CPUs busy over 1 s, which excludes the load's decaying "
                   "memory of the benchmark's own earlier runs): "
                   + ", ".join(f"{x['load1']:.2f} / {x.get('cpu_busy', 0) * 100:.0f} % ({x['when']})"
                               for x in loads if "start" in x["when"] or x["when"] == "end") + ".")
    if "waited_for_load_s" in r:
        out.append(f"Waited {r['waited_for_load_s']} s for the load to drop under 1.0 first.")
    for n in r.get("notes", []):
        out.append(f"- note: {n}")
    if "matrix" in r:
        out += ["", f"## A. Triage, 8 steps per host (median of {args.runs} run(s))", "",
                "| hosts | tool | median s | runs s | × bash | engine peak RSS MB | Σ ssh RSS MB (procs) |",
                "|---:|---|---:|---|---:|---:|---:|"]
        for row in r["matrix"]:
            ssh = "–"
            if row.get("ssh_rss_mb") is not None:
                ssh = f"{row['ssh_rss_mb']} ({row.get('ssh_procs_max')})"
            med = _f(row["median_s"])
            if row["failed"]:
                med += f" ({row['failed']} failed)"
            out.append(
                f"| {row['hosts']} | {row['tool']} | {med} | {', '.join(f'{x:.2f}' for x in row['runs_s'])} | "
                f"{_f(row['x_bash'], '{:.2f}×')} | {_f(row.get('engine_rss_mb'), '{}')} | {ssh} |")
        errs = [row for row in r["matrix"] if row.get("error")]
        for row in errs:
            out.append(f"- {row['tool']} at {row['hosts']} hosts failed: `{row['error'][:300].strip()}`")
    if "step" in r:
        s = r["step"]
        out += ["", f"## B. Per-step overhead on one connection ({s['k']} extra `true` steps, median of runs)", "",
                f"Engine: (median wall of a runbook of {s['k_base'] + s['k']} `true` steps − median wall of "
                f"{s['k_base']} steps) ÷ {s['k']}, so start-up and connection cancel out. Bash: a loop of {s['k']} "
                "`ssh -S SOCKET host CMD` on one already open master, ÷ {k}.".replace("{k}", str(s["k"])),
                "", "| what | ms/step |", "|---|---:|"]
        for e in s["engine"] + s["bash"]:
            out.append(f"| {e['variant']} | {_f(e['ms_per_step'], '{:.2f}')} |")
        by = {e["variant"]: e["ms_per_step"] for e in s["bash"]}
        en = {e["variant"]: e["ms_per_step"] for e in s["engine"]}
        check = by.get("bash: ssh -S … -O check (client start-up, no channel)")
        bare = by.get("bash: ssh -S … true")
        wrapped = by.get("bash: ssh -S … <engine wrapper> true")
        eng = en.get("engine: audit on disk, syslog line (as shipped)")
        shm = en.get("engine: audit on /dev/shm, syslog line")
        nolog = en.get("engine --no-remote-log: audit on disk")
        if None not in (check, bare, wrapped, eng, shm):
            chan = bare - check
            out += ["", "Where the engine's time per step goes (differences of the rows above):", "",
                    "| part | ms/step |", "|---|---:|",
                    f"| engine per step, as shipped | {eng:.2f} |",
                    f"| bare `true` on the master: new channel + remote `bash -c true` (`ssh -S … true` − `-O check`) | {chan:.2f} |",
                    f"| **engine over the bare command** | **{eng - chan:+.2f}** |",
                    f"| … the wrapper (pgid echo, two exports), remote (bash rows) | {wrapped - bare:+.2f} |",
                    *([f"| … the syslog line (engine − engine `--no-remote-log`) | {eng - nolog:+.2f} |"]
                      if nolog is not None else []),
                    f"| … audit on disk vs /dev/shm | {eng - shm:+.2f} |",
                    f"| … the rest: the engine itself (mux client, tokio, templates, events) = engine − wrapped command on the master | {eng - (wrapped - check):+.2f} |",
                    "", f"Engine vs a bash loop of `ssh -S … true` (which also starts an `ssh` client per step): "
                    f"**{eng - bare:+.2f} ms/step**."]
    if "logger" in r:
        g = r["logger"]
        out += ["", f"## B'. The host's syslog line per step, {g['hosts']} hosts (triage)", "",
                "Same triage; the second fleet's PATH holds only the triage's commands, so no `logger` "
                "runs (the engine's channel drains the lines with `cat`).", "",
                "| hosts' PATH | median s | runs s |", "|---|---:|---|",
                f"| with `logger` (as shipped: one per connection) | {_f(g['with_s'])} | {', '.join(f'{x:.2f}' for x in g['with_runs_s'])} |",
                f"| without `logger` | {_f(g['without_s'])} | {', '.join(f'{x:.2f}' for x in g['without_runs_s'])} |",
                "", f"The syslog lines cost {_f(g['cost_pct'], '{:+.1f}')} % of wall time."]
    if "kept" in r:
        out += ["", "## B''. Running again during an incident: `--keep-connections` (triage, median of runs)", "",
                "Each row: the same runbook run again and again on the same hosts; a fresh login every run vs "
                "`--keep-connections 10m` using the SSH masters the first (warm-up, not counted) run left. "
                "Interleaved.", "",
                "| hosts | fresh login s | kept connections s | kept ÷ fresh | runs s (fresh; kept) |",
                "|---:|---:|---:|---:|---|"]
        for k in r["kept"]:
            out.append(f"| {k['hosts']} | {_f(k['fresh_s'])} | {_f(k['kept_s'])} | {_f(k['ratio'], '{:.2f}×')} | "
                       f"{', '.join(f'{x:.2f}' for x in k['fresh_runs_s'])}; "
                       f"{', '.join(f'{x:.2f}' for x in k['kept_runs_s'])} |")
    if "validate" in r:
        out += ["", "## C. Validation speed (median of runs)", "", "| what | median s | runs s | peak RSS MB |",
                "|---|---:|---|---:|"]
        for v in r["validate"]:
            med = _f(v["median_s"]) + (" (failed)" if v.get("error") else "")
            out.append(f"| {v['what']} | {med} | {', '.join(f'{x:.3f}' for x in v['runs_s'])} | "
                       f"{_f(v.get('peak_rss_mb'), '{}')} |")
    if "audit" in r:
        a = r["audit"]
        out += ["", f"## D. Audit on disk ({a['disk_fs']}) vs /dev/shm, {a['hosts']} hosts", "",
                "| audit dir | median s | runs s |", "|---|---:|---|",
                f"| disk ({a['disk_fs']}) | {_f(a['disk_median_s'])} | {', '.join(f'{x:.2f}' for x in a['disk_runs_s'])} |",
                f"| /dev/shm (tmpfs) | {_f(a['shm_median_s'])} | {', '.join(f'{x:.2f}' for x in a['shm_runs_s'])} |",
                "", f"Audit cost: {_f(a['overhead_pct'], '{:+.1f}')} % of wall time."]
    if "scale" in r:
        out += ["", "## E. Scale", "",
                "| hosts | forks | wall s | ok | engine peak RSS MB | Σ ssh RSS MB | total MB | max ssh procs | max masters |",
                "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for e in r["scale"]:
            out.append(f"| {e['hosts']} | {e['forks']} | {_f(e['wall_s'], '{:.2f}')} | {'yes' if e['ok'] else 'NO'} | "
                       f"{_f(e['engine_rss_mb'], '{}')} | {_f(e['ssh_rss_mb'], '{}')} | {_f(e['total_rss_mb'], '{}')} | "
                       f"{e['ssh_procs_max']} | {e['masters_max']} |")
            if e.get("error"):
                out.append(f"- error: `{e['error'][:300].strip()}`")
    if "settings" in r:
        out += ["", "## What each SSH setting costs (one host, median)", "", "| what | ms |", "|---|---:|"]
        for s in r["settings"]:
            out.append(f"| {s['what']} | {_f(s['ms'], '{:.2f}')} |")
    return "\n".join(out) + "\n"
