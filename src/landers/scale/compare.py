"""`landers compare`: every algorithm x seed on one env, then curves and a results table.

Each run is a real `landers train` process in DIR/runs/<algo>__s<seed>; finished runs
(with eval.json) are reused and unfinished ones resumed, so an interrupted comparison picks
up where it stopped.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landers.algos import get_algo
from landers.core.files import read_eval
from landers.envs import env_spec
from landers.errors import LandersError
from landers.see.plots import plot_comparison, read_csv
from landers.see.stats import bootstrap_ci, iqm

THRESHOLDS = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0, "LunarLanderContinuous-v3": 200.0}


def threshold_for(env_id: str) -> float | None:
    return THRESHOLDS.get(env_id, env_spec(env_id).reward_threshold)


@dataclass(frozen=True)
class Job:
    algo: str
    seed: int
    run_dir: Path

    @property
    def done(self) -> bool:
        return (self.run_dir / "eval.json").exists()


def run_job(job: Job, env_id: str, steps: int | None, env_args: list[str] = ()) -> tuple[Job, str | None]:
    """Train (or resume) one run in a subprocess; returns (job, error message or None).
    `env_args` (--env-kwargs / --wrap) go to new runs; a resumed run has them in its config."""
    if job.done:
        return job, None
    if (job.run_dir / "config.json").exists():  # started before: continue (or restart) it
        cmd = ["train", "--resume", str(job.run_dir)]
    else:
        cmd = ["train", job.algo, env_id, "--seed", str(job.seed), "--run-dir", str(job.run_dir), *env_args]
        if steps is not None:
            cmd += ["--steps", str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "landers", *cmd, "--quiet"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return job, lines[-1] if lines else f"exit code {proc.returncode}"
    return job, None


def run_all(env_id: str, algos: list[str], seeds: int, steps: int | None, jobs: int, out: Path,
            echo=print, env_args: list[str] = ()) -> list[Job]:
    if not algos:
        raise LandersError("--algos names no algorithm; e.g. --algos ppo,trpo,a2c,reinforce,random.")
    for algo in algos:
        get_algo(algo)
    env_spec(env_id)
    if seeds <= 0 or jobs <= 0 or (steps is not None and steps <= 0):
        raise LandersError("--seeds, --jobs and --steps must be positive.")
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandersError(f"Cannot create '{out}': {e.strerror}.") from None
    todo = [Job(a, s, out / "runs" / f"{a}__s{s}") for a in algos for s in range(1, seeds + 1)]
    reused = sum(j.done for j in todo)
    echo(f"{len(todo)} runs ({reused} already finished), {jobs} at a time, in {out}/runs")
    failed = []
    with ThreadPoolExecutor(jobs) as pool:
        for job, error in pool.map(lambda j: run_job(j, env_id, steps, env_args), todo):
            echo(f"  {job.algo} seed {job.seed}: {'failed: ' + error if error else 'done'}")
            if error:
                failed.append(f"{job.algo} seed {job.seed}: {error}")
    if failed:
        raise LandersError(f"{len(failed)} run(s) failed ({failed[0]}); finished runs are kept, run again to resume.")
    return todo


def first_reaching(evals: dict[str, np.ndarray], threshold: float | None):
    """(step, training time) of the first periodic evaluation at or above `threshold`."""
    if threshold is None or not len(evals.get("mean", [])):
        return None
    hits = np.flatnonzero(evals["mean"] >= threshold)
    return (evals["step"][hits[0]], evals["time"][hits[0]]) if len(hits) else None


def summarize(env_id: str, jobs: list[Job], out: Path) -> list[dict]:
    threshold = threshold_for(env_id)
    algos = list(dict.fromkeys(j.algo for j in jobs))
    rows, groups = [], {}
    for algo in algos:
        runs = [j for j in jobs if j.algo == algo]
        finals = [read_eval(j.run_dir / "eval.json") for j in runs]
        scores = np.array([f["mean"] for f in finals])
        pooled = np.concatenate([f["returns"] for f in finals])
        reached = [first_reaching(read_csv(j.run_dir / "evals.csv"), threshold) for j in runs]
        solved = [r for r in reached if r is not None]
        low, high = bootstrap_ci(scores, iqm)
        rows.append({
            "algo": algo, "seeds": len(runs), "mean": float(scores.mean()), "std": float(pooled.std()),
            "iqm": iqm(scores), "iqm_ci_low": low, "iqm_ci_high": high,
            "solved": len(solved),
            "median_steps_to_threshold": float(np.median([s for s, _ in solved])) if solved else None,
            "median_time_to_threshold": float(np.median([t for _, t in solved])) if solved else None,
            "steps": int(np.median([f["step"] for f in finals])),
        })
        groups[algo] = [read_csv(j.run_dir / "episodes.csv") for j in runs]
    for x in ("steps", "time"):
        plot_comparison(groups, env_id, x, out / f"curves_{x}.png", threshold)
    with (out / "comparison.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "comparison.md").write_text(markdown_table(env_id, rows, threshold))
    return rows


def markdown_table(env_id: str, rows: list[dict], threshold: float | None) -> str:
    fmt = lambda v, f=".0f": "-" if v is None else format(v, f)  # noqa: E731
    lines = [f"### {env_id}: final evaluation, 100 deterministic episodes per seed\n",
             "| algorithm | seeds | mean of seed means | std (all episodes) | IQM [95% CI] | "
             f"seeds reaching {fmt(threshold, 'g')} | median steps to it | median training s to it |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['algo']} | {r['seeds']} | {r['mean']:.1f} | {r['std']:.1f} | "
                     f"{r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}] | {r['solved']}/{r['seeds']} | "
                     f"{fmt(r['median_steps_to_threshold'], ',.0f')} | {fmt(r['median_time_to_threshold'], '.1f')} |")
    lines.append("\nIQM: interquartile mean of the seeds' scores with a percentile-bootstrap 95% CI "
                 "(Agarwal et al. 2021). Steps/time to threshold: first periodic 10-episode evaluation "
                 "at or above it; training time excludes evaluation.\n")
    return "\n".join(lines)
