"""`landers tune`: hyperparameter search with Optuna's TPE through Ray Tune, robust across seeds.

Each Tune trial is one configuration trained on K seeds at once (one Ray task per seed, all in
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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from landers.algos import get_algo
from landers.core.checkpoint import write_json_atomic
from landers.core.files import read_json_object
from landers.core.search import Choice, Int, Space, space_to_json
from landers.envs.source import env_source
from landers.errors import LandersError, WorkFailed
from landers.scale import cluster, study, tune_search
from landers.scale.cluster import MAX_FAILURES, check_storage, connect, local_modules, one_line, output_to
from landers.scale.jobs import check_env, unmasked
from landers.scale.references import threshold_for

# The searcher, scheduler and space are pickled into a study's state by reference: studies begun
# when these classes lived here find them here still.
from landers.scale.tune_search import DrawFrom, GrowingSearch, ResumableASHA, SeedScoredSearch
from landers.scale.tune_trial import TrialSetup, run_trial, seed_threads

GRACE_FRACTION = 0.25  # no trial is stopped before a quarter of its budget
REDUCTION_FACTOR = 3  # ASHA keeps the best third at each rung


def trial_name(trial) -> str:
    """The trial's folder under OUT/trials. Trials are numbered by their place in Tune's list,
    which is the order they were created in."""
    return tune_search.trial_folder(trial.trial_id)


# ---------------------------------------------------------------- the study (driver)


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
        records = study.records(rows, space=_LIVE["space"], settled=not _LIVE["interrupted"],
                                pruned=tune_search.pruned_names(_LIVE["asha"]))
        if write:
            try:
                _LIVE["write"](records)
            except (OSError, LandersError) as e:  # the study goes on; the end writes them again
                _LIVE["echo"](f"warning: could not update the study's files: {e}")
        line = study.status_line(records)
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


@dataclass(frozen=True)
class StudySettings:
    """A study as the command asks for it."""

    algo: str
    env_ids: tuple[str, ...]  # one env, or several: a trial's score is then its mean normalized score
    trials: int = 40  # a finished study asked for more continues with its own settings
    seeds: int = 3  # per env
    objective: str = "auc"  # study.OBJECTIVES
    over_seeds: str = "mean"  # how a trial combines its seeds' scores: a key of study.OVER_SEEDS
    steps: int | None = None  # per seed; None: the preset's budget
    threshold: float | None = None  # time-to-threshold's; None: the env's (references.threshold_for)
    space: Space = field(default_factory=dict)
    preset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # --set, as given
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    cpus_per_trial: float | None = None
    tracking: dict[str, Any] | None = None  # a landers.run.tracking.Tracking as a dict: every seed's run to W&B

    @property
    def env_label(self) -> str:
        return ",".join(self.env_ids)


def default_space(module, *, base: Any = None, fixed: frozenset[str] = frozenset()) -> Space:
    """The algorithm's own space, and the network's size and activation where its Config has them;
    for a recurrent study (`base`, the config the searched values go over, has `rnn`) the core's
    width `rnn_size` too; less the parameters `fixed` (with --set). Whether to have memory at all
    is not searched: that is a comparison (`landers compare ENV --algos ppo,ppo@FILE`), or a
    --space file's `rnn` choice."""
    space = dict(module.SEARCH_SPACE)
    if not space:  # nothing to learn (the random policy)
        return space
    fields = {f.name for f in dataclasses.fields(module.Config)}
    if "hidden_sizes" in fields:
        space.setdefault("hidden_sizes", Choice(("64,64", "128,128", "256,256", "64,64,64")))
    if "activation" in fields:
        space.setdefault("activation", Choice(("tanh", "relu")))
    if getattr(base, "rnn", None) and "rnn_size" in fields:
        space.setdefault("rnn_size", Choice((32, 64, 128, 256)))
    space = {k: v for k, v in space.items() if k not in fixed}
    return space


def check(settings: StudySettings) -> None:
    """What needs no Ray, in one sentence: the numbers, every env built once with its arguments
    (a misspelled id, --env-kwargs or --wrap), every env's spec (an unknown --set key, a masked
    env the algorithm cannot apply)."""
    study.check_scoring(settings.objective, settings.over_seeds, settings.seeds)
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
            raise LandersError(f"--set {name} fixes a hyperparameter the space file searches; drop it from one of them.")
    for env_id in settings.env_ids:  # every id first: a typo in the last one is not a wait for the others
        env_source(env_id).check()
    for env_id in settings.env_ids:
        check_env(env_id, settings.env_kwargs, settings.wrappers)
        check_spec(settings, env_id)
    needs = settings.objective == "time-to-threshold" or len(settings.env_ids) > 1
    for env_id in settings.env_ids:
        if needs and settings.threshold is None and threshold_for(env_id) is None:
            raise LandersError(f"{env_id} has no threshold to score against; give --threshold.")


def check_spec(settings: StudySettings, env_id: str) -> None:
    """The study's base spec on `env_id` (an unknown --set key, or an rnn the algorithm refuses),
    and a masked env refused where the algorithm cannot apply the mask: every trial would fail."""
    from landers.run.spec import make_spec

    spec = make_spec(settings.algo, env_id, preset=settings.preset, overrides=dict(settings.options),
                     steps=settings.steps, env_kwargs=settings.env_kwargs, wrappers=settings.wrappers)
    if unmasked(env_id, {settings.algo: spec}, settings.env_kwargs, settings.wrappers):
        raise LandersError(f"{env_id} offers an action mask, which {settings.algo} cannot apply: tune ppo or a2c, "
                           "or ignore the mask with --set mask=false.")


def random_score(env_id: str, *, env_kwargs: dict[str, Any], wrappers: tuple[str, ...]) -> float:
    """The random policy's mean return over 10 episodes (fixed seeds: the same every time)."""
    from landers.policy.evaluation import evaluate_random

    source = env_source(env_id, env_kwargs, wrappers)
    return float(evaluate_random(source, 10, backend="gymnasium").mean)


def plan(settings: StudySettings, *, out: Path, storage: str | None = None) -> Plan:
    """The study `settings` ask for, checked and resolved without Ray: each env's base spec, the
    space (with the step budget for a time objective), how trials are scored (thresholds, and for
    several envs each random policy's score)."""
    from landers.core.config import find_preset, to_json_dict
    from landers.run.spec import can_overlap, fitted_config, make_spec

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
        base_config = to_json_dict(fitted_config(algo, algo.Config(), found.hparams if found else {},
                                                 {k: v for k, v in settings.options.items() if k in base.hparams.__dataclass_fields__},
                                                 preset_given=True))
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
        for e, r, t in zip(settings.env_ids, randoms, thresholds, strict=True):
            if t <= r:
                raise LandersError(f"{e}'s threshold {t:g} is not above its random policy's {r:.1f}: "
                                   "nothing to normalize by.")
    scoring = study.Scoring(settings.objective, settings.env_ids, settings.seeds, thresholds, randoms,
                            settings.over_seeds)
    out = out.absolute()
    return Plan(settings=settings, space=space, steps=steps, scoring=scoring, base_config=base_config,
                base_hparams=base_hparams, eval_every=base.eval_every or None, overlap=asked,
                preset_overlap=preset_overlap, out=out, storage=storage or str(out))


def run(settings: StudySettings, *, out: Path, address: str | None = None, storage: str | None = None,
        echo=print) -> tuple[study.TrialRecord | None, bool]:
    """Run, resume or grow the study; returns (the best completed trial, whether it was interrupted)."""
    planned = plan(settings, out=out, storage=storage)
    if address is None and settings.cpus_per_trial:  # refused before OUT is made
        cluster.check_fits_here(settings.cpus_per_trial, option="--cpus-per-trial")
    if planned.storage != str(planned.out):  # so is a storage that takes no writes
        check_storage(planned.storage)
    check_storage(str(planned.out))
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
    sources = [env_source(e, settings.env_kwargs, settings.wrappers) for e in settings.env_ids]
    connect(address, cpus_per_run=1, log_file=out / "ray.log", modules=local_modules(sources))
    try:
        total = ray.cluster_resources().get("CPU", 1)
        cpus = settings.cpus_per_trial or min(runs, total)
        if cpus > total:
            raise LandersError(f"--cpus-per-trial {cpus:g} is more than the cluster's {total:g} CPUs.")
        setup = TrialSetup(algo=settings.algo, env_ids=settings.env_ids, seeds=seeds, steps=settings.steps,
                           objective=objective, space=tuple(space), cpus_per_trial=cpus,
                           trials_dir=str(out / "trials"), base_config=plan.base_config, scoring=plan.scoring,
                           preset=settings.preset, options=dict(settings.options),
                           env_kwargs=dict(settings.env_kwargs), wrappers=tuple(settings.wrappers),
                           tracking=settings.tracking)
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
                    **({"over_seeds": settings.over_seeds} if settings.over_seeds != "mean" else {}),
                    "options": {k: str(v) for k, v in settings.options.items()},
                    "trials": trials, **{k: v for k, v in env.items() if v},
                    **({"threshold": settings.threshold} if settings.threshold is not None else {}),
                    # Trials that overlap (the preset's, where each seed has two cores) give other
                    # numbers: a study begun synchronously must not resume overlapped, or back.
                    **({"overlap": True} if plan.preset_overlap and seed_threads(cpus, runs) >= 2 else {})}
        if tune.Tuner.can_restore(experiment):
            saved = read_json_object(out / "study.json") if (out / "study.json").exists() else recorded
            study.refuse_other_settings(out, saved, recorded)  # Tune keeps the first sampler, space and budget
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
            # reuse_actors: the next trial's driver is the last one's process, torch and landers
            # imported (seconds per trial); a stopped trial cancels its seeds (run_trial).
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, metric="score", mode="max",
                                            num_samples=trials, trial_name_creator=trial_name,
                                            trial_dirname_creator=trial_name, reuse_actors=True),
                run_config=tune.RunConfig(name="tune", storage_path=f"{storage.rstrip('/')}/ray", verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                                          callbacks=[_Progress()]))
        echo(f"{trials} trials x {seeds} seeds of {settings.algo} on {settings.env_label}, {steps:,} steps per seed, "
             f"{cpus:g} CPUs per trial, objective {objective} ({settings.over_seeds} over seeds); in {out}")
        interrupted = []

        def on_ctrl_c(signum, frame):  # Tune's graceful stop: it saves the study for a resume
            interrupted.append(True)
            echo("interrupted: stopping the trials; run the same command again to resume the study")
            os.kill(os.getpid(), signal.SIGUSR1)

        _LIVE.update(echo=echo, write=write, space=space, interrupted=interrupted, asha=out / "asha.json")
        previous = signal.signal(signal.SIGINT, on_ctrl_c)
        try:
            results = tuner.fit()
        except Exception as e:  # noqa: BLE001 - Ray's own failure, said in one sentence
            raise WorkFailed(f"Ray Tune stopped the study: {one_line(e)} (details in {out / 'ray.log'}).") from None
        finally:
            signal.signal(signal.SIGINT, previous)
            _LIVE.clear()
        records = study.records([_from_result(r) for r in results if r.path], space=space, settled=not interrupted,
                                pruned=tune_search.pruned_names(out / "asha.json"))
        echo(study.status_line(records))
        return write(records), bool(interrupted)
    finally:
        ray.shutdown()
