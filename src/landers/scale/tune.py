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

import json
import os
import threading
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from landers.algos import get_algo
from landers.core.checkpoint import write_json_atomic
from landers.core.files import read_json_object
from landers.core.search import Space, constrained, space_to_json, suggest
from landers.errors import LandersError, WorkFailed
from landers.scale import study
from landers.scale.ray_runner import MAX_FAILURES, _check_storage as check_storage, _connect as connect
from landers.scale.ray_runner import _one_line as one_line, _output_to as output_to

GRACE_FRACTION = 0.25  # no trial is stopped before a quarter of its budget
REDUCTION_FACTOR = 3  # ASHA keeps the best third at each rung


def trial_name(trial) -> str:
    """Tune's id of the trial (random with a searcher): its folder under OUT/trials. Trials are
    numbered by their place in Tune's list, which is the order they were created in."""
    return f"trial_{trial.trial_id}"


# ---------------------------------------------------------------- one seed (a Ray actor)


@ray.remote(max_concurrency=2)  # one thread trains, the other answers `row` while it does
class SeedRun:
    """Trains (or resumes, or reuses) one seed's landers run and hands out its periodic
    evaluation means one at a time as they arrive."""

    def __init__(self):
        self.means: list[float] = []
        self.steps: list[int] = []
        self.final: dict[str, Any] | None = None
        self.done = False
        self.cv = threading.Condition()

    def _add(self, row: dict) -> None:
        with self.cv:
            self.means.append(float(row["mean"]))
            self.steps.append(int(row["step"]))
            self.cv.notify_all()

    def _earlier_rows(self, run_dir: Path) -> None:
        """Evaluations an interrupted attempt already made, up to its last checkpoint."""
        from landers.see.plots import read_csv

        try:
            last = json.loads((run_dir / "checkpoints" / "last" / "state.json").read_text())["global_step"]
        except (OSError, ValueError, KeyError):
            return
        evals = read_csv(run_dir / "evals.csv")
        for step, mean in zip(evals.get("step", []), evals.get("mean", [])):
            if step <= last:
                self._add({"step": step, "mean": mean})

    def train(self, setup: dict, params: dict, seed: int, run_dir: str, threads: int) -> dict:
        from landers.run import rundir
        from landers.run import spec as spec_mod
        from landers.run import tracking
        from landers.run.hooks import Hooks

        run_dir = Path(run_dir)
        hooks = Hooks(on_eval=self._add,
                      tracker=tracking.for_member(setup.get("tracking"), name=f"{run_dir.parent.name}-s{seed}"))
        failed = True
        try:
            if (run_dir / "eval.json").exists():  # finished by an earlier attempt
                self._earlier_rows(run_dir)
                from landers.see.plots import read_csv

                evals = read_csv(run_dir / "evals.csv")
                with self.cv:
                    self.means = [float(m) for m in evals.get("mean", [])]
                    self.steps = [int(s) for s in evals.get("step", [])]
            elif (run_dir / "config.json").exists():
                self._earlier_rows(run_dir)
                rundir.resume(run_dir, quiet=True, hooks=hooks)
            else:
                spec = spec_mod.make_spec(setup["algo"], setup["env_id"], preset=setup["preset"],
                                          overrides={**params, **setup["options"]}, steps=setup["steps"],
                                          seed=seed, threads=threads, env_kwargs=setup["env_kwargs"],
                                          wrappers=tuple(setup["wrappers"]))
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

    def row(self, i: int) -> tuple[int, float] | None:
        """(step, mean) of the i-th evaluation, once there is one; None once training ended without it."""
        with self.cv:
            self.cv.wait_for(lambda: len(self.means) > i or self.done)
            return (self.steps[i], self.means[i]) if len(self.means) > i else None


# ---------------------------------------------------------------- one trial (a Tune trial)


def seed_threads(cpus_per_trial: float, seeds: int) -> int:
    """Torch threads of each seed's run: its share of the trial's CPUs, at least one."""
    return max(1, int(cpus_per_trial / seeds))


def run_trial(config: dict, setup: dict) -> None:
    from landers.core.config import replace_config

    algo = get_algo(setup["algo"])
    base = replace_config(algo.Config(), setup["base_config"])  # the preset and --set, typed
    params = constrained(algo, {k: config[k] for k in setup["space"] if k in config}, base)
    root = Path(setup["trials"]) / tune.get_context().get_trial_name()
    seeds = list(range(1, setup["seeds"] + 1))
    actors = [SeedRun.options(num_cpus=setup["cpus_per_trial"] / len(seeds)).remote() for _ in seeds]
    threads = seed_threads(setup["cpus_per_trial"], len(seeds))
    futures = [a.train.remote(setup, params, s, str(root / f"s{s}"), threads) for a, s in zip(actors, seeds)]
    per_seed: list[list[float]] = [[] for _ in seeds]
    i = 0
    while True:
        rows = ray.get([a.row.remote(i) for a in actors])
        if any(r is None for r in rows):
            break
        for means, (_, mean) in zip(per_seed, rows):
            means.append(mean)
        score, seed_scores = study.trial_score(per_seed, setup["objective"])
        tune.report({"step": min(step for step, _ in rows), "score": score, "seed_scores": seed_scores,
                     "params": params})
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
        tune.report({"step": min((s for s, _ in filter(None, rows)), default=0), "params": params,
                     "failed": one_line(e)})
        return
    if setup["objective"] == "final":  # the final evaluation's many episodes, not the last periodic one
        seed_scores = [f["mean"] for f in finals]
        score = sum(seed_scores) / len(seed_scores)
    else:
        score, seed_scores = study.trial_score(per_seed, setup["objective"])
    tune.report({"step": max(f["step"] for f in finals), "score": score, "seed_scores": seed_scores,
                 "params": params, "finished": True, "final_means": [f["mean"] for f in finals]})


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


def _records(trials: list[dict], space: Space, settled: bool) -> list[study.TrialRecord]:
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
        records = _records(rows, _LIVE["space"], settled=not _LIVE["interrupted"])
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


def run(algo_name: str, env_id: str, *, trials: int, steps: int | None, seeds: int, objective: str,
        space: Space, out: Path, address: str | None, storage: str | None, cpus_per_trial: float | None,
        preset: str | None, options: dict[str, Any], env_kwargs: dict[str, Any] | None = None,
        wrappers: tuple[str, ...] = (), tracking: dict | None = None,
        echo=print) -> tuple[study.TrialRecord | None, bool]:
    """Run (or resume) the study; returns (the best completed trial, whether it was interrupted).
    `env_kwargs` and `wrappers` build every seed's env, as `landers train --env-kwargs/--wrap` do;
    `tracking` (a `landers.run.tracking.Tracking` as a dict) logs every seed's run to W&B, grouped."""
    from landers.core.config import find_preset, to_json_dict
    from landers.run.spec import can_overlap, make_spec

    if objective not in study.OBJECTIVES:
        raise LandersError(f"--objective must be one of {', '.join(study.OBJECTIVES)}, got '{objective}'.")
    if trials <= 0 or seeds <= 0 or (steps is not None and steps <= 0) or (cpus_per_trial is not None and cpus_per_trial <= 0):
        raise LandersError("--trials, --seeds, --steps and --cpus-per-trial must be positive.")
    if not space:
        raise LandersError(f"{algo_name} has no hyperparameters to tune.")
    env = {"env_kwargs": dict(env_kwargs or {}), "wrappers": list(wrappers)}
    base = make_spec(algo_name, env_id, preset=preset, overrides=dict(options), steps=steps,
                     **env)  # bad input: now
    steps = base.steps

    for name in space:
        if name in options:
            raise LandersError(f"--set {name} fixes a searched hyperparameter; drop it from the space (--space) instead.")
    # What best.json fixes besides the searched values: the base preset's hyperparameters and
    # those given with --set, as the trials trained them (typed, not the command line's strings).
    found = find_preset(algo_name, env_id, base.preset) if base.preset else None  # the one make_spec chose
    fixed = set(found.hparams if found else {}) | set(options)
    base_hparams = {k: v for k, v in to_json_dict(base.hparams).items() if k in fixed}
    # best.json keeps the overlap asked for (--set, else the preset's); `train` applies it where a
    # run can overlap. The trials overlap from the preset where theirs can: see `_study`.
    asked = base.overlap if "overlap" in options else bool(found and found.overlap)
    preset_overlap = ("overlap" not in options and bool(found and found.overlap)
                      and can_overlap(get_algo(algo_name), base.env, base.hparams, base.backend))
    out = out.absolute()
    storage = storage or str(out)
    check_storage(str(out))
    if storage != str(out):
        check_storage(storage)
    with output_to(out / "ray.log") as terminal:
        def say(message: str) -> None:
            print(message, file=terminal, flush=True)

        return _study(algo_name, env_id, trials=trials, steps=steps, seeds=seeds, objective=objective, space=space,
                      out=out, address=address, storage=storage, cpus_per_trial=cpus_per_trial, preset=preset,
                      options=options, base_hparams=base_hparams, eval_every=base.eval_every or None, echo=say,
                      base_config=to_json_dict(base.hparams), env=env, overlap=asked,
                      preset_overlap=preset_overlap, tracking=tracking)


def _study(algo_name: str, env_id: str, *, trials: int, steps: int, seeds: int, objective: str, space: Space,
           out: Path, address: str | None, storage: str, cpus_per_trial: float | None, preset: str | None,
           options: dict[str, Any], base_hparams: dict[str, Any], eval_every: int | None,
           echo, base_config: dict[str, Any], env: dict[str, Any],
           overlap: bool, preset_overlap: bool, tracking: dict | None = None) -> tuple[study.TrialRecord | None, bool]:
    import signal

    connect(address, 1, out / "ray.log")
    try:
        total = ray.cluster_resources().get("CPU", 1)
        cpus = cpus_per_trial or min(seeds, total)
        if cpus > total:
            raise LandersError(f"--cpus-per-trial {cpus:g} is more than the cluster's {total:g} CPUs.")
        setup = {"algo": algo_name, "env_id": env_id, "preset": preset, "steps": steps, "seeds": seeds,
                 "objective": objective, "space": list(space), "cpus_per_trial": cpus, "options": dict(options),
                 "trials": str(out / "trials"), "base_config": base_config, "tracking": tracking, **env}
        trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                        tune.PlacementGroupFactory([{}] + [{"CPU": cpus / seeds}] * seeds))
        experiment = f"{storage.rstrip('/')}/ray/tune"

        def write(records: list[study.TrialRecord]) -> study.TrialRecord | None:
            for r in records:
                r.run_dirs = [str(out / "trials" / r.name / f"s{s}") for s in range(1, seeds + 1)]
            return study.write_outputs(out, algo=algo_name, env_id=env_id, env=env, steps=steps,
                                       eval_every=eval_every, base_hparams=base_hparams,
                                       trials=records, seeds=seeds, objective=objective, space=space,
                                       overlap=overlap)

        settings = {"algo": algo_name, "env_id": env_id, "steps": steps, "seeds": seeds, "objective": objective,
                    "space": space_to_json(space), "preset": preset, "options": {k: str(v) for k, v in options.items()},
                    "trials": trials, **{k: v for k, v in env.items() if v},
                    # Trials that overlap (the preset's, where each seed has two cores) give other
                    # numbers: a study begun synchronously must not resume overlapped, or back.
                    **({"overlap": True} if preset_overlap and seed_threads(cpus, seeds) >= 2 else {})}
        if tune.Tuner.can_restore(experiment):
            saved = read_json_object(out / "study.json") if (out / "study.json").exists() else settings
            changed = sorted(k for k in set(settings) | set(saved) if saved.get(k) != settings.get(k))
            if changed:  # Tune keeps the first command's sampler, space and budget on a restore
                raise LandersError(f"'{out}' holds a study begun with other settings ({', '.join(changed)}); "
                                   "resume it with the same command, or choose another --out.")
            echo(f"resuming the study in {out} (finished trials are kept)")
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False)
        else:
            write_json_atomic(out / "study.json", settings)
            (out / "asha.json").unlink(missing_ok=True)  # an earlier study's rungs (its Tune state deleted)
            searcher = SeedScoredSearch(space=DrawFrom(space), metric="score", mode="max", seed=0)
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
        echo(f"{trials} trials x {seeds} seeds of {algo_name} on {env_id}, {steps:,} steps per seed, "
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
            raise WorkFailed(f"Ray Tune stopped the study: {one_line(e)} (details in {out / 'ray.log'}).") from None
        finally:
            signal.signal(signal.SIGINT, previous)
            _LIVE.clear()
        records = _records([_from_result(r) for r in results if r.path], space, settled=not interrupted)
        echo(status_line(records))
        return write(records), bool(interrupted)
    finally:
        ray.shutdown()
