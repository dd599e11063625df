"""`landers compare`: every algorithm x seed on one env, then curves and a results table.

Each (algorithm, seed) is one trial of a Ray Tune experiment (`landers.scale.ray_runner`);
this module validates the request, prints the live lines and writes the summary from the run
directories in DIR/runs/<algo>__s<seed>.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from landers.algos import get_algo
from landers.core.files import read_eval
from landers.envs.source import env_source
from landers.errors import LandersError
from landers.scale.jobs import Job, Request, check_env, parse_entry, run_name, unmasked
from landers.scale.references import threshold_for
from landers.see.plots import plot_comparison, read_csv
from landers.see.stats import bootstrap_ci, iqm


def validate(env_ids: list[str], algos: list[str], *, seeds: int, steps: int | None, cpus_per_run: int,
             first_seed: int = 1, env_kwargs: dict | None = None, wrappers: tuple = ()) -> None:
    """The checks that need no Ray: fail in one sentence before anything starts. `algos` are
    `--algos` entries, `ALGO` or `ALGO@PRESET`; each env is built once with its arguments, and
    each entry's run spec resolved on it (a preset file's hyperparameters, e.g. `rnn`, checked)."""
    from landers.core.config import find_preset

    if not algos:
        raise LandersError("--algos names no algorithm; e.g. --algos ppo,trpo,a2c,reinforce,random.")
    for env_id in env_ids:
        env_source(env_id).check()
    names = [run_name(*parse_entry(entry), 0) for entry in algos]
    if len(set(names)) < len(names):  # e.g. ppo and ppo@, or two paths that differ only in characters a name drops
        raise LandersError("--algos names the same entry twice (or two whose run directories would be the same).")
    for entry in algos:
        algo, preset = parse_entry(entry)
        get_algo(algo)
        if preset is not None:
            for env_id in env_ids:
                find_preset(algo, env_id, preset)
    if seeds <= 0 or cpus_per_run <= 0 or (steps is not None and steps <= 0):
        raise LandersError("--seeds, --steps and --cpus-per-run must be positive.")
    if first_seed < 0:
        raise LandersError(f"--first-seed must be >= 0, got {first_seed}.")
    for env_id in env_ids:
        check_env(env_id, env_kwargs, tuple(wrappers))
        check_entries(env_id, algos, steps=steps, env_kwargs=env_kwargs, wrappers=tuple(wrappers))


def check_entries(env_id: str, algos: list[str], *, steps: int | None, env_kwargs: dict | None,
                  wrappers: tuple) -> None:
    """Each `--algos` entry's run spec resolved on `env_id`, as its trial will (a preset file's
    hyperparameters, e.g. `rnn`, checked), and refused where its algorithm cannot apply the env's
    action mask: both would otherwise fail in every trial, after Ray's start-up."""
    from landers.run.spec import make_spec

    specs = {}
    for entry in algos:
        algo, preset = parse_entry(entry)
        try:
            specs[entry] = make_spec(algo, env_id, preset=preset, steps=steps, env_kwargs=env_kwargs, wrappers=wrappers)
        except LandersError as e:
            raise LandersError(f"--algos {entry} on {env_id}: {e}") from None
    refused = unmasked(env_id, specs, env_kwargs, wrappers)
    if refused:
        raise LandersError(f"{env_id} offers an action mask, which {', '.join(refused)} cannot apply: leave "
                           f"{'it' if len(refused) == 1 else 'them'} out of --algos (ppo, a2c and random obey "
                           "masks), or give a preset file whose hparams set mask to false (ALGO@FILE).")


def run_all(env_id: str, algos: list[str], *, seeds: int, steps: int | None, out: Path,
            address: str | None = None, cpus_per_run: int = 1, storage: str | None = None,
            env_kwargs: dict | None = None, wrappers: tuple = (), first_seed: int = 1,
            tracking: dict | None = None, echo=print) -> tuple[list[Job], list[tuple[Job, str]]]:
    """Run every algorithm x seed through Ray; returns (finished jobs, [(failed job, reason)]).
    `env_kwargs` and `wrappers` build each run's env, as `landers train --env-kwargs/--wrap` do;
    `tracking` (a `landers.run.tracking.Tracking` as a dict) logs every run to W&B, grouped.
    Raises `landers.run.trainer.Interrupted` after Ctrl-C, once the trials saved checkpoints."""
    validate([env_id], algos, seeds=seeds, steps=steps, cpus_per_run=cpus_per_run, first_seed=first_seed,
             env_kwargs=env_kwargs, wrappers=tuple(wrappers))
    from landers.scale import ray_runner

    request = Request(env_ids=(env_id,), entries=tuple(algos), seeds=seeds, first_seed=first_seed, steps=steps,
                      cpus_per_run=cpus_per_run, env_kwargs=dict(env_kwargs or {}), wrappers=tuple(wrappers))
    return ray_runner.run(request, out=Path(out), address=address, storage=storage, tracking=tracking, echo=echo)


def first_reaching(evals: dict[str, np.ndarray], threshold: float | None):
    """(step, training time) of the first periodic evaluation at or above `threshold`."""
    if threshold is None or not len(evals.get("mean", [])):
        return None
    hits = np.flatnonzero(evals["mean"] >= threshold)
    return (evals["step"][hits[0]], evals["time"][hits[0]]) if len(hits) else None


def summarize(env_id: str, jobs: list[Job], out: Path, *, failed: list[tuple[Job, str]] = ()) -> list[dict]:
    """comparison.csv/.md and the curves from the finished `jobs`; `failed` runs get a row of
    their own in comparison.md with their reason."""
    threshold = threshold_for(env_id)
    algos = list(dict.fromkeys(j.label for j in jobs))
    rows, groups = [], {}
    for algo in algos:
        runs = [j for j in jobs if j.label == algo]
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
    if rows:
        for x in ("steps", "time"):
            plot_comparison(groups, env_id, x, out / f"curves_{x}.png", threshold)
        with (out / "comparison.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (out / "comparison.md").write_text(markdown_table(env_id, rows, threshold, failed=failed))
    return rows


def markdown_table(env_id: str, rows: list[dict], threshold: float | None, *,
                   failed: list[tuple[Job, str]] = ()) -> str:
    fmt = lambda v, f=".0f": "-" if v is None else format(v, f)  # noqa: E731
    lines = [f"### {env_id}: final evaluation, 100 deterministic episodes per seed\n",
             "| algorithm | seeds | mean of seed means | std (all episodes) | IQM [95% CI] | "
             f"seeds reaching {fmt(threshold, 'g')} | median steps to it | median training s to it |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['algo']} | {r['seeds']} | {r['mean']:.1f} | {r['std']:.1f} | "
                     f"{r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}] | {r['solved']}/{r['seeds']} | "
                     f"{fmt(r['median_steps_to_threshold'], ',.0f')} | {fmt(r['median_time_to_threshold'], '.1f')} |")
    for job, reason in failed:
        lines.append(f"| {job.label} seed {job.seed} | failed: {reason.replace('|', '/')} | - | - | - | - | - | - |")
    lines.append("\nIQM: interquartile mean of the seeds' scores with a percentile-bootstrap 95% CI "
                 "(Agarwal et al. 2021). Steps/time to threshold: first periodic 10-episode evaluation "
                 "at or above it; training time excludes evaluation.\n")
    return "\n".join(lines)
