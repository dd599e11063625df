"""What a `landers tune` study leaves behind, whatever ran it: each trial's score over its
seeds, `trials.csv`, `best.json` (a preset `landers train --preset` takes), `tune.png`.

A trial trains K seeds of one configuration. Its score is the mean over seeds of each seed's
score, so that a configuration that works for one lucky seed does not win (or, with
`--over-seeds`, their interquartile mean, which a validation reports, or the worst seed's):
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
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from landers.core.checkpoint import write_json_atomic
from landers.core.search import Float, Int, Space
from landers.errors import LandersError
from landers.run.spec import available_cores
from landers.see.stats import iqm

OBJECTIVES = ("auc", "final", "auc-time", "time-to-threshold")
TIME_OBJECTIVES = ("auc-time", "time-to-threshold")  # they count training seconds, not steps
TIME_PENALTY = 2.0  # a seed that never reaches the threshold scores -(this x its training seconds so far)
STEPS = "steps"  # the step budget's name in a search space (searched where the objective counts time)
# How a trial combines its seeds' scores (per env). The IQM is what a validation reports: one
# failed seed of five costs a trial its score under the mean, not under the IQM.
OVER_SEEDS = {"mean": np.mean, "iqm": iqm, "worst": np.min}

Curve = list[tuple[int, float, float]]  # one seed's periodic evaluations: (step, mean, training seconds)


def seed_score(curve: Curve, objective: str, *, threshold: float | None = None, final: float | None = None) -> float:
    """One seed's score from its periodic evaluations, in order (higher is better):
    - `auc`: their mean, the area under the curve over steps divided by its length;
    - `final`: the final evaluation's mean (`final`), else the last periodic one;
    - `auc-time`: the area under the curve over training time divided by that time, each
      evaluation standing for the training seconds since the one before;
    - `time-to-threshold`: minus the training seconds at the first evaluation at or above
      `threshold`; minus TIME_PENALTY x the seconds trained so far while it has none."""
    if not curve:
        return math.nan
    means = np.array([m for _, m, _ in curve], dtype=np.float64)
    times = np.array([t for _, _, t in curve], dtype=np.float64)
    if objective == "auc":
        return float(means.mean())
    if objective == "final":
        return float(final if final is not None else means[-1])
    if objective == "auc-time":
        spans = np.diff(np.concatenate([[0.0], times]))
        return float((means * spans).sum() / times[-1]) if times[-1] > 0 else float(means.mean())
    if objective == "time-to-threshold":
        hits = np.flatnonzero(means >= threshold)
        return float(-times[hits[0]]) if len(hits) else float(-TIME_PENALTY * times[-1])
    raise LandersError(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{objective}'.")


def check_scoring(objective: str, over_seeds: str, seeds: int) -> None:
    for flag, value, choices in (("--objective", objective, OBJECTIVES), ("--over-seeds", over_seeds, OVER_SEEDS)):
        if value not in choices:
            raise LandersError(f"{flag} must be one of {', '.join(choices)}, got '{value}'.")
    if over_seeds == "iqm" and seeds < 4:
        raise LandersError(f"--over-seeds iqm needs --seeds 4 or more: the interquartile mean of {seeds} "
                           "seeds is their mean.")


# What tune's default space adds to the algorithm's own: a study begun when a --space file without
# "replace" changed the algorithm's space only lacks them.
_NETWORK = {"hidden_sizes", "activation", "rnn_size"}


def refuse_other_settings(out: Path, saved: dict[str, Any], recorded: dict[str, Any]) -> None:
    """One sentence where the study in `out` (its study.json, `saved`) was begun with settings
    other than this command's (`recorded`), the number of trials aside."""
    changed = sorted(k for k in set(recorded) | set(saved) if k != "trials" and saved.get(k) != recorded.get(k))
    if not changed:
        return
    hint = "resume it with the same command, or choose another --out"
    old, new = set(saved.get("space") or {}), set(recorded.get("space") or {})
    if changed == ["space"] and old < new and new - old <= _NETWORK:
        added = sorted(new - old)
        nulls = ", ".join(f'"{k}": null' for k in added)
        hint = (f"its space had no {', '.join(added)}, which a --space file without \"replace\" now leaves "
                f"searched: add {nulls} to the file")
    raise LandersError(f"'{out}' holds a study begun with other settings ({', '.join(changed)}); {hint}.")


@dataclass(frozen=True)
class Scoring:
    """How a trial of K seeds on one or more envs is scored. One env: the mean over seeds of
    each seed's score (`over_seeds`: or their IQM, or the worst). Several: each env's value
    normalized between its random policy (0) and its threshold (1), then the mean over envs;
    time objectives stay in seconds (minus), which already mean the same on every env."""

    objective: str
    env_ids: tuple[str, ...]
    seeds: int
    thresholds: tuple[float | None, ...] = ()  # per env, for time-to-threshold and normalizing
    randoms: tuple[float | None, ...] = ()  # per env: the random policy's mean return
    over_seeds: str = "mean"  # a key of OVER_SEEDS

    @property
    def normalized(self) -> bool:
        return len(self.env_ids) > 1 and self.objective not in TIME_OBJECTIVES

    def trial_score(self, curves: list[Curve], finals: list[float] | None = None) -> tuple[float, list[float]]:
        """(the trial's score, each run's own score) of `curves` (env-major: env 1's seeds, then
        env 2's, ...); `finals`: each run's final evaluation, once they ended."""
        threshold = lambda i: self.thresholds[i] if self.thresholds else None  # noqa: E731
        scores = [seed_score(c, self.objective, threshold=threshold(r // self.seeds),
                             final=finals[r] if finals else None) for r, c in enumerate(curves)]
        per_env = []
        for e in range(len(self.env_ids)):
            seeds = scores[e * self.seeds:(e + 1) * self.seeds]
            value = math.nan if any(map(math.isnan, seeds)) else float(OVER_SEEDS[self.over_seeds](seeds))
            if self.normalized:
                value = (value - self.randoms[e]) / (self.thresholds[e] - self.randoms[e])
            per_env.append(value)
        return (float(np.mean(per_env)) if per_env else math.nan), scores


def run_folder(env_ids: tuple[str, ...], env_id: str, seed: int) -> str:
    """A run's folder in its trial's: sK, or ENV/sK in a study of several envs."""
    return f"s{seed}" if len(env_ids) == 1 else f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}/s{seed}"


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


def write_trials_csv(path: Path, trials: list[TrialRecord], *, seeds: int, space: Space) -> None:
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
            "cpus": available_cores(), "python": platform.python_version()}


def best_preset(best: TrialRecord, *, algo: str, env_id: str, steps: int, eval_every: int | None,
                base_hparams: dict[str, Any], trials: list[TrialRecord], seeds: int, objective: str,
                env: dict[str, Any] | None = None, overlap: bool = False,
                scoring: Scoring | None = None) -> dict[str, Any]:
    """A preset file for the best trial, recording the evidence it was chosen on (and the env's
    kwargs and wrappers it was tuned with, which `train` needs again: a preset holds no env)."""
    from landers.version import __version__

    done = [t for t in trials if t.state == "COMPLETE"]
    scores = ", ".join(f"{s:.1f}" for s in best.seed_scores)
    several = scoring is not None and len(scoring.env_ids) > 1
    over = scoring.over_seeds if scoring is not None else "mean"
    of_seeds = f"{over} over each env's {scoring.seeds} seeds" if several else f"{over} of {seeds} seeds"
    across = {}
    if several:  # meant for any env: the envs it was found on, and how each was scored
        across = {"envs": list(scoring.env_ids), "thresholds": list(scoring.thresholds),
                  **({"random_policy": list(scoring.randoms), "score": f"mean over envs of the normalized {over} "
                      "of each env's seeds (random policy 0, threshold 1)"} if scoring.normalized else {})}
    params = dict(best.params)
    steps = int(params.pop(STEPS, steps))  # a searched budget (time objectives) is the preset's steps
    return {
        "algo": algo,
        "env_id": list(scoring.env_ids) if several else env_id,
        "steps": steps,
        **({"eval_every": eval_every} if eval_every else {}),
        # The overlap asked for (--set, else the base preset's), which `train` applies where a
        # run can overlap (trials given one core each stepped synchronously).
        **({"overlap": True} if overlap else {}),
        "description": f"Found by landers tune: trial {best.number} of {len(trials)}, {objective} "
                       f"{best.score:.1f} over {seeds} seeds ({scores}).",
        "hparams": {**base_hparams, **params},
        "results": {
            "summary": f"{objective} score {best.score:.1f} ({of_seeds}: {scores}) after {steps:,} steps "
                       f"per seed; best of {len(done)} completed trials "
                       f"({sum(t.state == 'PRUNED' for t in trials)} pruned) on {machine()['processor']}, "
                       f"{machine()['cpus']} CPUs",
            "objective": objective, **({"over_seeds": over} if over != "mean" else {}),
            "score": best.score, "seed_scores": best.seed_scores, "seeds": seeds,
            "trial": best.number, "trials": len(trials), "completed": len(done),
            "pruned": sum(t.state == "PRUNED" for t in trials), "failed": sum(t.state == "FAILED" for t in trials),
            "steps_per_seed": steps, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "landers": __version__, "run_dirs": best.run_dirs,
            **{k: v for k, v in (env or {}).items() if v}, **across,
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


def plot_study(path: Path, trials: list[TrialRecord], *, space: Space, objective: str, env_id: str,
               over_seeds: str = "mean") -> list[Path]:
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
    ax.set_ylabel(f"score ({objective}, {over_seeds} over seeds)")
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
                  space: Space, env: dict[str, Any] | None = None, overlap: bool = False,
                  scoring: Scoring | None = None) -> TrialRecord | None:
    """trials.csv, tune.png and (once a trial completed) best.json; returns the best trial."""
    write_trials_csv(out / "trials.csv", trials, seeds=seeds, space=space)
    done = [t for t in trials if t.state == "COMPLETE" and t.score is not None and math.isfinite(t.score)]
    best = max(done, key=lambda t: t.score) if done else None
    if best is not None:
        write_json_atomic(out / "best.json", best_preset(best, algo=algo, env_id=env_id, steps=steps,
                                                         eval_every=eval_every, base_hparams=base_hparams,
                                                         trials=trials, seeds=seeds, objective=objective, env=env,
                                                         overlap=overlap, scoring=scoring))
    try:
        plot_study(out / "tune.png", trials, space=space, objective=objective, env_id=env_id,
                   over_seeds=scoring.over_seeds if scoring is not None else "mean")
    except LandersError:
        pass  # no matplotlib: the CSV and best.json still say everything
    return best


def records(trials: list[dict], *, space: Space, settled: bool, pruned: set[str] = frozenset()) -> list[TrialRecord]:
    """Trials as study records. `settled`: the study ran to its end, so a trial that neither
    finished nor failed was stopped by the scheduler (pruned); otherwise it may have been
    stopped by Ctrl-C, and a resume will go on with it, unless it is one of `pruned` (the names
    of the trials the scheduler stopped)."""
    records = []
    for position, t in enumerate(trials):
        last, config = t["last"] or {}, t["config"] or {}
        params = last.get("params") or {k: config[k] for k in space if k in config}
        tag = str(t.get("tag") or "").split("_", 1)[0]  # Tune's search counter: the creation order
        number = int(tag) - 1 if tag.isdigit() else position
        rec = TrialRecord(number=number, params=params, score=last.get("score"), name=t["name"],
                                seed_scores=list(last.get("seed_scores") or []), steps=int(last.get("step") or 0))
        if t["error"] or last.get("failed"):
            rec.state, rec.error, rec.score = "FAILED", t["error"] or last["failed"], None
        elif last.get("finished"):
            rec.state = "COMPLETE"
        elif t["status"] in ("RUNNING", "PENDING"):
            rec.state = t["status"]
        elif settled or t["name"] in pruned:
            rec.state, rec.pruned_at = "PRUNED", rec.steps
        else:
            rec.state = "STOPPED"
        records.append(rec)
    return records


def status_line(records: list[TrialRecord]) -> str:
    done = [r for r in records if r.state == "COMPLETE"]
    best = max((r for r in done if r.score is not None), key=lambda r: r.score, default=None)
    line = (f"trials: {len(done)} done, {sum(r.state == 'RUNNING' for r in records)} running, "
            f"{sum(r.state in ('STOPPED', 'PRUNED') for r in records)} pruned, "
            f"{sum(r.state == 'FAILED' for r in records)} failed")
    if best is not None:
        line += f"; best {best.score:.1f} (trial {best.number}: {format_params(best.params)})"
    return line


def format_params(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
