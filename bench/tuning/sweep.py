"""Run many (config, seed) jobs of bench/solve_time.py in parallel, one seed per job.

    python3 bench/tuning/sweep.py CONFIGS.json --parallel 15 --deadline 540 --out $OUT/all.json

CONFIGS.json: list of {"name", "env", "algo" (default ppo), "seeds": [..], "steps", "eval_every",
"set": {k: v}, "est": s}.
Jobs start in file order (seed-major interleaving is up to the file) while the time left
exceeds the job's estimated duration `est`; results are rewritten to --out after each job.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("configs", type=Path)
ap.add_argument("--parallel", type=int, default=15)
ap.add_argument("--deadline", type=float, default=540)
ap.add_argument("--out", type=Path, required=True)
args = ap.parse_args()

t0 = time.monotonic()
configs = json.loads(args.configs.read_text())
jobs = []
for rnd in range(max(len(c["seeds"]) for c in configs)):  # interleave: seed round by round
    for c in configs:
        if rnd < len(c["seeds"]):
            jobs.append((c, c["seeds"][rnd]))
jobs.sort(key=lambda j: -j[0].get("prio", 0))  # stable: higher prio first
results, lock = [], threading.Lock()
tmp = Path(tempfile.mkdtemp())


def flush():
    part = args.out.with_suffix(".part")
    part.write_text(json.dumps(results, indent=1))
    part.replace(args.out)


def work(job):
    c, seed = job
    left = args.deadline - (time.monotonic() - t0)
    if left < c.get("est", 60):
        return
    out = tmp / f"{c['name']}-s{seed}.json"
    cmd = [sys.executable, "bench/solve_time.py", "--env", c["env"], "--seeds", "1", "--first-seed", str(seed),
           "--jobs", "1", "--backend", "gymnasium", "--algo", c.get("algo", "ppo"), "--steps", str(c["steps"]),
           "--json", str(out)]
    if c.get("eval_every"):
        cmd += ["--eval-every", str(c["eval_every"])]
    for k, v in {"device": "cpu", **c.get("set", {})}.items():
        cmd += ["--set", f"{k}={v}"]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=left)
        row = json.loads(out.read_text())["rows"][0] if out.exists() else {"error": p.stderr[-500:]}
    except subprocess.TimeoutExpired:
        row = {"error": "timeout"}
    row.update(name=c["name"], env=c["env"], seed=seed, wall=time.monotonic() - start)
    with lock:
        results.append(row)
        flush()
        s = row.get("steps"), round(row["train_s"], 2) if row.get("train_s") else None, row.get("final_mean")
        print(f"[{time.monotonic() - t0:5.0f}s] {c['name']} s{seed} {s}", flush=True)


with ThreadPoolExecutor(args.parallel) as pool:
    list(pool.map(work, jobs))
with lock:
    flush()
print("done", time.monotonic() - t0, os.cpu_count())
