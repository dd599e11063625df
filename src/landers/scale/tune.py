"""`landers tune`: hyperparameter search with Optuna's TPE through Ray Tune, robust across seeds.

Each Tune trial is one configuration trained on K seeds at once (one Ray actor per seed, all in
the trial's placement group, so they run in parallel when the CPUs are there and share them
when not). After every periodic evaluation the trial reports the score over its seeds so far
(`landers.scale.study`), and the early-stopping scheduler compares trials at equal steps.

Why ASHA and not Optuna's pruner: Tune owns the trials' lifetimes (OptunaSearch passes
intermediate values to Optuna but never asks it whether to prune), and ASHA decides each rung as results
arrive, without waiting for a cohort of trials: the right fit for trials of unequal speed
running in parallel on one machine or a cluster.

The study lives in OUT: `ray/` (Tune's experiment state with the Optuna searcher, which is how
an interrupted study resumes), `asha.json` (the scheduler's rungs, which Tune does not save), `trials/trial_<id>/sK` (each seed's landers run directory),
`trials.csv`, `best.json`, `tune.png` and `report.html`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.search_generator import SearchGenerator

from landers.algos import get_algo
from landers.core.checkpoint import write_json_atomic
from landers.core.files import read_json_object
from landers.core.search import Choice, Int, Space, constrained, space_to_json, suggest
from landers.envs import env_spec
from landers.errors import LandersError
from landers.scale import study
from landers.scale.cluster import MAX_FAILURES, check_storage, connect, one_line, output_to
from landers.scale.jobs import check_env
from landers.scale.references import threshold_for

GRACE_FRACTION = 0.25  # no trial is stopped before a quarter of its budget
REDUCTION_FACTOR = 3  # ASHA keeps the best third at each rung


def trial_name(trial) -> str:
    """Tune's id of the trial (random with a searcher): its folder under OUT/trials. Trials are
    numbered by their place in Tune's list, which is the order they were created in."""
    return f"trial_{trial.trial_id}"


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
        for step, mean, seconds in zip(evals.get("step", []), evals.get("mean", []), times):
            if step <= last:
                self._add({"step": step, "mean": mean, "time": seconds})

    def train(self, setup: TrialSetup, *, env_id: str, params: dict, seed: int, run_dir: str, threads: int) -> dict:
        from landers.run import spec as spec_mod
        from landers.run import rundir
        from landers.run.hooks import Hooks

        run_dir = Path(run_dir)
        try:
            if (run_dir / "eval.json").exists():  # finished by an earlier attempt
                self._earlier_rows(run_dir, finished=True)
            elif (run_dir / "config.json").exists():
                self._earlier_rows(run_dir, finished=False)
                rundir.resume(run_dir, quiet=True, hooks=Hooks(on_eval=self._add))
            else:
                # base_config: the preset's and --set's values (one env), or the algorithm's
                # defaults with --preset and --set (several envs: not each env's own preset)
                spec = spec_mod.make_spec(setup.algo, env_id, preset=setup.preset,
                                          overrides={**setup.base_config, **params, **setup.options}, steps=setup.steps,
                                          seed=seed, threads=threads, env_kwargs=setup.env_kwargs,
                                          wrappers=setup.wrappers)
                rundir.start(spec, run_dir=run_dir, quiet=True, hooks=Hooks(on_eval=self._add))
            self.final = json.loads((run_dir / "eval.json").read_text())
            return self.final
        finally:
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
                              threads=threads) for a, (env, s) in zip(actors, runs)]
    curves: list[list[tuple[int, float, float]]] = [[] for _ in runs]
    i = 0
    while True:
        rows = ray.get([a.row.remote(i) for a in actors])
        if any(r is None for r in rows):
            break
        for curve, row in zip(curves, rows):
            curve.append(row)
        score, seed_scores = setup.scoring.trial_score(curves)
        tune.report({"step": min(step for step, _, _ in rows), "score": score, "seed_scores": seed_scores,
                     "params": reported})
        i += 1
    ended = [f for f, r in zip(futures, rows) if r is None]
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


# ---------------------------------------------------------------- the study (driver)


class ResumableASHA(ASHAScheduler):
    """ASHA whose rungs outlive an interrupted study. Tune restores its scheduler as it was
    when the study began (it saves the searcher, not the scheduler), so a resumed study would
    judge new trials against empty rungs; these rungs (each a milestone and the score every
    trial had there) are written to `state_file` as JSON after each result and read back on
    the first result after a resume."""

    def __init__(self, state_file: str, **kwargs):
        super().__init__(**kwargs)
        self.state_file = state_file
        self._loaded = False

    def _load(self) -> None:
        self._loaded = True
        try:
            saved = json.loads(Path(self.state_file).read_text())
            rungs = [[(float(m), {str(k): float(v) for k, v in recorded.items()}) for m, recorded in bracket]
                     for bracket in saved]
        except (OSError, ValueError, TypeError, AttributeError):
            return  # no state yet (a new study) or an unreadable one: start with empty rungs
        if len(rungs) == len(self._brackets) and all(
                [m for m, _ in r] == [m for m, _ in b._rungs] for r, b in zip(rungs, self._brackets)):
            for r, b in zip(rungs, self._brackets):
                b._rungs = r

    def _save(self) -> None:
        state = [[[m, recorded] for m, recorded in b._rungs] for b in self._brackets]
        try:
            write_json_atomic(Path(self.state_file), state)
        except LandersError:  # a failed write (disk full): the study goes on, a resume would start them empty
            pass

    def _recorded(self, method, *args):
        """ASHA's own `method`, between reading the rungs back (once) and writing them."""
        if not self._loaded:
            self._load()
        out = method(*args)
        self._save()
        return out

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._recorded(super().on_trial_result, tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._recorded(super().on_trial_complete, tune_controller, trial, result)


class SeedScoredSearch(OptunaSearch):
    """Optuna's TPE through Tune, told the truth about early-stopped trials: a trial the
    scheduler stopped has only a partial score, so Optuna records it as pruned (with the
    intermediate values it was reported), not as completed with that score."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if result is not None and not result.get("finished"):
            result = None
        super().on_trial_complete(trial_id, result, error)


class DrawFrom:
    """Optuna's define-by-run space: draws every parameter on the Optuna trial, which records
    them. A class, not a closure: Tune pickles its searcher into the study's state."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, trial) -> None:
        suggest(trial, self.space)


class GrowingSearch(SearchGenerator):
    """Tune's wrapper of the searcher, whose number of trials follows study.json. Tune restores
    a study with the number it began with (in its saved search state); this reads the number
    the command asks for now, so that a finished study asked for more trials goes on with the
    same searcher (its TPE history), scheduler rungs and settings."""

    def __init__(self, searcher, study_file: str):
        super().__init__(searcher)
        self.study_file = study_file

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        try:
            wanted = int(json.loads(Path(self.study_file).read_text())["trials"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if wanted > self._total_samples:
            self._total_samples, self._finished = wanted, False


def _records(trials: list[dict], *, space: Space, settled: bool) -> list[study.TrialRecord]:
    """Trials as study records. `settled`: the study ran to its end, so a trial that neither
    finished nor failed was stopped by the scheduler (pruned); otherwise it may have been
    stopped by Ctrl-C, and a resume will go on with it."""
    records = []
    for position, t in enumerate(trials):
        last, config = t["last"] or {}, t["config"] or {}
        params = last.get("params") or {k: config[k] for k in space if k in config}
        tag = str(t.get("tag") or "").split("_", 1)[0]  # Tune's search counter: the creation order
        number = int(tag) - 1 if tag.isdigit() else position
        rec = study.TrialRecord(number=number, params=params, score=last.get("score"), name=t["name"],
                                seed_scores=list(last.get("seed_scores") or []), steps=int(last.get("step") or 0))
        if t["error"] or last.get("failed"):
            rec.state, rec.error, rec.score = "FAILED", t["error"] or last["failed"], None
        elif last.get("finished"):
            rec.state = "COMPLETE"
        elif t["status"] in ("RUNNING", "PENDING"):
            rec.state = t["status"]
        elif settled:
            rec.state, rec.pruned_at = "PRUNED", rec.steps
        else:
            rec.state = "STOPPED"
        records.append(rec)
    return records


def _from_trial(trial) -> dict:
    error = None
    if trial.status == "ERROR":
        try:
            error = one_line(Path(trial.error_file).read_text())
        except (OSError, TypeError):
            error = "failed"
    return {"name": trial_name(trial), "last": trial.last_result, "config": trial.config,
            "status": trial.status, "error": error, "tag": trial.experiment_tag}


def _from_result(result) -> dict:
    return {"name": Path(result.path).name, "last": result.metrics, "config": result.config,
            "status": "ERROR" if result.error else "TERMINATED",
            "error": one_line(result.error) if result.error else None,
            "tag": (result.metrics or {}).get("experiment_tag")}


# The driver's live state. Tune pickles callbacks into its experiment state, so the callback
# holds nothing itself and reaches this process's state through the module.
_LIVE: dict[str, Any] = {}


class _Progress(tune.Callback):
    """A live line (trials done / running / pruned, the best score so far and its parameters);
    trials.csv, best.json and tune.png rewritten as each trial ends."""

    def _update(self, trials, write: bool) -> None:
        if not _LIVE:
            return
        ended = {trial_name(t) for t in trials if t is self._ending}
        rows = [{**_from_trial(t), **({"status": "TERMINATED"} if trial_name(t) in ended else {})} for t in trials]
        records = _records(rows, space=_LIVE["space"], settled=not _LIVE["interrupted"])
        if write:
            try:
                _LIVE["write"](records)
            except (OSError, LandersError) as e:  # the study goes on; the end writes them again
                _LIVE["echo"](f"warning: could not update the study's files: {e}")
        line = status_line(records)
        if line != _LIVE.get("line"):
            _LIVE["line"] = line
            _LIVE["echo"](line)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._update(trials, write=False)

    _ending = None

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ending = trial  # Tune calls this while the trial's status still says RUNNING
        try:
            self._update(trials, write=True)
        finally:
            self._ending = None

    def on_trial_error(self, iteration, trials, trial, **info):
        self._update(trials, write=True)


def status_line(records: list[study.TrialRecord]) -> str:
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


@dataclass(frozen=True)
class StudySettings:
    """A study as the command asks for it."""

    algo: str
    env_ids: tuple[str, ...]  # one env, or several: a trial's score is then its mean normalized score
    trials: int = 40  # a finished study asked for more continues with its own settings
    seeds: int = 3  # per env
    objective: str = "auc"  # study.OBJECTIVES
    steps: int | None = None  # per seed; None: the preset's budget
    threshold: float | None = None  # time-to-threshold's; None: the env's (references.threshold_for)
    space: Space = field(default_factory=dict)
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # --set, as given
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    cpus_per_trial: float | None = None

    @property
    def env_label(self) -> str:
        return ",".join(self.env_ids)


def default_space(module) -> Space:
    """The algorithm's own space, and the network's size and activation where its Config has them."""
    space = dict(getattr(module, "SEARCH_SPACE", {}))
    if not space:  # nothing to learn (the random policy)
        return space
    fields = {f.name for f in dataclasses.fields(module.Config)}
    if "hidden_sizes" in fields:
        space.setdefault("hidden_sizes", Choice(("64,64", "128,128", "256,256", "64,64,64")))
    if "activation" in fields:
        space.setdefault("activation", Choice(("tanh", "relu")))
    return space


def check(settings: StudySettings) -> None:
    """What needs no Ray, in one sentence: the numbers, every env built once with its arguments
    (a misspelled id, --env-kwargs or --wrap), every env's spec (an unknown --set key)."""
    from landers.run.spec import make_spec

    if settings.objective not in study.OBJECTIVES:
        raise LandersError(f"--objective must be one of {', '.join(study.OBJECTIVES)}, got '{settings.objective}'.")
    if (settings.trials <= 0 or settings.seeds <= 0 or (settings.steps is not None and settings.steps <= 0)
            or (settings.cpus_per_trial is not None and settings.cpus_per_trial <= 0)):
        raise LandersError("--trials, --seeds, --steps and --cpus-per-trial must be positive.")
    if not settings.space:
        raise LandersError(f"{settings.algo} has no hyperparameters to tune.")
    if not settings.env_ids or len(set(settings.env_ids)) < len(settings.env_ids):
        raise LandersError("Give each env id once (comma-separated for a study across envs).")
    if settings.threshold is not None and len(settings.env_ids) > 1:
        raise LandersError("--threshold is for a study of one env; several envs use each env's own threshold.")
    for name in settings.space:
        if name in settings.options:
            raise LandersError(f"--set {name} fixes a searched hyperparameter; drop it from the space (--space) instead.")
    for env_id in settings.env_ids:  # every id first: a typo in the last one is not a wait for the others
        env_spec(env_id)
    for env_id in settings.env_ids:
        check_env(env_id, settings.env_kwargs, settings.wrappers)
        make_spec(settings.algo, env_id, preset=settings.preset, overrides=dict(settings.options), steps=settings.steps,
                  env_kwargs=settings.env_kwargs, wrappers=settings.wrappers)
    needs = settings.objective == "time-to-threshold" or len(settings.env_ids) > 1
    for env_id in settings.env_ids:
        if needs and settings.threshold is None and threshold_for(env_id) is None:
            raise LandersError(f"{env_id} has no threshold to score against; give --threshold.")


def random_score(env_id: str, *, env_kwargs: dict[str, Any], wrappers: tuple[str, ...]) -> float:
    """The random policy's mean return over 10 episodes (fixed seeds: the same every time)."""
    from landers.envs.source import env_source
    from landers.policy.evaluation import evaluate_random

    source = env_source(env_id, env_kwargs, wrappers)
    return float(evaluate_random(source, 10, backend="gymnasium").mean)


def plan(settings: StudySettings, *, out: Path, storage: str | None = None) -> Plan:
    """The study `settings` ask for, checked and resolved without Ray: each env's base spec, the
    space (with the step budget for a time objective), how trials are scored (thresholds, and for
    several envs each random policy's score)."""
    from landers.core.config import find_preset, replace_config, to_json_dict
    from landers.run.spec import can_overlap, make_spec

    check(settings)
    algo = get_algo(settings.algo)
    env = {"env_kwargs": dict(settings.env_kwargs), "wrappers": list(settings.wrappers)}
    first = settings.env_ids[0]
    bases = [make_spec(settings.algo, e, preset=settings.preset, overrides=dict(settings.options),
                       steps=settings.steps, **env) for e in settings.env_ids]
    base = bases[0]
    steps = max(b.steps for b in bases)
    several = len(settings.env_ids) > 1
    if several:
        # Settings meant for any env: laid over the algorithm's defaults (and --preset, --set),
        # not over one env's tuned preset, so that best.json means the same on every env.
        found = find_preset(settings.algo, first, settings.preset) if settings.preset else None
        base_config = to_json_dict(replace_config(replace_config(algo.Config(), found.hparams if found else {}),
                                                  {k: v for k, v in settings.options.items() if k in base.hparams.__dataclass_fields__}))
    else:
        found = find_preset(settings.algo, first, base.preset) if base.preset else None  # the one make_spec chose
        base_config = to_json_dict(base.hparams)
    # What best.json fixes besides the searched values: the base preset's hyperparameters and
    # those given with --set, as the trials trained them (typed, not the command line's strings).
    fixed = set(found.hparams if found else {}) | set(settings.options)
    base_hparams = {k: v for k, v in base_config.items() if k in fixed}
    # best.json keeps the overlap asked for (--set, else the preset's); `train` applies it where a
    # run can overlap. The trials overlap from the preset where theirs can: see `_study`.
    asked = base.overlap if "overlap" in settings.options else bool(found and found.overlap)
    preset_overlap = (not several and "overlap" not in settings.options and bool(found and found.overlap)
                      and can_overlap(algo, base.env, base.hparams, base.backend))
    space = dict(settings.space)
    if settings.objective in study.TIME_OBJECTIVES and settings.steps is None:
        # A time objective can prefer a shorter run: the budget is searched, up to the preset's.
        space.setdefault(study.STEPS, Int(max(1, steps // 4), steps, log=True))
    thresholds, randoms = (), ()
    if settings.objective == "time-to-threshold" or several:
        thresholds = tuple(settings.threshold if settings.threshold is not None else threshold_for(e)
                           for e in settings.env_ids)
    if several and settings.objective not in study.TIME_OBJECTIVES:
        randoms = tuple(random_score(e, env_kwargs=settings.env_kwargs, wrappers=settings.wrappers)
                        for e in settings.env_ids)
        for e, r, t in zip(settings.env_ids, randoms, thresholds):
            if t <= r:
                raise LandersError(f"{e}'s threshold {t:g} is not above its random policy's {r:.1f}: "
                                   "nothing to normalize by.")
    scoring = study.Scoring(settings.objective, settings.env_ids, settings.seeds, thresholds, randoms)
    out = out.absolute()
    return Plan(settings=settings, space=space, steps=steps, scoring=scoring, base_config=base_config,
                base_hparams=base_hparams, eval_every=base.eval_every or None, overlap=asked,
                preset_overlap=preset_overlap, out=out, storage=storage or str(out))


def run(settings: StudySettings, *, out: Path, address: str | None = None, storage: str | None = None,
        echo=print) -> tuple[study.TrialRecord | None, bool]:
    """Run, resume or grow the study; returns (the best completed trial, whether it was interrupted)."""
    planned = plan(settings, out=out, storage=storage)
    check_storage(str(planned.out))
    if planned.storage != str(planned.out):
        check_storage(planned.storage)
    with output_to(planned.out / "ray.log") as terminal:
        def say(message: str) -> None:
            print(message, file=terminal, flush=True)

        return _study(planned, address=address, echo=say)


@dataclass(frozen=True)
class Plan:
    """A checked study, ready for Ray."""

    settings: StudySettings
    space: Space  # the settings' and, for a time objective, the step budget
    steps: int  # the largest env's budget per seed
    scoring: study.Scoring
    base_config: dict[str, Any]
    base_hparams: dict[str, Any]
    eval_every: int | None
    overlap: bool
    preset_overlap: bool
    out: Path
    storage: str


def _study(plan: Plan, *, address: str | None, echo) -> tuple[study.TrialRecord | None, bool]:
    import signal

    settings, out, storage, space, steps = plan.settings, plan.out, plan.storage, plan.space, plan.steps
    seeds, objective, trials = settings.seeds, settings.objective, settings.trials
    runs = len(settings.env_ids) * seeds
    connect(address, cpus_per_run=1, log_file=out / "ray.log")
    try:
        total = ray.cluster_resources().get("CPU", 1)
        cpus = settings.cpus_per_trial or min(runs, total)
        if cpus > total:
            raise LandersError(f"--cpus-per-trial {cpus:g} is more than the cluster's {total:g} CPUs.")
        setup = TrialSetup(algo=settings.algo, env_ids=settings.env_ids, seeds=seeds, steps=settings.steps,
                           objective=objective, space=tuple(space), cpus_per_trial=cpus,
                           trials_dir=str(out / "trials"), base_config=plan.base_config, scoring=plan.scoring,
                           preset=settings.preset, options=dict(settings.options),
                           env_kwargs=dict(settings.env_kwargs), wrappers=tuple(settings.wrappers))
        trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                        tune.PlacementGroupFactory([{}] + [{"CPU": cpus / runs}] * runs))
        experiment = f"{storage.rstrip('/')}/ray/tune"
        env = {"env_kwargs": dict(settings.env_kwargs), "wrappers": list(settings.wrappers)}

        def write(records: list[study.TrialRecord]) -> study.TrialRecord | None:
            for r in records:
                r.run_dirs = [str(out / "trials" / r.name / study.run_folder(settings.env_ids, e, s))
                              for e in settings.env_ids for s in range(1, seeds + 1)]
            return study.write_outputs(out, algo=settings.algo, env_id=settings.env_label, env=env, steps=steps,
                                       eval_every=plan.eval_every, base_hparams=plan.base_hparams,
                                       trials=records, seeds=runs, objective=objective, space=space,
                                       overlap=plan.overlap, scoring=plan.scoring)

        recorded = {"algo": settings.algo, "env_id": settings.env_label, "steps": steps, "seeds": seeds,
                    "objective": objective, "space": space_to_json(space), "preset": settings.preset,
                    "options": {k: str(v) for k, v in settings.options.items()},
                    "trials": trials, **{k: v for k, v in env.items() if v},
                    **({"threshold": settings.threshold} if settings.threshold is not None else {}),
                    # Trials that overlap (the preset's, where each seed has two cores) give other
                    # numbers: a study begun synchronously must not resume overlapped, or back.
                    **({"overlap": True} if plan.preset_overlap and seed_threads(cpus, runs) >= 2 else {})}
        if tune.Tuner.can_restore(experiment):
            saved = read_json_object(out / "study.json") if (out / "study.json").exists() else recorded
            changed = sorted(k for k in set(recorded) | set(saved) if k != "trials" and saved.get(k) != recorded.get(k))
            if changed:  # Tune keeps the first command's sampler, space and budget on a restore
                raise LandersError(f"'{out}' holds a study begun with other settings ({', '.join(changed)}); "
                                   "resume it with the same command, or choose another --out.")
            before = int(saved.get("trials", trials))
            if trials > before:
                echo(f"growing the study in {out} from {before} to {trials} trials (its own settings; "
                     "finished trials are kept)")
            else:
                echo(f"resuming the study in {out} ({before} trials; finished trials are kept)")
                trials = before
            # GrowingSearch reads the number of trials from study.json when Tune restores it
            write_json_atomic(out / "study.json", {**saved, "trials": trials})
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False)
        else:
            write_json_atomic(out / "study.json", recorded)
            (out / "asha.json").unlink(missing_ok=True)  # an earlier study's rungs (its Tune state deleted)
            searcher = GrowingSearch(SeedScoredSearch(space=DrawFrom(space), metric="score", mode="max", seed=0),
                                     str(out / "study.json"))
            # stop_last_trials=False: a trial that reaches the budget ends by itself, after its
            # final evaluation; max_t only places the rungs.
            scheduler = ResumableASHA(str(out / "asha.json"), time_attr="step", max_t=steps,
                                      grace_period=max(1, int(steps * GRACE_FRACTION)),
                                      reduction_factor=REDUCTION_FACTOR, stop_last_trials=False)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, metric="score", mode="max",
                                            num_samples=trials, trial_name_creator=trial_name,
                                            trial_dirname_creator=trial_name),
                run_config=tune.RunConfig(name="tune", storage_path=f"{storage.rstrip('/')}/ray", verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                                          callbacks=[_Progress()]))
        echo(f"{trials} trials x {seeds} seeds of {settings.algo} on {settings.env_label}, {steps:,} steps per seed, "
             f"{cpus:g} CPUs per trial, objective {objective}; in {out}")
        interrupted = []

        def on_ctrl_c(signum, frame):  # Tune's graceful stop: it saves the study for a resume
            interrupted.append(True)
            echo("interrupted: stopping the trials; run the same command again to resume the study")
            os.kill(os.getpid(), signal.SIGUSR1)

        _LIVE.update(echo=echo, write=write, space=space, interrupted=interrupted)
        previous = signal.signal(signal.SIGINT, on_ctrl_c)
        try:
            results = tuner.fit()
        except Exception as e:  # noqa: BLE001 - Ray's own failure, said in one sentence
            raise LandersError(f"Ray Tune stopped the study: {one_line(e)} (details in {out / 'ray.log'}).") from None
        finally:
            signal.signal(signal.SIGINT, previous)
            _LIVE.clear()
        records = _records([_from_result(r) for r in results if r.path], space=space, settled=not interrupted)
        echo(status_line(records))
        return write(records), bool(interrupted)
    finally:
        ray.shutdown()
