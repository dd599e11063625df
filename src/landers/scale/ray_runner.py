"""`landers compare` on Ray Tune: one function trainable per (algorithm, seed).

The trial runs the landers Trainer in the Ray worker process, reports each periodic evaluation
(`step`, `eval_mean`, `train_time`) with the run's `checkpoints/last` as its Tune checkpoint,
and resumes from it when Tune restarts it (a dead worker) or restores the experiment (the same
command again after Ctrl-C). Nothing here is imported by `landers train`.

Where runs live. Ray persists trial checkpoints to `RunConfig(storage_path)` and, when that is a
local path, checks on every worker that the path is the same place (a marker file): it must be
a path all nodes see, which is always true on one machine. So with a path storage (the default:
`--out`) each trial writes its run directory straight to STORAGE/runs/<algo>__s<seed>, live,
from whichever node runs it, and Ray's checkpoint copies are only a fallback. With a URI storage
(`s3://...`, any scheme pyarrow knows) no node can write the run directory there, so the trial
trains in a local scratch directory and hands Ray the whole run directory as its checkpoint
(a few hundred KB for the MLP presets); the driver downloads the final ones into OUT/runs.

Ctrl-C: the driver sets a flag in Ray's key-value store; each trial's trainer sees it at its
next update boundary, saves `checkpoints/last`, reports it and acknowledges; then the driver
lets Tune end the experiment (SIGUSR1, Tune's own graceful stop), which records unfinished
trials for `Tuner.restore`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

import ray
from ray import tune

from landers.envs.source import env_source
from landers.errors import LandersError
from landers.scale.cluster import (
    MAX_FAILURES,
    check_fits_here,
    check_storage,
    connect,
    is_uri,
    local_modules,
    one_line,
    output_to,
    reason_of,
)
from landers.scale.jobs import Job, Request, RunSettings, key_of_config, preset_of
from landers.scale.live import RunLines, SuiteLine

STOP_WAIT_S = 60.0  # how long Ctrl-C waits for running trials to save before Tune stops them


# ---------------------------------------------------------------- the trial (runs on a worker)


def _checkpoint_step(directory: Path) -> int:
    for candidate in ("last", "last.tmp", "last.old"):
        try:
            return int(json.loads((directory / candidate / "state.json").read_text())["global_step"])
        except (OSError, ValueError, KeyError):
            continue
    return 0


def _watch_stop(stop_key: str, stop: threading.Event, done: threading.Event) -> None:
    from ray.experimental import internal_kv

    while not done.wait(0.5):
        try:
            if internal_kv._internal_kv_get(stop_key):
                stop.set()
                return
        except Exception:  # the driver is gone: Tune ends this actor anyway
            return


def _trial(settings: RunSettings, entry: dict, stop_key: str) -> None:
    """One run (`entry`: the trial's algo, seed, preset, and a suite's env) on a worker."""
    from ray.experimental import internal_kv

    from landers.run import rundir, tracking
    from landers.run import spec as spec_mod
    from landers.run.hooks import Hooks
    from landers.run.trainer import Interrupted

    algo, seed, preset = entry["algo"], entry["seed"], entry.get("preset")
    name = key_of_config(entry)
    remote = is_uri(settings.storage)
    run_dir = Path(tempfile.mkdtemp(prefix="landers-trial-")) / name if remote else settings.run_dir_of(entry)
    snapshot = run_dir if remote else run_dir / "checkpoints" / "last"
    restored = tune.get_checkpoint()
    if restored is not None and (remote or not snapshot.exists()):
        restored.to_directory(str(snapshot))
    start_step = _checkpoint_step(run_dir / "checkpoints")
    node_id = ray.get_runtime_context().get_node_id()

    def report(metrics: dict) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(snapshot)) if snapshot.exists() else None
        tune.report({**metrics, "start_step": start_step, "node_id": node_id, "pid": os.getpid()},
                    checkpoint=checkpoint)

    stop, done = threading.Event(), threading.Event()
    threading.Thread(target=_watch_stop, args=(stop_key, stop, done), daemon=True).start()
    tracker = tracking.for_member(settings.tracking, name=f"{settings.env_of(entry)}-{name}")
    hooks = Hooks(on_eval=lambda row: report({"step": row["step"], "eval_mean": row["mean"],
                                              "train_time": row["time"]}),
                  stop=stop, tracker=tracker)
    try:
        if (run_dir / "eval.json").exists():
            pass  # finished before (by an earlier comparison): reuse it
        elif (run_dir / "config.json").exists():
            rundir.resume(run_dir, quiet=True, hooks=hooks)
        else:
            spec = spec_mod.make_spec(algo, settings.env_of(entry), preset=entry.get("preset_file", preset),
                                      steps=settings.steps, seed=seed, threads=settings.cpus_per_run,
                                      env_kwargs=settings.env_kwargs, wrappers=settings.wrappers)
            rundir.start(spec, run_dir=run_dir, quiet=True, hooks=hooks)
    except Interrupted:
        if tracker is not None:
            tracker.finish(failed=True)
        report({"step": _checkpoint_step(run_dir / "checkpoints"), "interrupted": True})
        internal_kv._internal_kv_put(f"{stop_key}:{name}", b"saved")
        while True:  # Tune ends this actor once every trial has saved
            time.sleep(60)
    except BaseException:
        if tracker is not None:
            tracker.finish(failed=True)
        raise
    finally:
        done.set()
    if tracker is not None:
        tracker.finish()
    final = json.loads((run_dir / "eval.json").read_text())
    report({"step": final["step"], "train_time": final["train_time"], "final_mean": final["mean"], "finished": True})
    if remote:
        shutil.rmtree(run_dir.parent, ignore_errors=True)


def _make_trainable(settings: RunSettings, stop_key: str):
    def landers_trial(config):
        _trial(settings, config["run"], stop_key)

    return landers_trial


# ---------------------------------------------------------------- live lines (driver)


_LINES: RunLines | None = None  # the callback below is pickled into Tune's state: it holds nothing


class _Progress(tune.Callback):
    """Feeds `_LINES`. Tune pickles its callbacks into the experiment state; this class is
    pickled by reference, so a restored experiment's copy feeds this process's `_LINES`."""

    def on_trial_start(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.event(trial, "running", "running")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if not _LINES:
            return
        step = result.get("step", 0)
        if result.get("finished"):
            _LINES.event(trial, "done", f"done, {step:,} steps, final eval {result['final_mean']:.1f}")
        elif result.get("interrupted"):
            _LINES.event(trial, "stopped", f"stopped at {step:,} steps, checkpoint saved")
        elif "eval_mean" in result:
            _LINES.event(trial, "eval", f"{step:,} steps, eval {result['eval_mean']:.1f}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.event(trial, "retry", f"failed ({reason_of(trial)}); retry {trial.num_failures} of "
                                         f"{MAX_FAILURES} from its last checkpoint")

    def on_trial_error(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.event(trial, "failed", f"failed: {reason_of(trial)}")


# ---------------------------------------------------------------- the experiment (driver)


class _CtrlC:
    """First Ctrl-C: ask the trials to stop at their next update boundary (they save and
    acknowledge), then let Tune end the experiment; a second one ends it at once."""

    def __init__(self, stop_key: str, echo):
        self.stop_key, self.echo, self.pressed = stop_key, echo, 0
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame):
        self.pressed += 1
        if self.pressed == 1:
            from ray.experimental import internal_kv

            if _LINES:
                _LINES.close()
            self.echo("interrupted: the runs stop at their next update and save a checkpoint "
                      "(Ctrl-C again to stop at once)")
            internal_kv._internal_kv_put(self.stop_key, b"stop")
            threading.Thread(target=self._end_when_saved, daemon=True).start()
        elif self.pressed == 2:
            os.kill(os.getpid(), signal.SIGUSR1)
        else:
            raise KeyboardInterrupt

    def _end_when_saved(self):
        from ray.experimental import internal_kv

        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            running = set(_LINES.running) if _LINES else set()
            if all(internal_kv._internal_kv_get(f"{self.stop_key}:{name}") for name in running):
                break
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGUSR1)  # Tune's graceful stop: saves its state, ends the actors


def run(request: Request, *, out: Path, address: str | None, storage: str | None, echo,
        tracking: dict | None = None) -> tuple[list[Job], list[tuple[Job, str]]]:
    """Every job of `request` as a trial of one Ray Tune experiment (restored when the same
    request ran before); returns (finished jobs, [(failed job, reason)])."""
    out = out.absolute()
    storage = storage if storage and is_uri(storage) else str(Path(storage or out).absolute())
    if address is None:  # refused before OUT is made
        check_fits_here(request.cpus_per_run)
    check_storage(storage)  # a storage that takes no writes is refused before OUT is made
    if storage != str(out):
        check_storage(str(out))
    runs = out / "runs" if is_uri(storage) else Path(storage) / "runs"
    settings = RunSettings(env_id=None if request.suite else request.env_ids[0], steps=request.steps,
                           cpus_per_run=request.cpus_per_run, storage=storage, runs=str(runs),
                           env_kwargs=dict(request.env_kwargs), wrappers=tuple(request.wrappers),
                           tracking=tracking)
    jobs = request.jobs(runs)
    _refuse_other_runs(jobs, settings)
    if jobs and all(j.done for j in jobs):  # the same command again: its tables and plots anew
        echo(f"{len(jobs)} runs ({len(jobs)} already finished), in {runs}: nothing to train, so Ray is not started")
        return jobs, []
    with output_to(out / "ray.log") as terminal:
        def say(message: str) -> None:
            with contextlib.redirect_stdout(terminal):
                echo(message)

        return _run(request, jobs, settings, address=address, out=out, echo=say, terminal=terminal)


def _refuse_other_runs(jobs: list[Job], settings: RunSettings) -> None:
    """A run directory that an earlier comparison left is reused (finished) or resumed
    (interrupted) by name: only where this comparison would train that very run. A changed
    preset file, --steps, --cpus-per-run or env argument (or a landers whose presets changed) is
    one sentence here, before Ray starts, instead of old results shown as new ones."""
    from landers.run import spec as spec_mod

    # A preset file's path is recorded as the command gave it: what it set is compared instead.
    skip = {"hparams", "preset"}
    names = {"threads": "--cpus-per-run"}  # the option that sets it
    for job in jobs:
        config = job.run_dir / "config.json"
        if not config.exists():
            continue
        held = spec_mod.read_config(config)[0].to_json()
        preset = preset_of(job).get("preset_file", job.preset)
        wanted = spec_mod.make_spec(job.algo, job.env_id or settings.env_id, preset=preset, steps=settings.steps,
                                    seed=job.seed, threads=settings.cpus_per_run, env_kwargs=settings.env_kwargs,
                                    wrappers=settings.wrappers).to_json()
        same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # noqa: E731
        changed = [names.get(k, k) for k in wanted if k not in skip and not same(held.get(k), wanted[k])]
        changed += [f"hparams.{k}" for k in wanted["hparams"] if not same(held["hparams"].get(k), wanted["hparams"][k])]
        if preset == job.preset and held.get("preset") != wanted["preset"]:  # a shipped preset's name
            changed.append("preset")
        if changed:
            raise LandersError(f"'{job.run_dir}' holds a run trained with other settings than this comparison's "
                               f"({', '.join(changed)}); choose another --out, delete that run to train it anew, "
                               "or continue it as it was with landers train --resume.")


def _run(request: Request, jobs: list[Job], settings: RunSettings, *, address: str | None, out: Path, echo,
         terminal) -> tuple[list[Job], list[tuple[Job, str]]]:
    global _LINES
    from landers.run.trainer import Interrupted

    cpus_per_run, storage, runs = settings.cpus_per_run, settings.storage, Path(settings.runs)
    sources = [env_source(e, settings.env_kwargs, settings.wrappers) for e in request.env_ids]
    resources = connect(address, cpus_per_run=cpus_per_run, log_file=out / "ray.log", modules=local_modules(sources))
    try:
        # One Tune experiment per distinct request: the same command restores it; another
        # (more seeds, other algorithms) starts a new one whose trials reuse finished run dirs.
        envs = list(request.env_ids) if request.suite else request.env_ids[0]
        key = json.dumps([envs, [j.key for j in jobs], settings.steps, cpus_per_run, str(runs)])
        name = f"{'bench' if request.suite else 'compare'}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        stop_key = f"landers:stop:{uuid.uuid4().hex}"
        trainable = tune.with_resources(_make_trainable(settings, stop_key), {"cpu": cpus_per_run})
        experiment = f"{storage.rstrip('/')}/ray/{name}"
        restoring = tune.Tuner.can_restore(experiment)
        reused = sum(j.done for j in jobs)
        echo(f"{len(jobs)} runs ({reused} already finished) on Ray ({resources}, {cpus_per_run} CPU per run), "
             f"in {runs}" + (f"; resuming the interrupted {'suite' if request.suite else 'comparison'} (Ray restore)"
                             if restoring and reused < len(jobs) else ""))
        if restoring:
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
        else:
            # The settings travel with the trainable (`RunSettings`); the grid is the jobs.
            param_space = {"run": tune.grid_search([j.trial_entry() for j in jobs])}
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                # reuse_actors: the next trial runs in the finished one's worker process, which
                # has torch, gymnasium and landers imported already (seconds per trial here)
                tune_config=tune.TuneConfig(trial_dirname_creator=_trial_dirname_of_run,
                                            trial_name_creator=_trial_dirname_of_run, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=name, storage_path=f"{storage.rstrip('/')}/ray", verbose=0,
                    failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    callbacks=[_Progress()]))
        _LINES = (SuiteLine if request.suite else RunLines)(jobs, echo, terminal)
        ctrl_c = _CtrlC(stop_key, echo)
        try:
            with ctrl_c:
                results = tuner.fit()
        finally:
            _LINES.close()
            _LINES = None
        finished, failed = [], []
        by_name = {j.key: j for j in jobs}
        for result in results:  # a trial that never started has no config, but its path
            name = key_of_config(result.config) if result.config else Path(result.path or "").name
            job = by_name.get(name)
            if job is None:
                continue
            if result.error is not None:
                failed.append((job, one_line(result.error)))
            elif (result.metrics or {}).get("finished"):
                if is_uri(storage) and result.checkpoint is not None and not job.done:
                    result.checkpoint.to_directory(str(job.run_dir))
                if job.done:
                    finished.append(job)
                else:  # Ray remembers it finished, but someone removed its files since
                    failed.append((job, f"it finished in an earlier comparison but {job.run_dir}/eval.json is gone; "
                                        f"remove {experiment} to run everything again"))
        unfinished = [j for j in jobs if j not in finished and j not in [f[0] for f in failed]]
        if ctrl_c.pressed and (unfinished or failed):
            raise Interrupted(f"Interrupted: {len(finished)} of {len(jobs)} runs finished, the others saved "
                              "checkpoints; run the same command again to resume them.")
        if unfinished:
            failed += [(j, "did not finish") for j in unfinished]
        order = {j.key: i for i, j in enumerate(jobs)}
        finished.sort(key=lambda j: order[j.key])
        failed.sort(key=lambda f: order[f[0].key])
        return finished, failed
    finally:
        ray.shutdown()


def _trial_dirname_of_run(trial) -> str:
    return key_of_config(trial.config)
