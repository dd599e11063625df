"""`landers bench SUITE`: every env x algorithm x seed of a suite as trials of one Ray Tune
experiment (compare's machinery: `landers.scale.ray_runner`), then a report across the suite.

Runs live in OUT/runs/<env>/<algo>__s<seed>; the same command again reuses finished runs and
resumes interrupted ones, as compare does. The report (bench.md, bench.csv, report.html,
curves.png/.svg, aggregate.png/.svg) has, per env, the seeds' final evaluations (IQM with a
95% CI, mean), how many seeds reached the threshold and the median training steps and seconds
they took, the random policy, and published figures (`landers.scale.references`); across envs,
scores normalized between the random policy (0) and the threshold (1), aggregated as Agarwal et
al. 2021 recommend (`landers.see.aggregate`).
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np

from landers.core.files import read_eval
from landers.errors import LandersError
from landers.scale.compare import first_reaching, validate
from landers.scale.jobs import Job, Request
from landers.scale.references import SOURCES, SUITES, references_for, threshold_for
from landers.see import aggregate as agg
from landers.see.plots import read_csv
from landers.see.stats import bootstrap_ci, iqm

PROFILE_TAUS = np.linspace(0.0, 2.0, 81)  # normalized scores the performance profile is read at


def parse_suite(text: str) -> tuple[str, ...]:
    """Comma-separated suite names (`classic`, `box2d`, `mujoco`, `atari`) and env ids, a suite
    standing for its envs in order."""
    items = [e.strip() for e in text.split(",") if e.strip()]
    if not items:
        raise LandersError(f"Give a suite ({', '.join(SUITES)}) or comma-separated env ids.")
    from gymnasium.envs.registration import registry

    unknown = [i for i in items if i not in SUITES and "-v" not in i and ":" not in i and i not in registry]
    if unknown:
        raise LandersError(f"Unknown suite '{unknown[0]}'; the suites are {', '.join(SUITES)}, or give env ids "
                           "separated by commas.")
    envs = tuple(e for item in items for e in SUITES.get(item, (item,)))
    twice = [e for n, e in enumerate(envs) if e in envs[:n]]
    if twice:
        raise LandersError(f"The suite names {twice[0]} twice.")
    return envs


def run(env_ids: tuple[str, ...], algos: list[str], *, seeds: int, out: Path, steps: int | None = None,
        first_seed: int = 1, address: str | None = None, cpus_per_run: int = 1, storage: str | None = None,
        echo=print) -> tuple[list[Job], list[tuple[Job, str]]]:
    """Every env x algorithm x seed through Ray; returns (finished jobs, [(failed job, reason)])."""
    validate(list(env_ids), algos, seeds=seeds, steps=steps, cpus_per_run=cpus_per_run, first_seed=first_seed)
    from landers.scale import ray_runner

    request = Request(env_ids=tuple(env_ids), entries=tuple(algos), seeds=seeds, first_seed=first_seed, steps=steps,
                      cpus_per_run=cpus_per_run, suite=True)
    return ray_runner.run(request, out=Path(out), address=address, storage=storage, echo=echo)


# ---------------------------------------------------------------- the report


def env_rows(env_id: str, jobs: list[Job]) -> tuple[list[dict], dict[str, np.ndarray], float | None]:
    """Per algorithm on one env: a row of the table, each seed's final score; and the random
    policy's mean (over every run's own random evaluation)."""
    threshold = threshold_for(env_id)
    finals = {j: read_eval(j.run_dir / "eval.json") for j in jobs}
    randoms = [f["random"]["mean"] for f in finals.values() if "random" in f]
    random = float(np.mean(randoms)) if randoms else None
    rows, scores = [], {}
    for algo in dict.fromkeys(j.label for j in jobs):
        runs = [j for j in jobs if j.label == algo]
        values = np.array([finals[j]["mean"] for j in runs])
        reached = [first_reaching(read_csv(j.run_dir / "evals.csv"), threshold) for j in runs]
        solved = [r for r in reached if r is not None]
        low, high = bootstrap_ci(values, iqm)
        refs = references_for(env_id, algo.partition("@")[0])
        rows.append({
            "env": env_id, "algo": algo, "seeds": len(runs), "iqm": iqm(values), "iqm_ci_low": low, "iqm_ci_high": high,
            "mean": float(values.mean()), "threshold": threshold, "solved": len(solved),
            "median_steps_to_threshold": float(np.median([s for s, _ in solved])) if solved else None,
            "median_time_to_threshold": float(np.median([t for _, t in solved])) if solved else None,
            "steps": int(np.median([finals[j]["step"] for j in runs])), "random": random,
            "reference": "; ".join(_reference_text(r) for r in refs),
        })
        scores[algo] = values
    return rows, scores, random


def _reference_text(ref) -> str:
    """`242.1 (SB3 zoo, 1M steps, on LunarLander-v2)`; the sources are listed under the table."""
    budget = f", {ref.steps / 1e6:g}M steps" if ref.steps else ""
    on = f", on {ref.measured_on}" if ref.measured_on != ref.env_id else ""
    return f"{ref.score:g} ({ref.library}{budget}{on}{', ' + ref.note if ref.note else ''})"


def across_envs(per_env: dict[str, dict[str, np.ndarray]], randoms: dict[str, float | None],
                *, seed: int = 0) -> dict:
    """Normalized scores per algorithm over the envs that have a threshold, a random score and
    runs of every algorithm; their aggregates, profiles and pairwise probabilities of improvement."""
    algos = list(dict.fromkeys(a for scores in per_env.values() for a in scores))
    usable, left_out = [], []
    for env, scores in per_env.items():
        threshold, random = threshold_for(env), randoms.get(env)
        if threshold is None or random is None or threshold == random or any(a not in scores for a in algos):
            left_out.append(env)
        else:
            usable.append(env)
    normalized = {a: [agg.normalize(per_env[e][a], random=randoms[e], threshold=threshold_for(e)) for e in usable]
                  for a in algos}
    result = {"envs": usable, "left_out": left_out, "algos": algos, "aggregates": {}, "profiles": {},
              "improvements": {}, "normalized": normalized}
    if not usable:
        return result
    for a in algos:
        result["aggregates"][a] = {name: agg.stratified_bootstrap_ci(normalized[a], fn, seed=seed)
                                   for name, fn in agg.AGGREGATES.items()}
        result["profiles"][a] = (PROFILE_TAUS, *agg.performance_profile_band(normalized[a], PROFILE_TAUS, seed=seed))
    for i, x in enumerate(algos):  # P(Y > X) is 1 - P(X > Y): one direction per pair
        for y in algos[i + 1:]:
            result["improvements"][(x, y)] = agg.probability_of_improvement_ci(normalized[x], normalized[y], seed=seed)
    return result


def summarize(env_ids: tuple[str, ...], jobs: list[Job], out: Path, *,
              failed: list[tuple[Job, str]] = ()) -> dict:
    """bench.csv, bench.md, curves and aggregate figures, report.html from the finished `jobs`."""
    from landers.see.suite import plot_aggregates, plot_curve_grid

    out = Path(out)
    rows, per_env, randoms, curves = [], {}, {}, {}
    for env in env_ids:
        mine = [j for j in jobs if j.env_id == env]
        if not mine:
            continue
        env_table, per_env[env], randoms[env] = env_rows(env, mine)
        rows += env_table
        curves[env] = {a: [read_csv(j.run_dir / "episodes.csv") for j in mine if j.label == a]
                       for a in dict.fromkeys(j.label for j in mine)}
    across = across_envs(per_env, randoms)
    figures = []
    if curves:
        figures += plot_curve_grid(curves, {e: threshold_for(e) for e in curves}, out / "curves.png")
    if across["aggregates"]:
        figures += plot_aggregates(across["aggregates"], across["profiles"], across["improvements"],
                                   out / "aggregate.png")
    write_csv(out / "bench.csv", rows, across)
    (out / "bench.md").write_text(markdown(env_ids, rows, across, failed))
    write_html(out / "report.html", out, rows, across, failed)
    return {"rows": rows, "across": across, "figures": figures}


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def write_csv(path: Path, rows: list[dict], across: dict) -> None:
    """Per env and algorithm a row; then per algorithm and aggregate metric, env `ALL (normalized)`."""
    columns = list(rows[0]) if rows else ["env", "algo"]
    extra = [{"env": "ALL (normalized)", "algo": a, "metric": m, "value": p, "ci_low": lo, "ci_high": hi}
             for a, metrics in across["aggregates"].items() for m, (p, lo, hi) in metrics.items()]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns + ["metric", "value", "ci_low", "ci_high"], restval="")
        writer.writeheader()
        writer.writerows(rows)
        writer.writerows(extra)


def markdown(env_ids: tuple[str, ...], rows: list[dict], across: dict, failed) -> str:
    lines = [f"## Suite: {', '.join(env_ids)}\n", "### Per env: each seed's final evaluation (deterministic)\n",
             "| env | algorithm | seeds | IQM [95% CI] | mean | seeds reaching threshold | median steps to it | "
             "median training s to it | random policy | published |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['env']} | {r['algo']} | {r['seeds']} | {r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, "
                     f"{r['iqm_ci_high']:.1f}] | {r['mean']:.1f} | {r['solved']}/{r['seeds']} "
                     f"(>= {_fmt(r['threshold'], 'g')}) | {_fmt(r['median_steps_to_threshold'], ',.0f')} | "
                     f"{_fmt(r['median_time_to_threshold'])} | {_fmt(r['random'])} | {r['reference'] or '-'} |")
    for job, reason in failed:
        lines.append(f"| {job.env_id} | {job.label} seed {job.seed} | failed: {reason.replace('|', '/')} "
                     "| - | - | - | - | - | - | - |")
    lines.append("\n### Across envs: normalized scores (random policy 0, threshold 1)\n")
    if across["aggregates"]:
        lines += [f"Envs: {', '.join(across['envs'])}.\n",
                  "| algorithm | IQM | median | mean | optimality gap |", "|---|---|---|---|---|"]
        for a, m in across["aggregates"].items():
            cells = [f"{p:.2f} [{lo:.2f}, {hi:.2f}]" for p, lo, hi in (m[k] for k in agg.AGGREGATES)]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
        if across["improvements"]:
            lines += ["\n| P(X > Y) | value [95% CI] |", "|---|---|"]
            lines += [f"| P({x} > {y}) | {p:.2f} [{lo:.2f}, {hi:.2f}] |"
                      for (x, y), (p, lo, hi) in across["improvements"].items()]
    else:
        lines.append("No env has a threshold, a random-policy score and runs of every algorithm.")
    if across["left_out"]:
        lines.append(f"\nLeft out of the aggregates (no threshold, no random score, or an algorithm without "
                     f"runs): {', '.join(across['left_out'])}.")
    lines.append("\nIQM: interquartile mean; CIs: percentile bootstrap, 2000 resamples, stratified by env across envs "
                 "(Agarwal et al. 2021). Steps/time to threshold: first periodic evaluation at or above it; "
                 "training time excludes evaluation. Published: " + "; ".join(SOURCES) + ".\n")
    return "\n".join(lines)


def write_html(path: Path, out: Path, rows: list[dict], across: dict, failed) -> None:
    from landers.see.report import STYLE, data_uri, table

    parts = [f"<h1>Benchmark: {html.escape(out.name)}</h1><h2>Per env</h2>",
             table(["env", "algorithm", "seeds", "IQM", "IQM 95% CI", "mean", "seeds reaching threshold",
                    "median steps to it", "median training s to it", "random policy", "published"],
                   [[r["env"], r["algo"], r["seeds"], f"{r['iqm']:.1f}", f"[{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}]",
                     f"{r['mean']:.1f}", f"{r['solved']}/{r['seeds']} (>= {_fmt(r['threshold'], 'g')})",
                     _fmt(r["median_steps_to_threshold"], ",.0f"), _fmt(r["median_time_to_threshold"]),
                     _fmt(r["random"]), r["reference"] or "-"] for r in rows], "per-env")]
    if failed:
        parts.append(table(["env", "run", "failed"], [[j.env_id, f"{j.label} seed {j.seed}", why] for j, why in failed],
                           "failed"))
    if across["aggregates"]:
        parts += ["<h2>Across envs (normalized: random policy 0, threshold 1)</h2>",
                  f"<p class='muted'>Envs: {html.escape(', '.join(across['envs']))}</p>",
                  table(["algorithm", *[k.replace("_", " ") for k in agg.AGGREGATES]],
                        [[a, *[f"{p:.2f} [{lo:.2f}, {hi:.2f}]" for p, lo, hi in (m[k] for k in agg.AGGREGATES)]]
                         for a, m in across["aggregates"].items()], "aggregates")]
        if across["improvements"]:
            parts.append(table(["comparison", "P(X > Y) [95% CI]"],
                               [[f"P({x} > {y})", f"{p:.2f} [{lo:.2f}, {hi:.2f}]"]
                                for (x, y), (p, lo, hi) in across["improvements"].items()], "improvement"))
    for name, title in (("aggregate", "Aggregates, performance profile, probability of improvement"),
                        ("curves", "Learning curves")):
        if (out / f"{name}.png").exists():
            parts.append(f'<h2>{title}</h2><img alt="{name}" src="{data_uri(out / f"{name}.png", "image/png")}">')
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>landers bench</title><style>{STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
    path.write_text(page)
