"""One trial of a `landers tune` study, on Ray workers: a configuration trained on every env x
seed at once (one streaming `seed_run` task each, in the trial's placement group), reporting the study's
score after each round of periodic evaluations so that the scheduler compares trials at equal
steps. The driver is `landers.scale.tune`."""

from __future__ import annotations

import dataclasses
import json
import pickle
import queue
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

# ---------------------------------------------------------------- one seed (a Ray task)


def _earlier_rows(run_dir: Path, finished: bool) -> list[tuple[int, float, float]]:
    """Evaluations an earlier attempt already made: all of them (`finished`), else those up to
    its last checkpoint, which a resume goes on from."""
    from landers.see.plots import read_csv

    last = float("inf")
    if not finished:
        try:
            last = json.loads((run_dir / "checkpoints" / "last" / "state.json").read_text())["global_step"]
        except (OSError, ValueError, KeyError):
            return []
    evals = read_csv(run_dir / "evals.csv")
    times = evals.get("time", [0.0] * len(evals.get("step", [])))
    return [(int(step), float(mean), float(seconds))
            for step, mean, seconds in zip(evals.get("step", []), evals.get("mean", []), times, strict=True)
            if step <= last]


def _train(setup: TrialSetup, *, env_id: str, params: dict, seed: int, run_dir: Path, threads: int,
           on_eval) -> dict:
    """Trains (or resumes, or reuses) one seed's landers run, passing each periodic evaluation
    (step, mean, training seconds) to `on_eval` as it arrives; its final evaluation."""
    from landers.run import rundir, tracking
    from landers.run import spec as spec_mod
    from landers.run.hooks import Hooks

    def row(r: dict) -> None:
        on_eval((int(r["step"]), float(r["mean"]), float(r.get("time", 0.0))))

    name = "-".join(run_dir.relative_to(setup.trials_dir).parts)  # <trial>-s<seed>, with the env for several
    hooks = Hooks(on_eval=row, tracker=tracking.for_member(setup.tracking, name=name))
    failed = True
    try:
        if (run_dir / "eval.json").exists():  # finished by an earlier attempt
            for r in _earlier_rows(run_dir, finished=True):
                on_eval(r)
        elif (run_dir / "config.json").exists():
            for r in _earlier_rows(run_dir, finished=False):
                on_eval(r)
            rundir.resume(run_dir, quiet=True, hooks=hooks)
        else:
            # base_config: the preset's and --set's values (one env), or the algorithm's
            # defaults with --preset and --set (several envs: not each env's own preset)
            spec = spec_mod.make_spec(setup.algo, env_id, preset=setup.preset,
                                      overrides={**setup.base_config, **params, **setup.options}, steps=setup.steps,
                                      seed=seed, threads=threads, env_kwargs=setup.env_kwargs, wrappers=setup.wrappers)
            rundir.start(spec, run_dir=run_dir, quiet=True, hooks=hooks)
        final = json.loads((run_dir / "eval.json").read_text())
        failed = False
        return final
    finally:
        if hooks.tracker is not None:
            hooks.tracker.finish(failed=failed)


# A task, not an actor: its worker process goes back to Ray's pool when the seed ends, and the
# next trial's seeds start in it with torch and the envs already imported (an actor's process
# ends with the actor: a new one per seed per trial, seconds each). max_retries=0: a seed whose
# worker died fails its trial, which Tune retries; the seeds resume from their checkpoints.
@ray.remote(max_retries=0)
def seed_run(setup: TrialSetup, *, env_id: str, params: dict, seed: int, run_dir: str, threads: int):
    """One seed, streamed: yields each periodic evaluation `(step, mean, training seconds)` as it
    arrives, then the final evaluation (a dict); a failure is raised to the trial. Training runs
    in a thread of the task, which hands the evaluations over as they come."""
    results: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            final = _train(setup, env_id=env_id, params=params, seed=seed, run_dir=Path(run_dir), threads=threads,
                           on_eval=lambda r: results.put(("row", r)))
            results.put(("final", final))
        except BaseException as e:  # noqa: BLE001 - raised again in the task, to the trial
            try:  # Ray carries it to the trial pickled; one it cannot rebuild would not be the seed's own
                pickle.loads(pickle.dumps(e))
            except Exception:  # noqa: BLE001 - any failure to round-trip
                e = RuntimeError(f"{type(e).__name__}: {e}")
            results.put(("error", e))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, item = results.get()
        if kind == "error":
            raise item
        yield item
        if kind == "final":
            return


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


def _cancel(streams) -> None:
    for stream in streams:
        ray.cancel(stream, force=True)


def run_trial(config: dict, setup: TrialSetup) -> None:
    """One configuration on every env x seed at once (one task each); reports the study score
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
    threads = seed_threads(setup.cpus_per_trial, len(runs))
    streams = [seed_run.options(num_cpus=setup.cpus_per_trial / len(runs)).remote(
        setup, env_id=env, params=params, seed=s, run_dir=str(root / study.run_folder(setup.env_ids, env, s)),
        threads=threads) for env, s in runs]
    curves: list[list[tuple[int, float, float]]] = [[] for _ in runs]
    finals: list[dict | None] = [None] * len(runs)
    try:
        # a round of evaluations, one from each seed, until a seed has none left (its final)
        while all(f is None for f in finals):
            rows = []
            for i, stream in enumerate(streams):
                item = ray.get(next(stream))
                if isinstance(item, dict):
                    finals[i] = item
                else:
                    rows.append(item)
            if len(rows) < len(runs):
                break
            for curve, row in zip(curves, rows, strict=True):
                curve.append(row)
            score, seed_scores = setup.scoring.trial_score(curves)
            tune.report({"step": min(step for step, _, _ in rows), "score": score, "seed_scores": seed_scores,
                         "params": reported})
        for i, stream in enumerate(streams):  # the others' finals (rows past the shortest curve unused)
            for ref in stream:  # to the task's end: its worker is back in Ray's pool before the trial ends
                item = ray.get(ref)
                if isinstance(item, dict):
                    finals[i] = item
    except ray.exceptions.RayTaskError as e:  # the seed's own failure (e.g. Diverged): the trial failed
        _cancel(streams)
        # Tune wants the metric in every result: NaN, which the scheduler and searcher skip
        tune.report({"step": min((c[-1][0] for c in curves if c), default=0), "score": float("nan"),
                     "params": reported, "failed": one_line(e)})
        return
    except BaseException:
        # Stopped by the scheduler (Tune ends this thread from inside tune.report), or anything
        # else: the seeds stop too. The actor lives on for the next trial (reuse_actors), so its
        # seed tasks would otherwise train to their ends beside the next trial's.
        _cancel(streams)
        raise
    # Any other Ray error (a dead worker) goes up: Tune retries the trial, its seeds resume from
    # their checkpoints.
    # `final`: the final evaluation's many episodes, not the last periodic one
    score, seed_scores = setup.scoring.trial_score(curves, finals=[f["mean"] for f in finals])
    tune.report({"step": max(f["step"] for f in finals), "score": score, "seed_scores": seed_scores,
                 "params": reported, "finished": True, "final_means": [f["mean"] for f in finals]})
