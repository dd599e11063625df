"""What a `landers tune` study leaves behind, whatever ran it: each trial's score over its
seeds, `trials.csv`, `best.json` (a preset `landers train --preset` takes), `tune.png`.

A trial trains K seeds of one configuration. Its score is the mean over seeds of each seed's
score, so that a configuration that works for one lucky seed does not win:
- `auc`: the mean of the seed's periodic evaluations, i.e. the area under its evaluation curve
  divided by its length (rewards learning fast and staying good);
- `final`: the seed's last periodic evaluation.
The same function scores a trial part-way (its first i evaluations), which is what the
early-stopping scheduler compares between trials at equal steps.
"""

from __future__ import annotations

import csv
import math
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from landers.core.checkpoint import write_json_atomic
from landers.core.search import Float, Int, Space
from landers.errors import LandersError

OBJECTIVES = ("auc", "final")


def seed_score(eval_means: list[float], objective: str) -> float:
    """One seed's score from its periodic evaluation means, in order."""
    if not eval_means:
        return math.nan
    return float(np.mean(eval_means)) if objective == "auc" else float(eval_means[-1])


def trial_score(per_seed_evals: list[list[float]], objective: str) -> tuple[float, list[float]]:
    """(mean over seeds, each seed's score) of a trial's seeds' evaluation means."""
    scores = [seed_score(e, objective) for e in per_seed_evals]
    return (float(np.mean(scores)) if scores else math.nan), scores


@dataclass
class TrialRecord:
    """One trial of a study as trials.csv holds it."""

    number: int
    params: dict[str, Any]
    name: str = ""  # its folder under OUT/trials
    state: str = "RUNNING"  # RUNNING, COMPLETE, PRUNED, FAILED
    score: float | None = None
    seed_scores: list[float] = field(default_factory=list)
    steps: int = 0  # env steps each seed trained
    pruned_at: int | None = None  # env step at which the scheduler stopped it
    error: str = ""
    run_dirs: list[str] = field(default_factory=list)


def write_trials_csv(path: Path, trials: list[TrialRecord], seeds: int, space: Space) -> None:
    names = list(space)
    header = (["trial", "name", "state", "score"] + [f"score_seed{i + 1}" for i in range(seeds)]
              + ["steps", "pruned_at_step"] + names + ["error"])
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for t in sorted(trials, key=lambda t: t.number):
            scores = [f"{s:.4g}" for s in t.seed_scores] + [""] * (seeds - len(t.seed_scores))
            writer.writerow([t.number, t.name, t.state, "" if t.score is None else f"{t.score:.4g}", *scores, t.steps,
                             "" if t.pruned_at is None else t.pruned_at,
                             *[t.params.get(n, "") for n in names], t.error])
    os.replace(tmp, path)


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def best_preset(algo: str, env_id: str, steps: int, eval_every: int | None, base_hparams: dict[str, Any],
                best: TrialRecord, trials: list[TrialRecord], seeds: int, objective: str,
                env: dict[str, Any] | None = None, overlap: bool = False) -> dict[str, Any]:
    """A preset file for the best trial, recording the evidence it was chosen on (and the env's
    kwargs and wrappers it was tuned with, which `train` needs again: a preset holds no env)."""
    from landers import __version__

    done = [t for t in trials if t.state == "COMPLETE"]
    scores = ", ".join(f"{s:.1f}" for s in best.seed_scores)
    return {
        "algo": algo,
        "env_id": env_id,
        "steps": steps,
        **({"eval_every": eval_every} if eval_every else {}),
        # The overlap asked for (--set, else the base preset's), which `train` applies where a
        # run can overlap (trials given one core each stepped synchronously).
        **({"overlap": True} if overlap else {}),
        "description": f"Found by landers tune: trial {best.number} of {len(trials)}, {objective} "
                       f"{best.score:.1f} over {seeds} seeds ({scores}).",
        "hparams": {**base_hparams, **best.params},
        "results": {
            "summary": f"{objective} score {best.score:.1f} (mean of {seeds} seeds: {scores}) after {steps:,} steps "
                       f"per seed; best of {len(done)} completed trials "
                       f"({sum(t.state == 'PRUNED' for t in trials)} pruned) on {machine()['processor']}, "
                       f"{machine()['cpus']} CPUs",
            "objective": objective, "score": best.score, "seed_scores": best.seed_scores, "seeds": seeds,
            "trial": best.number, "trials": len(trials), "completed": len(done),
            "pruned": sum(t.state == "PRUNED" for t in trials), "failed": sum(t.state == "FAILED" for t in trials),
            "steps_per_seed": steps, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "landers": __version__, "run_dirs": best.run_dirs,
            **{k: v for k, v in (env or {}).items() if v},
        },
    }


def importances(trials: list[TrialRecord], space: Space) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA) over the completed trials; {} with too few."""
    import optuna

    done = [t for t in trials if t.state == "COMPLETE" and t.score is not None and math.isfinite(t.score)]
    if len(done) < 3:
        return {}
    dists = {}
    for name, p in space.items():
        if isinstance(p, Float):
            dists[name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            dists[name] = optuna.distributions.IntDistribution(p.low, p.high, log=p.log)
        else:
            dists[name] = optuna.distributions.CategoricalDistribution(list(p.options))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for t in done:
        # The drawn values, not the constrained ones: importances are about what was searched.
        params = {n: t.params[n] for n in dists if n in t.params}
        try:
            study.add_trial(optuna.trial.create_trial(params=params, distributions={n: dists[n] for n in params},
                                                      value=t.score))
        except ValueError:  # a constrained value outside the drawn domain: leave that trial out
            continue
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):  # e.g. every trial drew the same values
        return {}


def plot_study(path: Path, trials: list[TrialRecord], space: Space, objective: str, env_id: str) -> list[Path]:
    """tune.png/.svg: each trial's score and the best so far against trial number, and the
    parameters' importances."""
    from landers.see.plots import pyplot, save

    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    order = sorted(trials, key=lambda t: t.number)
    for state, marker, color in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:gray"), ("FAILED", "v", "tab:red")):
        pts = [(t.number, t.score) for t in order if t.state == state and t.score is not None]
        if pts:
            ax.scatter(*zip(*pts, strict=True), marker=marker, color=color, label=state.lower(), zorder=3)
    best, xs, ys = -math.inf, [], []
    for t in order:
        if t.state == "COMPLETE" and t.score is not None and t.score > best:
            best = t.score
        if math.isfinite(best):
            xs.append(t.number)
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:orange", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"score ({objective}, mean over seeds)")
    ax.set_title(f"{env_id}: search")
    ax.legend(loc="lower right")
    imp = importances(trials, space)
    if imp:
        names = list(imp)[::-1]
        bx.barh(names, [imp[n] for n in names], color="tab:blue")
        bx.set_xlabel("importance (fANOVA, Optuna)")
    else:
        bx.text(0.5, 0.5, "importances need 3 completed trials", ha="center", va="center")
        bx.set_axis_off()
    bx.set_title("parameter importances")
    fig.tight_layout()
    return save(fig, path)


def write_outputs(out: Path, *, algo: str, env_id: str, steps: int, eval_every: int | None,
                  base_hparams: dict[str, Any], trials: list[TrialRecord], seeds: int, objective: str,
                  space: Space, env: dict[str, Any] | None = None, overlap: bool = False) -> TrialRecord | None:
    """trials.csv, tune.png and (once a trial completed) best.json; returns the best trial."""
    write_trials_csv(out / "trials.csv", trials, seeds, space)
    done = [t for t in trials if t.state == "COMPLETE" and t.score is not None and math.isfinite(t.score)]
    best = max(done, key=lambda t: t.score) if done else None
    if best is not None:
        write_json_atomic(out / "best.json", best_preset(algo, env_id, steps, eval_every, base_hparams, best,
                                                         trials, seeds, objective, env, overlap))
    try:
        plot_study(out / "tune.png", trials, space, objective, env_id)
    except LandersError:
        pass  # no matplotlib: the CSV and best.json still say everything
    return best
