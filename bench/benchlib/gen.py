"""Generated runbooks for the validation-speed benchmark: valid runbooks
with params, fan-outs and joins, first-match rules with a fallback,
captures, templates in commands and findings, and two conclusions.

A block of 8 steps:  a ─┬─ b ─┬─ d ──rules──┬─ e ─┬─ f ─┬─ h ─→ next block
                        └─ c ─┘             │     └─ g ─┘
                                            └─ hot (conclusion)
"""

import os


def runbook(name, steps):
    """YAML text of a runbook with about `steps` steps (exactly, for
    steps >= 10)."""
    blocks = max(1, (steps - 2) // 8)
    pad = max(0, steps - 2 - blocks * 8)
    out = [
        f"runbook: {name}",
        f"summary: generated runbook {name} with {steps} steps",
        "params:",
        "  tag: { description: a label echoed by the steps, default: \"bench-{{ host.name }}\" }",
        "  limit: { default: \"100\" }",
        "defaults: { timeout: 10s }",
        "steps:",
    ]

    def step(sid, run=None, **kw):
        out.append(f"  - id: {sid}")
        if run is not None:
            out.append(f"    run: {run}")
        for k, v in kw.items():
            if isinstance(v, dict):
                out.append(f"    {k}:")
                for kk, vv in v.items():
                    out.append(f"      {kk}: {vv}")
            elif isinstance(v, list):
                out.append(f"    {k}:")
                for item in v:
                    out.append(f"      - {item}")
            else:
                out.append(f"    {k}: {v}")

    for k in range(blocks):
        nxt = f"b{k + 1}a" if k + 1 < blocks else ("p0" if pad else "done")
        prev = f"vars.c{k - 1}" if k else "params.tag"
        step(f"b{k}a", f"\"echo {{{{ {prev} }}}} {k}\"",
             capture={f"c{k}": f"\"{{{{ result.stdout | trim }}}}-{k}\""},
             next=f"[b{k}b, b{k}c]")
        step(f"b{k}b", "cat /proc/loadavg",
             capture={f"l{k}": "\"{{ result.stdout.split()[0] | float }}\""}, next=f"b{k}d")
        step(f"b{k}c", "uname -r", parse="lines",
             capture={f"k{k}": "\"{{ result.lines[0] | default('') }}\""}, next=f"b{k}d")
        step(f"b{k}d", f"\"printf '%s %s\\\\n' {{{{ vars.c{k} }}}} {{{{ vars.k{k} }}}}\"",
             next=[f"{{ when: \"vars.l{k} > params.limit | float\", goto: hot }}",
                   "{ when: \"result.exit_code != 0\", goto: hot }",
                   f"{{ goto: b{k}e }}"])
        step(f"b{k}e", "\"true\"", description=f"\"fan out again in block {k}\"",
             next=f"[b{k}f, b{k}g]")
        step(f"b{k}f", "df -P", parse="lines",
             capture={f"f{k}": "\"{{ result.lines | length }}\""}, next=f"b{k}h")
        step(f"b{k}g", "cat /proc/meminfo", parse="kv",
             capture={f"m{k}": "\"{{ result.kv.MemAvailable | default('0 kB') }}\""},
             next=f"b{k}h")
        step(f"b{k}h", f"\"echo {{{{ vars.f{k} }}}} {{{{ vars.m{k} }}}}\"", next=nxt)
    for p in range(pad):
        step(f"p{p}", f"\"echo pad {p}\"", next=f"p{p + 1}" if p + 1 < pad else "done")
    step("hot", conclude={
        "severity": "warning",
        "finding": "\"load {{ vars.l0 }} is over {{ params.limit }} on {{ host.name }}\"",
        "evidence": "[b0b]"})
    step("done", conclude={
        "severity": "ok",
        "finding": "\"all {{ run.runbook }} checks passed ({{ vars.c0 }})\"",
        "evidence": "[b0a]"})
    return "\n".join(out) + "\n"


def generate(dirpath, count=1000, steps=50, big_steps=5000):
    """Writes COUNT runbooks of STEPS steps to DIRPATH/many/ and one of
    BIG_STEPS steps to DIRPATH/big.yaml. Returns (many_dir, big_path)."""
    many = os.path.join(dirpath, "many")
    os.makedirs(many, exist_ok=True)
    for i in range(count):
        with open(os.path.join(many, f"gen-{i:04d}.yaml"), "w") as f:
            f.write(runbook(f"gen-{i:04d}", steps))
    big = os.path.join(dirpath, "big.yaml")
    with open(big, "w") as f:
        f.write(runbook("gen-big", big_steps))
    return many, big
