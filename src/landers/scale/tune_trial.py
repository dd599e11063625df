"""One trial of a `landers tune` study, on Ray workers: a configuration trained on every env x
seed at once (one `SeedRun` actor each, in the trial's placement group), reporting the study's
score after each round of periodic evaluations so that the scheduler compares trials at equal
steps. The driver is `landers.scale.tune`."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from landers.algos import get_algo
from landers.core.search import constrained
from landers.scale import study
from landers.scale.cluster import one_line

# ---------------------------------------------------------------- one seed (a Ray actor)


@ray.remote(max_concurrency=2)  # one thread trains, the other answers `row` while it does
class SeedRun:
    """Trains (or resumes, or reuses) one seed's landers run on one env and hands out its
    periodic evaluations (step, mean, training seconds) one at a time as they arrive."""

    def __init__(self):
        self.rows: list[tuple[int, float, float]] = []
        self.final: dict[str, Any] | None = None
        self.done = False
        self.cv = threading.Condition()

    def _add(self, row: dict) -> None:
        with self.cv:
            self.rows.append((int(row["step"]), float(row["mean"]), float(row.get("time", 0.0))))
            self.cv.notify_all()

    def _earlier_rows(self, run_dir: Path, finished: bool) -> None:
        """Evaluations an earlier attempt already made: all of them (`finished`), else those up
        to its last checkpoint, which a resume goes on from."""
        from landers.see.plots import read_csv

        last = float("inf")
        if not finished:
            try:
                last = json.loads((run_dir / "checkpoints" / "last" / "state.json").read_text())["global_step"]
            except (OSError, ValueError, KeyError):
                return
        evals = read_csv(run_dir / "evals.csv")
        times = evals.get("time", [0.0] * len(evals.get("step", [])))
        for step, mean, seconds in zip(evals.get("step", []), evals.get("mean", []), times, strict=True):
            if step <= last:
                self._add({"step": step, "mean": mean, "time": seconds})

    def train(self, setup: TrialSetup, *, env_id: str, params: dict, seed: int, run_dir: str, threads: int) -> dict:
        from landers.run import rundir, tracking
        from landers.run import spec as spec_mod
        from landers.run.hooks import Hooks

        run_dir = Path(run_dir)
        name = "-".join(run_dir.relative_to(setup.trials_dir).parts)  # <trial>-s<seed>, with the env for several
        hooks = Hooks(on_eval=self._add, tracker=tracking.for_member(setup.tracking, name=name))
        failed = True
        try:
            if (run_dir / "eval.json").exists():  # finished by an earlier attempt
                self._earlier_rows(run_dir, finished=True)
            elif (run_dir / "config.json").exists():
                self._earlier_rows(run_dir, finished=False)
                rundir.resume(run_dir, quiet=True, hooks=hooks)
            else:
                # base_config: the preset's and --set's values (one env), or the algorithm's
                # defaults with --preset and --set (several envs: not each env's own preset)
                spec = spec_mod.make_spec(setup.algo, env_id, preset=setup.preset,
                                          overrides={**setup.base_config, **params, **setup.options}, steps=setup.steps,
                                          seed=seed, threads=threads, env_kwargs=setup.env_kwargs,
                                          wrappers=setup.wrappers)
                rundir.start(spec, run_dir=run_dir, quiet=True, hooks=hooks)
            self.final = json.loads((run_dir / "eval.json").read_text())
            failed = False
            return self.final
        finally:
            if hooks.tracker is not None:
                hooks.tracker.finish(failed=failed)
            with self.cv:
                self.done = True
                self.cv.notify_all()

    def row(self, i: int) -> tuple[int, float, float] | None:
        """(step, mean, training seconds) of the i-th evaluation, once there is one; None once
        training ended without it."""
        with self.cv:
            self.cv.wait_for(lambda: len(self.rows) > i or self.done)
            return self.rows[i] if len(self.rows) > i else None


# ---------------------------------------------------------------- one trial (a Tune trial)


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a study trains with, besides its searched values."""

    algo: str
    env_ids: tuple[str, ...]
    seeds: int
    steps: int | None  # None: each env's preset budget (a step budget in the space overrides it)
    objective: str
    space: tuple[str, ...]  # the searched names
    cpus_per_trial: float
    trials_dir: str  # OUT/trials
    base_config: dict[str, Any]  # the preset's hyperparameters and --set, as JSON
    scoring: study.Scoring
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # --set
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    tracking: dict[str, Any] | None = None  # a landers.run.tracking.Tracking as a dict: each seed's run logs to W&B


def seed_threads(cpus_per_trial: float, seeds: int) -> int:
    """Torch threads of each seed's run: its share of the trial's CPUs, at least one."""
    return max(1, int(cpus_per_trial / seeds))


def run_trial(config: dict, setup: TrialSetup) -> None:
    """One configuration on every env x seed at once (one actor each); reports the study score
    after each round of periodic evaluations, and at the end."""
    from landers.core.config import replace_config

    algo = get_algo(setup.algo)
    base = replace_config(algo.Config(), setup.base_config)  # the preset and --set, typed
    drawn = {k: config[k] for k in setup.space if k in config}
    params = constrained(algo, {k: v for k, v in drawn.items() if k != study.STEPS}, base)
    steps = drawn.get(study.STEPS, setup.steps)  # a searched step budget (time objectives)
    setup = dataclasses.replace(setup, steps=steps)
    reported = {**params, **({study.STEPS: steps} if study.STEPS in drawn else {})}
    root = Path(setup.trials_dir) / tune.get_context().get_trial_name()
    runs = [(env, s) for env in setup.env_ids for s in range(1, setup.seeds + 1)]
    actors = [SeedRun.options(num_cpus=setup.cpus_per_trial / len(runs)).remote() for _ in runs]
    threads = seed_threads(setup.cpus_per_trial, len(runs))
    futures = [a.train.remote(setup, env_id=env, params=params, seed=s, run_dir=str(root / study.run_folder(setup.env_ids, env, s)),
                              threads=threads) for a, (env, s) in zip(actors, runs, strict=True)]
    curves: list[list[tuple[int, float, float]]] = [[] for _ in runs]
    i = 0
    while True:
        rows = ray.get([a.row.remote(i) for a in actors])
        if any(r is None for r in rows):
            break
        for curve, row in zip(curves, rows, strict=True):
            curve.append(row)
        score, seed_scores = setup.scoring.trial_score(curves)
        tune.report({"step": min(step for step, _, _ in rows), "score": score, "seed_scores": seed_scores,
                     "params": reported})
        i += 1
    ended = [f for f, r in zip(futures, rows, strict=True) if r is None]
    try:
        ray.get(ended)  # a seed that stopped early: its error, now, not after the others' budgets
        finals = ray.get(futures)
    except ray.exceptions.RayActorError:
        raise  # a dead worker: Tune retries the trial, its seeds resume from their checkpoints
    except Exception as e:  # noqa: BLE001 - the seed's own failure (e.g. Diverged): the trial failed
        for actor in actors:
            ray.kill(actor)
        tune.report({"step": min((s for s, _, _ in filter(None, rows)), default=0), "params": reported,
                     "failed": one_line(e)})
        return
    # `final`: the final evaluation's many episodes, not the last periodic one
    score, seed_scores = setup.scoring.trial_score(curves, finals=[f["mean"] for f in finals])
    tune.report({"step": max(f["step"] for f in finals), "score": score, "seed_scores": seed_scores,
                 "params": reported, "finished": True, "final_means": [f["mean"] for f in finals]})
