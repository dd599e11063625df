"""Time to solve: training wall-clock time and env steps until the first periodic
deterministic evaluation reaches the env's threshold, over several seeds.

Each seed is a real `landers train` process (so whole-process time includes imports, env
creation, periodic evaluations and the final 100-episode evaluation). Training time excludes
evaluation, as in the numbers measured for Stable-Baselines3 and CleanRL in FACTS.md. Runs
go on to the preset's budget and the final 100-episode evaluation at the end confirms the
solve; `--stop` ends each run at its first evaluation at or above the threshold instead (and
confirms that policy).

    python bench/solve_time.py --env LunarLander-v3 --seeds 5 [--jobs 1] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

THRESHOLDS = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0, "LunarLanderContinuous-v3": 200.0}
EVAL_EVERY = {"CartPole-v1": 2048, "LunarLander-v3": 32768, "LunarLanderContinuous-v3": 32768}


def one_seed(env: str, seed: int, args, root: Path) -> dict:
    run_dir = root / f"{env}-s{seed}"
    cmd = [sys.executable, "-m", "landers", "train", args.algo, env, "--seed", str(seed), "--quiet",
           "--run-dir", str(run_dir), "--eval-every", str(args.eval_every or EVAL_EVERY.get(env, 10000)),
           "--eval-episodes", "10", "--backend", args.backend]
    if args.stop:
        cmd += ["--set", f"stop_return={THRESHOLDS[env]}"]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    for item in args.set or []:
        cmd += ["--set", item]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr.strip().splitlines()[-1:]}
    evals = list(csv.DictReader((run_dir / "evals.csv").open()))
    solved = next((e for e in evals if float(e["mean"]) >= THRESHOLDS[env]), None)
    final = json.loads((run_dir / "eval.json").read_text())
    metrics = list(csv.DictReader((run_dir / "metrics.csv").open()))
    sps = statistics.median(float(m["sps"]) for m in metrics)
    return {"seed": seed, "solved": solved is not None,
            "steps": int(solved["step"]) if solved else None,
            "train_s": float(solved["time"]) if solved else None,
            "final_mean": final["mean"], "final_std": final["std"], "process_s": wall, "sps": sps,
            "total_steps": final["step"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1", choices=sorted(THRESHOLDS))
    ap.add_argument("--algo", default="ppo")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="seeds run at once (1 for honest timings)")
    ap.add_argument("--steps", type=int, default=None, help="step budget [default: the preset's]")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--stop", action="store_true", help="stop each run at its first evaluation >= threshold")
    ap.add_argument("--set", action="append", help="hyperparameter override KEY=VALUE")
    ap.add_argument("--json", type=Path, help="also write the per-seed rows here")
    ap.add_argument("--results", type=Path, help="append a markdown section here (e.g. bench/RESULTS.md)")
    ap.add_argument("--render", type=Path, help="only write the markdown for rows saved earlier with --json")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        write_markdown(args, saved["rows"], saved["summary"], saved.get("measured"))
        return
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda s: one_seed(args.env, s, args, Path(tmp)), seeds))
    for r in rows:
        print(json.dumps(r))
    ok = [r for r in rows if r.get("solved") and r["final_mean"] >= THRESHOLDS[args.env]]
    summary = {"env": args.env, "set": args.set, "seeds": len(rows), "solved": len(ok), "backend": args.backend,
               "jobs": args.jobs}
    if ok:
        summary.update(
            median_train_s=statistics.median(r["train_s"] for r in ok),
            median_steps=statistics.median(r["steps"] for r in ok),
            median_process_s=statistics.median(r["process_s"] for r in ok),
            median_sps=statistics.median(r["sps"] for r in ok))
    print(json.dumps(summary))
    measured = measured_on(args)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows, "measured": measured}, indent=2))
    if args.results:
        write_markdown(args, rows, summary, measured)


def measured_on(args) -> str:
    import gymnasium
    import torch

    from landers import __version__

    return (f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()} ({os.cpu_count()} cores, "
            f"{platform.processor() or platform.machine()}), Python {platform.python_version()}, torch "
            f"{torch.__version__} (1 thread), gymnasium {gymnasium.__version__}, landers {__version__}, "
            f"backend {args.backend}, {args.jobs} seed(s) at a time, the env's tuned preset "
            f"(overrides: {args.set or 'none'}), periodic evaluation every "
            f"{args.eval_every or EVAL_EVERY.get(args.env)} steps over 10 episodes.")


def write_markdown(args, rows, summary, measured: str | None) -> None:
    threshold = THRESHOLDS[summary["env"]]
    lines = [f"\n## {args.algo} on {summary['env']}: time to solve ({len(rows)} seeds)\n",
             (measured or "") + "\n",
             f"A seed solves when a periodic 10-episode evaluation first reaches {threshold:g} (steps and "
             f"training time are taken there) and the final 100-episode evaluation, after the whole "
             f"budget, is at or above it too.\n",
             f"| seed | first eval >= {threshold:g} at step | training s to it | final 100-ep eval | solved | "
             "whole process s | steps/s |", "|---|---|---|---|---|---|---|"]
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['seed']} | error: {r['error']} | | | | | |")
            continue
        solved = r["solved"] and r["final_mean"] >= threshold
        lines.append(f"| {r['seed']} | {fmt(r['steps'], ',')} | {fmt(r['train_s'], '.1f')} | "
                     f"{r['final_mean']:.1f} ± {r['final_std']:.1f} | {'yes' if solved else 'no'} | "
                     f"{r['process_s']:.1f} | {r['sps']:,.0f} |")
    if "median_train_s" in summary:
        lines.append(f"\n**{summary['solved']}/{summary['seeds']} seeds solve; over those, median "
                     f"{summary['median_train_s']:.1f} s of training and {summary['median_steps']:,.0f} steps to "
                     f"the threshold; median whole process {summary['median_process_s']:.1f} s.**\n")
    else:
        lines.append(f"\n**{summary['solved']}/{summary['seeds']} seeds solve.**\n")
    with args.results.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
